import { stepHandler } from '../../lib/lambda/handler.ts';
import { notifyStep } from '../../lib/steps/notify.ts';

export const handler = stepHandler('notify', notifyStep);
