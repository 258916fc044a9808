/**
 * One S3 client per container. Against a local S3 API (s3rver) the SDK's default CRC32 `aws-chunked`
 * streaming uploads are stored corrupted, so checksums are only sent when an operation requires them;
 * our own SHA-256 in the manifest is the integrity source of truth everywhere.
 */
import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientSettings {
  /** A local S3 API (http://127.0.0.1:port); unset on AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /**
   * A request whose socket stays silent this long fails (and is retried) instead of hanging: the SDK
   * sets no timeout of its own, and one stalled UploadPart would hold the dump until Lambda's timeout.
   */
  socketTimeoutMs?: number | undefined;
}

export const defaultSocketTimeoutMs = 60_000;

export function createS3Client(settings: S3ClientSettings): S3Client {
  const region = settings.region ?? 'us-east-1';
  const requestHandler = {
    socketTimeout: settings.socketTimeoutMs ?? defaultSocketTimeoutMs,
    connectionTimeout: Math.min(settings.socketTimeoutMs ?? defaultSocketTimeoutMs, 10_000),
  };
  if (!settings.endpoint) return new S3Client({ region, requestHandler });
  return new S3Client({
    region,
    requestHandler,
    endpoint: settings.endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // s3rver accepts any credentials; fixed ones keep a developer's real AWS profile out of local runs.
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: 2,
  });
}
