/**
 * The tar reader that unpacks Render's export: it is input from outside, so each way it could be
 * fooled has a test: an entry that leaves the directory, a link, a header that is not one, a stream
 * that ends inside an entry. Archives are made here byte by byte (ustar headers), plus one by tar(1).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ProviderDrillFailedError } from '../../../../lib/errors.ts';
import { extractTar } from '../../../../lib/provider/export-archive.ts';

function header(name: string, size: number, type = '0'): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write('0000600\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write(type, 156);
  block.write('ustar\0', 257);
  block.write('00', 263);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

function entry(name: string, content: string | Buffer, type = '0'): Buffer {
  const data = Buffer.from(content);
  return Buffer.concat([
    header(name, data.length, type),
    data,
    Buffer.alloc((512 - (data.length % 512)) % 512),
  ]);
}

const end = Buffer.alloc(1024);

async function* chunks(buffer: Buffer, size = 700): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'export-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('extractTar()', () => {
  it('writes the files of a tar made by tar(1), in chunks that split headers and data', async () => {
    const source = join(dir, 'source');
    await mkdir(join(source, 'shop'), { recursive: true });
    await writeFile(join(source, 'shop', 'toc.dat'), 'toc');
    await writeFile(join(source, 'shop', '3001.dat'), Buffer.alloc(70_000, 7));
    const tar = execFileSync('tar', ['-cf', '-', '-C', source, 'shop']);
    const out = join(dir, 'out');
    const files = await extractTar(chunks(tar), out);
    expect(files.sort()).toEqual(['shop/3001.dat', 'shop/toc.dat']);
    expect(await readFile(join(out, 'shop', '3001.dat'))).toEqual(Buffer.alloc(70_000, 7));
  });

  it('takes a long name from a pax header', async () => {
    const long = `${'d'.repeat(120)}/toc.dat`;
    const pax = `${(long.length + 11).toString()} path=${long}\n`;
    const tar = Buffer.concat([entry('PaxHeader', pax, 'x'), entry('short', 'toc'), end]);
    expect(await extractTar(chunks(tar), dir)).toEqual([long]);
  });

  it.each([
    ['an entry that leaves the directory', entry('../escape.txt', 'x'), /outside its directory/],
    ['an absolute path', entry('/tmp/absolute.txt', 'x'), /outside its directory/],
    ['a symbolic link', entry('link', '', '2'), /tar type '2'/],
    ['a block that is no tar header', Buffer.alloc(512, 65), /not a tar archive/],
    [
      'a header whose checksum does not match',
      Buffer.from(entry('toc.dat', 'x').fill(0x31, 0, 3)),
      /checksum/,
    ],
  ])('refuses %s', async (_case, first, message) => {
    const error = await extractTar(chunks(Buffer.concat([first, end])), join(dir, 'out')).catch((e) => e);
    expect(error).toBeInstanceOf(ProviderDrillFailedError);
    expect((error as Error).message).toMatch(message);
  });

  it('calls a stream that ends inside an entry or before the end blocks truncated', async () => {
    const whole = Buffer.concat([entry('toc.dat', Buffer.alloc(5000, 1)), end]);
    for (const cut of [whole.subarray(0, 3000), whole.subarray(0, 300), whole.subarray(0, 512 + 5120)]) {
      await expect(extractTar(chunks(cut), join(dir, `cut-${cut.length}`))).rejects.toThrow(/truncated/);
    }
  });
});
