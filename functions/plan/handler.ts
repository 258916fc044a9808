import { stepHandler } from '../../lib/lambda/handler.ts';
import { planStep } from '../../lib/steps/plan.ts';

export const handler = stepHandler('plan', planStep);
