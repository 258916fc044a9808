/**
 * Many nights of one stage on a clock the test moves: the real nightly state machine (and the backup
 * machine it starts) with the real handlers, the status function each morning, the retention function
 * after each night, and every message that leaves the stage recorded: the alert topic and the summary
 * topic (the mocked SNS client of test/support/pipeline-assertions.ts), Slack, the generic webhook and
 * the heartbeat (a real HTTPS receiver, fed by the real alert relay as the alert topic's subscription).
 *
 * Time enters the product through `Runtime.now` (backup ids, verification and globals records, the
 * status report's ages, retention's cut-offs) and the local runner's execution start and stop times:
 * the night's clock is the simulated night plus the real time elapsed since it began, so the states of
 * one night keep their real order and durations.
 *
 * The backup-age alarm (tools/deploy/resources/monitoring.yml, BackupAgeAlarm) is CloudWatch's, not
 * ours, so it is modelled here as CloudWatch evaluates it: one datapoint per hour, the Maximum of the
 * metric the alarm names in monitoring.yml (SilenceHours) as the status function published it in that hour (lib/report/silence.ts: since the later of
 * the newest verified backup and the newest delivered failure alert; it runs hourly, and between two
 * runs of the pipeline neither the bucket nor the executions change, so each hour's silence is the last
 * published one plus the hours since), a missing datapoint breaching, threshold `schedule gap + grace`
 * (24 + 2 h), GreaterThanThreshold, one period. A change of state publishes to the alert topic (AlarmActions and OKActions) and reaches the
 * alert relay, as on AWS. The stage's life begins with the first night: the hours before its first
 * status report are not evaluated (on AWS, with missing data breaching, a stage deployed before its
 * first verified backup is in ALARM until then).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { readRuntimeSettings } from '../../lib/config.ts';
import { readLocalExecutions } from '../../lib/report/executions.ts';
import { createRuntime, type Runtime } from '../../lib/runtime.ts';
import { awsCaller } from '../../tools/local/aws-caller.ts';
import {
  type ExecutionRecord,
  loadStepHandler,
  runStateMachine,
  type TaskWrapper,
} from '../../tools/local/state-machine-runner.ts';
import type { HttpsReceiver } from './https-receiver.ts';
import { iamWorkerExecArgv } from './iam/jest-setup.ts';
import { alerts } from './pipeline-assertions.ts';
import { alertTopicArn, summaryTopicArn } from './pipeline-fixture.ts';

const hourMs = 3_600_000;

/**
 * The metric BackupAgeAlarm watches, read from the deployed template's source, so the model follows
 * the alarm: pointed back at BackupAgeHours, the month's failed nights page twice again.
 */
async function ageAlarmMetric(): Promise<string> {
  const monitoring = await readFile(
    fileURLToPath(new URL('../../tools/deploy/resources/monitoring.yml', import.meta.url)),
    'utf8',
  );
  const metric = /\n {2}BackupAgeAlarm:\n(?: {4,}.*\n)*? {6}MetricName: (\w+)\n/.exec(monitoring)?.[1];
  if (!metric) throw new Error('monitoring.yml has no BackupAgeAlarm with a MetricName');
  return metric;
}
const dayMs = 24 * hourMs;

/** The settings that send a stage's Slack, webhook and heartbeat messages to `receiver`. */
export function channelsOf(receiver: HttpsReceiver): Record<string, string> {
  return {
    SLACK_WEBHOOK_URL: receiver.url('/services/T000/B000/month'),
    ALERT_WEBHOOK_URL: receiver.url('/hooks/month'),
    HEARTBEAT_URL: receiver.url('/ping/month'),
  };
}

/** A clock set to a simulated instant that runs on with the real one from there. */
export interface SimulatedClock {
  now(): Date;
  setTo(at: Date): void;
}

export function simulatedClock(start: Date): SimulatedClock {
  let base = start.getTime();
  let realStart = performance.now();
  return {
    now: () => new Date(base + (performance.now() - realStart)),
    setTo(at) {
      if (at.getTime() < base)
        throw new Error(`the clock may not go back from ${new Date(base).toISOString()}`);
      base = at.getTime();
      realStart = performance.now();
    },
  };
}

