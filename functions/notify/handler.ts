import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { notifyStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(notifyStep);
