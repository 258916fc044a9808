/**
 * `npm run test:stress`: the test suite run again and again, first with the cores kept busy by other
 * processes, then on a quiet machine, one line per run. A test that fails only when the machine is
 * busy leans on a timer somewhere (test/unit/test-timers.test.ts keeps fixed sleeps out; this finds
 * what that check cannot see).
 *
 *   npm run test:stress                           3 runs with 2 busy cores, then 3 quiet runs
 *   npm run test:stress -- --loaded 1 --quiet 0 --busy-cores 2 test/integration/worker.test.ts
 *
 * The load is `yes > /dev/null` per busy core, started before the loaded runs and stopped after them,
 * on Ctrl-C, on `kill`, and at the latest after --max-minutes (default 240), so it never outlives the
 * script. Arguments that are not options go to Jest (test paths, -t). The prerequisites `npm test`
 * builds (PostgreSQL bundles, Chromium) are built once before the first run; `npm run check` is not
 * repeated. Exits non-zero if any run failed.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..', '..');

const { values, positionals } = parseArgs({
  options: {
    loaded: { type: 'string', default: '3' },
    quiet: { type: 'string', default: '3' },
    'busy-cores': { type: 'string', default: '2' },
    'max-minutes': { type: 'string', default: '240' },
    'skip-build': { type: 'boolean', default: false },
  },
  allowPositionals: true,
  strict: true,
});

function count(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a whole number >= 0, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}
const loadedRuns = count('loaded', values.loaded);
const quietRuns = count('quiet', values.quiet);
const busyCores = count('busy-cores', values['busy-cores']);
const maxMinutes = count('max-minutes', values['max-minutes']);

/** The load processes running now; stopped on every way out. */
const load = new Set<ChildProcess>();

function stopLoad(): void {
  for (const child of load) child.kill('SIGTERM');
  load.clear();
}

function startLoad(): void {
  for (let core = 0; core < busyCores; core += 1) {
    // `yes > /dev/null` (stdout 'ignore' is /dev/null), under `timeout`: even if this script is killed
    // outright, the load ends after --max-minutes. SIGTERM to `timeout` ends `yes` with it.
    const child = spawn('timeout', ['--kill-after=5s', `${maxMinutes}m`, 'yes'], { stdio: 'ignore' });
    load.add(child);
    child.once('exit', () => load.delete(child));
  }
}

process.once('exit', stopLoad);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    stopLoad();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}
// The load's upper bound in time, whatever happens to the runs.
// fixed-timer-allowed: a safety limit on the load, not a wait for anything.
setTimeout(() => {
  console.error(`test:stress: ${maxMinutes} min passed, stopping the load and the script`);
  stopLoad();
  process.exit(3);
}, maxMinutes * 60_000).unref();

function npmRun(script: string, ...args: string[]): void {
  const result = spawnSync('npm', ['run', '--silent', script, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`test:stress: npm run ${script} failed; no runs started`);
    process.exit(1);
  }
}

interface JestSummary {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

interface RunResult {
  label: string;
  exitCode: number | null;
  seconds: number;
  summary?: JestSummary;
}

function runSuite(label: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'test-stress-'));
  const output = join(dir, 'jest.json');
  const started = Date.now();
  const jest = spawn(
    join(root, 'node_modules', '.bin', 'jest'),
    ['--json', `--outputFile=${output}`, ...positionals],
    {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: '--experimental-vm-modules' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return new Promise((resolveRun) => {
    jest.once('close', (exitCode) => {
      let summary: JestSummary | undefined;
      try {
        summary = JSON.parse(readFileSync(output, 'utf8')) as JestSummary;
      } catch {
        summary = undefined;
      }
      rmSync(dir, { recursive: true, force: true });
      resolveRun({
        label,
        exitCode,
        seconds: Math.round((Date.now() - started) / 1000),
        ...(summary ? { summary } : {}),
      });
    });
  });
}

function report(run: RunResult, index: number): string {
  const { summary } = run;
  const counts = summary
    ? `${summary.numPassedTests}/${summary.numTotalTests} tests passed`
    : 'no Jest report';
  const failed = (summary?.testResults ?? []).flatMap((file) =>
    file.assertionResults
      .filter((test) => test.status === 'failed')
      .map((test) => `    failed: ${file.name.slice(root.length + 1)} › ${test.fullName}`),
  );
  const verdict = run.exitCode === 0 ? 'green' : `RED (jest exit ${run.exitCode})`;
  return [`run ${index + 1} (${run.label}): ${verdict}, ${counts}, ${run.seconds} s`, ...failed].join('\n');
}

if (!values['skip-build']) {
  npmRun('build:pg-client');
  npmRun('build:pg-server', 'all');
  npmRun('install:chromium');
}

const results: RunResult[] = [];
const plan = [
  ...Array.from({ length: loadedRuns }, () => `${busyCores} busy core${busyCores === 1 ? '' : 's'}`),
  ...Array.from({ length: quietRuns }, () => 'quiet'),
];
for (const [index, label] of plan.entries()) {
  const loaded = index < loadedRuns && busyCores > 0;
  if (loaded && load.size === 0) startLoad();
  if (!loaded) stopLoad();
  console.error(
    `test:stress: run ${index + 1} of ${plan.length} (${label}) started ${new Date().toISOString()}`,
  );
  const result = await runSuite(label);
  // The load still running when the run ended: a loaded run's label is true only if this is full.
  if (loaded) result.label += `, ${load.size} load process${load.size === 1 ? '' : 'es'} alive at its end`;
  results.push(result);
  console.log(report(result, index));
}
stopLoad();

const green = results.filter((r) => r.exitCode === 0).length;
console.log(
  `test:stress: ${green} of ${results.length} runs green${positionals.length ? ` (jest ${positionals.join(' ')})` : ''}`,
);
process.exit(green === results.length ? 0 : 1);
