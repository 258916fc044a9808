import { stepHandler } from '../../lib/lambda/handler.ts';
import { retentionStep } from '../../lib/steps/retention.ts';

export const handler = stepHandler('retention', retentionStep);
