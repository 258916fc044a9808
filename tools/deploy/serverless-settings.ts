/**
 * Turns a validated config/<stage>.yml into the values serverless.yml reads as `${self:custom.deploy.*}`,
 * and loads the state machine definitions from statemachines/ (the one copy the local runner uses too).
 * Everything that needs a decision (defaults, the layer for the architecture, Lambda timeouts that must
 * match the Task timeouts) is decided here, in typed and tested code, so serverless.yml stays declarative.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../../lib/errors.ts';
import {
  loadStageConfig,
  type StageConfig,
  type StepName,
  stageConfigPath,
  stepNames,
} from './stage-config.ts';

/** The Task state of the backup state machine each function serves. */
export const taskStateOfStep: Record<StepName, string> = {
  dump: 'Dump',
  upload: 'Upload',
  checksum: 'Checksum',
  restore: 'RestoreToStaging',
  compare: 'CompareRowCounts',
  notify: 'Notify',
};

/**
 * The drill functions: the Task state of statemachines/drill.asl.json that invokes each (its timeout is
 * the Lambda timeout) and the backup step whose sizing it shares (drillRestore downloads the dump to
 * /tmp like restore, so it needs restore's ephemeral storage).
 */
export const drillFunctions = {
  drillSelectBackup: { task: 'SelectBackup', sizedLike: 'notify' },
  drillCreateDb: { task: 'CreateDrillDb', sizedLike: 'compare' },
  drillRestore: { task: 'Restore', sizedLike: 'restore' },
  drillCompare: { task: 'Compare', sizedLike: 'compare' },
  drillSanityChecks: { task: 'SanityChecks', sizedLike: 'compare' },
  drillRecordEvidence: { task: 'RecordEvidence', sizedLike: 'notify' },
  drillDropDb: { task: 'DropDrillDb', sizedLike: 'compare' },
  drillNotify: { task: 'Notify', sizedLike: 'notify' },
} as const satisfies Record<string, { task: string; sizedLike: StepName }>;

export function pgClientLayerZip(config: Pick<StageConfig, 'postgresClientMajor' | 'architecture'>): string {
  return `layers/pg-client/dist/pg-client-${config.postgresClientMajor}-${config.architecture}.zip`;
}

/**
 * The definition files reference deployed resources as `${LogicalId.Attribute}`. serverless-step-functions
 * wraps a definition in Fn::Sub only when it finds `#{...}` pseudo-parameters (which it rewrites to
 * `${...}`) or intrinsic functions; a plain `${...}` string would reach Step Functions unresolved. So
 * the placeholders are handed over in the plugin's `#{...}` spelling and come out as the file's text.
 */
export function forServerlessStepFunctions(definitionText: string): unknown {
  return JSON.parse(definitionText.replace(/\$\{([A-Za-z0-9.:]+)\}/g, '#{$1}'));
}

export function loadDefinitionTexts(root: string): Record<string, string> {
  const dir = join(root, 'statemachines');
  return Object.fromEntries(
    readdirSync(dir)
      .filter((name) => name.endsWith('.asl.json'))
      .sort()
      .map((name) => [name.replace(/\.asl\.json$/, ''), readFileSync(join(dir, name), 'utf8')]),
  );
}

function taskTimeouts(definitionText: string): Record<string, number | undefined> {
  const definition = JSON.parse(definitionText) as {
    States: Record<string, { Type: string; TimeoutSeconds?: number }>;
  };
  return Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => [name, state.TimeoutSeconds]),
  );
}

