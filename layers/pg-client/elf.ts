/**
 * Just enough ELF reading to follow DT_NEEDED from the programs to every library they load, for
 * binaries of any architecture (the arm64 bundle is assembled on x86_64, where ldd cannot help), and
 * to tell what each file needs of its libraries' symbol versions (lambda-runtime.ts).
 * Only 64-bit little-endian files, which covers both targets.
 */
export const elfMachines = { x86_64: 62, arm64: 183 } as const;

export interface ElfInfo {
  machine: number;
  needed: string[];
  soname: string | undefined;
}

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

/** What the builder follows: the machine, the libraries a file loads and its own soname. */
export function readElf(bytes: Buffer): ElfInfo {
  const { machine, needed, soname } = readElfLinkage(bytes);
  return { machine, needed, soname };
}