/** A message that left the stage: on a topic, or an HTTPS request to Slack, the webhook or the heartbeat. */
export interface Sent {
  channel: 'alert topic' | 'summary topic' | 'slack' | 'webhook' | 'heartbeat';
  /** The topic message's subject, the Slack text's first line, the webhook's JSON or the ping's path. */
  text: string;
  /** The whole message (topic message, Slack text, webhook body). */
  body: string;
}

export interface NightRecord {
  day: number;
  /** `undefined` when the night was missed (nothing ran). */
  execution?: ExecutionRecord;
  /** The status function's verdict right after the night (it runs after every execution). */
  state?: string;
  /** The retention function's pass after the night (top-level vault). */
  retention?: RetentionOutcome;
  sent: Sent[];
}

/** The figures the retention function returns for a vault. */
export interface RetentionOutcome {
  backups: number;
  kept: number;
  expirable: number;
  damaged: number;
  newestVerified: string;
}

/** A backup started by hand during the day: the backup machine alone, as `backupctl backup` starts it. */
export interface OnDemandRecord {
  day: number;
  execution: ExecutionRecord;
  sent: Sent[];
}

export interface MorningRecord {
  day: number;
  state: string;
  summary: string;
  withinRpo: boolean;
  /** The BackupAgeHours metric the status function published; undefined when it published none. */
  backupAgeHours: number | undefined;
  /** The SilenceHours metric the age alarm watches; undefined when it published none. */
  silenceHours: number | undefined;
  /** The UndeliveredFailureAlerts metric (failed runs whose alert did not get out). */
  undeliveredFailureAlerts: number | undefined;
  /** What left the stage since the night before (the alarm's messages among them). */
  sent: Sent[];
}

export interface Month {
  readonly clock: SimulatedClock;
  readonly nights: NightRecord[];
  readonly mornings: MorningRecord[];
  /** Midnight UTC of day `day` (1-based) of the simulated month. */
  dayStart(day: number): Date;
  /**
   * The scheduled night of `day` (02:00 UTC): the nightly state machine, then the status function (as
   * after every execution) and the retention function (03:00).
   */
  night(day: number, options?: { wrap?: Partial<Record<string, TaskWrapper>> }): Promise<NightRecord>;
  /**
   * A backup started by hand at `hour` of `day` (the day of the last night run): the backup machine with
   * `trigger: manual`, then the status function as after every execution.
   */
  onDemand(day: number, hour: number): Promise<OnDemandRecord>;
  /** A night that did not happen (the schedule did not fire): only the hours pass, and the alarm sees them. */
  missNight(day: number): NightRecord;
  /**
   * Each day so far: `night` (run), `missed`, or `jumped` (a quiet night the simulation skipped: the
   * clock jumps over it, no morning is checked and the alarm does not evaluate its hours).
   */
  calendar(): string[];
  /** The status function at 08:00 of `day`, after the alarm's hours up to then. */
  morning(day: number): Promise<MorningRecord>;
  /** Every message of the month so far. */
  sent(): Sent[];
}

/** `channel: text` of each message, in the order recorded: what a test compares. */
export function digest(sent: Sent[]): string[] {
  return sent.map((s) => `${s.channel}: ${s.text}`);
}

/** The age alarm's return to OK: on the alert topic, Slack and the webhook, but nothing to act on. */
export function isRecovery(s: Sent): boolean {
  if (s.channel === 'alert topic') return s.text.startsWith('OK: ');
  if (s.channel === 'slack') return /^\*\[[^\]]+\] OK: /.test(s.text);
  if (s.channel === 'webhook') return (JSON.parse(s.body) as { kind?: unknown }).kind === 'recovered';
  return false;
}

/**
 * What pages someone: a message on the alert topic (e-mail), a post to the generic webhook (a pager),
 * a heartbeat /fail, and Slack text that is not a success summary; a recovery (`isRecovery`) is not.
 */
export function pages(sent: Sent[]): Sent[] {
  return sent.filter(
    (s) =>
      !isRecovery(s) &&
      (s.channel === 'alert topic' ||
        s.channel === 'webhook' ||
        (s.channel === 'heartbeat' && s.text.endsWith('/fail')) ||
        (s.channel === 'slack' && !s.text.startsWith('*Backup verified'))),
  );
}