export function serverlessSettings(stage: string, root: string) {
  const config = loadStageConfig(stage, root);
  const file = stageConfigPath(stage, root).slice(root.length + 1);
  const definitions = loadDefinitionTexts(root);
  const backupDefinition = definitions.backup;
  if (!backupDefinition) throw new ConfigurationError('statemachines/backup.asl.json is missing');
  const timeouts = taskTimeouts(backupDefinition);

  const steps = Object.fromEntries(
    stepNames.map((step) => {
      const taskTimeout = timeouts[taskStateOfStep[step]];
      if (taskTimeout === undefined) {
        throw new ConfigurationError(
          `statemachines/backup.asl.json: ${taskStateOfStep[step]} has no TimeoutSeconds for the ${step} function to match`,
        );
      }
      const configured = config.steps[step];
      const timeout = configured.timeoutSeconds ?? taskTimeout;
      if (timeout > taskTimeout) {
        throw new ConfigurationError(
          `${file}: steps.${step}.timeoutSeconds: must not exceed the ${taskStateOfStep[step]} Task timeout of ${taskTimeout} s in statemachines/backup.asl.json`,
          { details: { file, field: `steps.${step}.timeoutSeconds` } },
        );
      }
      return [
        step,
        { memorySize: configured.memoryMb, ephemeralStorageSize: configured.ephemeralStorageMb, timeout },
      ];
    }),
  );

  const drillDefinition = definitions.drill;
  if (!drillDefinition) throw new ConfigurationError('statemachines/drill.asl.json is missing');
  const drillTimeouts = taskTimeouts(drillDefinition);
  const drillSteps = Object.fromEntries(
    Object.entries(drillFunctions).map(([name, { task, sizedLike }]) => {
      const timeout = drillTimeouts[task];
      if (timeout === undefined) {
        throw new ConfigurationError(
          `statemachines/drill.asl.json: ${task} has no TimeoutSeconds for the ${name} function to match`,
        );
      }
      const sizing = config.steps[sizedLike];
      return [
        name,
        { memorySize: sizing.memoryMb, ephemeralStorageSize: sizing.ephemeralStorageMb, timeout },
      ];
    }),
  );

  const layerZip = pgClientLayerZip(config);
  return {
    region: config.region,
    architecture: config.architecture,
    pgClientLayerZip: layerZip,
    pgClientLayerPresent: existsSync(join(root, layerZip)),
    createKey: config.kms.keyArn === undefined ? 'true' : 'false',
    // Read only when createKey is false; CloudFormation needs a value either way.
    existingKeyArn: config.kms.keyArn ?? 'none',
    generateBucketName: config.bucket.name === undefined ? 'true' : 'false',
    bucketName: config.bucket.name ?? 'generated',
    retentionDays: config.bucket.retentionDays,
    objectLock: config.bucket.objectLock === 'off' ? 'false' : 'true',
    objectLockMode: config.bucket.objectLock === 'off' ? 'GOVERNANCE' : config.bucket.objectLock,
    schedule: config.schedule,
    drillSchedule: config.drillSchedule,
    // Without configured checks the variable stays unset and the drill runs its built-in check.
    useDrillSanityChecks: config.drill.sanityChecks.length > 0 ? 'true' : 'false',
    drillSanityChecks: JSON.stringify(config.drill.sanityChecks),
    compression: config.compression,
    alertSubscriptions: config.alerts.emails.map((email) => ({ Endpoint: email, Protocol: 'email' })),
    slackWebhookSecretArn: config.alerts.slackWebhookSecretArn ?? 'none',
    useSlack: config.alerts.slackWebhookSecretArn === undefined ? 'false' : 'true',
    useRender: config.render === undefined ? 'false' : 'true',
    renderApiKeySecretArn: config.render?.apiKeySecretArn ?? 'none',
    renderPostgresId: config.render?.postgresId ?? 'none',
    productionSecretArn: config.databases.productionSecretArn,
    stagingSecretArn: config.databases.stagingSecretArn,
    rpoHours: config.targets.rpoHours,
    rtoHours: config.targets.rtoHours,
    restoreJobs: String(config.restoreJobs ?? Math.max(1, Math.floor(config.steps.restore.memoryMb / 1769))),
    logRetentionDays: config.logRetentionDays,
    useVpc: config.vpc === undefined ? 'false' : 'true',
    vpcSubnetIds: config.vpc?.subnetIds ?? [],
    vpcSecurityGroupIds: config.vpc?.securityGroupIds ?? [],
    steps,
    drillSteps,
    definitions: Object.fromEntries(
      Object.entries(definitions).map(([name, text]) => [name, forServerlessStepFunctions(text)]),
    ),
  };
}

export type ServerlessSettings = ReturnType<typeof serverlessSettings>;
