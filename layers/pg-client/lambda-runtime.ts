/**
 * Whether a bundle's programs can run on Lambda's Node.js 22 runtime (Amazon Linux 2023, glibc 2.34),
 * decided from the ELF files alone, for either architecture (docs/pg-client.md, "Will it run on
 * Lambda?"). Every ELF file in a bundle is read for what it loads (DT_NEEDED), where it looks
 * (DT_RUNPATH) and which symbol versions it needs of each library (DT_VERNEED); each need must be met
 * by a file of the bundle (whose DT_VERDEF must define the version) or by the runtime's image, whose
 * libraries and their newest symbol versions are modelled below.
 *
 * How a bundle finds its libraries decides what it takes from the image:
 * - Debian-built bundles (client, and servers with `lib/<loader>`) start every program through their
 *   own loader with `--library-path <bundle>/lib`, so glibc itself is the bundle's: every library
 *   must be in lib/, nothing may come from the image.
 * - npm-built servers (`layout: embedded`) run directly: the image's loader and glibc, and what each
 *   file's own RUNPATH (`$ORIGIN/../lib`) finds in the bundle.
 *
 * The ELF files are read by elf.ts (readElfLinkage), the reader the builder follows DT_NEEDED with.
 */
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { type ElfLinkage, readElfLinkage } from './elf.ts';

/**
 * What Lambda's nodejs22.x image offers a program that runs directly. The image is Amazon Linux 2023's
 * minimal container plus Node.js: glibc 2.34 (AWS, "AL2023 base image support",
 * github.com/aws/aws-lambda-base-images/issues/59: "The AL2023 image includes glibc version 2.34"),
 * libgcc and libstdc++ 11.4.1 (the package listing of the nodejs:20 image, same AL2023 base,
 * github.com/aws/aws-lambda-base-images/issues/173). Only the libraries a bundle here actually takes
 * from the image are listed; anything else a bundle needs from outside itself is a finding.
 * The newest symbol version each library defines: glibc 2.34's GLIBC_2.34; GCC 11's libgcc_s GCC_7.0.0
 * (the newest before GCC 12's GCC_12.0.0, counted here as "up to 11"); its libstdc++ GLIBCXX_3.4.29 and
 * CXXABI_1.3.13.
 */
export const lambdaNodejs22 = {
  name: 'Lambda nodejs22.x (Amazon Linux 2023)',
  glibc: '2.34',
  libraries: {
    'libc.so.6': ['GLIBC_'],
    'libm.so.6': ['GLIBC_'],
    'libpthread.so.0': ['GLIBC_'],
    'libdl.so.2': ['GLIBC_'],
    'librt.so.1': ['GLIBC_'],
    'libresolv.so.2': ['GLIBC_'],
    'libutil.so.1': ['GLIBC_'],
    'ld-linux-x86-64.so.2': ['GLIBC_'],
    'ld-linux-aarch64.so.1': ['GLIBC_'],
    'libgcc_s.so.1': ['GCC_', 'GLIBC_'],
    'libstdc++.so.6': ['GLIBCXX_', 'CXXABI_'],
  } as Record<string, string[]>,
  newest: { GLIBC_: [2, 34], GCC_: [11], GLIBCXX_: [3, 4, 29], CXXABI_: [1, 3, 13] } as Record<
    string,
    number[]
  >,
  /** Names that carry no number and every such library defines. */
  unnumbered: new Set(['CXXABI_TM_1']),
} as const;

export type RuntimeModel = typeof lambdaNodejs22;

/** `GLIBC_2.34` → [2, 34] under `GLIBC_`; undefined when the name is not a numbered one. */
function numbered(version: string, prefix: string): number[] | undefined {
  if (!version.startsWith(prefix)) return undefined;
  const rest = version.slice(prefix.length);
  return /^\d+(\.\d+)*$/.test(rest) ? rest.split('.').map(Number) : undefined;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the runtime's `library` defines `version` (false for names it cannot have, e.g. GLIBC_PRIVATE). */
export function runtimeDefines(runtime: RuntimeModel, library: string, version: string): boolean {
  if (runtime.unnumbered.has(version)) return true;
  for (const prefix of runtime.libraries[library] ?? []) {
    const parts = numbered(version, prefix);
    const newest = runtime.newest[prefix];
    if (parts && newest) return compareVersions(parts.slice(0, newest.length), newest) <= 0;
  }
  return false;
}

export interface BundleLinkage {
  layout: 'debian' | 'embedded';
  /** ELF files read (distinct files, links followed). */
  elfFiles: number;
  /** Every library taken from the runtime's image, with the files that take it. */
  fromImage: Map<string, Set<string>>;
  /** The newest GLIBC_ symbol version needed of the image's glibc (none for Debian-built bundles). */
  newestGlibcFromImage: string | undefined;
  /** What the runtime cannot satisfy: `<file>: <why>`, one line each. */
  problems: string[];
  /** The files (paths inside the bundle) with at least one problem. */
  failing: Set<string>;
}

async function walk(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = join(dir, entry.name);
    const info = await stat(full).catch(() => undefined);
    if (info?.isDirectory()) found.push(...(await walk(full, path)));
    else if (info?.isFile()) found.push(path);
  }
  return found;
}

