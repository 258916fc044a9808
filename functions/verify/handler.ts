import { stepHandler } from '../../lib/lambda/handler.ts';
import { verifyStep } from '../../lib/steps/verify.ts';

export const handler = stepHandler('verify', verifyStep);
