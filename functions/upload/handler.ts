import { stepHandler } from '../../lib/lambda/step-handler.ts';
import { uploadStep } from '../../lib/steps/steps.ts';

export const handler = stepHandler(uploadStep);
