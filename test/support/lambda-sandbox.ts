/**
 * Runs a packaged Lambda function as Lambda would, on this machine: the function's zip unpacked at
 * /var/task, its layers' zips under /opt, Node 22 at /var/lang/bin/node, a runtime client at
 * /var/runtime (./lambda-runtime/bootstrap.mts, not part of any zip) talking to a Runtime API served
 * here on loopback, inside bubblewrap (tools/dev/install-bubblewrap.ts): new user, mount, pid, ipc and
 * uts namespaces, the network shared (the local servers are on loopback), a read-only root that holds
 * only those plus the host's libc directories, /proc, a minimal /dev and an /etc/passwd naming the
 * function's user, a writable /tmp only, the process running as Lambda's uid 993 (not root), and an
 * environment of Lambda's variables plus the function's own and nothing else.
 *
 * What this is not: Amazon Linux 2023 (the libc directories are this host's Debian glibc, so the Node
 * binary links against a newer glibc than Lambda's 2.34; the pg layers bring their own glibc and loader
 * and use nothing of the host's), nor Lambda's limits (memory, /tmp size, CPU share, time). docs/deploy.md.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackagedFunction } from './package-service.ts';
import { unzip } from './zip.ts';

const root = join(import.meta.dirname, '..', '..');
export const bwrap = '/usr/bin/bwrap';
/** Lambda runs functions as this user (sbx_user1051), never as root. */
const lambdaUser = { name: 'sbx_user1051', uid: 993, gid: 990 };

/** The project's Node 22 (the `node` package), which stands in for Lambda's nodejs22.x. */
export function projectNode(): string {
  for (const candidate of ['node_modules/node/bin/node', 'node_modules/.bin/node']) {
    const path = join(root, candidate);
    if (existsSync(path)) return realpathSync(path);
  }
  throw new Error('no node_modules/node/bin/node: run npm ci (the project pins Node 22 as a dev dependency)');
}

/** The host directories that hold its C library and loader, mounted read-only in the sandbox. */
function libcDirs(): string[] {
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64'].filter((dir) =>
    existsSync(dir),
  );
}

/**
 * The variables Lambda sets for a Node.js 22 function (docs: "Defined runtime environment variables"),
 * with the Runtime API on loopback and credentials that only the local endpoints accept.
 */
export function lambdaVariables(
  fn: PackagedFunction,
  region: string,
  runtimeApi: string,
): Record<string, string> {
  return {
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]00000000000000000000000000000000',
    AWS_LAMBDA_RUNTIME_API: runtimeApi,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'ASIASANDBOXSANDBOX00',
    AWS_SECRET_ACCESS_KEY: 'sandbox-secret-access-key',
    AWS_SESSION_TOKEN: 'sandbox-session-token',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    _HANDLER: fn.handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    LD_LIBRARY_PATH:
      '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib',
    NODE_PATH:
      '/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task',
  };
}

/**
 * The function's own environment from the template: literal values as they are, `Fn::If` on a condition
 * the stage settles with literals (`Fn::Equals` of two strings) as CloudFormation decides it, a branch
 * of `AWS::NoValue` left out, and every other CloudFormation expression from `resolved` (a variable the
 * test does not resolve fails, rather than going missing).
 */
export function functionVariables(
  fn: PackagedFunction,
  resolved: Record<string, string>,
): Record<string, string> {
  const noValue = Symbol('NoValue');
  const condition = (name: string): boolean => {
    const equals = (fn.conditions[name] as { 'Fn::Equals'?: unknown[] } | undefined)?.['Fn::Equals'];
    if (!equals?.every((side) => typeof side === 'string')) {
      throw new Error(`${fn.key}: the test cannot settle the condition ${name}`);
    }
    return equals[0] === equals[1];
  };
  const settle = (name: string, value: unknown): string | typeof noValue => {
    if (typeof value === 'string') return value;
    const branches = (value as { 'Fn::If'?: [string, unknown, unknown] })['Fn::If'];
    if (branches) return settle(name, condition(branches[0]) ? branches[1] : branches[2]);
    if ((value as { Ref?: unknown }).Ref === 'AWS::NoValue') return noValue;
    if (name in resolved) return resolved[name] as string;
    throw new Error(`${fn.key}: the test does not resolve ${name} = ${JSON.stringify(value)}`);
  };
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(fn.environment)) {
    const settled = settle(name, value);
    if (settled !== noValue) result[name] = settled;
  }
  return result;
}

