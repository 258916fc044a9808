/**
 * The drill's RestoreAndCheck state: the disaster case, timed. A fresh scratch server of production's
 * major, the backup restored into it, every table counted against the manifest and the configured
 * sanity queries run read-only, all before the server goes away. Counts and sanity results are data:
 * RecordEvidence records them and decides the verdict.
 */
import { readManifest } from '../backup/catalog.ts';
import { verifyBackup } from '../commands/verify-backup.ts';
import { drillRestoreEventSchema, restoredSchema } from '../drill/input.ts';
import { parseSanityChecks, runSanityChecks, sanityChecksFor } from '../drill/sanity.ts';
import { defineStep } from '../lambda/step.ts';

export const drillRestoreStep = defineStep({
  event: 'RestoreAndCheck step event',
  input: drillRestoreEventSchema,
  output: restoredSchema,
  scope: (event) => event.target,
  run: async ({ backupId, target }, { runtime, signal, logger }) => {
    // A malformed or ambiguous DRILL_SANITY_CHECKS fails here, before anything is downloaded or started.
    // Each configured check runs on the database it is for; a database none is for gets the built-in
    // check against its manifest's table count (an empty `postgres` passes with 0).
    const configured = parseSanityChecks(runtime.settings.DRILL_SANITY_CHECKS);
    const manifest = await readManifest(runtime.store, backupId);
    const checks = sanityChecksFor(
      configured,
      { database: target?.database ?? manifest.source.database, urlDatabase: !target?.scope },
      runtime.settings,
      manifest.tables.length,
    );
    const outcome = await verifyBackup(runtime, manifest, {
      target: 'scratch',
      signal,
      log: logger,
      // A drill proves the restore in full: content wherever the dump recorded checksums.
      content: true,
      checks: async (session) => {
        const started = Date.now();
        const results = await runSanityChecks(session, checks);
        return { checks: results, sanitySeconds: (Date.now() - started) / 1000 };
      },
    });
    return {
      target: outcome.target,
      serverVersion: outcome.serverVersion,
      serverStartSeconds: outcome.serverStartSeconds ?? 0,
      downloadSeconds: outcome.downloadSeconds,
      restoreSeconds: outcome.restoreSeconds,
      benignMessages: outcome.benignMessages,
      // A difference in owners or grants already failed the restore (OwnershipMismatchError).
      ...(outcome.roles
        ? { roles: { globalsId: outcome.roles.globalsId, ownership: outcome.roles.ownership } }
        : {}),
      compare: { ...outcome.compare, compareSeconds: outcome.compareSeconds },
      sanity: outcome.checks,
    };
  },
});
