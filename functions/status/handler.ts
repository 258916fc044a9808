import { stepHandler } from '../../lib/lambda/handler.ts';
import { statusStep } from '../../lib/steps/status.ts';

export const handler = stepHandler('status', statusStep);
