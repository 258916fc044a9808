import { stepHandler } from '../../lib/lambda/handler.ts';
import { drillCompareStep } from '../../lib/steps/drill-compare.ts';

export const handler = stepHandler('drillCompare', drillCompareStep);
