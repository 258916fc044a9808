/**
 * `npm run reliability`: runs the fault tests with RELIABILITY_REPORT=1, then renders
 * docs/reliability.md from what they recorded (test/support/reliability-recorder.ts) joined with
 * Jest's own verdict per test. A row shows an outcome only if its test passed; a failed test is listed
 * as failed and the command exits non-zero. Nothing in the table is typed by hand.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const outDir = join(root, '.reliability');
const recordsFile = join(outDir, 'records.jsonl');
const jestFile = join(outDir, 'jest.json');
const docFile = join(root, 'docs', 'reliability.md');
const keptMarker = '<!-- Written by hand from here on: npm run reliability keeps it. -->';
const testFiles = [
  'test/integration/faults-',
  'test/integration/backup-faults.test.ts',
  'test/integration/backup-pipeline.test.ts',
  'test/integration/staging-lease.test.ts',
  'test/integration/staging-opt-in.test.ts',
  'test/integration/scratch-server.test.ts',
  'test/integration/worker.test.ts',
  'test/integration/hostile-schemas.test.ts',
  'test/integration/row-security.test.ts',
  'test/integration/restore-target-guard.test.ts',
  'test/integration/restore-over-production.test.ts',
  'test/integration/restore-killed.test.ts',
  'test/integration/production-data-modes.test.ts',
  'test/integration/corruptions.test.ts',
  'test/integration/dump-snapshot-guards.test.ts',
];

interface RecordLine {
  file: string;
  test: string;
  fault?: string;
  area?: string;
  expectedError?: string;
  observed?: string;
  failedStep?: string;
  retries?: Record<string, number>;
  invariants: string[];
}

interface JestReport {
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

function runSuite(): number {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = spawnSync('npx', ['jest', '--json', `--outputFile=${jestFile}`, ...testFiles], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, RELIABILITY_REPORT: '1', NODE_OPTIONS: '--experimental-vm-modules' },
  });
  return result.status ?? 1;
}

function merge(lines: RecordLine[]): Map<string, RecordLine> {
  const byTest = new Map<string, RecordLine>();
  for (const line of lines) {
    const key = `${line.file}\u0000${line.test}`;
    const seen = byTest.get(key);
    if (!seen) {
      byTest.set(key, { ...line, invariants: [...line.invariants] });
      continue;
    }
    // The invariant helper's record is the most complete; earlier partial ones only add to it.
    for (const field of ['fault', 'area', 'expectedError', 'observed', 'failedStep'] as const) {
      if (line[field] !== undefined && (seen[field] === undefined || line.area)) seen[field] = line[field];
    }
    if (line.retries) seen.retries = line.retries;
    for (const invariant of line.invariants)
      if (!seen.invariants.includes(invariant)) seen.invariants.push(invariant);
  }
  return byTest;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const retriesText = (retries: Record<string, number> | undefined) => {
  const entries = Object.entries(retries ?? {});
  return entries.length ? entries.map(([step, n]) => `${step} ${n}x`).join(', ') : 'none';
};
const areaOrder = ['database', 'object store', 'staging', 'time', 'input', 'secrets', 'pipeline', 'content'];

function render(records: Map<string, RecordLine>, jest: JestReport, exitCode: number): string {
  const statusOf = new Map<string, string>();
  for (const file of jest.testResults) {
    const relative = file.name.slice(root.length + 1);
    for (const test of file.assertionResults) statusOf.set(`${relative}\u0000${test.fullName}`, test.status);
  }
  const rows = [...records.entries()]
    .map(([key, record]) => ({ record, status: statusOf.get(key) ?? 'not run' }))
    .sort(
      (a, b) =>
        areaOrder.indexOf(a.record.area ?? 'pipeline') - areaOrder.indexOf(b.record.area ?? 'pipeline') ||
        a.record.file.localeCompare(b.record.file),
    );
  const passed = rows.filter((r) => r.status === 'passed').length;
  const table = rows.map(({ record, status }) => {
    const ok = status === 'passed';
    return `| ${record.area ?? 'pipeline'} | ${cell(record.fault ?? record.test)} | ${cell(record.expectedError ?? '')} | ${
      ok
        ? cell(`${record.observed ?? ''}${record.failedStep ? ` in ${record.failedStep}` : ''}`)
        : `**test ${status}**`
    } | ${ok ? retriesText(record.retries) : ''} | ${ok ? cell(record.invariants.join('; ')) : ''} | \`${record.file.replace('test/integration/', '')}\` |`;
  });
  const unrecorded = jest.testResults.flatMap((file) =>
    file.assertionResults
      .filter((t) => !records.has(`${file.name.slice(root.length + 1)}\u0000${t.fullName}`))
      .map((t) => `- ${t.fullName} (${t.status})`),
  );
  return [
    '# Reliability: the fault matrix and what it showed',
    '',
    'Generated by `npm run reliability` from the fault tests; do not edit by hand. Each row is written by',
    'the shared assertion helpers (test/support/pipeline-assertions.ts) *after* their assertions passed,',
    'and is shown only if Jest reports the whole test as passed. Faults are real: embedded PostgreSQL and the',
    'scratch servers the product starts, s3rver',
    'behind a fault-injecting proxy (test/support/fault-proxy.ts), the real ASL run by aws-local-stepfunctions;',
    'only SNS is mocked. Retries are the Step Functions retries of the failing step (MaxAttempts 2 for',
    'transient catalog errors); the S3 client also retries a request once on its own.',
    '',
    `Run: ${new Date().toISOString().slice(0, 10)}; ${passed} of ${rows.length} recorded cases passed; Jest exit code ${exitCode}.`,
    '',
    '| Area | Fault | Expected | Observed | Retries | Invariants held | Test file |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...table,
    '',
    'Invariants of the fault matrix (`expectFaultContained`): the named error; an alert (native SNS publish)',
    'naming step and error and carrying the cause; retries only for transient faults; nothing newly tagged',
    'or recorded as verified; no incomplete multipart upload; no partial object under `backups/` (a dump',
    'there is whole by its manifest, except one the test damaged on purpose); staging untouched when the fault',
    'came before the restore (or still opted in); no scratch server process and no scratch directory left;',
    'the previous verified backup still the "latest".',
    '',
    'Area `content` is the corruption suite (test/integration/corruptions.test.ts): deliberate changes to a',
    'restored copy of a production owned by a role without superuser, each of which the Verify comparison',
    '(counts, content checksums, large objects, sequences, owners and grants) must catch; a miss fails the',
    'test. What each checksum version can see: `row-hash-sum64-v3` (new manifests, PostgreSQL 14+) and',
    '`row-md5-sum64-v1` (PostgreSQL 13 and older) see any change of a row, values moved between rows',
    'included, short of a 64-bit coincidence; `row-hash-sum64-v2` (older manifests, labelled',
    "`checksums-v2 (weak: cannot see values moved between rows)`) sees a changed multiset of a column's",
    "values but misses moved values as often as the rows' hashes happen to wrap alike (the measured rate is",
    'in the random permutations row), and does not see an int8, timestamp, timestamptz or time value changed',
    'into one whose 32-bit halves xor alike (1 into 4,294,967,296): their hash functions fold them to 32 bits;',
    'v3 hashes them whole by their binary form, v1 by their text.',
    '',
    ...(unrecorded.length
      ? [
          'Tests in these files that record no row (success paths, input checks, the staging lease and opt-in, the scratch server lifecycle and signals, hostile schemas, row-level security), each as Jest reported it:',
          '',
          ...unrecorded,
          '',
        ]
      : []),
  ].join('\n');
}

const exitCode = runSuite();
const lines = existsSync(recordsFile)
  ? readFileSync(recordsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RecordLine)
  : [];
const jest = JSON.parse(readFileSync(jestFile, 'utf8')) as JestReport;
// Sections written by hand below the marker (how the suite was stress-tested) survive a new rendering.
const previous = existsSync(docFile) ? readFileSync(docFile, 'utf8') : '';
const kept = previous.includes(keptMarker) ? previous.slice(previous.indexOf(keptMarker)) : '';
writeFileSync(docFile, `${render(merge(lines), jest, exitCode)}\n${kept ? `\n${kept.trimEnd()}\n` : ''}`);
console.log(`wrote ${docFile}`);
process.exitCode = exitCode;
