import { stepHandler } from '../../lib/lambda/handler.ts';
import { compareStep } from '../../lib/steps/compare.ts';

export const handler = stepHandler('compare', compareStep);
