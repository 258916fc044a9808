import { sanityChecksStep } from '../../lib/drill/steps.ts';
import { stepHandler } from '../../lib/lambda/step-handler.ts';

export const handler = stepHandler(sanityChecksStep);
