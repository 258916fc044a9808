import { stepHandler } from '../../lib/lambda/handler.ts';
import { concludeNightlyStep } from '../../lib/steps/conclude-nightly.ts';

export const handler = stepHandler('concludeNightly', concludeNightlyStep);