/** The alarm's state as CloudWatch keeps it. */
type AlarmState = 'OK' | 'ALARM';

export async function startMonth(options: {
  settings: Record<string, string>;
  stateDir: string;
  receiver: HttpsReceiver;
  /** Midnight UTC before the first night. */
  start: Date;
  ageAlarmHours?: number;
}): Promise<Month> {
  const { settings, stateDir, receiver, start } = options;
  const ageAlarmHours = options.ageAlarmHours ?? 26;
  const alarmMetric = await ageAlarmMetric();
  const clock = simulatedClock(start);
  const runtime: Runtime = createRuntime(readRuntimeSettings(settings), { now: clock.now });
  const metricLines: string[] = [];
  const sink = (line: string) => {
    if (line.includes('"_aws"')) metricLines.push(line);
  };
  const status = (await loadStepHandler('status')).withDependencies({ runtime: () => runtime, sink });
  const retention = (await loadStepHandler('retention')).withDependencies({
    runtime: () => runtime,
    sink: () => undefined,
  });
  const relay = (await loadStepHandler('alertRelay')).withDependencies({
    runtime: () => runtime,
    sink: () => undefined,
  });
  // Each function's AWS requests are checked against its own role (test/support/iam/), as the runner's are.
  const as = <T>(principal: 'status' | 'retention' | 'alertRelay', call: () => Promise<T>) =>
    awsCaller.run({ principal, settings }, call);
  const nights: NightRecord[] = [];
  const mornings: MorningRecord[] = [];
  const calendar: string[] = [];
  /** Days between the last night run or missed and `day` are jumped over. */
  const jumpTo = (day: number) => {
    if (day <= calendar.length) throw new Error(`day ${day} is already past`);
    const jumped = calendar.length > 0 && day > calendar.length + 1;
    while (calendar.length < day - 1) calendar.push('jumped');
    return jumped;
  };

  // What has been read of the SNS mock and the receiver: each record takes what came since.
  let topicSeen = alerts().length;
  let requestsSeen = receiver.requests.length;
  const takeSent = (): Sent[] => {
    const topics = alerts().slice(topicSeen);
    topicSeen += topics.length;
    const requests = receiver.requests.slice(requestsSeen);
    requestsSeen += requests.length;
    return [
      ...topics.map(
        (a): Sent => ({
          channel: a.topic === summaryTopicArn ? 'summary topic' : 'alert topic',
          text: a.subject,
          body: a.message,
        }),
      ),
      ...requests.map((r): Sent => {
        if (r.path.startsWith('/ping/')) return { channel: 'heartbeat', text: r.path, body: r.body };
        if (r.path.startsWith('/hooks/')) return { channel: 'webhook', text: r.body, body: r.body };
        const text = String((JSON.parse(r.body || '{}') as { text?: unknown }).text ?? '');
        return { channel: 'slack', text: text.split('\n')[0] ?? '', body: text };
      }),
    ];
  };
  const everything: Sent[] = [];
  const take = () => {
    const sent = takeSent();
    everything.push(...sent);
    return sent;
  };

  // The age alarm: the last published silence and when, and the hours evaluated so far.
  let published: { at: number; watched: number | undefined } | undefined;
  let evaluatedUntil = start.getTime();
  let alarm: AlarmState = 'OK';
  const alarmName = `verified-pg-backups-${runtime.settings.STAGE}-backup-age-above-rpo`;
  const sns = new SNSClient({ region: settings.AWS_REGION ?? 'us-east-1' });
  const evaluateAlarmUntil = async (until: number) => {
    // The stage's life begins with its first night: before the first report nothing is evaluated.
    if (!published) {
      evaluatedUntil = Math.max(evaluatedUntil, until - (until % hourMs));
      return;
    }
    for (let hour = evaluatedUntil + hourMs; hour <= until; hour += hourMs) {
      evaluatedUntil = hour;
      const age =
        published?.watched === undefined ? undefined : published.watched + (hour - published.at) / hourMs;
      const next: AlarmState = age === undefined || age > ageAlarmHours ? 'ALARM' : 'OK';
      if (next === alarm) continue;
      alarm = next;
      const reason =
        age === undefined
          ? 'no datapoint (treated as breaching)'
          : `1 datapoint [${age.toFixed(1)}] was ${next === 'ALARM' ? 'greater than' : 'not greater than'} the threshold (${ageAlarmHours}.0)`;
      const Subject = `${next}: "${alarmName}" in US East (N. Virginia)`;
      const Message = JSON.stringify({
        AlarmName: alarmName,
        AlarmDescription: `Silence: for ${ageAlarmHours} h a database has had neither a verified backup nor a delivered failure alert.`,
        NewStateValue: next,
        NewStateReason: `Threshold Crossed: ${reason}.`,
        StateChangeTime: new Date(hour).toISOString(),
      });
      await sns.send(new PublishCommand({ TopicArn: alertTopicArn, Subject, Message }));
      await as('alertRelay', () => relay({ Records: [{ Sns: { Subject, Message } }] }, {} as Context));
    }
  };
  const runStatus = async () => {
    await evaluateAlarmUntil(clock.now().getTime());
    metricLines.length = 0;
    const executions = await readLocalExecutions(stateDir);
    const report = (await as('status', () => status({ executions }, {} as Context))) as {
      state: string;
      summary: string;
      withinRpo: boolean;
    };
    const metrics = metricLines.map(
      (line) =>
        JSON.parse(line) as Record<string, number | undefined> & {
          BackupAgeHours?: number;
          SilenceHours?: number;
          UndeliveredFailureAlerts?: number;
        },
    );
    const ageHours = metrics.find((m) => m.BackupAgeHours !== undefined)?.BackupAgeHours;
    const silenceHours = metrics.find((m) => m.SilenceHours !== undefined)?.SilenceHours;
    const watched = metrics.find((m) => m[alarmMetric] !== undefined)?.[alarmMetric];
    const undelivered = metrics.find(
      (m) => m.UndeliveredFailureAlerts !== undefined,
    )?.UndeliveredFailureAlerts;
    published = { at: clock.now().getTime(), watched };
    return {
      ...report,
      backupAgeHours: ageHours,
      silenceHours,
      undeliveredFailureAlerts: undelivered,
    };
  };

  const dayStart = (day: number) => new Date(start.getTime() + (day - 1) * dayMs);
  return {
    clock,
    nights,
    mornings,
    dayStart,
    async night(day, nightOptions = {}) {
      const at = dayStart(day).getTime();
      // A jumped span's hours are not evaluated: its quiet nights would have kept the age low.
      if (jumpTo(day)) evaluatedUntil = at + 2 * hourMs;
      else await evaluateAlarmUntil(at + 2 * hourMs);
      calendar.push('night');
      clock.setTo(new Date(at + 2 * hourMs));
      const execution = await runStateMachine({
        machine: 'nightly',
        input: { trigger: 'schedule' },
        settings,
        stateDir,
        retryIntervalMs: 10,
        workerExecArgv: iamWorkerExecArgv(),
        now: clock.now,
        ...(nightOptions.wrap ? { wrap: nightOptions.wrap } : {}),
      });
      const { state } = await runStatus();
      clock.setTo(new Date(at + 3 * hourMs));
      const pass = (await as('retention', () => retention({}, {} as Context))) as RetentionOutcome;
      const record = { day, execution, state, retention: pass, sent: take() };
      nights.push(record);
      return record;
    },
    async onDemand(day, hour) {
      if (calendar.length !== day) throw new Error(`day ${day} is not the day of the last night`);
      const at = dayStart(day).getTime() + hour * hourMs;
      await evaluateAlarmUntil(at);
      clock.setTo(new Date(at));
      const execution = await runStateMachine({
        machine: 'backup',
        input: { trigger: 'manual' },
        settings,
        stateDir,
        retryIntervalMs: 10,
        workerExecArgv: iamWorkerExecArgv(),
        now: clock.now,
      });
      await runStatus();
      return { day, execution, sent: take() };
    },
    missNight(day) {
      jumpTo(day);
      calendar.push('missed');
      const record = { day, sent: [] };
      nights.push(record);
      return record;
    },
    async morning(day) {
      clock.setTo(new Date(dayStart(day).getTime() + 8 * hourMs));
      const report = await runStatus();
      const record = { day, ...report, sent: take() };
      mornings.push(record);
      return record;
    },
    sent: () => [...everything, ...take()],
    calendar: () => [...calendar],
  };
}
