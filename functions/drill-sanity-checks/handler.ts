import { stepHandler } from '../../lib/lambda/handler.ts';
import { sanityChecksStep } from '../../lib/steps/drill-sanity-checks.ts';

export const handler = stepHandler('drillSanityChecks', sanityChecksStep);
