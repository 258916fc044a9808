/**
 * A multipart upload that writes a stream into S3 through a fixed pool of preallocated part buffers.
 *
 * Why not @aws-sdk/lib-storage's Upload: it collects each part as a list of the stream's chunks and
 * `Buffer.concat`s them into a fresh part-sized buffer, so every byte is copied twice and every part is
 * a new allocation for the garbage collector (10% GC + 5.5% copies in the dump's CPU profile,
 * docs/performance.md). Here each chunk is copied once, into a buffer that is reused for the next part.
 *
 * Contract:
 * - memory: at most `concurrency + 1` part buffers ever exist (one being filled, up to `concurrency`
 *   in flight); the stream's write callback is held until the next buffer is free (backpressure);
 * - an object smaller than or equal to one part is written by one PutObject, never a multipart upload;
 *   the multipart upload is created lazily, when the second part's first byte arrives;
 * - CompleteMultipartUpload (or the PutObject) is only sent once the source ended successfully, i.e.
 *   after the writer's `final` — a source that fails (or is destroyed) never becomes an object;
 * - on any failure, destroy or `signal` abort: in-flight UploadParts are cancelled, the multipart upload is
 *   aborted (best effort; a failed abort is named in the error's message and `details.abortFailed`),
 *   and `done` rejects with a catalog error: the source's own BackupError, the signal's reason when it
 *   is one, StepTimeoutError for any other abort, StorageUnavailableError for everything else;
 * - part sizes: every part but the last is `partSize` (≥ 5 MiB, S3's minimum). S3 allows 10,000 parts,
 *   so callers pass a part size computed from the expected size (`partSizeFor`); should the stream
 *   outgrow it anyway, parts from number 5,001 on double in size every 1,000 parts (at 8 MiB: ~520 GiB in
 *   total), reallocating the pool's buffers at the larger size;
 * - bodies are sent with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (`unsignedPayload`): SigV4 would
 *   otherwise hash every part once more on the main thread, 8 MiB at a time, stalling the read from
 *   pg_dump (docs/performance.md). The AWS CLI does the same over HTTPS. Integrity does not rest on it:
 *   TLS (the bucket denies anything else), the SDK's per-part CRC32 that S3 checks (its default
 *   outside local runs) and our own SHA-256 of the whole stream, re-checked by the Checksum step.
 */
import { pipeline, type Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BackupError, describeError, StepTimeoutError, StorageUnavailableError } from '../errors.ts';

const MiB = 1024 * 1024;
export const minPartSize = 5 * MiB;
export const maxPartSize = 5 * 1024 * MiB;
export const maxParts = 10_000;
export const defaultPartSize = 8 * MiB;
export const defaultConcurrency = 2;
const partsBeforeGrowth = 5_000;
const partsPerGrowthStep = 1_000;

export interface MultipartWriterOptions {
  client: S3Client;
  bucket: string;
  key: string;
  /** Size of every part but the last; default 8 MiB, at least 5 MiB. */
  partSize?: number | undefined;
  /** Parts uploading at once; the pool holds one buffer more. Default 2. */
  concurrency?: number | undefined;
  contentType?: string | undefined;
  /** SSE-KMS parameters for PutObject/CreateMultipartUpload (UploadPart carries none). */
  encryption?: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } | undefined;
  /** Aborting it cancels in-flight requests and aborts the upload. */
  signal?: AbortSignal | undefined;
}

export interface MultipartWriterResult {
  bytes: number;
  /** 0 when the object was written by a single PutObject. */
  parts: number;
}

export interface MultipartWriterStats {
  /** Part buffers allocated over the writer's life; never above `poolSize` unless parts grew. */
  buffersAllocated: number;
  /** Most part buffers alive at one time; never above `poolSize`. */
  peakLiveBuffers: number;
  poolSize: number;
}

/** Size of part `partNumber` (1-based) for a base part size, growing late so 10,000 parts go far. */
export function partSizeForPart(base: number, partNumber: number): number {
  const steps = Math.max(0, Math.ceil((partNumber - partsBeforeGrowth) / partsPerGrowthStep));
  return Math.min(maxPartSize, base * 2 ** steps);
}

interface Settle {
  resolve(result: MultipartWriterResult): void;
  reject(error: Error): void;
}

export class MultipartWriter extends Writable {
  /** Settles once the object exists (resolves) or the upload was aborted (rejects). */
  readonly done: Promise<MultipartWriterResult>;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #key: string;
  readonly #basePartSize: number;
  readonly #concurrency: number;
  readonly #contentType: string;
  readonly #encryption: MultipartWriterOptions['encryption'];
  readonly #signal: AbortSignal | undefined;
  readonly #cancel = new AbortController();
  readonly #free: Buffer[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #parts: CompletedPart[] = [];
  #liveBuffers = 0;
  #stats: MultipartWriterStats;
  #current: Buffer | undefined;
  #filled = 0;
  #partNumber = 0;
  #bytes = 0;
  #uploadId: Promise<string> | undefined;
  #failure: BackupError | undefined;
  #slotFreed: (() => void) | undefined;
  #settle: Settle;
  #onSignal = () => this.destroy(abortReason(this.#signal?.reason));

