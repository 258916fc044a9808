/**
 * The fixed-buffer multipart writer against a real S3 API (s3rver plus the project's shim for
 * ListMultipartUploads/AbortMultipartUpload). Faults are injected at the SDK client's middleware
 * stack, in front of the real server: a request fails or is held, the server stays real.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DumpFailedError, StepTimeoutError, StorageUnavailableError } from '../../lib/errors.ts';
import { BackupStore } from '../../lib/storage/backup-store.ts';
import {
  MultipartWriter,
  type MultipartWriterOptions,
  minPartSize,
  writeStreamToStore,
} from '../../lib/storage/multipart-writer.ts';
import { createS3Client } from '../../lib/storage/s3-client.ts';
import { type LocalS3Server, startLocalS3Server } from '../../tools/local/s3-server.ts';
import { waitFor } from '../support/wait-for.ts';

const part = minPartSize;
let s3: LocalS3Server;
let dir: string;
let buckets = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'multipart-writer-'));
  s3 = await startLocalS3Server({ directory: dir });
});

afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Sent {
  command: string;
  input: Record<string, unknown>;
}

type Interceptor = (sent: Sent) => Promise<void> | void;

/** A client on a fresh bucket that records every command and lets a test fail or hold one. */
async function freshBucket(intercept?: Interceptor) {
  const client: S3Client = createS3Client({ endpoint: s3.endpoint });
  const bucket = `writer-${++buckets}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const sent: Sent[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const entry = {
        command: (context.commandName ?? '').replace(/Command$/, ''),
        input: args.input as Record<string, unknown>,
      };
      sent.push(entry);
      await intercept?.(entry);
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  const store = new BackupStore({ client, bucket });
  const count = (command: string) => sent.filter((s) => s.command === command).length;
  return { client, bucket, store, sent, count };
}

/** Bytes in chunks of an odd size, so chunk and part boundaries never line up. */
function chunked(data: Buffer, chunkSize = 64 * 1024 + 7): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

async function download(store: BackupStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.getStream(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected the upload to fail');
    },
    (error: unknown) => error as Error,
  );
}

describe('MultipartWriter', () => {
  describe('round trip', () => {
    const sizes: [string, number, number][] = [
      ['empty', 0, 0],
      ['one byte', 1, 0],
      ['one byte short of a part', part - 1, 0],
      ['exactly one part', part, 0],
      ['one byte over a part', part + 1, 2],
      ['several parts and a tail', 3 * part + 12_345, 4],
    ];
    it.each(sizes)('stores %s (%d bytes) byte for byte, in %d parts', async (_name, size, parts) => {
      const { store, bucket, client, count } = await freshBucket();
      const data = randomBytes(size);
      const result = await writeStreamToStore(chunked(data), {
        client,
        bucket,
        key: 'incoming/object.dump',
        partSize: part,
      });

      expect(result).toEqual({ bytes: size, parts });
      const stored = await download(store, 'incoming/object.dump');
      expect(stored.length).toBe(size);
      expect(sha256(stored)).toBe(sha256(data));
      expect(count('CreateMultipartUpload')).toBe(parts ? 1 : 0);
      expect(count('PutObject')).toBe(parts ? 0 : 1);
      expect(await store.listIncompleteUploads('')).toEqual([]);
    });

    it('passes SSE-KMS parameters and the content type on the requests that create the object', async () => {
      const { bucket, client, sent } = await freshBucket();
      const encryption = { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: 'alias/backups' };
      for (const [key, size] of [
        ['small', 10],
        ['large', part + 10],
      ] as const) {
        await writeStreamToStore(chunked(randomBytes(size)), {
          client,
          bucket,
          key,
          partSize: part,
          encryption,
          contentType: 'application/x-pg-dump',
        });
      }

      const creating = sent.filter((s) => ['PutObject', 'CreateMultipartUpload'].includes(s.command));
      expect(creating.map((s) => s.command)).toEqual(['PutObject', 'CreateMultipartUpload']);
      for (const request of creating) {
        expect(request.input).toMatchObject({ ...encryption, ContentType: 'application/x-pg-dump' });
      }
    });
  });

  describe('failures', () => {
    it('aborts the multipart upload and rejects with the source error when the source fails', async () => {
      const { store, bucket, client, count } = await freshBucket();
      const data = randomBytes(2 * part + 100);
      const source = chunked(data);
      let pushed = 0;
      source.on('data', (chunk: Buffer) => {
        pushed += chunk.length;
        if (pushed > 2 * part) source.destroy(new DumpFailedError('pg_dump exited with 1'));
      });

      const error = await failureOf(writeStreamToStore(source, { client, bucket, key: 'k', partSize: part }));

      expect(error).toBeInstanceOf(DumpFailedError);
      expect(error.message).toBe('pg_dump exited with 1');
      expect(count('CreateMultipartUpload')).toBe(1);
      expect(count('AbortMultipartUpload')).toBe(1);
      expect(count('CompleteMultipartUpload')).toBe(0);
      expect(await store.listIncompleteUploads('')).toEqual([]);
      expect(await store.exists('k')).toBe(false);
    });

    it('never completes an object when the source ends in an error after its last byte', async () => {
      const { store, bucket, client, count } = await freshBucket();
      const data = randomBytes(part + 100);
      // A source whose end is refused at the last moment, like pg_dump exiting non-zero after its output.
      const source = Readable.from(
        (async function* () {
          yield data;
          throw new DumpFailedError('pg_dump exited with 1');
        })(),
      );

      const error = await failureOf(writeStreamToStore(source, { client, bucket, key: 'k', partSize: part }));

      expect(error).toBeInstanceOf(DumpFailedError);
      expect(count('CompleteMultipartUpload')).toBe(0);
      expect(count('PutObject')).toBe(0);
      expect(await store.listIncompleteUploads('')).toEqual([]);
      expect(await store.exists('k')).toBe(false);
    });

    it('wraps a source error from outside the catalog as StorageUnavailableError', async () => {
      const { store, bucket, client } = await freshBucket();
      const source = Readable.from(
        (async function* () {
          yield randomBytes(100);
          throw new Error('read ECONNRESET');
        })(),
      );

      const error = await failureOf(writeStreamToStore(source, { client, bucket, key: 'k', partSize: part }));

      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(error.message).toContain('read ECONNRESET');
      expect(await store.exists('k')).toBe(false);
    });

    it('aborts the whole upload with a named error when one UploadPart fails', async () => {
      const { store, bucket, client, count } = await freshBucket(({ command, input }) => {
        if (command === 'UploadPart' && input.PartNumber === 2) {
          throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
            name: 'InternalError',
            $metadata: { httpStatusCode: 500 },
          });
        }
      });

      const error = await failureOf(
        writeStreamToStore(chunked(randomBytes(4 * part)), { client, bucket, key: 'k', partSize: part }),
      );

      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(error.message).toMatch(/^UploadPart s3:\/\/writer-\d+\/k failed: InternalError/);
      expect(count('AbortMultipartUpload')).toBe(1);
      expect(count('CompleteMultipartUpload')).toBe(0);
      expect(await store.listIncompleteUploads('')).toEqual([]);
      expect(await store.exists('k')).toBe(false);
    });

    it('says so when the abort fails too, keeping the error name', async () => {
      const { store, bucket, client } = await freshBucket(({ command }) => {
        if (command === 'UploadPart' || command === 'AbortMultipartUpload')
          throw new Error('connect ECONNREFUSED');
      });

      const error = (await failureOf(
        writeStreamToStore(chunked(randomBytes(2 * part + 1)), { client, bucket, key: 'k', partSize: part }),
      )) as StorageUnavailableError;

      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(error.message).toContain('AbortMultipartUpload of');
      expect(error.details?.abortFailed).toEqual(expect.stringContaining('ECONNREFUSED'));
      const [orphan] = await store.listIncompleteUploads('');
      expect(orphan?.uploadId).toBe(error.details?.uploadId);
      await new BackupStore({ client: createS3Client({ endpoint: s3.endpoint }), bucket }).abortUpload(
        'k',
        orphan?.uploadId ?? '',
      );
    });

    it('cancels in-flight parts and aborts the upload when the signal fires', async () => {
      let uploadPartsDone = 0;
      const controller = new AbortController();
      const { store, bucket, client, count } = await freshBucket();
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const output = await next(args);
          if (context.commandName === 'UploadPartCommand' && ++uploadPartsDone === 2) {
            controller.abort(new StepTimeoutError('dump stopped before the Lambda timeout'));
          }
          return output;
        },
        { step: 'initialize', name: 'abortAfterTwoParts' },
      );
      // An endless source: only the signal can end this upload.
      const source = new Readable({
        read() {
          this.push(randomBytes(64 * 1024));
        },
      });

      const error = await failureOf(
        writeStreamToStore(source, { client, bucket, key: 'k', partSize: part, signal: controller.signal }),
      );

      expect(error).toBeInstanceOf(StepTimeoutError);
      expect(error.message).toBe('dump stopped before the Lambda timeout');
      expect(source.destroyed).toBe(true);
      expect(count('AbortMultipartUpload')).toBe(1);
      expect(count('CompleteMultipartUpload')).toBe(0);
      expect(await store.listIncompleteUploads('')).toEqual([]);
      expect(await store.exists('k')).toBe(false);
    });

    it('turns an abort reason from outside the catalog into StepTimeoutError', async () => {
      const { store, bucket, client } = await freshBucket();
      const controller = new AbortController();
      controller.abort();

      const error = await failureOf(
        writeStreamToStore(chunked(randomBytes(100)), {
          client,
          bucket,
          key: 'k',
          partSize: part,
          signal: controller.signal,
        }),
      );

      expect(error).toBeInstanceOf(StepTimeoutError);
      expect(await store.exists('k')).toBe(false);
    });
  });

  describe('memory', () => {
    it('holds the source back while every buffer is busy and never allocates beyond its pool', async () => {
      const held: (() => void)[] = [];
      let holding = true;
      const { store, bucket, client } = await freshBucket(async ({ command }) => {
        if (command === 'UploadPart' && holding) await new Promise<void>((release) => held.push(release));
      });
      const data = randomBytes(12 * part + 3);
      let pulled = 0;
      let offset = 0;
      const source = new Readable({
        read() {
          if (offset >= data.length) {
            this.push(null);
            return;
          }
          const chunk = data.subarray(offset, offset + 64 * 1024);
          offset += chunk.length;
          pulled += chunk.length;
          this.push(chunk);
        },
      });
      const options: MultipartWriterOptions = { client, bucket, key: 'k', partSize: part, concurrency: 2 };
      const writer = new MultipartWriter(options);
      source.pipe(writer);

      // Both slots busy, then either the source is held back (paused, its own buffer full, so nothing
      // asks it for more) or an unbounded writer has drained it all: each is a state, not a moment.
      await waitFor('two parts in flight', () => held.length >= 2);
      await waitFor(
        'the source held back or drained',
        () =>
          offset >= data.length ||
          (source.readableFlowing === false && source.readableLength >= source.readableHighWaterMark),
      );
      const pulledWhileHeld = pulled;
      expect(held).toHaveLength(2);
      // Two parts in flight, a third buffer full, plus what the streams' own buffers hold (≤ 64 KiB each).
      expect(pulledWhileHeld).toBeLessThanOrEqual(3 * part + 4 * 64 * 1024);
      expect(pulledWhileHeld).toBeGreaterThan(2 * part);

      holding = false;
      for (const release of held.splice(0)) release();
      await writer.done;

      expect(writer.stats).toEqual({ buffersAllocated: 3, peakLiveBuffers: 3, poolSize: 3 });
      expect(sha256(await download(store, 'k'))).toBe(sha256(data));
    });

    it('allocates one buffer for an object that fits in one part', async () => {
      const { bucket, client } = await freshBucket();
      const writer = new MultipartWriter({ client, bucket, key: 'k', partSize: part, concurrency: 3 });
      chunked(randomBytes(part)).pipe(writer);

      await writer.done;

      expect(writer.stats).toEqual({ buffersAllocated: 1, peakLiveBuffers: 1, poolSize: 4 });
    });
  });
});
