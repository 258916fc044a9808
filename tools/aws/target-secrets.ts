/**
 * The stage side of TargetSecrets (tools/cli/machine-runner.ts): the restore target's URL goes into a
 * Secrets Manager secret of its own, `verified-pg-backups/<stage>/restore-<random>` (the only secrets
 * the worker may read besides the stage's), whose ARN is all the execution carries. The execution's
 * ForgetTarget state deletes it without recovery when the restore ends; until an execution exists, the
 * CLI deletes what it created.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { describeError } from '../../lib/errors.ts';
import type { HeldSecret, TargetSecrets } from '../cli/machine-runner.ts';
import { restoreSecretPrefix } from '../deploy/functions.ts';
import { serviceName } from './stage.ts';

export class StageTargetSecrets implements TargetSecrets {
  readonly #clientOf: () => Pick<SecretsManagerClient, 'send'>;
  readonly #stage: string;

  /** `clientOf` is asked for a client only when a secret is held: only a restore needs one. */
  constructor(clientOf: () => Pick<SecretsManagerClient, 'send'>, stage: string) {
    this.#clientOf = clientOf;
    this.#stage = stage;
  }

  async hold(url: string): Promise<HeldSecret> {
    const client = this.#clientOf();
    // The one name pattern the worker may read and the operator may create and delete.
    const name = `${restoreSecretPrefix({ service: serviceName, stage: this.#stage })}${randomBytes(8).toString('hex')}`;
    const created = await client.send(
      new CreateSecretCommand({
        Name: name,
        Description: 'Target of one backupctl restore; deleted when the restore ends',
        SecretString: url,
      }),
    );
    return {
      reference: created.ARN ?? name,
      forget: async () => {
        await client
          .send(new DeleteSecretCommand({ SecretId: created.ARN ?? name, ForceDeleteWithoutRecovery: true }))
          .catch((error: unknown) => {
            console.error(`Could not delete the secret ${name}: ${describeError(error)}; delete it by hand.`);
          });
      },
    };
  }
}
