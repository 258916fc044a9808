/**
 * Use case: check a setup before its first night (pgBackRest's `check`). Each check says what it found
 * and, when it fails, what to change; none writes to production, and an alert is sent only when asked.
 *
 *   production   reachable, with the TLS the steps will use, and which PostgreSQL it runs
 *   privileges   the role may read every table and sequence pg_dump will read (privileges, row security)
 *   opt-in       production does not carry the restore-target opt-in (the Dump step would refuse)
 *   client       a pg_dump bundle of production's major or newer
 *   scratch      a scratch server of production's major or newer, offering every extension it uses
 *   bucket       the backup bucket answers (and decrypts a manifest when there is one: the KMS key)
 *   venues       where the dump and the verification will run for this database's size
 *   alerts       only with `sendTestAlert`: a test message through the alert channels
 *   render       Render's own recovery, when a Render database is configured
 */
import { listBackups, newestManifest, readManifest } from '../backup/catalog.ts';
import { planDump } from '../backup/plan.ts';
import { describeError } from '../errors.ts';
import type { Message, Sent } from '../notify/publish.ts';
import { describeConnection, type PgConnection } from '../pg/connection.ts';
import { grantFix, readRelationAccess, rowSecurityFix } from '../pg/privileges.ts';
import { availableServerBundles, serverForSource } from '../pg/server-bundle.ts';
import {
  type InstalledExtension,
  installedExtensions,
  readServerIdentity,
  type ServerIdentity,
  withSession,
} from '../pg/session.ts';
import { providerCheckFor } from '../provider/provider-check.ts';
import type { ProviderFinding, ProviderStatus } from '../provider/render.ts';
import type { Runtime } from '../runtime.ts';
import { assertProductionNotOptedIn } from '../verify/restore-target-guard.ts';
import { scratchSpaceFor } from '../verify/scratch-server.ts';
import { assertExtensionsAvailable } from './verify-backup.ts';

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
  /** What to change, for a failed check. */
  fix?: string;
  /** The catalog name of a failed check's cause, when it is one (ConfigurationError: exit 2). */
  errorName?: string;
}

export interface CheckOptions {
  now: Date;
  sendTestAlert: boolean;
  /** Sends through the alert channels; says which carried it (none configured: every flag false). */
  publish: (message: Message) => Promise<Sent>;
  /** On a stage, the scratch server is the deployed layer of this major, not a bundle on this machine. */
  deployedScratchMajor?: number;
}

/** Lambda's largest /tmp: a verification on Lambda must fit it. */
const lambdaEphemeralBytes = 10_240 * 1024 ** 2;