  constructor(options: MultipartWriterOptions) {
    super({ decodeStrings: true });
    const partSize = options.partSize ?? defaultPartSize;
    const concurrency = options.concurrency ?? defaultConcurrency;
    if (!Number.isInteger(partSize) || partSize < minPartSize || partSize > maxPartSize)
      throw new RangeError(`partSize must be an integer between ${minPartSize} and ${maxPartSize}`);
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new RangeError('concurrency must be a positive integer');
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#key = options.key;
    this.#basePartSize = partSize;
    this.#concurrency = concurrency;
    this.#contentType = options.contentType ?? 'application/octet-stream';
    this.#encryption = options.encryption;
    this.#signal = options.signal;
    this.#stats = { buffersAllocated: 0, peakLiveBuffers: 0, poolSize: concurrency + 1 };
    let settle: Settle | undefined;
    this.done = new Promise<MultipartWriterResult>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.#settle = settle as Settle;
    // Callers await `done`; the 'error' event carries the same error for stream plumbing.
    this.done.catch(() => undefined);
    if (this.#signal?.aborted) queueMicrotask(this.#onSignal);
    else this.#signal?.addEventListener('abort', this.#onSignal, { once: true });
  }

  get stats(): MultipartWriterStats {
    return { ...this.#stats };
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#bytes += chunk.length;
    let offset = 0;
    const fill = (): void => {
      while (offset < chunk.length) {
        if (this.#failure) {
          callback(this.#failure);
          return;
        }
        if (this.#current && this.#filled === this.#current.length) {
          // More data after a full buffer: that buffer is a part of a multipart upload.
          if (this.#inFlight.size >= this.#concurrency) {
            this.#waitForSlot().then(fill);
            return;
          }
          this.#sendPart();
        }
        this.#current ??= this.#takeBuffer();
        const n = chunk.copy(this.#current, this.#filled, offset);
        this.#filled += n;
        offset += n;
      }
      callback();
    };
    fill();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish().then(
      (result) => {
        this.#release();
        this.#settle.resolve(result);
        callback();
      },
      (error: unknown) => callback(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.writableFinished && !error) {
      callback();
      return;
    }
    const reason =
      this.#failure ??
      toCatalogError(
        error ?? new Error('the stream was destroyed before it ended'),
        `upload of s3://${this.#bucket}/${this.#key} stopped`,
      );
    this.#failure ??= reason;
    this.#cancel.abort(reason);
    this.#abortUpload(reason).then(
      (final) => {
        this.#release();
        this.#settle.reject(final);
        callback(final);
      },
      (unexpected: unknown) => {
        this.#release();
        this.#settle.reject(unexpected as Error);
        callback(unexpected as Error);
      },
    );
  }

  #takeBuffer(): Buffer {
    const size = partSizeForPart(this.#basePartSize, this.#partNumber + 1);
    let buffer = this.#free.pop();
    if (buffer && buffer.length !== size) {
      this.#liveBuffers--;
      buffer = undefined;
    }
    if (!buffer) {
      buffer = Buffer.allocUnsafeSlow(size);
      this.#liveBuffers++;
      this.#stats.buffersAllocated++;
      this.#stats.peakLiveBuffers = Math.max(this.#stats.peakLiveBuffers, this.#liveBuffers);
    }
    this.#filled = 0;
    return buffer;
  }

  #waitForSlot(): Promise<void> {
    return new Promise((resolve) => {
      this.#slotFreed = resolve;
    });
  }

  #sendPart(): void {
    const buffer = this.#current as Buffer;
    const length = this.#filled;
    this.#current = undefined;
    this.#filled = 0;
    const partNumber = ++this.#partNumber;
    if (partNumber > maxParts) {
      this.destroy(
        new StorageUnavailableError(
          `upload of s3://${this.#bucket}/${this.#key} needs more than ${maxParts} parts; pass a larger part size`,
        ),
      );
      return;
    }
    this.#uploadId ??= this.#createUpload();
    const sending = (async () => {
      const uploadId = await this.#uploadId;
      const result = await this.#send('UploadPart', () =>
        this.#client.send(
          unsignedPayload(
            new UploadPartCommand({
              Bucket: this.#bucket,
              Key: this.#key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: buffer.subarray(0, length),
              ContentLength: length,
            }),
          ),
          { abortSignal: this.#cancel.signal },
        ),
      );
      this.#parts.push({ ETag: result.ETag ?? '', PartNumber: partNumber });
    })();
    this.#inFlight.add(sending);
    sending.then(
      () => {
        this.#inFlight.delete(sending);
        // The buffer is only reused once its request (and every retry of it) is over.
        this.#free.push(buffer);
        this.#wakeWriter();
      },
      (error: unknown) => {
        this.#inFlight.delete(sending);
        this.#liveBuffers--;
        if (!this.#failure) this.destroy(error as Error);
        this.#wakeWriter();
      },
    );
  }

  #wakeWriter(): void {
    const wake = this.#slotFreed;
    this.#slotFreed = undefined;
    wake?.();
  }

  #createUpload(): Promise<string> {
    return this.#send('CreateMultipartUpload', async () => {
      // Not cancellable: a create the server performed must come back with its id, to be aborted.
      const created = await this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: this.#key,
          ContentType: this.#contentType,
          ...this.#encryption,
        }),
      );
      if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      return created.UploadId;
    });
  }

  async #finish(): Promise<MultipartWriterResult> {
    if (this.#failure) throw this.#failure;
    if (this.#partNumber === 0) {
      const body = this.#current ? this.#current.subarray(0, this.#filled) : Buffer.alloc(0);
      await this.#send('PutObject', () =>
        this.#client.send(
          unsignedPayload(
            new PutObjectCommand({
              Bucket: this.#bucket,
              Key: this.#key,
              Body: body,
              ContentLength: body.length,
              ContentType: this.#contentType,
              ...this.#encryption,
            }),
          ),
        ),
      );
      return { bytes: this.#bytes, parts: 0 };
    }
    if (this.#filled > 0) {
      while (this.#inFlight.size >= this.#concurrency) await this.#waitForSlot();
      if (this.#failure) throw this.#failure;
      this.#sendPart();
    }
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (this.#failure) throw this.#failure;
    const uploadId = await this.#uploadId;
    const parts = [...this.#parts].sort((x, y) => (x.PartNumber ?? 0) - (y.PartNumber ?? 0));
    await this.#send('CompleteMultipartUpload', () =>
      this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: this.#key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
    return { bytes: this.#bytes, parts: parts.length };
  }

  /** Cancels what is in flight, then aborts the multipart upload if one was created. */
  async #abortUpload(reason: BackupError): Promise<BackupError> {
    await Promise.allSettled([...this.#inFlight]);
    if (!this.#uploadId) return reason;
    let uploadId: string;
    try {
      uploadId = await this.#uploadId;
    } catch {
      return reason;
    }
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: uploadId }),
      );
      return reason;
    } catch (abortError) {
      const abortFailed = `AbortMultipartUpload of ${uploadId} failed: ${describeError(abortError)}`;
      return withDetails(
        reason,
        `; ${abortFailed} (the next dump or the bucket's lifecycle rule removes it)`,
        {
          abortFailed,
          uploadId,
        },
      );
    }
  }

  async #send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // Requests we cancelled fail with the cancel reason's shape; report the reason itself.
      if (this.#failure) throw this.#failure;
      throw new StorageUnavailableError(
        `${operation} s3://${this.#bucket}/${this.#key} failed: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  #release(): void {
    this.#signal?.removeEventListener('abort', this.#onSignal);
    this.#free.length = 0;
    this.#current = undefined;
  }
}

/**
 * Marks a command's body as unsigned (see the contract above): the signer then takes the header as
 * the payload hash instead of computing SHA-256 over the body. Set in the build step, before signing.
 */
function unsignedPayload<C extends UploadPartCommand | PutObjectCommand>(command: C): C {
  (command as UploadPartCommand).middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'unsignedPayload' },
  );
  return command;
}

function abortReason(reason: unknown): BackupError {
  if (reason instanceof BackupError) return reason;
  return new StepTimeoutError(`upload aborted: ${describeError(reason)}`, { cause: reason });
}

function toCatalogError(error: Error, context: string): BackupError {
  if (error instanceof BackupError) return error;
  return new StorageUnavailableError(`${context}: ${describeError(error)}`, { cause: error });
}

/** The same catalog error with more said: the class (its name, its `transient`) stays. */
function withDetails(error: BackupError, suffix: string, details: Record<string, unknown>): BackupError {
  const Same = error.constructor as new (
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> },
  ) => BackupError;
  const augmented = new Same(`${error.message}${suffix}`, {
    cause: error.cause,
    details: { ...error.details, ...details },
  });
  if (error.stack) augmented.stack = error.stack.replace(error.message, augmented.message);
  return augmented;
}

/**
 * Streams `body` into `key` and resolves once the object exists. The body's end is the success signal:
 * a body that errors or is destroyed aborts the upload and rejects with that error.
 */
export async function writeStreamToStore(
  body: Readable,
  options: MultipartWriterOptions,
): Promise<MultipartWriterResult> {
  const writer = new MultipartWriter(options);
  // pipeline forwards the body's error to the writer (which aborts) and destroys the body when the
  // writer fails; the outcome itself is `done`, which settles only after the abort was attempted.
  const piped = new Promise<void>((resolve) => pipeline(body, writer, () => resolve()));
  await Promise.allSettled([writer.done]);
  // Once this returns, nothing reads the body any more (a failed writer has destroyed it).
  await piped;
  return writer.done;
}
