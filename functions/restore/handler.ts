import { stepHandler } from '../../lib/lambda/handler.ts';
import { restoreStep } from '../../lib/steps/restore.ts';

export const handler = stepHandler('restore', restoreStep);
