/**
 * Step Functions for CLI tests: a real local execution (the ASL file run by the local runner with the
 * real handlers) written out as the GetExecutionHistory events AWS records for the same run, and an
 * SFN client stub that answers the CLI's commands by type, with pages and throttling like the service.
 *
 * The events follow how AWS records a Standard workflow: `<Type>StateEntered`, per Task attempt
 * `LambdaFunctionScheduled/Started/Succeeded|Failed` (direct Lambda ARNs) or `TaskScheduled/Started/
 * Succeeded|Failed` (service integrations such as sns:publish); a retry is the next `...Scheduled`, a
 * catch the state's `TaskStateExited` after the failure, a Fail state `FailStateEntered` followed by
 * `ExecutionFailed` with its Error and Cause.
 */
import {
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  ListTagsForResourceCommand,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { MachineName } from '../../functions/tasks.ts';
import type { SfnApi, SfnCommand } from '../../lib/aws/sfn.ts';
import type { ExecutionRecord } from '../../tools/local/state-machine-runner.ts';
import { everyState, loadAsl } from './definitions.ts';

export const account = '123456789012';

type StateDefinition = { Type: string; Resource?: string };

/** Every state by name, those inside Parallel branches (the worker's) included. */
function statesOf(machine: MachineName): Record<string, StateDefinition> {
  return Object.fromEntries(everyState(loadAsl(machine).States));
}

/** The history AWS would record for the execution the local runner just ran. */
export function historyOf(record: ExecutionRecord): HistoryEvent[] {
  const states = statesOf(record.stateMachine as MachineName);
  const events: HistoryEvent[] = [];
  const push = (type: string, at: number, details: Partial<HistoryEvent>) => {
    const id = events.length + 1;
    events.push({ id, previousEventId: id - 1, timestamp: new Date(at), type, ...details } as HistoryEvent);
  };
  const attempt = (state: StateDefinition, at: number) => {
    if (state.Resource?.startsWith('arn:aws:states:::')) {
      const [resourceType, resource] = state.Resource.replace('arn:aws:states:::', '').split(':');
      push('TaskScheduled', at, {
        taskScheduledEventDetails: { resourceType, resource, region: 'eu-central-1', parameters: '{}' },
      } as Partial<HistoryEvent>);
      push('TaskStarted', at, {
        taskStartedEventDetails: { resourceType, resource },
      } as Partial<HistoryEvent>);
    } else {
      push('LambdaFunctionScheduled', at, {
        lambdaFunctionScheduledEventDetails: {
          resource: `arn:aws:lambda:eu-central-1:${account}:function:x`,
          input: '{}',
        },
      });
      push('LambdaFunctionStarted', at, {});
    }
  };
  const isService = (state: StateDefinition) => state.Resource?.startsWith('arn:aws:states:::') ?? false;

  push('ExecutionStarted', Date.parse(record.startedAt), {
    executionStartedEventDetails: {
      input: JSON.stringify(record.input),
      roleArn: `arn:aws:iam::${account}:role/state-machine`,
    },
  });
  let current: string | undefined;
  let failStateAt: number | undefined;
  for (const r of record.states) {
    const state = states[r.name];
    if (!state) throw new Error(`state ${r.name} is not in ${record.stateMachine}.asl.json`);
    const start = Date.parse(r.startedAt);
    const at = start + r.durationMs;
    if (r.name !== current) {
      current = r.name;
      push(`${state.Type}StateEntered`, start, { stateEnteredEventDetails: { name: r.name, input: '{}' } });
      if (state.Type === 'Task') attempt(state, start);
    }
    const error = { error: r.error?.name, cause: r.error?.cause };
    switch (r.status) {
      case 'failed':
        if (state.Type === 'Fail') failStateAt = at;
        else if (isService(state)) {
          push('TaskFailed', at, {
            taskFailedEventDetails: { resourceType: 'sns', resource: 'publish', ...error },
          });
        } else push('LambdaFunctionFailed', at, { lambdaFunctionFailedEventDetails: error });
        break;
      case 'retried':
        attempt(state, at);
        break;
      case 'caught':
        push('TaskStateExited', at, {
          stateExitedEventDetails: {
            name: r.name,
            output: JSON.stringify({ error: { Error: error.error, Cause: error.cause } }),
          },
        });
        current = undefined;
        break;
      case 'succeeded': {
        const output = JSON.stringify(r.output ?? {});
        if (state.Type === 'Task') {
          if (isService(state)) {
            push('TaskSucceeded', at, {
              taskSucceededEventDetails: {
                resourceType: 'sns',
                resource: 'publish',
                output: '{"MessageId":"m"}',
              },
            } as Partial<HistoryEvent>);
          } else push('LambdaFunctionSucceeded', at, { lambdaFunctionSucceededEventDetails: { output } });
        }
        push(`${state.Type}StateExited`, at, { stateExitedEventDetails: { name: r.name, output } });
        current = undefined;
        break;
      }
    }
  }
  if (record.status === 'SUCCEEDED') {
    push('ExecutionSucceeded', Date.parse(record.stoppedAt), {
      executionSucceededEventDetails: { output: JSON.stringify(record.output ?? {}) },
    });
  } else {
    push('ExecutionFailed', failStateAt ?? Date.parse(record.stoppedAt), {
      executionFailedEventDetails: { error: record.error?.name, cause: record.error?.cause },
    });
  }
  return events;
}

/** The same history, as if it had happened `ms` earlier. */
export function shiftHistory(events: HistoryEvent[], ms: number): HistoryEvent[] {
  return events.map((e) => ({ ...e, timestamp: new Date((e.timestamp as Date).getTime() + ms) }));
}

export function throttlingError(): SFNServiceException {
  return new SFNServiceException({
    name: 'ThrottlingException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400, requestId: 'r' },
    message: 'Rate exceeded',
  });
}

export interface StubExecution {
  executionArn: string;
  stateMachineArn: string;
  startDate: Date;
  events: HistoryEvent[];
}

/**
 * Answers ListStateMachines (two pages, with unrelated and look-alike machines), ListTagsForResource,
 * StartExecution (the started execution's history is `onStart`'s answer), GetExecutionHistory (pages
 * of `pageSize`; a running execution reveals `revealPerRead` more events on each full read) and
 * ListExecutions (newest first, `listPageSize` per page). `throttle` answers that many calls of the
 * named commands with ThrottlingException first.
 */
export class SfnStub implements SfnApi {
  readonly calls: SfnCommand[] = [];
  readonly executions: StubExecution[] = [];
  readonly machines: Record<MachineName, string>;
  bucketTag: string | undefined;
  throttle: Partial<Record<string, number>> = {};
  pageSize = 4;
  listPageSize = 2;
  revealPerRead = 6;
  onStart: ((input: unknown) => HistoryEvent[]) | undefined;
  readonly #revealed = new Map<string, number>();

  constructor(options: { stage: string; region?: string; bucketTag?: string }) {
    const prefix = `arn:aws:states:${options.region ?? 'eu-central-1'}:${account}:stateMachine:verified-pg-backups-${options.stage}`;
    this.machines = {
      backup: `${prefix}-backup`,
      drill: `${prefix}-drill`,
      restore: `${prefix}-restore`,
      nightly: `${prefix}-nightly`,
      drills: `${prefix}-drills`,
    };
    this.bucketTag = options.bucketTag;
  }

  get names(): string[] {
    return this.calls.map((c) => c.constructor.name);
  }

  add(kind: MachineName, events: HistoryEvent[], name = `run-${this.executions.length + 1}`): StubExecution {
    const execution = {
      executionArn: this.machines[kind].replace(':stateMachine:', ':execution:') + `:${name}`,
      stateMachineArn: this.machines[kind],
      startDate: events[0]?.timestamp as Date,
      events,
    };
    this.executions.push(execution);
    return execution;
  }

  async send(command: SfnCommand): Promise<unknown> {
    this.calls.push(command);
    const name = command.constructor.name;
    const left = this.throttle[name] ?? 0;
    if (left > 0) {
      this.throttle[name] = left - 1;
      throw throttlingError();
    }
    if (command instanceof ListStateMachinesCommand) {
      const item = (n: string) => ({
        stateMachineArn: `arn:aws:states:eu-central-1:${account}:stateMachine:${n}`,
        name: n,
        type: 'STANDARD',
        creationDate: new Date('2026-01-01T00:00:00Z'),
      });
      if (!command.input.nextToken) {
        return {
          stateMachines: [
            item('other-service-prod-backup'),
            item(`${this.machines.backup.split(':').pop()}-old`),
          ],
          nextToken: 'page-2',
        };
      }
      return {
        stateMachines: [
          { ...item(''), stateMachineArn: this.machines.backup, name: this.machines.backup.split(':').pop() },
          { ...item(''), stateMachineArn: this.machines.drill, name: this.machines.drill.split(':').pop() },
          {
            ...item(''),
            stateMachineArn: this.machines.restore,
            name: this.machines.restore.split(':').pop(),
          },
          {
            ...item(''),
            stateMachineArn: this.machines.nightly,
            name: this.machines.nightly.split(':').pop(),
          },
          {
            ...item(''),
            stateMachineArn: this.machines.drills,
            name: this.machines.drills.split(':').pop(),
          },
        ],
      };
    }
    if (command instanceof ListTagsForResourceCommand) {
      const tags = [
        { key: 'service', value: 'verified-pg-backups' },
        { key: 'STAGE', value: 'x' },
      ];
      if (command.input.resourceArn === this.machines.backup && this.bucketTag) {
        tags.push({ key: 'verified-pg-backups:bucket', value: this.bucketTag });
      }
      return { tags };
    }
    if (command instanceof StartExecutionCommand) {
      const events = this.onStart?.(JSON.parse(command.input.input ?? '{}')) ?? [];
      const kind =
        (Object.entries(this.machines).find(([, arn]) => arn === command.input.stateMachineArn)?.[0] as
          | MachineName
          | undefined) ?? 'backup';
      const execution = this.add(kind, events, command.input.name);
      this.#revealed.set(execution.executionArn, 1);
      return { executionArn: execution.executionArn, startDate: execution.startDate };
    }
    if (command instanceof GetExecutionHistoryCommand) {
      const execution = this.executions.find((e) => e.executionArn === command.input.executionArn);
      if (!execution) throw new Error(`ExecutionDoesNotExist: ${command.input.executionArn}`);
      const visible = this.#revealed.get(execution.executionArn) ?? execution.events.length;
      const from = Number(command.input.nextToken ?? 0);
      const to = Math.min(visible, from + this.pageSize);
      const page = execution.events
        .slice(from, to)
        .map((event) => (command.input.includeExecutionData === false ? withoutData(event) : event));
      if (to >= visible)
        this.#revealed.set(
          execution.executionArn,
          Math.min(execution.events.length, visible + this.revealPerRead),
        );
      return { events: page, ...(to < visible ? { nextToken: String(to) } : {}) };
    }
    if (command instanceof ListExecutionsCommand) {
      const items = this.executions
        .filter((e) => e.stateMachineArn === command.input.stateMachineArn)
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime())
        .map((e) => {
          const last = e.events.at(-1);
          const status =
            last?.type === 'ExecutionSucceeded'
              ? 'SUCCEEDED'
              : last?.type === 'ExecutionFailed'
                ? 'FAILED'
                : 'RUNNING';
          return {
            executionArn: e.executionArn,
            stateMachineArn: e.stateMachineArn,
            name: e.executionArn.split(':').pop(),
            status,
            startDate: e.startDate,
            ...(status === 'RUNNING' ? {} : { stopDate: last?.timestamp }),
          };
        });
      const from = Number(command.input.nextToken ?? 0);
      const to = from + this.listPageSize;
      return { executions: items.slice(from, to), ...(to < items.length ? { nextToken: String(to) } : {}) };
    }
    throw new Error(`the stub does not answer ${name}`);
  }
}

function withoutData(event: HistoryEvent): HistoryEvent {
  const copy = JSON.parse(JSON.stringify(event), (key, value) =>
    key === 'input' || key === 'output' ? undefined : value,
  );
  return { ...copy, timestamp: event.timestamp };
}
