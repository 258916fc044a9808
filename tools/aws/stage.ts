/**
 * A deployed stage as the CLI needs it: region, the two state machines and the backup bucket. Read
 * from config/<stage>.yml (validated by the deploy schema, before any AWS call) and from Step Functions
 * itself: the state machines by their exact names, the bucket from the backup state machine's tag
 * (CloudFormation generates the name unless the config gives one), so no other AWS client is needed.
 */
import {
  ListStateMachinesCommand,
  type ListStateMachinesCommandOutput,
  ListTagsForResourceCommand,
  type ListTagsForResourceCommandOutput,
} from '@aws-sdk/client-sfn';
import type { StageMachineArns } from '../../lib/aws/executions.ts';
import { type CallOptions, callSfn, type SfnApi } from '../../lib/aws/sfn.ts';
import { ConfigurationError, InputValidationError } from '../../lib/errors.ts';
import { type MachineName, machineNames } from '../../lib/machines.ts';
import { loadStageConfig, type StageConfig } from '../deploy/stage-config.ts';

export const serviceName = 'verified-pg-backups';
/** Set on the backup state machine by serverless.yml: the bucket's name as CloudFormation made it. */
export const bucketTagKey = `${serviceName}:bucket`;

const regionPattern = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

export interface StageSettings {
  stage: string;
  region: string;
  config: StageConfig;
}

/**
 * Validates the stage name, reads its config and picks the region (`--region`, else the config's,
 * which is where serverless.yml deploys it; AWS_REGION is deliberately not used: a shell default
 * pointing elsewhere would make a deployed stage look missing). Touches no AWS API.
 */
export function loadStageSettings(stage: string, root: string, region?: string): StageSettings {
  const config = loadStageConfig(stage, root);
  if (region !== undefined && !regionPattern.test(region)) {
    throw new InputValidationError('--region must be an AWS region such as eu-central-1', {
      details: { field: '--region' },
    });
  }
  return { stage, region: region ?? config.region, config };
}

export function stateMachineName(stage: string, kind: MachineName): string {
  return `${serviceName}-${stage}-${kind}`;
}

export class DeployedStage {
  readonly settings: StageSettings;
  readonly #api: SfnApi;
  readonly #call: CallOptions;
  #arns: StageMachineArns | undefined;

  constructor(settings: StageSettings, api: SfnApi, call: CallOptions = {}) {
    this.settings = settings;
    this.#api = api;
    this.#call = call;
  }

  get stage(): string {
    return this.settings.stage;
  }

  get region(): string {
    return this.settings.region;
  }

  /** The stage's state machines' ARNs, found by exact name (ListStateMachines, every page). */
  async stateMachineArns(): Promise<StageMachineArns> {
    if (this.#arns) return this.#arns;
    const wanted = new Map(machineNames.map((kind) => [stateMachineName(this.stage, kind), kind]));
    const found: Partial<Record<MachineName, string>> = {};
    let nextToken: string | undefined;
    do {
      const page = await callSfn<ListStateMachinesCommandOutput>(
        this.#api,
        new ListStateMachinesCommand({ maxResults: 1000, ...(nextToken ? { nextToken } : {}) }),
        this.#call,
      );
      for (const machine of page.stateMachines ?? []) {
        const kind = wanted.get(machine.name ?? '');
        if (kind && machine.stateMachineArn) found[kind] = machine.stateMachineArn;
      }
      nextToken = page.nextToken;
    } while (nextToken && machineNames.some((kind) => !found[kind]));
    // A stage deployed before the nightly run existed still works; its backups start one by one.
    const missing = machineNames.filter((kind) => kind !== 'nightly' && kind !== 'drills' && !found[kind]);
    if (missing.length > 0 || !found.backup || !found.drill || !found.restore) {
      throw new ConfigurationError(
        `stage "${this.stage}" is not deployed in ${this.region}: no state machine named ${missing
          .map((kind) => stateMachineName(this.stage, kind))
          .join(
            ' or ',
          )} (deploy with \`npx serverless deploy --stage ${this.stage}\`, or pass --region if it lives elsewhere)`,
        { details: { stage: this.stage, region: this.region } },
      );
    }
    this.#arns = {
      backup: found.backup,
      drill: found.drill,
      restore: found.restore,
      ...(found.nightly ? { nightly: found.nightly } : {}),
      ...(found.drills ? { drills: found.drills } : {}),
    };
    return this.#arns;
  }

  /** The bucket: named in the config, else read from the backup state machine's tag. */
  async bucket(): Promise<string> {
    const named = this.settings.config.bucket.name;
    if (named) return named;
    const { backup } = await this.stateMachineArns();
    const { tags } = await callSfn<ListTagsForResourceCommandOutput>(
      this.#api,
      new ListTagsForResourceCommand({ resourceArn: backup }),
      this.#call,
    );
    const value = tags?.find((tag) => tag.key === bucketTagKey)?.value;
    if (!value) {
      throw new ConfigurationError(
        `state machine ${stateMachineName(this.stage, 'backup')} has no ${bucketTagKey} tag: deploy this version (\`npx serverless deploy --stage ${this.stage}\`) or set bucket.name in config/${this.stage}.yml`,
        { details: { stage: this.stage } },
      );
    }
    return value;
  }
}
