/**
 * A pass-through stream that computes the SHA-256 and byte count of everything flowing through it:
 * the one way the pipeline measures a dump, whether uploading it, downloading it or benchmarking it.
 * `beforeEnd` may hold the stream's end back (e.g. until pg_dump's exit code is known) or fail it.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface HashingStream {
  stream: Transform;
  /** SHA-256 (hex) and size of what has passed so far; call once the stream has ended. */
  result(): { sha256: string; bytes: number };
}

export function createHashingStream(beforeEnd?: () => Promise<void>): HashingStream {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      if (!beforeEnd) return callback();
      beforeEnd().then(
        () => callback(),
        (error: unknown) => callback(error as Error),
      );
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), bytes }) };
}