export async function runChecks(
  runtime: Pick<Runtime, 'settings' | 'store' | 'productionConnection' | 'programs' | 'renderApiKey'>,
  options: CheckOptions,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, run: () => Promise<Omit<CheckResult, 'name'>>) => {
    try {
      results.push({ name, ...(await run()) });
    } catch (error) {
      results.push({ name, status: 'fail', detail: describeError(error), fix: hintOf(error) });
    }
  };

  let connection: PgConnection | undefined;
  let identity: ServerIdentity | undefined;
  let extensions: InstalledExtension[] = [];
  await check('production', async () => {
    connection = await runtime.productionConnection();
    const connected = connection;
    identity = await withSession(connected, readServerIdentity);
    extensions = await withSession(connected, installedExtensions);
    return {
      status: 'pass',
      detail: `PostgreSQL ${identity.serverVersion} at ${describeConnection(connected)}, ${connected.sslmode ? `sslmode=${connected.sslmode}` : 'local, no TLS'}, ${(identity.databaseSizeBytes / 1024 ** 2).toFixed(0)} MiB`,
    };
  });
  const reached = connection;
  const server = identity;
  if (!reached || !server) {
    for (const name of ['privileges', 'opt-in', 'client', 'scratch', 'venues']) {
      results.push({ name, status: 'skip', detail: 'production is not reachable' });
    }
  } else {
    await check('privileges', async () => {
      const { relations, unreadable, rowSecurity: filtered } = await withSession(reached, readRelationAccess);
      if (unreadable.length === 0 && filtered.length === 0) {
        return {
          status: 'pass',
          detail: `${relations} tables and sequences readable in full by ${reached.user}`,
        };
      }
      return {
        status: 'fail',
        detail: [
          ...(unreadable.length ? [`not readable: ${unreadable.slice(0, 10).join(', ')}`] : []),
          ...(filtered.length ? [`row security would hide rows: ${filtered.slice(0, 10).join(', ')}`] : []),
        ].join('; '),
        fix: [
          ...(unreadable.length ? [grantFix(reached.user)] : []),
          ...(filtered.length ? [rowSecurityFix] : []),
        ].join('; '),
      };
    });
    await check('opt-in', async () => {
      // A comment that opts production in as a restore target: the nightly Dump step refuses it.
      const refusal = await withSession(reached, assertProductionNotOptedIn).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (refusal === undefined) {
        return { status: 'pass', detail: 'production does not carry the restore-target opt-in' };
      }
      return {
        status: 'fail',
        detail: `${describeError(refusal)}; the nightly Dump step refuses to run while it does`,
        fix: 'remove the opt-in as the statement says (BACKUP_RUNBOOK.md, restore step 5)',
      };
    });
    await check('client', async () => {
      const bundle = await runtime.programs.clientForServer(server.serverVersionNum);
      return { status: 'pass', detail: `pg_dump ${bundle.version} for PostgreSQL ${server.serverVersion}` };
    });
    await check('scratch', async () => {
      const major = Math.floor(server.serverVersionNum / 10_000);
      if (options.deployedScratchMajor !== undefined) {
        if (options.deployedScratchMajor < major) {
          return {
            status: 'fail',
            detail: `the stage's scratch server is PostgreSQL ${options.deployedScratchMajor}, production ${major}`,
            fix: `set verification.serverMajor to ${major} or newer in the stage config and deploy`,
          };
        }
        return {
          status: 'pass',
          detail: `the stage's scratch server is PostgreSQL ${options.deployedScratchMajor}`,
        };
      }
      const bundles = await availableServerBundles({
        serverDir: runtime.settings.PG_SERVER_DIR,
        extensions: runtime.settings.SCRATCH_EXTENSIONS,
      });
      const bundle = serverForSource(server.serverVersionNum, bundles);
      assertExtensionsAvailable({ extensions }, bundle);
      return {
        status: 'pass',
        detail: `PostgreSQL ${bundle.version}, offering all ${extensions.length} extensions production uses`,
      };
    });
    await check('venues', async () => {
      const manifest = await newestManifest(runtime.store);
      const plan = planDump(server.databaseSizeBytes, runtime.settings, manifest);
      const dumpBytes = manifest?.dump.bytes ?? server.databaseSizeBytes;
      const verifyBytes = scratchSpaceFor(dumpBytes, server.databaseSizeBytes);
      if (plan.verify === 'lambda' && verifyBytes > lambdaEphemeralBytes) {
        return {
          status: 'fail',
          detail: `verification needs ${(verifyBytes / 1024 ** 3).toFixed(1)} GiB of disk, more than Lambda's 10 GiB`,
          fix: 'set venues.verify: worker in the stage config',
        };
      }
      return {
        status: 'pass',
        detail: `dump on ${plan.dump} (${plan.reason}); verification on ${plan.verify}`,
      };
    });
  }
  await check('bucket', async () => {
    const backups = await listBackups(runtime.store);
    const newest = backups[0];
    if (newest) await readManifest(runtime.store, newest.backupId);
    return {
      status: 'pass',
      detail: `${runtime.settings.BACKUP_BUCKET}: ${backups.length} backup(s)${newest ? ', newest manifest read (on AWS: decrypted with the key)' : ''}`,
    };
  });
  if (options.sendTestAlert) {
    await check('alerts', async () => {
      const sent = await options.publish({
        subject: 'verified-pg-backups: test alert from backupctl check',
        text: `A test message sent by \`backupctl check --send-test-alert\` at ${options.now.toISOString()}. Nothing failed.`,
        details: { kind: 'notice' },
      });
      const carried = Object.entries(sent)
        .filter(([, delivered]) => delivered)
        .map(([channel]) => channel);
      if (carried.length === 0) {
        // A failure would reach nobody either: that is the finding, not a pass.
        return {
          status: 'fail',
          detail: 'no alert channel is configured: a failed night would reach nobody',
          fix: 'set ALERT_TOPIC_ARN (SNS e-mail), SLACK_WEBHOOK_URL or ALERT_WEBHOOK_URL (on a stage: alerts in config/<stage>.yml)',
        };
      }
      return { status: 'pass', detail: `test message sent through ${carried.join(', ')}` };
    });
  } else {
    results.push({ name: 'alerts', status: 'skip', detail: 'add --send-test-alert to send a test message' });
  }
  const provider = providerCheckFor(runtime, options.now);
  if (provider) {
    await check('render', async () => {
      const status = await provider();
      const seen = renderSeen(status);
      if (status.ok) return { status: 'pass', detail: seen };
      const configuration = status.findings.find((f) => f.error === 'ConfigurationError');
      return {
        status: 'fail',
        detail: [status.instance ? seen : null, ...status.findings.map((f) => `${f.error}: ${f.message}`)]
          .filter(Boolean)
          .join('; '),
        fix: status.findings.map((f) => renderFixes[f.error]).join('; '),
        ...(configuration ? { errorName: configuration.error } : {}),
      };
    });
  }
  return results;
}

