import { stepHandler } from '../../lib/lambda/handler.ts';
import { createDrillDbStep } from '../../lib/steps/drill-create-db.ts';

export const handler = stepHandler('drillCreateDb', createDrillDbStep);
