import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { dumpStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(dumpStep);
