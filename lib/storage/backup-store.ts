/**
 * The bucket, behind the few operations the pipeline needs. Contract:
 * - every failure of the store itself (5xx, timeout, connection refused) is a StorageUnavailableError
 *   (transient, retried by the state machine); a missing object is a BackupNotFoundError;
 * - `uploadStream` either completes the object or aborts the multipart upload: a failed upload leaves
 *   no object and no incomplete upload behind (unless the store is down for the abort too: then the
 *   error says so, the next dump aborts it and the lifecycle rule is the backstop);
 * - objects are written with SSE-KMS when a key is configured (AWS); locally s3rver ignores it.
 */

import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  type ServerSideEncryption,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BackupNotFoundError, describeError, StorageUnavailableError } from '../errors.ts';
import { maxParts, writeStreamToStore } from './multipart-writer.ts';
import { scopedListPrefix, scopeKey, scopeSegment, scopesIn, unscopeKey } from './scope.ts';

export interface StoredObject {
  key: string;
  bytes: number;
  lastModified: Date | undefined;
}

export interface BackupStoreOptions {
  client: S3Client;
  bucket: string;
  /** KMS key id/ARN for SSE-KMS; undefined writes with the bucket's default encryption. */
  kmsKeyId?: string | undefined;
  /**
   * The database whose vault this is, for a stage with several databases (lib/storage/scope.ts);
   * undefined for the connection URL's own database, which keeps the bucket's top-level layout.
   */
  scope?: string | undefined;
}

const MiB = 1024 * 1024;
/** S3's CopyObject limit; larger objects are copied part by part. */
export const singleCopyLimitBytes = 5 * 1024 * MiB;

/**
 * Part size for a stream whose final size is only estimated: 10,000 parts must hold even a dump
 * twice the estimate (custom format with -Z0 can exceed the on-disk size), never below 8 MiB.
 */
