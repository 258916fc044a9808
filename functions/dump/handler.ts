import { stepHandler } from '../../lib/lambda/handler.ts';
import { dumpStep } from '../../lib/steps/dump.ts';

export const handler = stepHandler('dump', dumpStep);
