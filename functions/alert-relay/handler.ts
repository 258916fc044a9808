import { stepHandler } from '../../lib/lambda/handler.ts';
import { alertRelayStep } from '../../lib/steps/alert-relay.ts';

export const handler = stepHandler('alertRelay', alertRelayStep);