/** What Render's API showed: whether the key reads the instance, its plan, the window, the exports. */
function renderSeen(status: ProviderStatus): string {
  const instance = status.instance;
  const plan = instance?.plan ? `plan ${instance.plan}` : 'plan not stated';
  const version = instance?.version ? `, PostgreSQL ${instance.version}` : '';
  const window =
    status.recoveryWindowDays === null
      ? `point-in-time recovery ${status.recoveryStatus ?? 'unknown'}`
      : `point-in-time recovery ${status.recoveryStatus}, ${status.recoveryWindowDays} days (plan needs ${status.minRecoveryDays})`;
  const newest = status.newestExport;
  const exports = newest
    ? `newest export ${newest.ageHours} h old (limit ${status.maxExportAgeHours} h)`
    : `no export (limit ${status.maxExportAgeHours} h)`;
  return `the API key reads ${status.postgresId} (${plan}${version}); ${window}; ${exports}`;
}

const renderFixes: Record<ProviderFinding['error'], string> = {
  ConfigurationError: 'set the setting the message names (BACKUP_RUNBOOK.md, ConfigurationError)',
  ProviderBackupError: 'see BACKUP_RUNBOOK.md, ProviderBackupError',
  ProviderRecoveryWindowError:
    "move the Render workspace to a plan that keeps render.minRecoveryDays, or lower it to the plan's window (BACKUP_RUNBOOK.md, ProviderRecoveryWindowError)",
  ProviderExportStaleError:
    'make a Render export (Dashboard > Recovery > Export, or POST /v1/postgres/{id}/export) and find why the scheduled one stopped (BACKUP_RUNBOOK.md, ProviderExportStaleError)',
};

/** The runbook's advice for a named error, in one line. */
function hintOf(error: unknown): string {
  const name = (error as { name?: string })?.name ?? '';
  const hints: Record<string, string> = {
    DatabaseAuthError: 'fix the user, password or database name in the connection string',
    DatabaseUnreachableError: 'check the host, port, IP allow list and that the server is up',
    DatabaseTlsRequiredError: 'remove sslmode=disable from the connection string',
    DatabaseTlsUnavailableError: 'enable TLS on the server, or set sslmode=disable on a private network',
    DatabaseCertificateError: "set sslrootcert to the provider's CA, or sslmode=require",
    PgClientVersionError: 'build a newer client: npm run build:pg-client -- --major <major>',
    ScratchServerVersionError: "build or configure a scratch server of production's major or newer",
    ExtensionMissingError: 'add the extension to verification.extensions in the stage config',
    StorageUnavailableError: 'check the bucket name, region and your credentials',
    NotificationError: 'check the alert topic and the Slack/webhook secrets',
  };
  return hints[name] ?? 'see BACKUP_RUNBOOK.md for this error name';
}
