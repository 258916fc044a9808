import { createDrillDbStep } from '../../lib/drill/steps.ts';
import { stepHandler } from '../../lib/lambda/step-handler.ts';

export const handler = stepHandler(createDrillDbStep);
