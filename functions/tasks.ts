/**
 * The one map from state machine to code. Each Task state of statemachines/*.asl.json names the
 * function that serves it; each function names its handler file, its step in lib/steps/, where it runs,
 * how it is sized and what it may touch. Everything else derives from these two tables or is checked
 * against them by test/unit/functions/tasks.test.ts:
 *
 * - serverless.yml's functions, their roles and log permissions, the state machines' invoke
 *   permissions, the VPC attachments and the dashboard (tools/deploy/functions.ts);
 * - the local runner's map from Task state to handler and the key figure it prints
 *   (tools/local/state-machine-runner.ts, tools/local/run-*.ts);
 * - the template tests (test/deploy/template.test.ts).
 *
 * Names line up: state `Dump` -> function `dump` -> functions/dump/handler.ts -> lib/steps/dump.ts.
 * Adding a Task touches the ASL file, these tables and the step's own code (docs/architecture.md).
 *
 * Plain data only: tools/deploy loads this file while packaging, without the step code.
 */
import type { z } from 'zod';
import { formatDuration } from '../lib/drill/evidence.ts';
import type { OutputOf } from '../lib/lambda/step.ts';
import type { MachineName } from '../lib/machines.ts';
import { formatBytes } from '../lib/notify/messages.ts';
import type { SettingGroup } from '../lib/settings.ts';
import type { checksumStep } from '../lib/steps/checksum.ts';
import type { concludeStep } from '../lib/steps/conclude.ts';
import type { drillNotifyStep } from '../lib/steps/drill-notify.ts';
import type { recordEvidenceStep } from '../lib/steps/drill-record-evidence.ts';
import type { drillRestoreStep } from '../lib/steps/drill-restore.ts';
import type { selectBackupStep } from '../lib/steps/drill-select-backup.ts';
import type { dumpStep } from '../lib/steps/dump.ts';
import type { globalsStep } from '../lib/steps/globals.ts';
import type { heartbeatStep } from '../lib/steps/heartbeat.ts';
import type { listDatabasesStep } from '../lib/steps/list-databases.ts';
import type { listVaultsStep } from '../lib/steps/list-vaults.ts';
import type { notifyStep } from '../lib/steps/notify.ts';
import type { planStep } from '../lib/steps/plan.ts';
import type { promoteStep } from '../lib/steps/promote.ts';
import type { renderDrillStep } from '../lib/steps/render-drill.ts';
import type { restoreStep } from '../lib/steps/restore.ts';
import type { verifyStep } from '../lib/steps/verify.ts';
import type { workerResultEventSchema } from '../lib/steps/worker-result.ts';

// The machine list lives in lib/machines.ts; the Task table's readers take it from here too.
export { childMachineOf, type MachineName, machineNames } from '../lib/machines.ts';

/**
 * Where a Task state runs: a Lambda invocation, or a build of the long-running worker (CodeBuild via
 * `codebuild:startBuild.sync`), which runs the function's step from the worker bundle
 * (functions/worker/handler.ts) with the same handler and pg layers.
 */
export type Venue = 'lambda' | 'worker';

/**
 * What a grant applies to, resolved by tools/deploy/iam.ts into CloudFormation: objects under a
 * key pattern of the backup bucket, the bucket itself (listing), the stage's KMS key, the alert topic,
 * or one of the stage's secrets.
 */
export type GrantResource =
  | `objects:${string}`
  | 'bucket'
  | 'key'
  | 'alertTopic'
  | 'summaryTopic'
  | 'secret:production'
  | 'secret:staging'
  | 'secret:slack'
  | 'secret:webhook'
  | 'secret:heartbeat'
  | 'secret:render'
  /** The secrets `backupctl restore --stage` creates for a target URL: `<service>/<stage>/restore-*`. */
  | 'secret:restoreTargets'
  /** The stage's state machines. */
  | 'stateMachines'
  /** Every execution of the stage's state machines. */
  | 'executions';

export interface Grant {
  sid: string;
  actions: string[];
  resources: GrantResource[];
  /** ListBucket only for these key prefixes (`s3:prefix` condition). */
  prefixes?: string[];
  /** Only when the stage configures that option (a CloudFormation condition). */
  when?: 'slack' | 'webhook' | 'heartbeat' | 'render' | 'staging';
}

/** Sizing keys of config/<stage>.yml `steps:` (memory and ephemeral storage of the function). */
export type SizingKey = 'dump' | 'promote' | 'checksum' | 'verify' | 'notify';

/**
 * Settings a function gets beyond the provider-wide ones: the groups of lib/settings.ts, where each
 * setting names the groups it belongs to.
 */
export type Setting = Exclude<SettingGroup, 'all'>;

