import { stepHandler } from '../../lib/lambda/handler.ts';
import { concludeStep } from '../../lib/steps/conclude.ts';

export const handler = stepHandler('conclude', concludeStep);
