/**
 * The state machines' data flow against the steps' contracts (lib/lambda/step.ts): every field a state
 * reads was written by an earlier state, every step gets the fields its input requires and none it
 * does not take, and a nested execution's output is read as the child machine leaves it. The last
 * block proves the check can fail: each case breaks one path of a real definition.
 */
import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import {
  childMachineOf,
  type FunctionKey,
  functions,
  type MachineName,
  machineNames,
} from '../../../functions/tasks.ts';
import { drillInputSchema } from '../../../lib/drill/input.ts';
import type { StepContract } from '../../../lib/lambda/step.ts';
import { cloudRestoreInputSchema, executionInputSchema } from '../../../lib/steps/input.ts';
import { nightlyInputSchema } from '../../../lib/steps/list-databases.ts';
import { drillsInputSchema } from '../../../lib/steps/list-vaults.ts';
import { stepContracts } from '../../../tools/local/contracts.ts';
import { checkDataFlow, type Machines } from '../../support/asl-dataflow.ts';
import { type AslDefinition, loadAsl } from '../../support/definitions.ts';

/** What each machine's execution input may hold: the schema its first step parses it with. */
const inputs: Record<MachineName, z.ZodType> = {
  backup: executionInputSchema,
  nightly: nightlyInputSchema,
  drill: drillInputSchema,
  drills: drillsInputSchema,
  restore: cloudRestoreInputSchema,
};

/** Children first: a parent reads the output its child machine leaves. */
const order = [...machineNames].sort(
  (a, b) => Number(childMachineOf[a] !== undefined) - Number(childMachineOf[b] !== undefined),
);

const contracts: ReadonlyMap<FunctionKey, StepContract<z.ZodType, z.ZodType>> = stepContracts;

function definitions(): Record<MachineName, AslDefinition> {
  return Object.fromEntries(machineNames.map((machine) => [machine, loadAsl(machine)])) as Record<
    MachineName,
    AslDefinition
  >;
}

function check(change?: (machines: Record<MachineName, AslDefinition>) => void): string[] {
  const defined = definitions();
  change?.(defined);
  const machines: Machines = { definitions: defined, inputs, contracts };
  return checkDataFlow(machines, order);
}

/** A state of a definition, by its path through Parallel branches (`DumpOnWorker/DumpResult`). */
function stateOf(definition: AslDefinition, path: string): Record<string, unknown> {
  const [first, ...rest] = path.split('/');
  let state = definition.States[first ?? ''] as unknown as Record<string, unknown>;
  for (const name of rest) {
    const branches = (state.Branches ?? []) as { States: Record<string, unknown> }[];
    state = branches.map((branch) => branch.States[name]).find(Boolean) as Record<string, unknown>;
  }
  if (!state) throw new Error(`no state ${path}`);
  return state;
}

describe('step contracts', () => {
  it('are declared by every function (defineStep)', () => {
    expect(Object.keys(functions).filter((key) => !contracts.has(key as FunctionKey))).toEqual([]);
  });

  it('hold along every path of every state machine', () => {
    expect(check()).toEqual([]);
  });
});

describe('the data-flow check fails', () => {
  it('on a state that reads a field no earlier state writes', () => {
    const findings = check(({ backup }) => {
      (stateOf(backup, 'Promote').Parameters as Record<string, string>)['backupId.$'] = '$.dump.backupid';
    });
    expect(findings).toEqual(['backup: Promote: reads $.dump.backupid, which no earlier state writes']);
  });

  it('on a step whose result lands somewhere its readers do not look', () => {
    const findings = check(({ backup }) => {
      stateOf(backup, 'Plan').ResultPath = '$.planned';
    });
    expect(findings).toContain('backup: DumpWhere: reads $.plan.dump, which no earlier state writes');
    expect(findings).toContain('backup: Dump: reads $.plan.target, which no earlier state writes');
  });

  it('on a step handed another step output than the one its input composes', () => {
    const findings = check(({ backup }) => {
      (stateOf(backup, 'Notify').Parameters as Record<string, string>)['verify.$'] = '$.checksum';
    });
    expect(findings).toContain(
      'backup: Notify: hands $.verify without serverVersion, which the step requires',
    );
  });

  it('on a field the step does not take', () => {
    const findings = check(({ backup }) => {
      (stateOf(backup, 'Checksum').Parameters as Record<string, unknown>).force = true;
    });
    expect(findings).toEqual(['backup: Checksum: hands $.force, which the step does not take']);
  });

  it('on a worker build whose event lacks what the step requires', () => {
    const findings = check(({ drill }) => {
      const event = (
        stateOf(drill, 'RestoreAndCheckOnWorker').Parameters as { event: Record<string, string> }
      ).event;
      delete event['backupId.$'];
    });
    expect(findings).toContain(
      'drill: RestoreAndCheckOnWorker/RestoreAndCheckBuild: hands $.event without backupId, which the step requires',
    );
  });

  it("on a parent reading a field its child machine's output lacks", () => {
    const findings = check(({ nightly }) => {
      const map = nightly.States.Databases as unknown as {
        ItemProcessor: { States: Record<string, { ResultSelector: Record<string, string> }> };
      };
      const task = map.ItemProcessor.States.BackupDatabase;
      if (task) task.ResultSelector['backupId.$'] = '$.Output.dump.backupID';
    });
    expect(findings).toEqual([
      'nightly: Databases/BackupDatabase: reads $.Output.dump.backupID, which no earlier state writes',
    ]);
  });
});
