import { dropDrillDatabase } from '../drill/database.ts';
import { drillDatabaseEventSchema } from '../drill/input.ts';
import type { StepContext } from '../lambda/handler.ts';
import { parseInput } from './input.ts';

export async function dropDrillDbStep(event: unknown, { runtime }: StepContext) {
  const { drillDatabase } = parseInput(drillDatabaseEventSchema, event, 'DropDrillDb step event');
  return dropDrillDatabase(await runtime.stagingConnection(), drillDatabase);
}
