import { stepHandler } from '../../lib/lambda/handler.ts';
import { renderDrillStep } from '../../lib/steps/render-drill.ts';

export const handler = stepHandler('renderDrill', renderDrillStep);
