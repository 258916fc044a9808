/**
 * Packages stages with the real packager (tools/deploy/package.ts, `serverless package` with every
 * plugin) without writing into the checkout: a scratch project whose config/ holds the generated stage
 * files, tools/ a copy (the packager finds config/ next to itself), and everything else linked to the
 * checkout (sources, definitions, the layer zips), node_modules hard-linked. Removed by `remove()`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Template } from './cfn-schema.ts';

const root = join(import.meta.dirname, '..', '..');
const linked = [
  'functions',
  'lib',
  'statemachines',
  'layers',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
];

export interface PackagedStages {
  /** The generated CloudFormation template of each stage. */
  templates: Record<string, Template>;
  /** Seconds each packaging took (the packager's whole run, layers already built). */
  seconds: Record<string, number>;
  remove(): void;
}

/** A copy of `from` at `to`, hard-linked where the file system allows (fast, no space), else copied. */
function copyTree(from: string, to: string): void {
  try {
    execFileSync('cp', ['-al', from, to], { stdio: 'ignore' });
  } catch {
    rmSync(to, { recursive: true, force: true });
    execFileSync('cp', ['-a', from, to], { stdio: 'ignore' });
  }
}

/** Packages each stage (name -> config/<stage>.yml text), one packager run after the other. */
export function packageStages(stages: Record<string, string>): PackagedStages {
  const project = mkdtempSync(join(tmpdir(), 'stages-'));
  const remove = () => rmSync(project, { recursive: true, force: true });
  try {
    for (const entry of linked) symlinkSync(join(root, entry), join(project, entry));
    // node_modules as a real directory of hard links: through a symlink, npm ls (which the packager
    // runs) resolves it to the checkout and calls every package of a fresh `npm ci` extraneous.
    copyTree(join(root, 'node_modules'), join(project, 'node_modules'));
    cpSync(join(root, 'tools'), join(project, 'tools'), { recursive: true });
    cpSync(join(root, 'serverless.yml'), join(project, 'serverless.yml'));
    mkdirSync(join(project, 'config'));
    // tools/deploy/functions.ts reads the price table from config/.
    cpSync(join(root, 'config', 'prices.ts'), join(project, 'config', 'prices.ts'));
    for (const [stage, yaml] of Object.entries(stages)) {
      writeFileSync(join(project, 'config', `${stage}.yml`), yaml);
    }
    const templates: Record<string, Template> = {};
    const seconds: Record<string, number> = {};
    for (const stage of Object.keys(stages)) {
      const out = join(project, '.packages', stage);
      // The packager's own temporary files (a bundle directory per function) stay in the project.
      const packagerTmp = join(project, '.tmp', stage);
      mkdirSync(packagerTmp, { recursive: true });
      const started = process.hrtime.bigint();
      const result = spawnSync(
        process.execPath,
        [join(project, 'tools/deploy/package.ts'), '--stage', stage, '--package', out],
        {
          cwd: project,
          encoding: 'utf8',
          // No credentials and no region from the environment: packaging must not need them.
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), TMPDIR: packagerTmp },
          timeout: 600_000,
        },
      );
      seconds[stage] = Number(process.hrtime.bigint() - started) / 1e9;
      if (result.status !== 0) {
        throw new Error(`packaging stage ${stage} failed:\n${result.stdout}\n${result.stderr}`);
      }
      templates[stage] = JSON.parse(
        readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'),
      ) as Template;
    }
    return { templates, seconds, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
