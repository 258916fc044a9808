/**
 * Turns a validated config/<stage>.yml into the values serverless.yml reads as `${self:custom.deploy.*}`,
 * and loads the state machine definitions from statemachines/ (the one copy the local runner uses too).
 * Everything that needs a decision (defaults, the layer for the architecture, Lambda timeouts that must
 * match the Task timeouts) is decided here, in typed and tested code, so serverless.yml stays declarative.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MachineName, machineNames } from '../../functions/tasks.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { stepMetricNames } from '../../lib/logging.ts';
import { serverBundleName } from '../../lib/pg/server-bundle.ts';
import { serviceName } from '../aws/stage.ts';
import {
  type DeployFacts,
  dashboardByteSteps,
  dashboardFunctions,
  dashboardSteps,
  functionResources,
  providerEnvironment,
  serverlessFunctions,
  stepMetricLines,
} from './functions.ts';
import { operatorResources } from './operator.ts';
import { scheduleIntervalHours } from './schedule.ts';
import { loadStageConfig, type StageConfig, stageConfigPath } from './stage-config.ts';
import { workerResources } from './worker.ts';

/** The scratch server's layer: the configured major, with the configured extensions. */
export function pgServerLayerZip(config: Pick<StageConfig, 'verification' | 'architecture'>): string {
  const name = serverBundleName(
    config.verification.serverMajor,
    config.architecture,
    config.verification.extensions,
  );
  return `layers/pg-client/dist/${name}.zip`;
}

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

function taskTimeoutsOf(definitionText: string): Record<string, number | undefined> {
  const definition = JSON.parse(definitionText) as {
    States: Record<string, { Type: string; TimeoutSeconds?: number }>;
  };
  return Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => [name, state.TimeoutSeconds]),
  );
}

/**
 * The functions' resources, the worker's (tools/deploy/worker.ts) and the operator policy
 * (tools/deploy/operator.ts) in one `resources:` entry.
 */
function withWorker(resources: ReturnType<typeof functionResources>, facts: DeployFacts) {
  const operator = operatorResources(facts);
  return {
    ...resources,
    Resources: { ...resources.Resources, ...workerResources(facts), ...operator.Resources },
    Outputs: operator.Outputs,
  };
}

export function serverlessSettings(stage: string, root: string) {
  const config = loadStageConfig(stage, root);
  const file = stageConfigPath(stage, root).slice(root.length + 1);
  const definitions = loadDefinitionTexts(root);
  const taskTimeouts = {} as Record<MachineName, Record<string, number | undefined>>;
  for (const machine of machineNames) {
    const text = definitions[machine];
    if (!text) throw new ConfigurationError(`statemachines/${machine}.asl.json is missing`);
    taskTimeouts[machine] = taskTimeoutsOf(text);
  }
  const restoreJobs = String(
    config.restoreJobs ?? Math.max(1, Math.floor(config.steps.verify.memoryMb / 1769)),
  );
  const facts: DeployFacts = {
    service: serviceName,
    stage,
    config,
    kmsKeyArn: {
      'Fn::If': ['CreateKey', { 'Fn::GetAtt': ['BackupKey', 'Arn'] }, config.kms.keyArn ?? 'none'],
    },
    taskTimeouts,
    restoreJobs,
  };

  const layerZip = pgClientLayerZip(config);
  const serverZip = pgServerLayerZip(config);
  return {
    region: config.region,
    architecture: config.architecture,
    pgClientLayerZip: layerZip,
    pgClientLayerPresent: existsSync(join(root, layerZip)),
    pgServerLayerZip: serverZip,
    pgServerLayerPresent: existsSync(join(root, serverZip)),
    serverMajor: config.verification.serverMajor,
    useStaging: config.verification.target === 'staging' ? 'true' : 'false',
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
    alertSubscriptions: config.alerts.emails.map((email) => ({ Endpoint: email, Protocol: 'email' })),
    slackWebhookSecretArn: config.alerts.slackWebhookSecretArn ?? 'none',
    useSlack: config.alerts.slackWebhookSecretArn === undefined ? 'false' : 'true',
    useAlertWebhook: config.alerts.webhookSecretArn === undefined ? 'false' : 'true',
    useHeartbeat: config.alerts.heartbeatSecretArn === undefined ? 'false' : 'true',
    summarySubscriptions: config.alerts.summaryEmails.map((email) => ({
      Endpoint: email,
      Protocol: 'email',
    })),
    useRender: config.render === undefined ? 'false' : 'true',
    renderApiKeySecretArn: config.render?.apiKeySecretArn ?? 'none',
    renderPostgresId: config.render?.postgresId ?? 'none',
    productionSecretArn: config.databases.productionSecretArn,
    stagingSecretArn: config.databases.stagingSecretArn ?? 'none',
    rpoHours: config.targets.rpoHours,
    // The longest gap between two scheduled backups plus the grace: a late night does not page, a
    // night without a verified backup does within about an hour after that (the alarm's period).
    ageAlarmHours: scheduleIntervalHours(config.schedule) + config.alerts.ageAlarmGraceHours,
    restoreJobs,
    logRetentionDays: config.logRetentionDays,
    useVpc: config.vpc === undefined ? 'false' : 'true',
    vpcSubnetIds: config.vpc?.subnetIds ?? [],
    vpcSecurityGroupIds: config.vpc?.securityGroupIds ?? [],
    environment: providerEnvironment(facts),
    functions: serverlessFunctions(facts, file),
    functionResources: withWorker(functionResources(facts), facts),
    // The dashboard's Lambda-duration lines, one per backup function (its CloudWatch metric names).
    dashboardStepMetrics: JSON.stringify(
      dashboardFunctions(facts).map((name) => ['AWS/Lambda', 'Duration', 'FunctionName', name]),
    ),
    // Each step's own metrics (lib/logging.ts), on Lambda and the worker alike: duration, bytes moved.
    dashboardStepDurations: JSON.stringify(
      stepMetricLines(stepMetricNames.duration, stage, dashboardSteps()),
    ),
    dashboardStepBytes: JSON.stringify(stepMetricLines(stepMetricNames.bytes, stage, dashboardByteSteps)),
    definitions: Object.fromEntries(
      Object.entries(definitions).map(([name, text]) => [name, forServerlessStepFunctions(text)]),
    ),
  };
}

export type ServerlessSettings = ReturnType<typeof serverlessSettings>;
