import { stepHandler } from '../../lib/lambda/handler.ts';
import { recordEvidenceStep } from '../../lib/steps/drill-record-evidence.ts';

export const handler = stepHandler('drillRecordEvidence', recordEvidenceStep);
