/**
 * Just enough ELF reading to follow DT_NEEDED from the programs to every library they load, for
 * binaries of any architecture (the arm64 bundle is assembled on x86_64, where ldd cannot help).
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

export function readElf(bytes: Buffer): ElfInfo {
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
  if (!dynamic) return { machine, needed: [], soname: undefined };

  const entries: { tag: number; value: number }[] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = Number(bytes.readBigInt64LE(at));
    if (tag === 0) break;
    entries.push({ tag, value: Number(bytes.readBigUInt64LE(at + 8)) });
  }
  const strtabAddress = entries.find((e) => e.tag === DT_STRTAB)?.value;
  const segment = loads.find(
    (l) => strtabAddress !== undefined && strtabAddress >= l.vaddr && strtabAddress < l.vaddr + l.filesz,
  );
  if (strtabAddress === undefined || !segment) throw new Error('ELF dynamic section has no string table');
  const strtab = strtabAddress - segment.vaddr + segment.offset;
  const string = (offset: number) => {
    const start = strtab + offset;
    return bytes.toString('latin1', start, bytes.indexOf(0, start));
  };
  return {
    machine,
    needed: entries.filter((e) => e.tag === DT_NEEDED).map((e) => string(e.value)),
    soname: entries.filter((e) => e.tag === DT_SONAME).map((e) => string(e.value))[0],
  };
}
