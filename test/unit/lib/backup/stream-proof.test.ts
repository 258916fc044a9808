/**
 * The content digest beside the upload (lib/backup/stream-proof.ts `digestBeside`): it listens to the
 * chunks pg_dump writes and never holds them back; a digest that falls behind is abandoned at its bound,
 * at once, with the reason the manifest's warning will carry, and lets go of the stream. (Its digests
 * on real archives: test/integration/stream-content.test.ts.)
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { digestBeside } from '../../../../lib/backup/stream-proof.ts';

const KiB = 1024;

/** pg_dump's stdout with the upload reading it as fast as it comes: the bytes the upload got. */
function dumpOutput() {
  const stdout = new PassThrough();
  let uploaded = 0;
  stdout.on('data', (chunk: Buffer) => {
    uploaded += chunk.length;
  });
  return { stdout, uploaded: () => uploaded };
}

describe('digestBeside()', () => {
  it('abandons a digest that falls behind at its bound and settles at once, never holding the output back', async () => {
    const { stdout, uploaded } = dumpOutput();
    // A digest that never reads: it falls behind by every byte written.
    const beside = digestBeside(stdout, {
      maxBehindBytes: 256 * KiB,
      beforeRead: () => new Promise(() => {}),
    });

    const accepted: boolean[] = [];
    for (let i = 0; i < 16; i++) accepted.push(stdout.write(Buffer.alloc(64 * KiB, i)));

    expect(await beside.digest).toEqual({
      error: "the digest of pg_dump's output fell more than 256 KiB behind it",
    });
    expect(accepted.every(Boolean)).toBe(true);
    expect(uploaded()).toBe(16 * 64 * KiB);
    // It let go: only the upload still reads pg_dump's output.
    expect(stdout.listenerCount('data')).toBe(1);
    expect(stdout.isPaused()).toBe(false);
  });

  it('keeps up to its bound without a word: a slow digest within it is not abandoned', async () => {
    const { stdout } = dumpOutput();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const beside = digestBeside(stdout, { maxBehindBytes: 1024 * KiB, beforeRead: () => held });

    for (let i = 0; i < 8; i++) stdout.write(Buffer.alloc(64 * KiB, 0x41));
    stdout.end();
    release();

    // Not an archive: the reader names it, which shows the digest read on instead of being abandoned.
    expect(await beside.digest).toEqual({
      error: 'ArchiveUnreadableError: not a pg_dump custom-format archive (no PGDMP header)',
    });
  });

  it('settles with the reason when the dump fails and the step abandons it', async () => {
    const { stdout } = dumpOutput();
    const beside = digestBeside(stdout, { beforeRead: () => new Promise(() => {}) });
    stdout.write(Buffer.from('PGDMP'));

    beside.abandon();

    expect(await beside.digest).toEqual({ error: 'the dump failed; its content digest was abandoned' });
    expect(stdout.listenerCount('data')).toBe(1);
  });

  it('settles when the output ends early', async () => {
    const { stdout } = dumpOutput();
    const beside = digestBeside(stdout);
    stdout.end(Buffer.from('PGDMP'));

    expect(await beside.digest).toEqual({
      error: 'ArchiveUnreadableError: the archive ends after 5 bytes, in the middle of a field',
    });
  });
});
