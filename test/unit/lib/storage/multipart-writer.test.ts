import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import { partSizeFor } from '../../../../lib/storage/backup-store.ts';
import {
  MultipartWriter,
  maxPartSize,
  maxParts,
  minPartSize,
  partSizeForPart,
  writeStreamToStore,
} from '../../../../lib/storage/multipart-writer.ts';
import { createS3Client } from '../../../../lib/storage/s3-client.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function capacity(base: number): number {
  let total = 0;
  for (let part = 1; part <= maxParts; part++) total += partSizeForPart(base, part);
  return total;
}

describe('partSizeForPart()', () => {
  it('keeps the base size for the first 5,000 parts', () => {
    expect(partSizeForPart(8 * MiB, 1)).toBe(8 * MiB);
    expect(partSizeForPart(8 * MiB, 5_000)).toBe(8 * MiB);
  });

  it('doubles every 1,000 parts after that, up to S3 maximum part size', () => {
    expect(partSizeForPart(8 * MiB, 5_001)).toBe(16 * MiB);
    expect(partSizeForPart(8 * MiB, 6_000)).toBe(16 * MiB);
    expect(partSizeForPart(8 * MiB, 6_001)).toBe(32 * MiB);
    expect(partSizeForPart(8 * MiB, 10_000)).toBe(256 * MiB);
    expect(partSizeForPart(1 * GiB, 10_000)).toBe(maxPartSize);
  });

  it('lets 10,000 parts hold far more than a 15-minute dump can produce, even at the minimum part size', () => {
    expect(capacity(minPartSize)).toBeGreaterThan(300 * GiB);
    expect(capacity(8 * MiB)).toBeGreaterThan(500 * GiB);
  });
});

describe('partSizeFor()', () => {
  it('sizes parts so 10,000 of them hold twice the estimate, never below 8 MiB', () => {
    expect(partSizeFor(0)).toBe(8 * MiB);
    expect(partSizeFor(1 * GiB)).toBe(8 * MiB);
    const estimate = 100 * GiB;
    expect(partSizeFor(estimate) * maxParts).toBeGreaterThanOrEqual(2 * estimate);
  });
});

describe('new MultipartWriter()', () => {
  const client = new S3Client({ region: 'us-east-1' });

  it('refuses parts below S3 minimum of 5 MiB', () => {
    expect(() => new MultipartWriter({ client, bucket: 'b', key: 'k', partSize: minPartSize - 1 })).toThrow(
      /partSize/,
    );
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => new MultipartWriter({ client, bucket: 'b', key: 'k', concurrency: 0 })).toThrow(
      /concurrency/,
    );
  });
});

describe('requests as S3 on AWS receives them', () => {
  interface Recorded {
    method: string;
    query: Record<string, unknown>;
    headers: Record<string, string>;
    body: Buffer;
  }

  /**
   * The production client (createS3Client without an endpoint: AWS defaults, incl. checksums) whose
   * HTTP handler records each signed request and answers like S3, instead of going to the network.
   */
  async function recordUpload(data: Buffer): Promise<Recorded[]> {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'not-a-secret';
    const recorded: Recorded[] = [];
    const client = createS3Client({ region: 'eu-west-1' });
    (client.config as { requestHandler: unknown }).requestHandler = {
      handle: async (request: Omit<Recorded, 'body'> & { body?: unknown }) => {
        const body = Buffer.from((request.body as Uint8Array | undefined) ?? new Uint8Array());
        recorded.push({ ...request, body });
        const xml =
          'uploads' in request.query
            ? '<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>'
            : 'uploadId' in request.query && request.method === 'POST'
              ? '<CompleteMultipartUploadResult><ETag>"e"</ETag></CompleteMultipartUploadResult>'
              : '';
        return {
          response: {
            statusCode: 200,
            headers: { etag: `"${recorded.length}"` },
            body: Readable.from([xml]),
          },
        };
      },
    };
    try {
      await writeStreamToStore(Readable.from([data]), {
        client,
        bucket: 'b',
        key: 'incoming/x.dump',
        partSize: minPartSize,
      });
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    }
    return recorded;
  }

  const crc32 = (data: Buffer) => {
    const value = Buffer.alloc(4);
    value.writeUInt32BE(zlibCrc32(data));
    return value.toString('base64');
  };

  it.each([
    ['a multipart upload', minPartSize + 1_000],
    ['a single PutObject', 1_000],
  ])('signs %s but not its body, and sends a CRC32 of each body that S3 checks', async (_name, size) => {
    const data = randomBytes(size);
    const recorded = await recordUpload(data);

    const bodies = recorded.filter((r) => r.method === 'PUT');
    expect(bodies.length).toBe(size > minPartSize ? 2 : 1);
    expect(Buffer.concat(bodies.map((r) => r.body)).equals(data)).toBe(true);
    for (const request of bodies) {
      expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
      expect(request.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(request.headers['x-amz-checksum-crc32']).toBe(crc32(request.body));
    }
  });
});
