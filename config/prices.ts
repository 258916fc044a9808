/**
 * AWS list prices (USD, us-east-1) that the status report's monthly cost estimate uses
 * (lib/report/cost.ts). Check them against the pricing pages for your region and edit them here:
 * the estimate is only as good as they are.
 */
import type { PriceTable } from '../lib/report/cost.ts';

export const prices: PriceTable = {
  checked: '2026-11, us-east-1 list prices',
  s3StandardGbMonth: 0.023,
  s3PutPer1000: 0.005,
  s3GetPer1000: 0.0004,
  lambdaGbSecond: 0.0000133334,
  codebuildMinuteArmSmall: 0.0034,
  stepFunctionsTransition: 0.000025,
  kmsKeyMonth: 1,
  cloudwatchAlarmMonth: 0.1,
  cloudwatchDashboardMonth: 3,
  secretsManagerSecretMonth: 0.4,
};
