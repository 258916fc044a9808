/**
 * The stage's state machines by name: statemachines/<name>.asl.json, the deployed
 * `<service>-<stage>-<name>`, and the `<NAME>_STATE_MACHINE_ARN` setting the status function reads.
 * Plain data, the one list: functions/tasks.ts (the Task table), lib/aws/executions.ts (the history
 * the audit and status read), lib/settings.ts and the deploy and local tools take it from here.
 */
export const machineNames = ['backup', 'drill', 'restore', 'nightly', 'drills'] as const;

export type MachineName = (typeof machineNames)[number];

/** The machines that run another machine once per database (states:startExecution.sync:2). */
export const childMachineOf: Partial<Record<MachineName, MachineName>> = {
  nightly: 'backup',
  drills: 'drill',
};

/** `backup` -> `BackupStateMachine`, the logical id of its CloudFormation resource. */
export function stateMachineResourceOf(machine: MachineName): `${Capitalize<MachineName>}StateMachine` {
  return `${(machine[0] ?? '').toUpperCase()}${machine.slice(1)}StateMachine` as `${Capitalize<MachineName>}StateMachine`;
}
