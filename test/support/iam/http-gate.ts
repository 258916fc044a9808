/**
 * IAM for code this process cannot hook: a function zip running in the Lambda sandbox
 * (../lambda-sandbox.ts) carries its own bundled SDK, so its requests are checked where they arrive.
 * One loopback HTTP endpoint stands for AWS: S3 requests (path style) are evaluated against the
 * caller's role (./evaluate.ts, the same evaluation as in-process requests) and passed to the local S3
 * API; Secrets Manager's GetSecretValue (`x-amz-target: secretsmanager.GetSecretValue`) is evaluated
 * and answered from the secrets the test holds; the Lambda API's GetFunction and GetLayerVersionByArn
 * (the worker's buildspec, ../worker-build.ts) are evaluated and answered with download URLs of the
 * packaged zips. A denied request is answered as AWS answers it (403
 * AccessDenied, 400 AccessDeniedException) and recorded. The caller is set per invocation: the S3
 * client against a local endpoint signs with fixed credentials (lib/storage/s3-client.ts), so the
 * credentials cannot tell functions apart.
 */
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsCaller } from '../../../tools/local/aws-caller.ts';
import type { Denial } from './enforce.ts';
import { evaluate } from './evaluate.ts';

export interface AwsGate {
  /** AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SECRETS_MANAGER (and _LAMBDA for the worker's build). */
  readonly endpoint: string;
  /** Whose role the requests are evaluated against; requests without a caller are refused. */
  caller: AwsCaller | undefined;
  /** Every request as `<caller> <Service>.<Command> <resource>`, in order. */
  readonly requests: string[];
  readonly denials: Denial[];
  stop(): Promise<void>;
}

interface S3Request {
  command: string;
  input: Record<string, string>;
}

/**
 * The S3 command of a path-style request. The SDK names most commands itself (`x-id=PutObject`); the
 * others are told apart by method and sub-resource, as S3 does.
 */
