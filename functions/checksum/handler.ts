import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { checksumStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(checksumStep);
