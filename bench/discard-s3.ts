/**
 * A diagnostic S3 endpoint, in its own process, that accepts the dump's requests and throws the bytes
 * away. Scenario c° runs the unchanged dump step against it: the difference to c is what s3rver costs
 * on this machine (an MD5 per part, file writes, re-reading every part at CompleteMultipartUpload),
 * work that on AWS happens on S3's side, not on the two cores pg_dump and the database server share
 * here. It keeps nothing and is never a target: the targets judge c, against s3rver.
 *
 *   node bench/discard-s3.ts   -> prints its endpoint, serves until killed
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface DiscardS3 {
  endpoint: string;
  pid: number;
  stop(): Promise<void>;
}

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>${body}`;

function answer(request: IncomingMessage, response: ServerResponse, bytes: number, uploads: number): void {
  const query = new URL(request.url ?? '/', 'http://discard').searchParams;
  response.setHeader('content-type', 'application/xml');
  if (request.method === 'GET' && query.has('uploads')) {
    response.end(
      xml('<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>'),
    );
  } else if (request.method === 'POST' && query.has('uploads')) {
    response.end(
      xml(
        `<InitiateMultipartUploadResult><UploadId>discard-${uploads}</UploadId></InitiateMultipartUploadResult>`,
      ),
    );
  } else if (request.method === 'POST' && query.has('uploadId')) {
    response.end(
      xml('<CompleteMultipartUploadResult><ETag>"discarded"</ETag></CompleteMultipartUploadResult>'),
    );
  } else if (request.method === 'PUT' || request.method === 'DELETE') {
    // UploadPart, PutObject, AbortMultipartUpload, DeleteObject: an ETag that only depends on the size.
    response.statusCode = request.method === 'PUT' ? 200 : 204;
    response.setHeader('etag', `"${bytes.toString(16)}"`);
    response.end();
  } else {
    response.statusCode = 501;
    response.end(xml('<Error><Code>NotImplemented</Code><Message>discarding endpoint</Message></Error>'));
  }
}

function serve(): void {
  let uploads = 0;
  const server = createServer((request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    request.on('end', () => answer(request, response, bytes, ++uploads));
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object') process.stdout.write(`http://127.0.0.1:${address.port}\n`);
  });
}

/** Starts the endpoint in a child process (its CPU is the child's, readable from /proc/<pid>). */
export function startDiscardS3(): Promise<DiscardS3> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`discarding S3 endpoint exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => {
      const pid = child.pid;
      if (pid === undefined) return reject(new Error('discarding S3 endpoint has no pid'));
      resolve({
        endpoint: chunk.toString().trim(),
        pid,
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve();
