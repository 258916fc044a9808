/**
 * Every function's step contract (lib/lambda/step.ts), loaded from the handler module the Task table
 * names (functions/<dir>/handler.ts): what the local runner, the state lines and the data-flow test
 * read step outputs with. Derived from the table, so a new function needs nothing here.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { type FunctionKey, functions } from '../../functions/tasks.ts';
import type { StepHandler } from '../../lib/lambda/handler.ts';
import type { StepContract } from '../../lib/lambda/step.ts';
import { projectRoot } from './environment.ts';

export type AnyContract = StepContract<z.ZodType, z.ZodType>;

export async function loadContracts(): Promise<Map<FunctionKey, AnyContract>> {
  const contracts = new Map<FunctionKey, AnyContract>();
  for (const [key, spec] of Object.entries(functions)) {
    const file = join(projectRoot, 'functions', spec.dir, 'handler.ts');
    const { handler } = (await import(pathToFileURL(file).href)) as { handler: StepHandler<unknown> };
    if (handler.step.contract) contracts.set(key as FunctionKey, handler.step.contract);
  }
  return contracts;
}

/** Loaded once per process: the handler modules are the local runner's anyway. */
export const stepContracts: ReadonlyMap<FunctionKey, AnyContract> = await loadContracts();
