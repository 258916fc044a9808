/**
 * The local S3 API: s3rver, plus the multipart operations it lacks and the pipeline relies on
 * (AbortMultipartUpload, ListMultipartUploads, UploadPartCopy). Without them a failed upload could not
 * be cleaned up locally and a test could not prove that none was left behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './postgres-server.ts';

export interface LocalS3Server {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  status: number;
  body: unknown;
  type: string;
}

// s3rver's filesystem store keeps uploads in "<root>/<bucket>/._S3rver_uploads/<uploadId>/".
const uploadsDir = (root: string, bucket: string) => join(root, bucket, '._S3rver_uploads');
const objectFile = (root: string, bucket: string, key: string) => {
  const parts = key.split('/');
  const name = parts.pop() ?? '';
  return join(root, bucket, ...parts, `._S3rver_${name}_object`);
};

const xmlEscape = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );

function multipartShim(root: string) {
  return async (ctx: KoaContext, next: () => Promise<void>) => {
    const [, bucket = '', ...keyParts] = ctx.path.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const uploadId = ctx.query.uploadId;

    if (ctx.method === 'DELETE' && key && uploadId !== undefined) {
      await rm(join(uploadsDir(root, bucket), uploadId), { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
      return;
    }
    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const prefix = ctx.query.prefix ?? '';
      const ids = await readdir(uploadsDir(root, bucket)).catch(() => [] as string[]);
      const uploads: string[] = [];
      for (const id of ids) {
        const uploadKey = await readFile(join(uploadsDir(root, bucket), id, 'key'), 'utf8').catch(
          () => undefined,
        );
        if (uploadKey?.startsWith(prefix)) {
          uploads.push(
            `<Upload><Key>${xmlEscape(uploadKey)}</Key><UploadId>${xmlEscape(id)}</UploadId></Upload>`,
          );
        }
      }
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${xmlEscape(bucket)}</Bucket><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
      return;
    }
    const copySource = ctx.headers['x-amz-copy-source'];
    if (ctx.method === 'PUT' && key && uploadId !== undefined && copySource) {
      const [sourceBucket = '', ...sourceKey] = decodeURIComponent(copySource.replace(/^\//, '')).split('/');
      const range = /^bytes=(\d+)-(\d+)$/.exec(ctx.headers['x-amz-copy-source-range'] ?? '');
      const partPath = join(uploadsDir(root, bucket), uploadId, String(ctx.query.partNumber));
      await mkdir(join(uploadsDir(root, bucket), uploadId), { recursive: true });
      const hash = createHash('md5');
      const chunks: Buffer[] = [];
      const stream = createReadStream(objectFile(root, sourceBucket, sourceKey.join('/')), {
        ...(range ? { start: Number(range[1]), end: Number(range[2]) } : {}),
      });
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        chunks.push(chunk as Buffer);
      }
      const md5 = hash.digest('hex');
      await writeFile(partPath, Buffer.concat(chunks));
      await writeFile(`${partPath}.md5`, md5);
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><CopyPartResult><ETag>"${md5}"</ETag><LastModified>${new Date().toISOString()}</LastModified></CopyPartResult>`;
      return;
    }
    await next();
  };
}

export async function startLocalS3Server(options: {
  directory: string;
  port?: number;
  buckets?: string[];
}): Promise<LocalS3Server> {
  // The bucket holds production's dumps: only this user may enter it (s3rver writes its files 0644).
  await mkdir(options.directory, { recursive: true, mode: 0o700 });
  await chmod(options.directory, 0o700);
  const port = options.port ?? (await freePort());
  const server = new S3rver({
    port,
    address: '127.0.0.1',
    directory: options.directory,
    silent: true,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  // Koa keeps its middleware in a public array; the shim must run before s3rver's router.
  (server as unknown as { middleware: unknown[] }).middleware.unshift(multipartShim(options.directory));
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: () => server.close(),
  };
}
