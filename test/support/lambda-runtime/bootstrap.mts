/**
 * A minimal Node.js runtime client, as Lambda's own (/var/runtime) does it: loads the module `_HANDLER`
 * names from LAMBDA_TASK_ROOT, then asks the Runtime API (AWS_LAMBDA_RUNTIME_API) for invocations, calls
 * the handler with a Lambda context and posts its result or its error (errorType = the error's name,
 * which Step Functions matches). Runs inside the sandbox at /var/runtime, never inside a function zip;
 * Node's built-ins only (the sandbox has nothing else).
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const api = process.env.AWS_LAMBDA_RUNTIME_API ?? '';
const taskRoot = process.env.LAMBDA_TASK_ROOT ?? '/var/task';
const handlerSetting = process.env._HANDLER ?? '';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${api}/2018-06-01${path}`, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorRecord(error: unknown): string {
  const named = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    errorType: named.name,
    errorMessage: named.message,
    trace: (named.stack ?? '').split('\n'),
  });
}

async function loadHandler(): Promise<(event: unknown, context: unknown) => Promise<unknown>> {
  const dot = handlerSetting.lastIndexOf('.');
  const modulePath = handlerSetting.slice(0, dot);
  const exportName = handlerSetting.slice(dot + 1);
  const file = ['.mjs', '.js', '.cjs']
    .map((extension) => join(taskRoot, `${modulePath}${extension}`))
    .find((candidate) => existsSync(candidate));
  if (!file)
    throw Object.assign(new Error(`Cannot find module ${modulePath}`), { name: 'Runtime.ImportModuleError' });
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${handlerSetting} is undefined or not exported`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  return handler as (event: unknown, context: unknown) => Promise<unknown>;
}

// As Lambda's platform line (INIT_START Runtime Version ...): which Node, on which architecture.
console.log(`INIT_START Runtime Version: nodejs:${process.versions.node} ${process.arch}`);

let handler: Awaited<ReturnType<typeof loadHandler>>;
try {
  handler = await loadHandler();
} catch (error) {
  await call('POST', '/runtime/init/error', errorRecord(error));
  process.exit(1);
}

for (;;) {
  const next = await call('GET', '/runtime/invocation/next');
  const requestId = String(next.headers['lambda-runtime-aws-request-id']);
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  const context = {
    awsRequestId: requestId,
    invokedFunctionArn: String(next.headers['lambda-runtime-invoked-function-arn']),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  try {
    const result = await handler(JSON.parse(next.body), context);
    await call('POST', `/runtime/invocation/${requestId}/response`, JSON.stringify(result ?? null));
  } catch (error) {
    await call('POST', `/runtime/invocation/${requestId}/error`, errorRecord(error));
  }
}
