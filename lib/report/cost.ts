/**
 * An estimate of what a month of nightly, verified backups costs on AWS, from what the bucket shows
 * (the dumps it holds, the last night's sizes and timings) and a table of list prices
 * (config/prices.ts). It is an estimate and says so: it prices the default deployment (the dump on
 * a 1 GB Lambda, the verification on the worker's arm SMALL build), and leaves out a NAT gateway and
 * data transfer, which depend on the network the user chose.
 */
import { z } from 'zod';

const price = z.number().nonnegative();

/** The list prices the estimate needs (config/prices.ts; the status function gets them as PRICE_TABLE). */
export const priceTableSchema = z.strictObject({
  /** When and where the prices were read. */
  checked: z.string(),
  s3StandardGbMonth: price,
  s3PutPer1000: price,
  s3GetPer1000: price,
  lambdaGbSecond: price,
  codebuildMinuteArmSmall: price,
  stepFunctionsTransition: price,
  kmsKeyMonth: price,
  cloudwatchAlarmMonth: price,
  cloudwatchDashboardMonth: price,
  secretsManagerSecretMonth: price,
});

export type PriceTable = z.infer<typeof priceTableSchema>;

export interface CostInputs {
  /** Bytes of every dump the bucket holds now, and how fast that grows per day. */
  storedBytes: number;
  growthBytesPerDay: number;
  /** The newest night: dump size, and seconds of dump, download, restore and comparison. */
  nightlyDumpBytes: number;
  dumpSeconds: number;
  verifySeconds: number;
}

export interface CostEstimate {
  totalUsd: number;
  pricesChecked: string;
  items: { name: string; usd: number; basis: string }[];
}

const GB = 1e9;
const nights = 30;
/** What the default deployment has: alarms (backup age, failed/timed-out runs of three machines, builds, relay). */
const alarms = 9;
/** The production secret, and typically Slack's. */
const secrets = 2;
/** State transitions of one backup execution, the worker's Parallel states included. */
const transitionsPerRun = 25;
/** A build fetches its bundle and layers and starts Node before the step runs. */
const buildOverheadSeconds = 45;
const partBytes = 8 * 1024 ** 2;

const usd = (value: number) => Math.round(value * 100) / 100;

export function estimateMonthlyCost(inputs: CostInputs, prices: PriceTable): CostEstimate {
  const averageStored = inputs.storedBytes + Math.max(0, inputs.growthBytesPerDay) * (nights / 2);
  const puts = nights * (Math.ceil(inputs.nightlyDumpBytes / partBytes) + 12);
  const gets = nights * (Math.ceil(inputs.nightlyDumpBytes / partBytes) * 3 + 20);
  const buildMinutes = nights * Math.ceil((inputs.verifySeconds + buildOverheadSeconds) / 60);
  const items = [
    {
      name: 'S3 storage',
      usd: (averageStored / GB) * prices.s3StandardGbMonth,
      basis: `${(averageStored / GB).toFixed(2)} GB of dumps on average (what the bucket holds now, plus half a month of growth)`,
    },
    {
      name: 'S3 requests',
      usd: (puts / 1000) * prices.s3PutPer1000 + (gets / 1000) * prices.s3GetPer1000,
      basis: `${puts} uploads, ${gets} reads (the dump in 8 MiB parts, read by checksum, verification and status)`,
    },
    {
      name: 'Lambda',
      usd: nights * inputs.dumpSeconds * 1 * prices.lambdaGbSecond,
      basis: `${nights} dumps of ${inputs.dumpSeconds.toFixed(0)} s at 1 GB; the other steps take well under a second`,
    },
    {
      name: 'CodeBuild (worker)',
      usd: buildMinutes * prices.codebuildMinuteArmSmall,
      basis: `${buildMinutes} build minutes: ${nights} verifications of ${inputs.verifySeconds.toFixed(0)} s plus ${buildOverheadSeconds} s start, arm SMALL`,
    },
    {
      name: 'Step Functions',
      usd: nights * transitionsPerRun * prices.stepFunctionsTransition,
      basis: `${nights * transitionsPerRun} state transitions`,
    },
    { name: 'KMS', usd: prices.kmsKeyMonth, basis: 'the dedicated key (S3 Bucket Keys keep requests few)' },
    {
      name: 'CloudWatch',
      usd: alarms * prices.cloudwatchAlarmMonth + prices.cloudwatchDashboardMonth,
      basis: `${alarms} alarms and the dashboard`,
    },
    {
      name: 'Secrets Manager',
      usd: secrets * prices.secretsManagerSecretMonth,
      basis: `${secrets} secrets (production, Slack)`,
    },
  ].map((item) => ({ ...item, usd: usd(item.usd) }));
  return {
    totalUsd: usd(items.reduce((sum, item) => sum + item.usd, 0)),
    pricesChecked: prices.checked,
    items,
  };
}