export function s3RequestOf(method: string, url: URL, headers: IncomingMessage['headers']): S3Request {
  const [, bucket = '', ...keyParts] = url.pathname.split('/');
  const key = decodeURIComponent(keyParts.join('/'));
  const query = url.searchParams;
  const input: Record<string, string> = { Bucket: decodeURIComponent(bucket) };
  if (key) input.Key = key;
  const prefix = query.get('prefix');
  if (prefix !== null) input.Prefix = prefix;
  const copySource = headers['x-amz-copy-source'];
  if (typeof copySource === 'string') input.CopySource = copySource.replace(/^\//, '');
  const named = query.get('x-id');
  if (named) return { command: named, input };
  if (!key) {
    if (method === 'GET' && query.has('uploads')) return { command: 'ListMultipartUploads', input };
    if (method === 'GET')
      return { command: query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects', input };
    if (method === 'HEAD') return { command: 'HeadBucket', input };
    return { command: `${method} bucket`, input };
  }
  if (query.has('tagging'))
    return { command: method === 'GET' ? 'GetObjectTagging' : 'PutObjectTagging', input };
  if (method === 'HEAD') return { command: 'HeadObject', input };
  if (method === 'GET') return { command: 'GetObject', input };
  if (method === 'POST' && query.has('uploads')) return { command: 'CreateMultipartUpload', input };
  if (method === 'POST' && query.has('uploadId')) return { command: 'CompleteMultipartUpload', input };
  if (method === 'DELETE')
    return { command: query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject', input };
  if (method === 'PUT' && query.has('uploadId'))
    return { command: copySource ? 'UploadPartCopy' : 'UploadPart', input };
  if (method === 'PUT') return { command: copySource ? 'CopyObject' : 'PutObject', input };
  return { command: `${method} object`, input };
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What the Lambda API answers about the packaged functions and layers, for the worker's buildspec
 * (`aws lambda get-function`, `get-layer-version-by-arn`). Each function is evaluated as the Task
 * table's function it packages (`local-<key>`, which the IAM tests read as the stage's); each layer by
 * the ARN its template reference resolves to in the policies (test/support/iam/policies.ts).
 */
export interface LambdaApi {
  functions: Record<string, { key: string; zip: string; layerArns: string[] }>;
  /** Layer version ARN -> its zip. */
  layers: Record<string, string>;
}

export async function startAwsGate(options: {
  /** The local S3 API (tools/local/s3-server.ts). */
  s3Endpoint: string;
  /** Secrets Manager's secrets: ARN -> SecretString. */
  secrets: Record<string, string>;
  lambda?: LambdaApi;
}): Promise<AwsGate> {
  const upstream = new URL(options.s3Endpoint);
  const requests: string[] = [];
  const denials: Denial[] = [];
  const gate = { caller: undefined as AwsCaller | undefined };
  let gateEndpoint = () => '';

  async function check(client: string, command: string, input: Record<string, unknown>, resource: string) {
    const caller = gate.caller;
    requests.push(`${caller?.principal ?? '(no caller)'} ${client}.${command} ${resource}`);
    if (!caller) {
      const refused = {
        principal: '(no caller)',
        role: '-',
        action: command,
        resource,
        result: 'no caller set',
      };
      denials.push(refused);
      return [refused];
    }
    const found = await evaluate(caller, client, command, input);
    denials.push(...found);
    return found;
  }

  async function secretsManager(req: IncomingMessage, res: ServerResponse, target: string) {
    const payload = JSON.parse((await body(req)) || '{}') as { SecretId?: string };
    const command = target.slice('secretsmanager.'.length);
    const secretId = payload.SecretId ?? '';
    const answer = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(json));
    };
    const denied = await check('SecretsManagerClient', command, { SecretId: secretId }, secretId);
    if (denied.length > 0) {
      answer(400, { __type: 'AccessDeniedException', message: `not authorized to perform ${command}` });
      return;
    }
    const value = options.secrets[secretId];
    if (command !== 'GetSecretValue' || value === undefined) {
      answer(400, {
        __type: 'ResourceNotFoundException',
        message: 'Secrets Manager can not find the specified secret.',
      });
      return;
    }
    const name =
      secretId
        .split(':')
        .pop()
        ?.replace(/-[A-Za-z0-9]{6}$/, '') ?? secretId;
    answer(200, {
      ARN: secretId,
      Name: name,
      SecretString: value,
      VersionId: '00000000-0000-4000-8000-000000000001',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 0,
    });
  }

  // The code and layer downloads: presigned S3 URLs on AWS, which no IAM policy decides.
  const artifacts: string[] = [];
  const artifactUrl = (path: string) => {
    if (!artifacts.includes(path)) artifacts.push(path);
    return `${gateEndpoint()}/artifacts/${artifacts.indexOf(path)}`;
  };

  /** GetFunction and GetLayerVersionByArn of the Lambda API (REST paths as the AWS CLI sends them). */
  async function lambda(req: IncomingMessage, res: ServerResponse, url: URL) {
    const answer = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    const api = options.lambda ?? { functions: {}, layers: {} };
    const artifact = /^\/artifacts\/(\d+)$/.exec(url.pathname)?.[1];
    if (artifact !== undefined) {
      const path = artifacts[Number(artifact)];
      if (!path) return answer(404, { message: 'no such artifact' });
      res.writeHead(200, { 'content-type': 'application/zip' });
      createReadStream(path).pipe(res);
      return;
    }
    const functionName = /^\/2015-03-31\/functions\/([^/]+)$/.exec(url.pathname)?.[1];
    if (functionName !== undefined) {
      const name = decodeURIComponent(functionName);
      const fn = api.functions[name];
      const denied = await check(
        'LambdaClient',
        'GetFunction',
        { FunctionName: `local-${fn?.key ?? name}` },
        name,
      );
      if (denied.length > 0)
        return answer(403, {
          __type: 'AccessDeniedException',
          message: `not authorized to perform GetFunction`,
        });
      if (!fn)
        return answer(404, { __type: 'ResourceNotFoundException', message: `Function not found: ${name}` });
      return answer(200, {
        Configuration: { FunctionName: name, Layers: fn.layerArns.map((Arn) => ({ Arn })) },
        Code: { RepositoryType: 'S3', Location: artifactUrl(fn.zip) },
      });
    }
    if (url.pathname === '/2018-10-31/layers' && url.searchParams.get('find') === 'LayerVersion') {
      const arn = url.searchParams.get('Arn') ?? '';
      const denied = await check('LambdaClient', 'GetLayerVersionByArn', { Arn: arn }, arn);
      if (denied.length > 0)
        return answer(403, {
          __type: 'AccessDeniedException',
          message: 'not authorized to perform GetLayerVersion',
        });
      const zip = api.layers[arn];
      if (!zip)
        return answer(404, { __type: 'ResourceNotFoundException', message: `Layer not found: ${arn}` });
      return answer(200, { LayerVersionArn: arn, Content: { Location: artifactUrl(zip) } });
    }
    req.resume();
    return answer(400, { message: `the gate has no Lambda API ${req.method} ${url.pathname}` });
  }

  async function s3(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://gate');
    const { command, input } = s3RequestOf(req.method ?? 'GET', url, req.headers);
    const resource = `${input.Bucket}${input.Key ? `/${input.Key}` : ''}`;
    const denied = await check('S3Client', command, input, resource);
    if (denied.length > 0) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
      );
      return;
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => res.destroy(error));
    req.pipe(forward);
  }

  const server = createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    const url = new URL(req.url ?? '/', 'http://gate');
    const handled =
      typeof target === 'string' && target.startsWith('secretsmanager.')
        ? secretsManager(req, res, target)
        : /^\/(2015-03-31\/functions|2018-10-31\/layers|artifacts)\b/.test(url.pathname)
          ? lambda(req, res, url)
          : s3(req, res);
    handled.catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  gateEndpoint = () => `http://127.0.0.1:${port}`;
  return Object.assign(gate, {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    denials,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
