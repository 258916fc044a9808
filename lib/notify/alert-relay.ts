/**
 * The alert topic's messages as Slack and a webhook should see them. E-mail subscribers get the topic
 * directly (the state machines publish natively, CloudWatch alarms publish themselves), so this code
 * is a second hop: if it breaks, e-mail still arrives and the relay's own errors raise an alarm.
 *
 * Three shapes reach the topic:
 * - a state machine's NotifyFailure: `<Kind> execution <arn> failed in step <State>.\n[Input: <execution
 *   input JSON>\n]Error: <name>\nCause: <cause>\n<one line of advice>` (statemachines/*.asl.json; the
 *   backup machine's Input line names the database, when the run was for one);
 * - a CloudWatch alarm's state change, as JSON (AlarmName, NewStateValue, NewStateReason, ...);
 * - anything else (the status function's provider alert): passed on as it is.
 */
import { databaseInAlert } from '../logging.ts';
import { readableCause } from '../report/executions.ts';
import type { Message } from './publish.ts';

const failureLine = /^.* execution (arn:\S+) failed in step (\S+)\.$/;

/** The machine kind from an execution ARN: `...:execution:<service>-<stage>-<kind>:<name>`. */
function machineOf(executionArn: string): string | undefined {
  const machine = executionArn.split(':')[6] ?? '';
  return /(?:^|-)(backup|drill|restore|nightly)$/.exec(machine)?.[1];
}

/**
 * Lambda's cause is JSON ({errorType, errorMessage}); inserted by States.Format it may arrive with its
 * inner quotes unescaped, which no JSON parser takes, so the message is also read by its shape.
 */
function causeText(cause: string): string {
  const readable = readableCause(cause);
  if (readable !== cause) return readable;
  const message = /^\{"errorType":"[^"]*","errorMessage":"([\s\S]*)"\}$/.exec(cause.trim())?.[1];
  return message === undefined ? cause : message.replace(/\\"/g, '"');
}

export function relayMessage(subject: string | undefined, text: string, stage: string | undefined): Message {
  const prefix = stage ? `[${stage}] ` : '';
  const stageField = stage ? { stage } : {};
  const lines = text.split('\n');
  const failure = failureLine.exec(lines[0] ?? '');
  const errorLine = lines.findIndex((line) => line.startsWith('Error: '));
  const causeLine = lines.findIndex((line) => line.startsWith('Cause: '));
  if (failure?.[1] && failure[2] && errorLine > 0 && causeLine > errorLine) {
    // The cause may span lines; the message's last line is the state machine's advice.
    const cause = causeText(
      [lines[causeLine]?.slice('Cause: '.length), ...lines.slice(causeLine + 1, -1)].join('\n'),
    );
    const error = lines[errorLine]?.slice('Error: '.length) ?? '';
    const stateMachine = machineOf(failure[1]);
    const database = databaseInAlert(text);
    return {
      subject: `${prefix}${subject ?? 'FAILED'}: ${error} in ${failure[2]}${database ? ` (database ${database})` : ''}`,
      text: [
        ...(database ? [`Database: ${database}`] : []),
        `Step: ${failure[2]}`,
        `Error: ${error}`,
        `Cause: ${cause}`,
        `Execution: ${failure[1]}`,
        lines.at(-1),
      ].join('\n'),
      details: {
        kind: 'failure',
        ...stageField,
        ...(stateMachine ? { stateMachine } : {}),
        execution: failure[1],
        ...(database ? { database } : {}),
        step: failure[2],
        error,
        cause,
      },
    };
  }
  const alarm = parseAlarm(text);
  if (alarm) {
    const kind = alarm.state === 'OK' ? 'recovered' : 'alarm';
    const find = kind === 'alarm' ? findExecutions(stage) : undefined;
    return {
      subject: `${prefix}${alarm.state === 'OK' ? 'OK' : 'ALARM'}: ${alarm.name}`,
      text: [alarm.description, `State: ${alarm.state}`, `Reason: ${alarm.reason}`, find]
        .filter(Boolean)
        .join('\n'),
      details: {
        kind,
        ...stageField,
        alarm: alarm.name,
        cause: alarm.reason,
        ...(find ? { findExecutions: find } : {}),
      },
    };
  }
  const plain = subject ?? 'verified-pg-backups';
  return {
    subject: plain.startsWith(prefix) ? plain : `${prefix}${plain}`,
    text,
    details: { kind: 'notice', ...stageField },
  };
}

/**
 * An alarm is about a metric, not an execution: no execution id to give. It says where the executions
 * behind it are instead, the audit and the Logs Insights query of docs/logs.md that list them.
 */
export function findExecutions(stage: string | undefined): string {
  return (
    `An alarm has no execution of its own; the runs behind it: npx backupctl audit --stage ${stage ?? '<stage>'} --since 2d, ` +
    `or the Logs Insights query "${failuresQueryTitle}" (docs/logs.md) over the stage's log groups.`
  );
}

/** The title of docs/logs.md's query that lists failed steps with their newest execution id. */
export const failuresQueryTitle = 'Failures by error name';

interface Alarm {
  name: string;
  state: string;
  reason: string;
  description: string;
}

function parseAlarm(text: string): Alarm | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const fields = parsed as Record<string, unknown>;
  if (typeof fields?.AlarmName !== 'string' || typeof fields.NewStateValue !== 'string') return undefined;
  return {
    name: fields.AlarmName,
    state: fields.NewStateValue,
    reason: typeof fields.NewStateReason === 'string' ? fields.NewStateReason : '',
    description: typeof fields.AlarmDescription === 'string' ? fields.AlarmDescription : '',
  };
}

/**
 * Whether the healthchecks-style heartbeat should hear `fail` from the relay: only when the backup-age
 * alarm fires (the stage has had no verified backup for too long, whatever ran). A failed night pings
 * `fail` itself, once, from its Heartbeat state (lib/steps/heartbeat.ts); a failed backup execution is
 * one database of a night, or an on-demand run, and the backup executions' own alarms are per
 * execution too: pinging for them would make the check's state the last execution's, not the night's.
 */
export function heartbeatHearsFail(message: Message): boolean {
  const details = message.details;
  return details?.kind === 'alarm' && /-backup-age-above-rpo$/.test(details.alarm ?? '');
}
