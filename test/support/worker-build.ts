/**
 * Runs the worker's CodeBuild buildspec (tools/deploy/worker.ts) as CodeBuild would, on this machine:
 * its install commands fetch the packaged `worker` function's zip and its layers with the Lambda API
 * (`aws lambda get-function`, `get-layer-version-by-arn`, `curl`, `unzip` into /opt) and its build
 * command runs the bundle with Node 22, as root (CodeBuild's builds run as root), inside bubblewrap
 * with the host's root read-only and a private, writable /opt and /tmp (./lambda-sandbox.ts's
 * bubblewrap; the installer is tools/dev/install-bubblewrap.ts).
 *
 * `aws` is a stand-in on PATH (no AWS CLI here): it knows exactly the commands and queries the
 * buildspec uses, sends them to the Lambda API of test/support/iam/http-gate.ts (which evaluates each
 * against the worker's role) and prints what the AWS CLI prints for `--output text`; anything else
 * fails, so a buildspec that starts asking for more fails this test rather than passing unseen.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { bwrap, projectNode } from './lambda-sandbox.ts';

const awsStandIn = (node: string) => `#!${node}
// aws (stand-in for the AWS CLI in the worker build test, test/support/worker-build.ts).
const [service, command, ...rest] = process.argv.slice(2);
const option = (name) => {
  const at = rest.indexOf('--' + name);
  return at === -1 ? undefined : rest[at + 1];
};
const endpoint = process.env.AWS_ENDPOINT_URL_LAMBDA;
let url;
if (service === 'lambda' && command === 'get-function')
  url = endpoint + '/2015-03-31/functions/' + encodeURIComponent(option('function-name'));
else if (service === 'lambda' && command === 'get-layer-version-by-arn')
  url = endpoint + '/2018-10-31/layers?find=LayerVersion&Arn=' + encodeURIComponent(option('arn'));
else {
  console.error('aws (stand-in): no ' + service + ' ' + command);
  process.exit(252);
}
const queries = {
  'Code.Location': (body) => body.Code.Location,
  'Configuration.Layers[].Arn': (body) => (body.Configuration.Layers ?? []).map((layer) => layer.Arn),
  'Content.Location': (body) => body.Content.Location,
};
const query = option('query');
if (option('output') !== 'text' || !(query in queries)) {
  console.error('aws (stand-in): no --query ' + query + ' --output ' + option('output'));
  process.exit(252);
}
const res = await fetch(url);
const body = await res.json();
if (!res.ok) {
  console.error('An error occurred (' + (body.__type ?? res.status) + ') when calling the ' + command + ' operation: ' + (body.message ?? ''));
  process.exit(254);
}
const value = queries[query](body);
process.stdout.write((Array.isArray(value) ? value.join('\\t') : value) + '\\n');
`;

export interface WorkerBuild {
  /** The exit code of the first command that failed, or 0. */
  exitCode: number;
  /** Which phase it ended in. */
  phase: 'install' | 'build';
  lines: string[];
  seconds: number;
}

/** Runs `buildspec`'s install and build commands with `environment` (the project's, the build's). */
export async function runWorkerBuildspec(
  buildspec: string,
  environment: Record<string, string>,
): Promise<WorkerBuild> {
  const spec = parse(buildspec) as {
    phases: { install: { commands: string[] }; build: { commands: string[] } };
  };
  const box = mkdtempSync(join(tmpdir(), 'worker-build-'));
  const lines: string[] = [];
  const started = process.hrtime.bigint();
  try {
    for (const dir of ['opt', 'tmp', 'bin']) mkdirSync(join(box, dir));
    // The image's Node 22 and the stand-in AWS CLI, first on PATH.
    symlinkSync(projectNode(), join(box, 'bin', 'node'));
    writeFileSync(join(box, 'bin', 'aws'), awsStandIn(projectNode()));
    chmodSync(join(box, 'bin', 'aws'), 0o755);
    chmodSync(join(box, 'tmp'), 0o1777);
    const run = (command: string) =>
      new Promise<number>((resolve) => {
        const child = spawn(
          bwrap,
          [
            '--ro-bind',
            '/',
            '/',
            '--bind',
            join(box, 'opt'),
            '/opt',
            '--bind',
            join(box, 'tmp'),
            '/tmp',
            // Where CodeBuild's image keeps the AWS CLI (the box itself is under the hidden /tmp).
            '--ro-bind',
            join(box, 'bin'),
            '/usr/local/bin',
            '--dev',
            '/dev',
            '--proc',
            '/proc',
            '--unshare-pid',
            '--unshare-ipc',
            '--unshare-uts',
            '--die-with-parent',
            '--new-session',
            '--chdir',
            '/tmp',
            '/bin/bash',
            '-c',
            command,
          ],
          {
            env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', ...environment },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        for (const stream of [child.stdout, child.stderr]) {
          let rest = '';
          stream.on('data', (chunk: Buffer) => {
            const parts = (rest + chunk.toString('utf8')).split('\n');
            rest = parts.pop() ?? '';
            lines.push(...parts);
          });
          stream.on('end', () => {
            if (rest) lines.push(rest);
          });
        }
        child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      });
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    for (const phase of ['install', 'build'] as const) {
      for (const command of spec.phases[phase].commands) {
        const exitCode = await run(command);
        if (exitCode !== 0) return { exitCode, phase, lines, seconds: seconds() };
      }
    }
    return { exitCode: 0, phase: 'build', lines, seconds: seconds() };
  } finally {
    rmSync(box, { recursive: true, force: true });
  }
}
