/**
 * lib/machines.ts is the one list of state machines: it names exactly the definitions in
 * statemachines/, and each has the setting the status function reads its history through.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { childMachineOf, machineNames, stateMachineResourceOf } from '../../../lib/machines.ts';
import { settings } from '../../../lib/settings.ts';

const root = join(import.meta.dirname, '..', '..', '..');

describe('machines', () => {
  it('names exactly the definitions in statemachines/', () => {
    const files = readdirSync(join(root, 'statemachines'))
      .filter((name) => name.endsWith('.asl.json'))
      .map((name) => name.replace(/\.asl\.json$/, ''));
    expect([...machineNames].sort()).toEqual(files.sort());
  });

  it('gives each machine its ARN setting, filled from its CloudFormation resource', () => {
    for (const machine of machineNames) {
      const row = (settings as Record<string, { stage?: unknown }>)[
        `${machine.toUpperCase()}_STATE_MACHINE_ARN`
      ];
      expect({ machine, stage: row?.stage }).toEqual({
        machine,
        stage: { ref: stateMachineResourceOf(machine) },
      });
    }
    expect(stateMachineResourceOf('drills')).toBe('DrillsStateMachine');
  });

  it('runs per-database children that are machines of the list', () => {
    for (const child of Object.values(childMachineOf)) expect(machineNames).toContain(child);
  });
});
