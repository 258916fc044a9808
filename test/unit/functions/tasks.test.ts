/**
 * The Task table (functions/tasks.ts) is the one map from state to code: every Task state of both
 * definitions has a row, every row names a function whose handler module exists and serves the step it
 * names, and nothing in functions/ or lib/steps/ sits outside the table.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import {
  type FunctionKey,
  functions,
  logicalIdOf,
  type MachineName,
  machineNames,
  tasks,
  worker,
  workerFunctions,
} from '../../../functions/tasks.ts';
import type { StepHandler } from '../../../lib/lambda/handler.ts';
import { stageConfigSchema } from '../../../tools/deploy/stage-config.ts';
import { everyState, loadAsl, workerResource } from '../../support/definitions.ts';

const root = join(import.meta.dirname, '..', '..', '..');

/** Task states anywhere in the definition: Lambda invocations and worker builds, with what they run. */
function taskStates(
  machine: MachineName,
): { name: string; resource: string; workerTask: string | undefined }[] {
  return (
    everyState(loadAsl(machine).States)
      // Native integrations (the SNS alert, the restore's ForgetTarget) run no code of ours.
      .filter(
        ([, state]) =>
          state.Type === 'Task' &&
          (state.Resource === workerResource || !state.Resource?.startsWith('arn:aws:states:::')),
      )
      .map(([name, state]) => ({
        name,
        resource: state.Resource ?? '',
        workerTask: state.Parameters?.EnvironmentVariablesOverride?.find((v) => v.Name === 'WORKER_TASK')
          ?.Value,
      }))
  );
}

describe('the Task table', () => {
  it.each(machineNames)('has exactly one row per Task state of %s.asl.json, on its venue', (machine) => {
    const states = taskStates(machine);
    const rows = tasks.filter((task) => task.machine === machine);
    expect(rows.map((task) => task.state).sort()).toEqual(states.map(({ name }) => name).sort());
    for (const { name, resource, workerTask } of states) {
      const row = rows.find((task) => task.state === name);
      if (resource === workerResource) {
        // A build runs the function's step from the worker bundle, which must carry it.
        expect({ name, venue: row?.venue, task: workerTask }).toEqual({
          name,
          venue: 'worker',
          task: row?.function,
        });
        expect(workerFunctions()).toContain(row?.function);
      } else {
        expect({ name, venue: row?.venue }).toEqual({ name, venue: 'lambda' });
        expect(resource).toBe(`\${${logicalIdOf(row?.function as FunctionKey)}.Arn}`);
      }
    }
  });

  it('bundles every worker function in the worker entry point, and nothing else', () => {
    const source = readFileSync(join(root, 'functions', worker.dir, 'handler.ts'), 'utf8');
    const imported = [...source.matchAll(/from '\.\.\/([a-z-]+)\/handler\.ts'/g)].map((m) => m[1]);
    expect(imported.sort()).toEqual(
      workerFunctions()
        .map((key) => functions[key].dir)
        .sort(),
    );
  });

  it('names for every function a handler module that serves the step it names', async () => {
    for (const [key, spec] of Object.entries(functions)) {
      const file = join(root, 'functions', spec.dir, 'handler.ts');
      const source = readFileSync(file, 'utf8');
      expect(source).toContain(`from '../../lib/steps/${spec.step}.ts'`);
      expect(source).toMatch(new RegExp(`stepHandler\\('${key}', \\w+\\)`));
      const { handler } = (await import(pathToFileURL(file).href)) as { handler: StepHandler<unknown> };
      expect(handler.functionKey).toBe(key);
      const stepModule = (await import(
        pathToFileURL(join(root, 'lib/steps', `${spec.step}.ts`)).href
      )) as Record<string, unknown>;
      expect(Object.values(stepModule)).toContain(handler.step);
    }
  });

  it('leaves no handler directory and no step outside the table', () => {
    const dirs = readdirSync(join(root, 'functions'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(dirs.sort()).toEqual([...Object.values(functions).map((spec) => spec.dir), worker.dir].sort());
    const steps = readdirSync(join(root, 'lib/steps'))
      .filter((name) => name.endsWith('.ts') && name !== 'input.ts')
      .map((name) => name.replace(/\.ts$/, ''));
    expect(steps.sort()).toEqual([...new Set(Object.values(functions).map((spec) => spec.step))].sort());
  });

  it('uses every function: a Task serves it or it has triggers of its own', () => {
    for (const [key, spec] of Object.entries(functions)) {
      const served = tasks.some((task) => task.function === key);
      expect({ key, used: served || 'triggers' in spec }).toEqual({ key, used: true });
    }
  });

  it('sizes functions by keys the stage config knows', () => {
    const stepKeys = Object.keys(stageConfigSchema.parse({ databases: placeholderSecrets }).steps);
    for (const spec of Object.values(functions)) {
      if (typeof spec.sizing === 'string') expect(stepKeys).toContain(spec.sizing);
    }
  });

  it('keeps handler files to the entry point they are', () => {
    for (const spec of Object.values(functions)) {
      const lines = readFileSync(join(root, 'functions', spec.dir, 'handler.ts'), 'utf8')
        .trim()
        .split('\n');
      expect(lines.length).toBeLessThanOrEqual(4);
    }
    expect(existsSync(join(root, 'functions/tasks.ts'))).toBe(true);
  });
});

const placeholderSecrets = {
  productionSecretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:p-AbCdEf',
  stagingSecretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:s-AbCdEf',
};
