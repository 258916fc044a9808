import { stepHandler } from '../../lib/lambda/handler.ts';
import { selectBackupStep } from '../../lib/steps/drill-select-backup.ts';

export const handler = stepHandler('drillSelectBackup', selectBackupStep);
