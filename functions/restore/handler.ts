import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { restoreStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(restoreStep);