export type Outcome = { ok: true; result: unknown } | { ok: false; errorType: string; errorMessage: string };

export interface SandboxRun {
  outcome: Outcome;
  /** What the function wrote to stdout and stderr, line by line. */
  lines: string[];
  /** From starting the sandbox to the Runtime API receiving the answer. */
  seconds: number;
  /** What the invocation left in /tmp. */
  tmpLeft: string[];
  /** The function's code and its layers unzipped (Lambda allows 250 MB together). */
  unzippedBytes: number;
}

async function text(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * One cold invocation of `fn` with `event`. `layers` replaces the template's layers (to prove a function
 * fails without them); `environment` is added to Lambda's variables (the function's own, endpoints).
 */
export async function invokeInSandbox(
  fn: PackagedFunction,
  options: {
    event: unknown;
    environment: Record<string, string>;
    region: string;
    layers?: string[];
    /**
     * Another Node 22 for /var/lang/bin/node: the aarch64 build (tools/dev/node-arm64.ts), which runs
     * under qemu through binfmt_misc (tools/dev/install-qemu.ts) with Debian's aarch64 C runtime.
     */
    node?: { path: string; arch: 'arm64' };
  },
): Promise<SandboxRun> {
  const box = mkdtempSync(join(tmpdir(), 'lambda-sandbox-'));
  const lines: string[] = [];
  let child: ReturnType<typeof spawn> | undefined;
  const server = createServer();
  try {
    let unzippedBytes = unzip(readFileSync(fn.zip), join(box, 'task'));
    mkdirSync(join(box, 'opt'));
    for (const layer of options.layers ?? fn.layers)
      unzippedBytes += unzip(readFileSync(layer), join(box, 'opt'));
    mkdirSync(join(box, 'tmp'));
    mkdirSync(join(box, 'etc'));
    writeFileSync(
      join(box, 'etc', 'passwd'),
      `root:x:0:0:root:/root:/sbin/nologin\n${lambdaUser.name}:x:${lambdaUser.uid}:${lambdaUser.gid}::/home/${lambdaUser.name}:/sbin/nologin\n`,
    );
    writeFileSync(join(box, 'etc', 'group'), `root:x:0:\n${lambdaUser.name}:x:${lambdaUser.gid}:\n`);

    const requestId = '8f5c0c5e-0000-4000-8000-000000000001';
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    let settle: (outcome: Outcome) => void = () => undefined;
    const answered = new Promise<Outcome>((resolve) => {
      settle = resolve;
    });
    let handedOut = false;
    server.on('request', (req, res) => {
      const path = req.url ?? '';
      void (async () => {
        const body = await text(req);
        if (req.method === 'GET' && path === '/2018-06-01/runtime/invocation/next') {
          // One invocation; a second `next` waits, as a frozen Lambda would, until the sandbox ends.
          if (handedOut) return;
          handedOut = true;
          res.writeHead(200, {
            'content-type': 'application/json',
            'lambda-runtime-aws-request-id': requestId,
            'lambda-runtime-deadline-ms': String(deadline),
            'lambda-runtime-invoked-function-arn': `arn:aws:lambda:${options.region}:123456789012:function:${fn.functionName}`,
          });
          res.end(JSON.stringify(options.event));
          return;
        }
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"OK"}');
        if (path === `/2018-06-01/runtime/invocation/${requestId}/response`) {
          settle({ ok: true, result: JSON.parse(body) });
        } else if (
          path === `/2018-06-01/runtime/invocation/${requestId}/error` ||
          path === '/2018-06-01/runtime/init/error'
        ) {
          const error = JSON.parse(body) as { errorType?: string; errorMessage?: string };
          settle({
            ok: false,
            errorType: error.errorType ?? 'Unknown',
            errorMessage: error.errorMessage ?? '',
          });
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const runtimeApi = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    const args = [
      '--unshare-all',
      '--share-net',
      '--die-with-parent',
      '--new-session',
      '--uid',
      String(lambdaUser.uid),
      '--gid',
      String(lambdaUser.gid),
      ...libcDirs().flatMap((dir) => ['--ro-bind', dir, dir]),
      '--symlink',
      'usr/lib',
      '/lib',
      '--symlink',
      'usr/lib64',
      '/lib64',
      // Lambda's image has a /bin/sh, and the pg-server layer needs one: initdb runs `postgres -V`
      // through popen(), and the bundle's postgres is a shell wrapper that starts it through its loader.
      '--ro-bind',
      realpathSync('/bin/sh'),
      '/usr/bin/sh',
      '--symlink',
      'usr/bin',
      '/bin',
      // No /usr/share/zoneinfo: the image may have no tzdata, and the pg-server layer carries its own
      // (layers/pg-client/zoneinfo.ts), which its programs read at /opt/pg-server/tz.
      // The aarch64 loader where aarch64 programs name it (/lib/ld-linux-aarch64.so.1), as on Lambda.
      ...(options.node?.arch === 'arm64'
        ? ['--symlink', 'aarch64-linux-gnu/ld-linux-aarch64.so.1', '/usr/lib/ld-linux-aarch64.so.1']
        : []),
      '--ro-bind',
      options.node?.path ?? projectNode(),
      '/var/lang/bin/node',
      '--ro-bind',
      join(import.meta.dirname, 'lambda-runtime'),
      '/var/runtime',
      '--ro-bind',
      join(box, 'task'),
      '/var/task',
      '--ro-bind',
      join(box, 'opt'),
      '/opt',
      '--ro-bind',
      join(box, 'etc', 'passwd'),
      '/etc/passwd',
      '--ro-bind',
      join(box, 'etc', 'group'),
      '/etc/group',
      '--bind',
      join(box, 'tmp'),
      '/tmp',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--chdir',
      '/var/task',
      '--remount-ro',
      '/',
      '/var/lang/bin/node',
      '/var/runtime/bootstrap.mts',
    ];
    const started = process.hrtime.bigint();
    const spawned = spawn(bwrap, args, {
      env: { ...lambdaVariables(fn, options.region, runtimeApi), ...options.environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = spawned;
    const collect = (stream: NodeJS.ReadableStream | null) => {
      let rest = '';
      stream?.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        lines.push(...parts);
      });
      stream?.on('end', () => {
        if (rest) lines.push(rest);
      });
    };
    collect(spawned.stdout);
    collect(spawned.stderr);
    const exited = new Promise<Outcome>((resolve) =>
      spawned.on('close', (code, signal) =>
        resolve({
          ok: false,
          errorType: 'Runtime.ExitError',
          errorMessage: `the sandbox ended before answering (exit ${code ?? signal})`,
        }),
      ),
    );
    // Lambda ends an invocation at the function's timeout; so does the sandbox (the step's own deadline
    // signal fires a reserve before it).
    // fixed-timer-allowed: the function's own timeout from the template, as Lambda enforces it; no wait.
    const timeout = setTimeout(() => spawned.kill('SIGKILL'), fn.timeoutSeconds * 1000 + 5000);
    const outcome = await Promise.race([answered, exited]).finally(() => clearTimeout(timeout));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { outcome, lines, seconds, tmpLeft: readdirSync(join(box, 'tmp')), unzippedBytes };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((resolve) => child?.on('close', resolve));
      child.kill('SIGKILL');
      await closed;
    }
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(box, { recursive: true, force: true });
  }
}
