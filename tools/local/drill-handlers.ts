/** The Task states of statemachines/drill.asl.json and the Lambda handlers that serve them. */
import { handler as checksum } from '../../functions/checksum/handler.ts';
import { handler as compare } from '../../functions/drill-compare/handler.ts';
import { handler as createDb } from '../../functions/drill-create-db/handler.ts';
import { handler as dropDb } from '../../functions/drill-drop-db/handler.ts';
import { handler as notify } from '../../functions/drill-notify/handler.ts';
import { handler as recordEvidence } from '../../functions/drill-record-evidence/handler.ts';
import { handler as restore } from '../../functions/drill-restore/handler.ts';
import { handler as sanityChecks } from '../../functions/drill-sanity-checks/handler.ts';
import { handler as selectBackup } from '../../functions/drill-select-backup/handler.ts';

export const drillHandlers = {
  SelectBackup: selectBackup,
  Checksum: checksum,
  CreateDrillDb: createDb,
  Restore: restore,
  Compare: compare,
  SanityChecks: sanityChecks,
  RecordEvidence: recordEvidence,
  DropDrillDb: dropDb,
  DropDrillDbOnFailure: dropDb,
  Notify: notify,
} as const;