export function partSizeFor(estimatedBytes: number): number {
  const needed = Math.ceil((Math.max(estimatedBytes, 0) * 2) / maxParts);
  return Math.max(8 * MiB, Math.ceil(needed / MiB) * MiB);
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class BackupStore {
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #kmsKeyId: string | undefined;

  readonly scope: string | undefined;

  constructor(options: BackupStoreOptions) {
    this.bucket = options.bucket;
    this.#client = options.client;
    this.#kmsKeyId = options.kmsKeyId;
    this.scope = options.scope;
    if (options.scope !== undefined) scopeSegment(options.scope);
  }

  /** The same bucket, as the vault of `scope` (undefined: the connection URL's database). */
  forScope(scope: string | undefined): BackupStore {
    return new BackupStore({ client: this.#client, bucket: this.bucket, kmsKeyId: this.#kmsKeyId, scope });
  }

  /** The bucket's key for one of this vault's keys. */
  #k(key: string): string {
    return scopeKey(key, this.scope);
  }

  /** This vault's key for a listed bucket key, or undefined when the key belongs to another vault. */
  #own(key: string): string | undefined {
    return unscopeKey(key, this.scope);
  }

  get #encryption(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    return this.#kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.#kmsKeyId } : {};
  }

  async #call<T>(operation: string, key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isNotFound(error))
        throw new BackupNotFoundError(`s3://${this.bucket}/${this.#k(key)} does not exist`, { cause: error });
      throw new StorageUnavailableError(
        `${operation} s3://${this.bucket}/${this.#k(key)} failed: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /**
   * Streams `body` into `key` through a fixed pool of part buffers (lib/storage/multipart-writer.ts):
   * one PutObject for an object of at most one part, else a multipart upload completed only after the
   * body ended. A body that errors, a failing request or `signal` aborts the upload and rejects with a
   * catalog error (the body's own, or StorageUnavailableError).
   */
  async uploadStream(
    key: string,
    body: Readable,
    options: { partSize: number; concurrency?: number; contentType?: string; signal?: AbortSignal },
  ): Promise<void> {
    await writeStreamToStore(body, {
      client: this.#client,
      bucket: this.bucket,
      key: this.#k(key),
      partSize: options.partSize,
      concurrency: options.concurrency,
      contentType: options.contentType,
      encryption: this.#encryption,
      signal: options.signal,
    });
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.#call('AbortMultipartUpload', key, () =>
      this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.#k(key), UploadId: uploadId }),
      ),
    );
  }

  /** Multipart uploads started and never completed or aborted, under `prefix`. */
  async listIncompleteUploads(prefix: string): Promise<{ key: string; uploadId: string }[]> {
    const result = await this.#call('ListMultipartUploads', prefix, () =>
      this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.#k(prefix) })),
    );
    return (result.Uploads ?? []).flatMap((u) => {
      const key = u.Key ? this.#own(u.Key) : undefined;
      return key && u.UploadId ? [{ key, uploadId: u.UploadId }] : [];
    });
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.#call('PutObject', key, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.#k(key),
          Body: `${JSON.stringify(value, null, 2)}\n`,
          ContentType: 'application/json',
          ...this.#encryption,
        }),
      ),
    );
  }

  async putObject(key: string, body: string | Uint8Array, contentType: string): Promise<void> {
    await this.#call('PutObject', key, () =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.#k(key),
          Body: body,
          ContentType: contentType,
          ...this.#encryption,
        }),
      ),
    );
  }

  async getText(key: string): Promise<string> {
    return this.#call('GetObject', key, async () => {
      const result = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#k(key) }),
      );
      return (await result.Body?.transformToString('utf8')) ?? '';
    });
  }

  async getStream(key: string): Promise<Readable> {
    return this.#call('GetObject', key, async () => {
      const result = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#k(key) }),
      );
      if (!result.Body) throw new Error('empty response body');
      return result.Body as Readable;
    });
  }

  async head(key: string): Promise<{ bytes: number; metadata: Record<string, string> }> {
    return this.#call('HeadObject', key, async () => {
      const result = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.#k(key) }),
      );
      return { bytes: result.ContentLength ?? 0, metadata: result.Metadata ?? {} };
    });
  }

  /**
   * A link that reads `key` without credentials until it expires (SigV4 query signing, which an SSE-KMS
   * object requires; the signer's own rights, kms:Decrypt included, are what the link carries).
   */
  async presignedGetUrl(key: string, expiresInSeconds: number): Promise<string> {
    await this.head(key);
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.bucket, Key: this.#k(key) }), {
      expiresIn: expiresInSeconds,
    });
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.head(key);
      return true;
    } catch (error) {
      if (error instanceof BackupNotFoundError) return false;
      throw error;
    }
  }

  /**
   * Server-side copy with new metadata. Objects above S3's 5 GiB CopyObject limit are copied part by
   * part (UploadPartCopy), aborting the copy upload on failure.
   */
  async copy(
    sourceKey: string,
    targetKey: string,
    options: { bytes: number; metadata: Record<string, string>; singleCopyLimit?: number },
  ): Promise<void> {
    const source = `${this.bucket}/${encodeURI(this.#k(sourceKey))}`;
    if (options.bytes <= (options.singleCopyLimit ?? singleCopyLimitBytes)) {
      await this.#call('CopyObject', targetKey, () =>
        this.#client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: this.#k(targetKey),
            CopySource: source,
            MetadataDirective: 'REPLACE',
            Metadata: options.metadata,
            ContentType: 'application/octet-stream',
            ...this.#encryption,
          }),
        ),
      );
      return;
    }
    const created = await this.#call('CreateMultipartUpload', targetKey, () =>
      this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.#k(targetKey),
          Metadata: options.metadata,
          ContentType: 'application/octet-stream',
          ...this.#encryption,
        }),
      ),
    );
    const uploadId = created.UploadId ?? '';
    const partSize = Math.max(partSizeFor(options.bytes / 2), 512 * MiB);
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, part = 1; start < options.bytes; start += partSize, part++) {
        const end = Math.min(start + partSize, options.bytes) - 1;
        const result = await this.#call('UploadPartCopy', targetKey, () =>
          this.#client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: this.#k(targetKey),
              UploadId: uploadId,
              PartNumber: part,
              CopySource: source,
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          ),
        );
        parts.push({ ETag: result.CopyPartResult?.ETag ?? '', PartNumber: part });
      }
      await this.#call('CompleteMultipartUpload', targetKey, () =>
        this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: this.#k(targetKey),
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
    } catch (error) {
      await this.abortUpload(targetKey, uploadId).catch(() => undefined);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#call('DeleteObject', key, () =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#k(key) })),
    );
  }

  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    await this.#call('PutObjectTagging', key, () =>
      this.#client.send(
        new PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: this.#k(key),
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      ),
    );
  }

  async getTags(key: string): Promise<Record<string, string>> {
    return this.#call('GetObjectTagging', key, async () => {
      const result = await this.#client.send(
        new GetObjectTaggingCommand({ Bucket: this.bucket, Key: this.#k(key) }),
      );
      return Object.fromEntries((result.TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    });
  }

  /**
   * The databases with a vault of their own in this bucket (lib/storage/scope.ts), sorted. Listed
   * without a delimiter: a few requests a year's worth of keys, and s3rver's delimiter listing misses
   * folders that hold no object directly.
   */
  async databaseScopes(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('ListObjectsV2', scopedListPrefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: scopedListPrefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return scopesIn(keys);
  }

  /** Every object under `prefix`, following continuation tokens (never just the first 1,000). */
  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('ListObjectsV2', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.#k(prefix),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const item of page.Contents ?? []) {
        const key = item.Key ? this.#own(item.Key) : undefined;
        if (key) objects.push({ key, bytes: item.Size ?? 0, lastModified: item.LastModified });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }
}
