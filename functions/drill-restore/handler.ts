import { stepHandler } from '../../lib/lambda/handler.ts';
import { drillRestoreStep } from '../../lib/steps/drill-restore.ts';

export const handler = stepHandler('drillRestore', drillRestoreStep);
