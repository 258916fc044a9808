/** Human-readable summaries for alerts: short, secret-free, with the figures an operator needs. */

export interface SuccessSummary {
  backupId: string;
  database: string;
  bytes: number;
  databaseSizeBytes: number;
  sha256: string;
  dumpSeconds: number;
  restoreSeconds: number;
  tablesVerified: number;
  rowsVerified: number;
  compression: string;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function successSubject(summary: SuccessSummary): string {
  return `Backup verified: ${summary.database} ${summary.backupId}`.slice(0, 99);
}

export function successText(summary: SuccessSummary): string {
  const ratio = summary.bytes > 0 ? summary.databaseSizeBytes / summary.bytes : 0;
  return [
    `Backup ${summary.backupId} of ${summary.database} is verified: restored into staging and every row count matched.`,
    `Size: ${formatBytes(summary.bytes)} (${summary.compression}, ${ratio.toFixed(1)}x smaller than the ${formatBytes(summary.databaseSizeBytes)} database)`,
    `Dump: ${summary.dumpSeconds.toFixed(1)} s, restore: ${summary.restoreSeconds.toFixed(1)} s`,
    `Tables verified: ${summary.tablesVerified} (${summary.rowsVerified} rows)`,
    `SHA-256: ${summary.sha256}`,
  ].join('\n');
}
