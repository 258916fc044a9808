/**
 * `npm run lockfile:complete` — run after every `npm install` that changes package-lock.json.
 *
 * npm writes no lock entry for an optional per-platform package it did not install (biome, swc and
 * the resolver ship one package per OS and CPU), and `npm ci` (npm 11) then refuses the lock
 * ("Missing: @biomejs/cli-darwin-arm64@ from lock file"). An entry without its `os`/`cpu`/`libc`
 * fields is worse: npm cannot tell that it does not fit this machine and installs it, which is how a
 * plain `npm ci` came to install about 1 GB of macOS, Windows and musl binaries.
 *
 * So every optional entry that lacks them gets the registry's own metadata for that exact version:
 * `os`, `cpu`, `libc`, `integrity` and licence. npm then skips what does not fit, and verifies what it
 * downloads. Nothing else in the lock is touched; a registry that cannot answer fails the run.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  integrity?: string;
  license?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  optionalDependencies?: Record<string, string>;
}

interface RegistryVersion {
  license?: string;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  dist?: { integrity?: string };
}

const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');

async function registryVersion(name: string, version: string): Promise<RegistryVersion> {
  const url = `${registry}${name.replace('/', '%2f')}/${encodeURIComponent(version)}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as RegistryVersion;
}

async function main(): Promise<void> {
  const path = process.argv[2] ?? 'package-lock.json';
  const lock = JSON.parse(readFileSync(path, 'utf8')) as { packages: Record<string, LockEntry> };
  const packages = lock.packages;

  for (const [key, entry] of Object.entries(packages)) {
    for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
      const nested = `${key ? `${key}/` : ''}node_modules/${name}`;
      if (packages[nested] || packages[`node_modules/${name}`]) continue;
      packages[`node_modules/${name}`] = {
        version: spec.replace(/^[\^~=]/, ''),
        ...(entry.dev ? { dev: true } : {}),
        optional: true,
      };
    }
  }

  let completed = 0;
  for (const [key, entry] of Object.entries(packages)) {
    if (!entry.optional || !entry.version || (entry.integrity && (entry.os || entry.cpu))) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const meta = await registryVersion(name, entry.version);
    if (!meta.dist?.integrity) throw new Error(`${name}@${entry.version} has no integrity in the registry`);
    packages[key] = {
      version: entry.version,
      integrity: meta.dist.integrity,
      ...(entry.dev ? { dev: true } : {}),
      ...(meta.license ? { license: meta.license } : {}),
      optional: true,
      ...(meta.os ? { os: meta.os } : {}),
      ...(meta.cpu ? { cpu: meta.cpu } : {}),
      ...(meta.libc ? { libc: meta.libc } : {}),
    };
    completed++;
  }

  lock.packages = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
  );
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(completed ? `completed ${completed} optional platform entries` : 'lockfile already complete');
}

await main();