async function isElf(path: string): Promise<boolean> {
  const file = await open(path);
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await file.read(head, 0, 4, 0);
    return bytesRead === 4 && head.readUInt32BE(0) === 0x7f454c46;
  } finally {
    await file.close();
  }
}

/**
 * Checks every ELF file of the bundle in `bundleDir` (a client or server bundle, Debian- or npm-built)
 * against `runtime` (default: Lambda's nodejs22.x).
 */
export async function checkBundleLinkage(
  bundleDir: string,
  runtime: RuntimeModel = lambdaNodejs22,
): Promise<BundleLinkage> {
  const root = await realpath(bundleDir);
  const manifest = JSON.parse(await readFile(join(root, 'manifest.json'), 'utf8')) as {
    layout?: string;
    loader?: string;
  };
  const layout = manifest.layout === 'embedded' ? 'embedded' : 'debian';
  const linkageCache = new Map<string, ElfLinkage | null>();
  const linkageOf = async (path: string): Promise<ElfLinkage | null> => {
    const real = await realpath(path).catch(() => undefined);
    if (!real) return null;
    if (!linkageCache.has(real)) {
      linkageCache.set(real, (await isElf(real)) ? readElfLinkage(await readFile(real)) : null);
    }
    return linkageCache.get(real) ?? null;
  };
  const exists = (path: string) =>
    stat(path).then(
      (info) => info.isFile(),
      () => false,
    );

  const files = (await walk(root)).filter((path) => !path.endsWith('.a'));
  const seen = new Set<string>();
  const fromImage = new Map<string, Set<string>>();
  const problems: string[] = [];
  const failing = new Set<string>();
  const fail = (file: string, why: string) => {
    failing.add(file);
    problems.push(`${file}: ${why}`);
  };
  let newestGlibc: number[] | undefined;
  for (const file of files) {
    const full = join(root, file);
    const real = await realpath(full);
    if (seen.has(real)) continue;
    const linkage = await linkageOf(full);
    if (!linkage) continue;
    seen.add(real);
    // Where this file's libraries are looked for inside the bundle.
    const searchDirs =
      layout === 'debian'
        ? [join(root, 'lib')]
        : linkage.runpath.map((entry) => join(entry.replace(/^\$ORIGIN|^\$\{ORIGIN\}/, dirname(full))));
    const providers = new Map<string, string | 'image' | undefined>();
    for (const soname of linkage.needed) {
      let provider: string | 'image' | undefined;
      for (const dir of searchDirs) {
        if (relative(root, dir).startsWith('..')) continue;
        if (await exists(join(dir, soname))) {
          provider = join(dir, soname);
          break;
        }
      }
      if (!provider && layout === 'embedded' && soname in runtime.libraries) provider = 'image';
      providers.set(soname, provider);
      if (provider === 'image') {
        const users = fromImage.get(soname) ?? new Set<string>();
        users.add(file);
        fromImage.set(soname, users);
      } else if (!provider) {
        fail(
          file,
          `needs ${soname}, which ${layout === 'debian' ? "is not in the bundle's lib/ (a Debian-built bundle takes nothing from the image)" : `neither the bundle nor ${runtime.name} has`}`,
        );
      }
    }
    for (const [library, versions] of linkage.versionsNeeded) {
      const provider = providers.get(library);
      if (provider === undefined) continue; // already reported (or a need without DT_NEEDED: none here)
      if (provider === 'image') {
        for (const version of versions) {
          const glibc = numbered(version, 'GLIBC_');
          if (glibc && (!newestGlibc || compareVersions(glibc, newestGlibc) > 0)) newestGlibc = glibc;
          if (!runtimeDefines(runtime, library, version)) {
            fail(
              file,
              `needs ${version} of ${library}, newer than ${runtime.name} has (glibc ${runtime.glibc})`,
            );
          }
        }
        continue;
      }
      const defined = new Set((await linkageOf(provider))?.versionsDefined ?? []);
      for (const version of versions) {
        if (!defined.has(version)) {
          fail(
            file,
            `needs ${version} of ${library}, which the bundle's ${relative(root, provider)} does not define`,
          );
        }
      }
    }
  }
  return {
    layout,
    elfFiles: seen.size,
    fromImage,
    newestGlibcFromImage: newestGlibc ? `GLIBC_${newestGlibc.join('.')}` : undefined,
    problems,
    failing,
  };
}
