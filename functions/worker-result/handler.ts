import { stepHandler } from '../../lib/lambda/handler.ts';
import { workerResultStep } from '../../lib/steps/worker-result.ts';

export const handler = stepHandler('workerResult', workerResultStep);
