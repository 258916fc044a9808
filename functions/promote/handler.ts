import { stepHandler } from '../../lib/lambda/handler.ts';
import { promoteStep } from '../../lib/steps/promote.ts';

export const handler = stepHandler('promote', promoteStep);
