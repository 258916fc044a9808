import { stepHandler } from '../../lib/lambda/handler.ts';
import { heartbeatStep } from '../../lib/steps/heartbeat.ts';

export const handler = stepHandler('heartbeat', heartbeatStep);
