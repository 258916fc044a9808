import { createDrillDatabase } from '../drill/database.ts';
import { drillDatabaseEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { parseInput } from './input.ts';

export async function createDrillDbStep(event: unknown, { runtime }: StepContext) {
  const { drillDatabase } = parseInput(drillDatabaseEventSchema, event, 'CreateDrillDb step event');
  return createDrillDatabase(await runtime.stagingConnection(), drillDatabase);
}
