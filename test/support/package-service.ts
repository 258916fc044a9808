/**
 * Packages the service offline (`npm run package -- --stage <stage> --package <dir>`,
 * tools/deploy/package.ts, no credentials) for the tests that read what ships: the template
 * (test/deploy/template.test.ts) and the function and layer zips (./lambda-sandbox.ts).
 *
 * One packaging of a checkout at a time: serverless-esbuild builds in `<checkout>/.esbuild` and removes
 * that whole directory when it is done, so two test files packaging at once (Jest runs two workers)
 * would delete each other's bundles. A lock directory per checkout, under the system temp directory,
 * serialises them; a lock whose holder is no longer running is taken over.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { waitFor } from './wait-for.ts';

const root = join(import.meta.dirname, '..', '..');

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
}
export interface Template {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, unknown>;
}

export interface PackagedFunction {
  key: string;
  functionName: string;
  handler: string;
  zip: string;
  /** The zips of the layers the template attaches, in the template's order (Lambda's order under /opt). */
  layers: string[];
  /** The function's Environment.Variables as the template has them (strings or CloudFormation expressions). */
  environment: Record<string, unknown>;
  timeoutSeconds: number;
  memoryMb: number;
  /** The template's Conditions, which settle the `Fn::If`s of the environment. */
  conditions: Record<string, unknown>;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `work` holding this checkout's packaging lock. */
async function whilePackagingAlone<T>(work: () => T): Promise<T> {
  const checkout = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const lock = join(tmpdir(), `verified-pg-backups-packaging-${checkout}.lock`);
  await waitFor(
    `the packaging lock ${lock} (another test file is packaging this checkout)`,
    () => {
      try {
        mkdirSync(lock);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        let holder = Number.NaN;
        try {
          holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
        } catch {
          // Just created: the holder writes its pid next.
        }
        if (Number.isInteger(holder) && holder > 0 && !running(holder))
          rmSync(lock, { recursive: true, force: true });
        return false;
      }
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return true;
    },
    { limitMs: 1_200_000 },
  );
  try {
    return work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface PackagedService {
  dir: string;
  template: Template;
  /** How long `npm run package` took. */
  seconds: number;
  lambda(key: string): PackagedFunction;
  remove(): void;
}

/**
 * `npm run package -- --stage <stage> --package <dir>` (tools/deploy/package.ts), offline, without
 * credentials; the packager's temporary files go to a directory removed with the package.
 */
export async function packageService(stage: string): Promise<PackagedService> {
  const dir = mkdtempSync(join(tmpdir(), 'sls-package-'));
  const packagerTmp = mkdtempSync(join(tmpdir(), 'sls-tmp-'));
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(packagerTmp, { recursive: true, force: true });
  };
  let started = process.hrtime.bigint();
  const result = await whilePackagingAlone(() => {
    started = process.hrtime.bigint();
    return spawnSync(
      process.execPath,
      [join(root, 'tools/deploy/package.ts'), '--stage', stage, '--package', dir],
      {
        cwd: root,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), TMPDIR: packagerTmp },
        timeout: 600_000,
      },
    );
  });
  /** Packaging alone, not the wait for the lock. */
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) {
    remove();
    throw new Error(`packaging failed:\n${result.stdout}\n${result.stderr}`);
  }
  const template = JSON.parse(
    readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  const resource = (id: string): Resource => {
    const found = template.Resources[id];
    if (!found) throw new Error(`no resource ${id} in the packaged template`);
    return found;
  };
  /** An artifact the template names by S3 key: in the package directory, or where the stage config built it. */
  const artifact = (s3Key: unknown): string => {
    const name = basename(String(s3Key));
    const candidates = [join(dir, name), join(root, 'layers', 'pg-client', 'dist', name)];
    const found = candidates.find((path) => existsSync(path));
    if (!found) throw new Error(`the package names ${name}, which is in none of ${candidates.join(', ')}`);
    return found;
  };
  return {
    dir,
    template,
    seconds,
    remove,
    lambda(key) {
      const id = `${key[0]?.toUpperCase()}${key.slice(1)}LambdaFunction`;
      const properties = resource(id).Properties;
      const layers = ((properties.Layers ?? []) as { Ref: string }[]).map((layer) =>
        artifact((resource(layer.Ref).Properties.Content as Json).S3Key),
      );
      return {
        key,
        functionName: String(properties.FunctionName),
        handler: String(properties.Handler),
        zip: artifact((properties.Code as Json).S3Key),
        layers,
        environment: ((properties.Environment as { Variables?: Json } | undefined)?.Variables ??
          {}) as Record<string, unknown>,
        timeoutSeconds: Number(properties.Timeout),
        memoryMb: Number(properties.MemorySize),
        conditions: template.Conditions ?? {},
      };
    },
  };
}
