import { stepHandler } from '../../lib/lambda/handler.ts';
import { drillNotifyStep } from '../../lib/steps/drill-notify.ts';

export const handler = stepHandler('drillNotify', drillNotifyStep);
