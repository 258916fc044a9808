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
 * Kept apart from elf.ts on purpose: the builder's cache key hashes elf.ts, and reading more of a file
 * must not rebuild every cached bundle.
 */
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

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

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_VERDEF = 0x6ffffffc;
const DT_VERDEFNUM = 0x6ffffffd;
const DT_VERNEED = 0x6ffffffe;
const DT_VERNEEDNUM = 0x6fffffff;
const VER_FLG_BASE = 1;

export interface ElfLinkage {
  machine: number;
  needed: string[];
  soname: string | undefined;
  /** DT_RUNPATH, else DT_RPATH, split at colons; `$ORIGIN` left as it is. */
  runpath: string[];
  /** Symbol versions needed, by the library (soname) that must define them. */
  versionsNeeded: Map<string, string[]>;
  /** Symbol versions this file defines (not its own base name). */
  versionsDefined: string[];
}

/** Reads the dynamic linking facts of a 64-bit little-endian ELF file (x86_64 and arm64 alike). */
export function readElfLinkage(bytes: Buffer): ElfLinkage {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const machine = bytes.readUInt16LE(18);
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = bytes.readUInt32LE(at);
    const offset = Number(bytes.readBigUInt64LE(at + 8));
    const vaddr = Number(bytes.readBigUInt64LE(at + 16));
    const filesz = Number(bytes.readBigUInt64LE(at + 32));
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
  }
  const empty: ElfLinkage = {
    machine,
    needed: [],
    soname: undefined,
    runpath: [],
    versionsNeeded: new Map(),
    versionsDefined: [],
  };
  if (!dynamic) return empty;

  const entries: { tag: number; value: number }[] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(bytes.readBigInt64LE(at));
    if (tag === 0) break;
    entries.push({ tag, value: Number(bytes.readBigUInt64LE(at + 8)) });
  }
  const fileOffset = (address: number): number => {
    const segment = loads.find((l) => address >= l.vaddr && address < l.vaddr + l.filesz);
    if (!segment) throw new Error(`ELF address 0x${address.toString(16)} is in no loaded segment`);
    return address - segment.vaddr + segment.offset;
  };
  const value = (tag: number) => entries.find((e) => e.tag === tag)?.value;
  const strtabAddress = value(DT_STRTAB);
  if (strtabAddress === undefined) throw new Error('ELF dynamic section has no string table');
  const strtab = fileOffset(strtabAddress);
  const string = (offset: number) => {
    const start = strtab + offset;
    return bytes.toString('latin1', start, bytes.indexOf(0, start));
  };

  const versionsNeeded = new Map<string, string[]>();
  const verneed = value(DT_VERNEED);
  if (verneed !== undefined) {
    let at = fileOffset(verneed);
    for (let i = 0; i < (value(DT_VERNEEDNUM) ?? 0); i++) {
      const count = bytes.readUInt16LE(at + 2);
      const file = string(bytes.readUInt32LE(at + 4));
      const names: string[] = [];
      let aux = at + bytes.readUInt32LE(at + 8);
      for (let j = 0; j < count; j++) {
        names.push(string(bytes.readUInt32LE(aux + 8)));
        aux += bytes.readUInt32LE(aux + 12);
      }
      versionsNeeded.set(file, [...(versionsNeeded.get(file) ?? []), ...names]);
      const next = bytes.readUInt32LE(at + 12);
      if (next === 0) break;
      at += next;
    }
  }
  const versionsDefined: string[] = [];
  const verdef = value(DT_VERDEF);
  if (verdef !== undefined) {
    let at = fileOffset(verdef);
    for (let i = 0; i < (value(DT_VERDEFNUM) ?? 0); i++) {
      const flags = bytes.readUInt16LE(at + 2);
      const aux = at + bytes.readUInt32LE(at + 12);
      if (!(flags & VER_FLG_BASE)) versionsDefined.push(string(bytes.readUInt32LE(aux)));
      const next = bytes.readUInt32LE(at + 16);
      if (next === 0) break;
      at += next;
    }
  }
  const runpath = value(DT_RUNPATH) ?? value(DT_RPATH);
  return {
    machine,
    needed: entries.filter((e) => e.tag === DT_NEEDED).map((e) => string(e.value)),
    soname: entries.filter((e) => e.tag === DT_SONAME).map((e) => string(e.value))[0],
    runpath: runpath === undefined ? [] : string(runpath).split(':').filter(Boolean),
    versionsNeeded,
    versionsDefined,
  };
}

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