export interface FunctionSpec {
  /** functions/<dir>/handler.ts exports `handler = stepHandler('<key>', <step>)` from lib/steps/<step>.ts. */
  dir: string;
  step: string;
  /** Memory and ephemeral storage: the stage config's `steps.<sizing>`, or fixed here. */
  sizing: SizingKey | { memoryMb: number; ephemeralStorageMb: number; timeoutSeconds: number };
  /** Runs PostgreSQL programs: gets the pg-client layer. */
  pgPrograms: boolean;
  /** Starts a scratch PostgreSQL server: gets the pg-server layer. */
  pgServer?: boolean;
  /** Talks to a database: joins the stage's VPC when one is configured. */
  database: boolean;
  settings: Setting[];
  grants: Grant[];
  /** Runs on a schedule of its own (tools/deploy/functions.ts), not from a state machine. */
  triggers?: 'hourly-and-after-executions' | 'daily' | 'alert-topic';
  /**
   * `worker`: the step may run on the worker, so the worker bundle carries it and the worker's role holds
   * its grants. `worker-only`: no Lambda function at all (the cloud restore).
   */
  worker?: 'worker' | 'worker-only';
}

const decryptWithKey: Grant = { sid: 'DecryptWithBackupKey', actions: ['kms:Decrypt'], resources: ['key'] };
/** Single PutObjects under SSE-KMS: S3 asks for a data key, and reads none back. */
const generateDataKeys: Grant = {
  sid: 'EncryptWithBackupKey',
  actions: ['kms:GenerateDataKey'],
  resources: ['key'],
};
const encryptWithKey: Grant = {
  sid: 'EncryptWithBackupKey',
  actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
  resources: ['key'],
};
/** Only when the stage verifies on a standing staging database instead of a scratch server. */
const readStagingSecret: Grant = {
  sid: 'ReadStagingSecret',
  actions: ['secretsmanager:GetSecretValue'],
  resources: ['secret:staging'],
  when: 'staging',
};
const readSlackSecret: Grant = {
  sid: 'ReadSlackWebhookSecret',
  actions: ['secretsmanager:GetSecretValue'],
  resources: ['secret:slack'],
  when: 'slack',
};
const readBackups: Grant = {
  sid: 'ReadBackups',
  actions: ['s3:GetObject'],
  resources: ['objects:backups/*'],
};
const readProductionSecret: Grant = {
  sid: 'ReadProductionSecret',
  actions: ['secretsmanager:GetSecretValue'],
  resources: ['secret:production'],
};
/** The night's roles (globals/), replayed before a restore with owners and grants. */
const readGlobals: Grant = {
  sid: 'ReadGlobals',
  actions: ['s3:GetObject'],
  resources: ['objects:globals/*'],
};
const listGlobals: Grant = {
  sid: 'ListGlobals',
  actions: ['s3:ListBucket'],
  resources: ['bucket'],
  prefixes: ['globals/*'],
};
const readManifests: Grant = {
  sid: 'ReadManifests',
  actions: ['s3:GetObject'],
  resources: ['objects:backups/*.manifest.json'],
};
/** What later checks found about a backup (lib/backup/checks.ts): read by everything that judges one. */
const checkRecords: GrantResource = 'objects:backups/*.checks.json';
/** Which database a vault belongs to (lib/backup/vault.ts), at the top level and in each db=<name>/. */
const vaultRecords: GrantResource[] = ['objects:backups/vault.json', 'objects:backups/db=*/vault.json'];
const recordChecks: Grant[] = [
  {
    sid: 'RecordChecks',
    actions: ['s3:GetObject', 's3:PutObject'],
    resources: [checkRecords],
  },
  // Without ListBucket S3 answers 403 instead of 404 for a backup with no check record yet.
  {
    sid: 'SeeWhetherChecksExist',
    actions: ['s3:ListBucket'],
    resources: ['bucket'],
    prefixes: ['backups/*'],
  },
];
const readWebhookSecret: Grant = {
  sid: 'ReadAlertWebhookSecret',
  actions: ['secretsmanager:GetSecretValue'],
  resources: ['secret:webhook'],
  when: 'webhook',
};
const readHeartbeatSecret: Grant = {
  sid: 'ReadHeartbeatSecret',
  actions: ['secretsmanager:GetSecretValue'],
  resources: ['secret:heartbeat'],
  when: 'heartbeat',
};
const publishToAlertTopic = (sid: string): Grant => ({
  sid,
  actions: ['sns:Publish'],
  resources: ['alertTopic'],
});
const publishSummary: Grant = {
  sid: 'PublishSummary',
  actions: ['sns:Publish'],
  resources: ['summaryTopic'],
};

