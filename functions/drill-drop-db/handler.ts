import { stepHandler } from '../../lib/lambda/handler.ts';
import { dropDrillDbStep } from '../../lib/steps/drill-drop-db.ts';

export const handler = stepHandler('drillDropDb', dropDrillDbStep);
