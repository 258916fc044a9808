/**
 * The upload the dump used before lib/storage/multipart-writer.ts: @aws-sdk/lib-storage's Upload with
 * 4 parts in flight. The benchmark keeps it for two reasons: scenario b stands in for `aws s3 cp`
 * with it (unchanged method), and `--upload-variants lib-storage` runs the dump with it beside the
 * new writer, in the same rounds, so old and new are compared under the same load.
 */
import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BackupStore } from '../lib/storage/backup-store.ts';

export async function uploadWithLibStorage(
  client: S3Client,
  bucket: string,
  key: string,
  body: Readable,
  partSize: number,
): Promise<void> {
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
    partSize,
    queueSize: 4,
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (error) {
    const id = (upload as unknown as { uploadId?: string }).uploadId;
    if (id)
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }))
        .catch(() => undefined);
    throw error;
  }
}

/** How a benchmarked dump uploads: lib-storage (the old path) or the writer with given settings. */
export type UploadVariant =
  | { via: 'lib-storage' }
  | { via: 'writer'; partSize?: number; concurrency?: number };

/** A BackupStore whose uploadStream follows `variant`; everything else is the real store. */
export class BenchStore extends BackupStore {
  readonly #client: S3Client;
  readonly #variant: UploadVariant;

  constructor(client: S3Client, bucket: string, variant: UploadVariant) {
    super({ client, bucket });
    this.#client = client;
    this.#variant = variant;
  }

  override async uploadStream(
    key: string,
    body: Readable,
    options: Parameters<BackupStore['uploadStream']>[2],
  ): Promise<void> {
    const variant = this.#variant;
    if (variant.via === 'lib-storage')
      return uploadWithLibStorage(this.#client, this.bucket, key, body, options.partSize);
    return super.uploadStream(key, body, {
      ...options,
      ...(variant.partSize ? { partSize: variant.partSize } : {}),
      ...(variant.concurrency ? { concurrency: variant.concurrency } : {}),
    });
  }
}

/** `lib-storage` or `<part MiB>x<concurrency>` (e.g. `16x3`), as given to --upload-variants. */
export function parseUploadVariant(text: string): UploadVariant {
  if (text === 'lib-storage') return { via: 'lib-storage' };
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (!match)
    throw new Error(`--upload-variants: '${text}' is neither lib-storage nor <part MiB>x<concurrency>`);
  return { via: 'writer', partSize: Number(match[1]) * 1024 * 1024, concurrency: Number(match[2]) };
}

export function describeUploadVariant(variant: UploadVariant): string {
  if (variant.via === 'lib-storage') return 'previous upload (lib-storage Upload, 4 in flight)';
  return `writer ${(variant.partSize ?? 0) / 1024 / 1024} MiB parts × ${variant.concurrency ?? '-'} in flight`;
}
