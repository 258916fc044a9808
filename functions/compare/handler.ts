import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { compareStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(compareStep);
