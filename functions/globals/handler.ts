import { stepHandler } from '../../lib/lambda/handler.ts';
import { globalsStep } from '../../lib/steps/globals.ts';

export const handler = stepHandler('globals', globalsStep);