export const functions = {
  // The nightly run's list of databases (DATABASES / EXCLUDE_DATABASES; lib/backup/databases.ts).
  listDatabases: {
    dir: 'list-databases',
    step: 'list-databases',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 60 },
    pgPrograms: false,
    database: true,
    settings: ['productionSecret', 'databases'],
    grants: [readProductionSecret],
  },
  // The server's roles and tablespaces each night (pg_dumpall --globals-only --no-role-passwords).
  globals: {
    dir: 'globals',
    step: 'globals',
    sizing: { memoryMb: 512, ephemeralStorageMb: 512, timeoutSeconds: 300 },
    pgPrograms: true,
    database: true,
    settings: ['productionSecret'],
    grants: [
      readProductionSecret,
      { sid: 'WriteGlobals', actions: ['s3:PutObject'], resources: ['objects:globals/*'] },
      generateDataKeys,
    ],
  },
  // The quarterly drills' list: every database with backups in the bucket (it reads keys and one manifest).
  listVaults: {
    dir: 'list-vaults',
    step: 'list-vaults',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 60 },
    pgPrograms: false,
    database: false,
    // `render`: whether the drills include Render's export (its second line), or say why not.
    settings: ['databases', 'render'],
    grants: [
      { sid: 'ListBackups', actions: ['s3:ListBucket'], resources: ['bucket'], prefixes: ['backups/*'] },
      // Judges each vault as the catalog does: one awaiting its first verified backup is not drilled yet.
      {
        sid: 'ReadRecords',
        actions: ['s3:GetObject'],
        resources: ['objects:backups/*.manifest.json', 'objects:backups/*.verification.json', checkRecords],
      },
      decryptWithKey,
    ],
  },
  // What became of each database in the nightly run or the drills: reads only its input, so no grant beyond its
  // own log group.
  conclude: {
    dir: 'conclude',
    step: 'conclude',
    sizing: { memoryMb: 128, ephemeralStorageMb: 512, timeoutSeconds: 30 },
    pgPrograms: false,
    database: false,
    settings: [],
    grants: [],
  },
  // The night's one heartbeat ping (success, or fail), after Conclude or the night's own failure.
  heartbeat: {
    dir: 'heartbeat',
    step: 'heartbeat',
    sizing: { memoryMb: 128, ephemeralStorageMb: 512, timeoutSeconds: 30 },
    pgPrograms: false,
    database: false,
    settings: ['heartbeat'],
    grants: [readHeartbeatSecret],
  },
  // Decides where the dump runs from the production database's size and the newest dump's throughput.
  plan: {
    dir: 'plan',
    step: 'plan',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 120 },
    pgPrograms: false,
    database: true,
    settings: ['productionSecret', 'venues'],
    grants: [
      readProductionSecret,
      { sid: 'ListBackups', actions: ['s3:ListBucket'], resources: ['bucket'], prefixes: ['backups/*'] },
      readManifests,
      // Whose the top-level vault is: the URL's database gets a vault of its own when it is another's.
      { sid: 'ReadVaultRecords', actions: ['s3:GetObject'], resources: vaultRecords },
      decryptWithKey,
    ],
  },
  dump: {
    dir: 'dump',
    step: 'dump',
    sizing: 'dump',
    pgPrograms: true,
    database: true,
    worker: 'worker',
    settings: ['productionSecret', 'proof'],
    grants: [
      {
        sid: 'StreamDumpIntoIncoming',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: ['objects:incoming/*'],
      },
      // Before pg_dump starts, the step aborts what an earlier attempt left in incoming/;
      // S3 takes no s3:prefix condition on this action, so it is granted on the bucket.
      {
        sid: 'FindUnfinishedUploads',
        actions: ['s3:ListBucketMultipartUploads'],
        resources: ['bucket'],
      },
      encryptWithKey,
      readProductionSecret,
    ],
  },
  promote: {
    dir: 'promote',
    step: 'promote',
    sizing: 'promote',
    pgPrograms: false,
    database: false,
    settings: [],
    grants: [
      {
        sid: 'TakeFromIncoming',
        actions: ['s3:GetObject', 's3:GetObjectTagging', 's3:DeleteObject'],
        resources: ['objects:incoming/*'],
      },
      // Dump and manifest only: the verification record is notify's to write.
      {
        sid: 'PromoteIntoBackups',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: ['objects:backups/*.dump', 'objects:backups/*.manifest.json'],
      },
      {
        sid: 'CheckAndTagPromotedDump',
        actions: ['s3:GetObject', 's3:PutObjectTagging'],
        resources: ['objects:backups/*.dump'],
      },
      {
        sid: 'ReadPromotedManifestOnRetry',
        actions: ['s3:GetObject'],
        resources: ['objects:backups/*.manifest.json'],
      },
      // Without ListBucket S3 answers 403 instead of 404 for a missing key, and promote decides what
      // to do from whether the incoming objects still exist.
      {
        sid: 'SeeWhetherKeysExist',
        actions: ['s3:ListBucket'],
        resources: ['bucket'],
        prefixes: ['incoming/*', 'backups/*'],
      },
      // One vault, one database: read the vault's record, and write it when the first backup claims it.
      { sid: 'ClaimVault', actions: ['s3:GetObject', 's3:PutObject'], resources: vaultRecords },
      encryptWithKey,
    ],
  },
  checksum: {
    dir: 'checksum',
    step: 'checksum',
    sizing: 'checksum',
    pgPrograms: true,
    database: false,
    settings: [],
    // A mismatch is recorded against the backup (lib/backup/checks.ts).
    grants: [readBackups, ...recordChecks, encryptWithKey],
  },
  verify: {
    dir: 'verify',
    step: 'verify',
    sizing: 'verify',
    pgPrograms: true,
    pgServer: true,
    // Talks to the staging database in staging mode.
    database: true,
    worker: 'worker',
    settings: ['verifyTarget', 'scratchServer', 'restoreJobs', 'workDir', 'proof'],
    grants: [readBackups, readGlobals, listGlobals, decryptWithKey, readStagingSecret],
  },
  notify: {
    dir: 'notify',
    step: 'notify',
    sizing: 'notify',
    pgPrograms: false,
    database: false,
    settings: ['summary'],
    grants: [
      readManifests,
      {
        sid: 'RecordVerification',
        actions: ['s3:PutObject'],
        resources: ['objects:backups/*.verification.json'],
      },
      { sid: 'TagDumpVerified', actions: ['s3:PutObjectTagging'], resources: ['objects:backups/*.dump'] },
      // The success summary goes to a topic of its own: the alert topic carries only what needs action.
      publishSummary,
      // S3 writes and the encrypted topic both need data keys.
      encryptWithKey,
      readSlackSecret,
    ],
  },
  // The restore drill: onto a scratch server of its own, never a database of the user's; nothing here
  // can write under backups/, and evidence goes to drills/. Its Checksum Task reuses `checksum`.
  drillSelectBackup: {
    dir: 'drill-select-backup',
    step: 'drill-select-backup',
    sizing: 'notify',
    pgPrograms: false,
    database: false,
    settings: ['venues'],
    grants: [
      // Finds the newest backup with a passed verification record (ListBucket also turns a missing key
      // into 404 rather than 403).
      { sid: 'ListBackups', actions: ['s3:ListBucket'], resources: ['bucket'], prefixes: ['backups/*'] },
      {
        sid: 'ReadManifestsAndVerifications',
        actions: ['s3:GetObject'],
        resources: ['objects:backups/*.manifest.json', 'objects:backups/*.verification.json', checkRecords],
      },
      decryptWithKey,
    ],
  },
  drillRestore: {
    dir: 'drill-restore',
    step: 'drill-restore',
    // Restores onto a scratch server like verify, so it is sized like verify.
    sizing: 'verify',
    pgPrograms: true,
    pgServer: true,
    database: false,
    worker: 'worker',
    // `databases`: which database a sanity check without its own `database` is for (lib/drill/sanity.ts).
    settings: ['scratchServer', 'restoreJobs', 'workDir', 'sanityChecks', 'databases'],
    grants: [readBackups, readGlobals, listGlobals, decryptWithKey],
  },
  drillRecordEvidence: {
    dir: 'drill-record-evidence',
    step: 'drill-record-evidence',
    sizing: 'notify',
    pgPrograms: false,
    database: false,
    settings: [],
    grants: [
      readManifests,
      { sid: 'WriteDrillEvidence', actions: ['s3:PutObject'], resources: ['objects:drills/*'] },
      // A drill's verdict on the backup is recorded against it (lib/backup/checks.ts).
      ...recordChecks,
      encryptWithKey,
    ],
  },
  drillNotify: {
    dir: 'drill-notify',
    step: 'drill-notify',
    sizing: 'notify',
    pgPrograms: false,
    database: false,
    settings: ['summary'],
    grants: [
      publishSummary,
      // The topic is encrypted under the stage key: a publisher needs GenerateDataKey and Decrypt.
      encryptWithKey,
      readSlackSecret,
    ],
  },
  // The quarterly drills' second line: Render's newest export restored on a scratch server and compared
  // with our nearest verified backup of the top-level vault. Only on the worker (no Lambda function);
  // it reads our records, never a dump, and writes only its own record under provider/render/drills/.
  renderDrill: {
    dir: 'render-drill',
    step: 'render-drill',
    sizing: 'verify',
    pgPrograms: true,
    pgServer: true,
    database: false,
    worker: 'worker-only',
    settings: ['render', 'scratchServer', 'restoreJobs', 'workDir'],
    grants: [
      // Our verified backup nearest to the export, as the catalog finds it (lib/backup/catalog.ts).
      { sid: 'ListBackups', actions: ['s3:ListBucket'], resources: ['bucket'], prefixes: ['backups/*'] },
      {
        sid: 'ReadRecords',
        actions: ['s3:GetObject'],
        resources: ['objects:backups/*.manifest.json', 'objects:backups/*.verification.json', checkRecords],
      },
      {
        sid: 'WriteRenderDrillRecords',
        actions: ['s3:PutObject'],
        resources: ['objects:provider/render/drills/*'],
      },
      encryptWithKey,
      {
        sid: 'ReadRenderApiKeySecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['secret:render'],
        when: 'render',
      },
    ],
  },
  // After every worker build: its result record turned back into the step's output or named error.
  workerResult: {
    dir: 'worker-result',
    step: 'worker-result',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 60 },
    pgPrograms: false,
    database: false,
    settings: [],
    grants: [
      { sid: 'ReadWorkerResults', actions: ['s3:GetObject'], resources: ['objects:worker/*'] },
      // Without ListBucket S3 answers 403, not 404, for a build that left no record.
      {
        sid: 'SeeWhetherResultsExist',
        actions: ['s3:ListBucket'],
        resources: ['bucket'],
        prefixes: ['worker/*'],
      },
      decryptWithKey,
    ],
  },
  // `backupctl restore --stage`: runs only on the worker (no Lambda function); the target's URL is read
  // from the secret the CLI created for this execution, and nothing here can write to the bucket.
  restore: {
    dir: 'restore',
    step: 'restore',
    sizing: 'verify',
    pgPrograms: true,
    database: true,
    worker: 'worker-only',
    settings: ['restoreJobs', 'workDir'],
    grants: [
      readBackups,
      { sid: 'ResolveLatest', actions: ['s3:ListBucket'], resources: ['bucket'], prefixes: ['backups/*'] },
      // --with-roles: the night's roles.
      readGlobals,
      listGlobals,
      decryptWithKey,
      {
        sid: 'ReadRestoreTargetSecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['secret:restoreTargets'],
      },
    ],
  },
  // Daily: marks what the retention policy lets go as expirable, the only objects the lifecycle rules
  // delete, and never the newest verified backup; then the globals/ no kept backup needs. It reads keys,
  // records and tags, never a backup's content or the roles' SQL.
  retention: {
    dir: 'retention',
    step: 'retention',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 300 },
    pgPrograms: false,
    database: false,
    settings: ['retention'],
    triggers: 'daily',
    grants: [
      // The nights' globals/ too: they go only when no kept backup of any vault needs them.
      {
        sid: 'ListBackupsAndGlobals',
        actions: ['s3:ListBucket'],
        resources: ['bucket'],
        prefixes: ['backups/*', 'globals/*'],
      },
      // Judges each backup as the catalog does (lib/backup/catalog.ts): its records, never the dump.
      {
        sid: 'ReadRecords',
        actions: ['s3:GetObject'],
        resources: ['objects:backups/*.manifest.json', 'objects:backups/*.verification.json', checkRecords],
      },
      decryptWithKey,
      {
        sid: 'MarkExpirable',
        actions: ['s3:GetObjectTagging', 's3:PutObjectTagging'],
        resources: ['objects:backups/*', 'objects:globals/*'],
      },
    ],
  },
  // Subscribed to the alert topic: failures and alarms on to Slack and the generic webhook, a backup
  // failure to the heartbeat's /fail. Outside the VPC (it talks to no database), so it reaches Slack
  // without a NAT gateway. E-mail does not depend on it: subscribers get the topic directly.
  alertRelay: {
    dir: 'alert-relay',
    step: 'alert-relay',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 60 },
    pgPrograms: false,
    database: false,
    settings: ['stage', 'relay'],
    triggers: 'alert-topic',
    grants: [readSlackSecret, readWebhookSecret, readHeartbeatSecret],
  },
  // Rewrites status/status.json, status/BACKUP_STATUS.md, status/badge.svg and the status page
  // status/index.html and publishes the VerifiedPgBackups metrics the alarms watch (SilenceHours,
  // UndeliveredFailureAlerts, read from the executions' history it already lists) and the dashboard's: hourly (so a silent schedule still shows up as a stale backup) and whenever an execution of a state machine ends; either way
  // from the executions it lists itself.
  status: {
    dir: 'status',
    step: 'status',
    sizing: { memoryMb: 256, ephemeralStorageMb: 512, timeoutSeconds: 60 },
    pgPrograms: false,
    database: false,
    settings: ['stage', 'alerts', 'render', 'stateMachines', 'prices'],
    triggers: 'hourly-and-after-executions',
    grants: [
      // The last 30 days of executions and the causes of the failed ones (lib/aws/executions.ts).
      { sid: 'ListExecutions', actions: ['states:ListExecutions'], resources: ['stateMachines'] },
      { sid: 'ReadExecutionHistory', actions: ['states:GetExecutionHistory'], resources: ['executions'] },
      {
        sid: 'ListBackupsDrillsAndStatus',
        actions: ['s3:ListBucket'],
        resources: ['bucket'],
        prefixes: ['backups/*', 'drills/*', 'status/*'],
      },
      {
        sid: 'ReadRecords',
        actions: ['s3:GetObject'],
        resources: [
          'objects:backups/*.manifest.json',
          'objects:backups/*.verification.json',
          checkRecords,
          'objects:drills/*.json',
        ],
      },
      { sid: 'WriteStatusReport', actions: ['s3:PutObject'], resources: ['objects:status/*'] },
      encryptWithKey,
      // Alerts on Render's findings: only when Render is watched.
      { ...publishToAlertTopic('PublishProviderAlert'), when: 'render' },
      {
        // Which standing findings (short window, stale export) were already alerted (lib/provider/alerts.ts).
        sid: 'ReadProviderAlertState',
        actions: ['s3:GetObject'],
        resources: ['objects:status/provider-alerts.json'],
        when: 'render',
      },
      {
        sid: 'ReadRenderApiKeySecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['secret:render'],
        when: 'render',
      },
      // Render's newest second-line drill for the report (provider/render/drills/, written by renderDrill).
      {
        sid: 'ListRenderDrillRecords',
        actions: ['s3:ListBucket'],
        resources: ['bucket'],
        prefixes: ['provider/render/drills/*'],
        when: 'render',
      },
      {
        sid: 'ReadRenderDrillRecords',
        actions: ['s3:GetObject'],
        resources: ['objects:provider/render/drills/*'],
        when: 'render',
      },
    ],
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionKey = keyof typeof functions;

/**
 * What each step answers (its contract's output, lib/lambda/step.ts), and what a worker build's
 * `.sync` integration reports: the results the key figures read. Types only: the step code stays out.
 */
interface Answers {
  listDatabases: OutputOf<typeof listDatabasesStep>;
  globals: OutputOf<typeof globalsStep>;
  conclude: OutputOf<typeof concludeStep>;
  heartbeat: OutputOf<typeof heartbeatStep>;
  listVaults: OutputOf<typeof listVaultsStep>;
  plan: OutputOf<typeof planStep>;
  dump: OutputOf<typeof dumpStep>;
  promote: OutputOf<typeof promoteStep>;
  checksum: OutputOf<typeof checksumStep>;
  verify: OutputOf<typeof verifyStep>;
  notify: OutputOf<typeof notifyStep>;
  drillSelectBackup: OutputOf<typeof selectBackupStep>;
  drillRestore: OutputOf<typeof drillRestoreStep>;
  drillRecordEvidence: OutputOf<typeof recordEvidenceStep>;
  drillNotify: OutputOf<typeof drillNotifyStep>;
  restore: OutputOf<typeof restoreStep>;
  renderDrill: OutputOf<typeof renderDrillStep>;
  /** A worker build as its state's ResultSelector (or Catch) leaves it. */
  build: z.output<typeof workerResultEventSchema>['build'];
}

export interface TaskSpec {
  machine: MachineName;
  /** The Task state's name in statemachines/<machine>.asl.json. */
  state: string;
  function: FunctionKey;
  venue: Venue;
  /**
   * Whose answer the state puts at its ResultPath: its function's step, a worker build (`build`), or,
   * for a worker's result, the step the build ran. The figure reads it through that contract.
   */
  answers: keyof Answers;
  /** The one figure an operator wants to see on the state's line (local runs, `--stage` following). */
  figure(result: unknown): string;
}

/** A row whose figure is typed by the answer it reads (tools/local/state-lines.ts parses it first). */
function task<K extends keyof Answers>(
  row: Omit<TaskSpec, 'answers' | 'figure'> & { answers: K; figure: (result: Answers[K]) => string },
): TaskSpec {
  return row;
}

/** The line of a worker build: which build, and how it ended. */
const buildFigure = (build: Answers['build']): string =>
  'id' in build ? `build ${build.id}: ${build.status}` : `no build: ${build.Error}`;

const proofText = (proof: string) => (proof === 'checksums' ? 'counts and content' : 'counts');

const dumpFigure = (dump: Answers['dump']) =>
  `${formatBytes(dump.bytes)}, ${dump.tables} tables, ${dump.rows} rows, ${dump.compression}, ${proofText(dump.proof)}`;

const verifyFigure = (verify: Answers['verify']) => {
  const { compare } = verify;
  return `restored in ${verify.restoreSeconds.toFixed(1)} s on ${verify.target === 'scratch' ? 'a scratch' : 'the staging'} PostgreSQL ${verify.serverVersion}; ${compare.tablesCompared} tables, ${compare.rowsCompared} rows: ${compare.status} (${proofText(compare.proof)})`;
};

const restoredFigure = (restored: Answers['drillRestore']) => {
  const { compare } = restored;
  const checks = restored.sanity.checks;
  return `download ${formatDuration(restored.downloadSeconds)}, restore ${formatDuration(restored.restoreSeconds)} on PostgreSQL ${restored.serverVersion}; ${compare.tablesCompared} tables: ${compare.status} (${proofText(compare.proof)}); sanity ${checks.filter((c) => c.passed).length}/${checks.length} passed`;
};

/** A per-database run's list (nightly, drills): which databases, how many at a time. */
const databasesFigure = (list: Answers['listDatabases'] | Answers['listVaults']) =>
  `${list.databases.map((d) => d.database).join(', ')}; ${list.concurrency} at a time`;

const heartbeatFigure = (heartbeat: Answers['heartbeat']) => `${heartbeat.signal}: ${heartbeat.heartbeat}`;

export const tasks: readonly TaskSpec[] = [
  task({
    machine: 'nightly',
    state: 'ListDatabases',
    function: 'listDatabases',
    venue: 'lambda',
    answers: 'listDatabases',
    figure: databasesFigure,
  }),
  task({
    machine: 'nightly',
    state: 'Globals',
    function: 'globals',
    venue: 'lambda',
    answers: 'globals',
    figure: (globals) =>
      `${globals.roles} roles, ${globals.skipped} skipped, sha256 ${globals.sha256.slice(0, 16)}…`,
  }),
  task({
    machine: 'nightly',
    state: 'Conclude',
    function: 'conclude',
    venue: 'lambda',
    answers: 'conclude',
    figure: (conclusion) => `${conclusion.verified} verified, ${conclusion.failed} failed`,
  }),
  task({
    machine: 'nightly',
    state: 'Heartbeat',
    function: 'heartbeat',
    venue: 'lambda',
    answers: 'heartbeat',
    figure: heartbeatFigure,
  }),
  task({
    machine: 'nightly',
    state: 'HeartbeatFail',
    function: 'heartbeat',
    venue: 'lambda',
    answers: 'heartbeat',
    figure: heartbeatFigure,
  }),
  task({
    machine: 'drills',
    state: 'ListVaults',
    function: 'listVaults',
    venue: 'lambda',
    answers: 'listVaults',
    figure: databasesFigure,
  }),
  task({
    machine: 'drills',
    state: 'RenderDrillBuild',
    function: 'renderDrill',
    venue: 'worker',
    answers: 'build',
    figure: buildFigure,
  }),
  task({
    machine: 'drills',
    state: 'RenderDrillResult',
    function: 'workerResult',
    venue: 'lambda',
    answers: 'renderDrill',
    figure: (render) =>
      render.passed
        ? `Render export ${render.exportId} (${render.exportAgeHours} h old) restored in ${formatDuration(Number(render.rtoSeconds))} and matched our ${render.comparedWith}; ${render.tablesCompared} tables`
        : `Render drill: ${render.recordKey}`,
  }),
  task({
    machine: 'drills',
    state: 'Conclude',
    function: 'conclude',
    venue: 'lambda',
    answers: 'conclude',
    figure: (conclusion) => `${conclusion.verified} passed, ${conclusion.failed} failed`,
  }),
  task({
    machine: 'backup',
    state: 'Plan',
    function: 'plan',
    venue: 'lambda',
    answers: 'plan',
    figure: (plan) => `dump on ${plan.dump}, verify on ${plan.verify}: ${plan.reason}`,
  }),
  task({
    machine: 'backup',
    state: 'Dump',
    function: 'dump',
    venue: 'lambda',
    answers: 'dump',
    figure: dumpFigure,
  }),
  task({
    machine: 'backup',
    state: 'DumpBuild',
    function: 'dump',
    venue: 'worker',
    answers: 'build',
    figure: buildFigure,
  }),
  task({
    machine: 'backup',
    state: 'DumpResult',
    function: 'workerResult',
    venue: 'lambda',
    answers: 'dump',
    figure: dumpFigure,
  }),
  task({
    machine: 'backup',
    state: 'Promote',
    function: 'promote',
    venue: 'lambda',
    answers: 'promote',
    figure: (stored) => stored.dumpKey,
  }),
  task({
    machine: 'backup',
    state: 'Checksum',
    function: 'checksum',
    venue: 'lambda',
    answers: 'checksum',
    figure: (checksum) =>
      `sha256 ${checksum.actual.sha256.slice(0, 16)}… ${checksum.status}, ${checksum.archiveEntries} archive entries`,
  }),
  task({
    machine: 'backup',
    state: 'Verify',
    function: 'verify',
    venue: 'lambda',
    answers: 'verify',
    figure: verifyFigure,
  }),
  task({
    machine: 'backup',
    state: 'VerifyBuild',
    function: 'verify',
    venue: 'worker',
    answers: 'build',
    figure: buildFigure,
  }),
  task({
    machine: 'backup',
    state: 'VerifyResult',
    function: 'workerResult',
    venue: 'lambda',
    answers: 'verify',
    figure: verifyFigure,
  }),
  task({
    machine: 'backup',
    state: 'Notify',
    function: 'notify',
    venue: 'lambda',
    answers: 'notify',
    figure: () => 'tagged verified, summary published',
  }),
  task({
    machine: 'drill',
    state: 'SelectBackup',
    function: 'drillSelectBackup',
    venue: 'lambda',
    answers: 'drillSelectBackup',
    figure: (selected) => `backup ${selected.backupId}, drill ${selected.drillId}`,
  }),
  task({
    machine: 'drill',
    state: 'Checksum',
    function: 'checksum',
    venue: 'lambda',
    answers: 'checksum',
    figure: (checksum) => `sha256 ${checksum.status}, ${checksum.archiveEntries} archive entries`,
  }),
  task({
    machine: 'drill',
    state: 'RestoreAndCheck',
    function: 'drillRestore',
    venue: 'lambda',
    answers: 'drillRestore',
    figure: restoredFigure,
  }),
  task({
    machine: 'drill',
    state: 'RestoreAndCheckBuild',
    function: 'drillRestore',
    venue: 'worker',
    answers: 'build',
    figure: buildFigure,
  }),
  task({
    machine: 'drill',
    state: 'RestoreAndCheckResult',
    function: 'workerResult',
    venue: 'lambda',
    answers: 'drillRestore',
    figure: restoredFigure,
  }),
  task({
    machine: 'drill',
    state: 'RecordEvidence',
    function: 'drillRecordEvidence',
    venue: 'lambda',
    answers: 'drillRecordEvidence',
    figure: (evidence) =>
      `${evidence.passed ? 'PASSED' : 'FAILED'}, RPO ${evidence.observedRpoHours} h, RTO ${formatDuration(evidence.observedRtoSeconds)} -> ${evidence.evidenceKey}`,
  }),
  task({
    machine: 'drill',
    state: 'Notify',
    function: 'drillNotify',
    venue: 'lambda',
    answers: 'drillNotify',
    figure: () => 'summary published',
  }),
  task({
    machine: 'restore',
    state: 'RestoreBuild',
    function: 'restore',
    venue: 'worker',
    answers: 'build',
    figure: buildFigure,
  }),
  task({
    machine: 'restore',
    state: 'RestoreResult',
    function: 'workerResult',
    venue: 'lambda',
    answers: 'restore',
    figure: (restore) =>
      `${restore.backupId} restored into ${restore.database} in ${formatDuration(restore.restoreSeconds)}; ${restore.compare.tablesCompared} tables, ${restore.compare.rowsCompared} rows: ${restore.compare.status}`,
  }),
];

/**
 * The long-running worker: the bundle CodeBuild runs (functions/worker/handler.ts, deployed as a Lambda
 * function that only carries it), and the functions it serves (their `worker` field).
 */
export const worker = { dir: 'worker', key: 'worker' } as const;

/** The functions whose steps the worker runs: their code is in its bundle, their grants in its role. */
export function workerFunctions(): FunctionKey[] {
  return (Object.entries(functions) as [FunctionKey, FunctionSpec][])
    .filter(([, spec]) => spec.worker !== undefined)
    .map(([key]) => key);
}

export function taskOf(machine: MachineName, state: string): TaskSpec | undefined {
  return tasks.find((task) => task.machine === machine && task.state === state);
}

/** `dump` -> `DumpLambdaFunction`, the logical id serverless gives a function (and the ASL references). */
export function logicalIdOf(key: FunctionKey): string {
  return `${key[0]?.toUpperCase()}${key.slice(1)}LambdaFunction`;
}
