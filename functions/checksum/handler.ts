import { stepHandler } from '../../lib/lambda/handler.ts';
import { checksumStep } from '../../lib/steps/checksum.ts';

export const handler = stepHandler('checksum', checksumStep);
