/** The Task states of statemachines/backup.asl.json and the Lambda handlers that serve them. */
import { handler as checksum } from '../../functions/checksum/handler.ts';
import { handler as compare } from '../../functions/compare/handler.ts';
import { handler as dump } from '../../functions/dump/handler.ts';
import { handler as notify } from '../../functions/notify/handler.ts';
import { handler as restore } from '../../functions/restore/handler.ts';
import { handler as upload } from '../../functions/upload/handler.ts';

export const backupHandlers = {
  Dump: dump,
  Upload: upload,
  Checksum: checksum,
  RestoreToStaging: restore,
  CompareRowCounts: compare,
  Notify: notify,
} as const;
