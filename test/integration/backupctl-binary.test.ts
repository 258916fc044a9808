/**
 * The real binary (bin/backupctl.js), as a user types it: version, help pages with examples, a
 * suggestion for a mistyped command, and missing AWS credentials as a configuration error with a fix.
 * Start-up time is measured in the notes and docs, not asserted here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { projectRoot } from '../../tools/local/environment.ts';

const home = mkdtempSync(join(tmpdir(), 'backupctl-home-'));

afterAll(() => rmSync(home, { recursive: true, force: true }));

/** The binary with a clean environment: no AWS credentials, no profile files, no instance metadata. */
function backupctl(...args: string[]) {
  const result = spawnSync(process.execPath, [join(projectRoot, 'bin', 'backupctl.js'), ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', HOME: home, AWS_EC2_METADATA_DISABLED: 'true' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/backupctl.js', () => {
  it('prints its version from package.json', () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(backupctl('--version')).toMatchObject({ code: 0, stdout: `backupctl ${version}\n` });
  });

  it("runs under the machine's own Node.js too (Node 20 hands over to the project's pinned Node 22)", () => {
    const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => existsSync(path));
    expect(systemNode).toBeDefined();
    const result = spawnSync(systemNode as string, [join(projectRoot, 'bin', 'backupctl.js'), '--version'], {
      cwd: tmpdir(),
      env: { PATH: '/usr/bin:/bin', HOME: home },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ code: result.status, stdout: result.stdout, stderr: result.stderr }).toEqual({
      code: 0,
      stdout: `backupctl ${version}\n`,
      stderr: '',
    });
  });

  it('has a page per command with examples, as `help <command>` and `<command> --help`', () => {
    const page = backupctl('help', 'restore');
    expect(page.code).toBe(0);
    expect(page.stdout).toMatch(/^Usage: backupctl restore <id\|latest> --target-url URL/);
    expect(page.stdout).toContain('Examples:\n  npx backupctl restore latest --target-url');
    expect(page.stdout).toContain("COMMENT ON DATABASE <db> IS 'verified-pg-backups:restore-target'");
    expect(backupctl('restore', '--help').stdout).toBe(page.stdout);
    const overview = backupctl('--help');
    expect(overview.code).toBe(0);
    expect(overview.stdout).toContain('backupctl help <command>');
    expect(backupctl().code).toBe(2);
  });

  it('suggests the command a typo meant, exit 2', () => {
    const typo = backupctl('lst');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^unknown command "lst": did you mean "list"\?/);
    expect(backupctl('help', 'statsu').stderr).toContain('did you mean "status"?');
    expect(backupctl('frobnicate').stderr).toMatch(/^unknown command "frobnicate"\n/);
  });

  it('answers an unknown option in one line with the option it meant and where help is, exit 2', () => {
    const typo = backupctl('list', '--josn');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe(
      'backupctl: unknown option --josn: did you mean --json? (backupctl help list shows its options)\n',
    );
    const unknown = backupctl('status', '--frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'backupctl: unknown option --frobnicate (backupctl help status shows its options)\n',
    );
    const missing = backupctl('list', '--stage');
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('--stage');
  });

  it('installs globally from the checkout (`npm install -g .`) and runs from any directory on Node 20', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'backupctl-global-'));
    try {
      // A link to the checkout: the code runs from there (Node refuses to strip types under node_modules,
      // so a packed copy could not run), with its dependencies, its pinned Node 22 and its config/.
      const install = spawnSync(
        'npm',
        ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', projectRoot],
        { env: { PATH: '/usr/bin:/bin', HOME: home }, encoding: 'utf8', timeout: 120_000 },
      );
      expect(install.status).toBe(0);
      const { version } = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
        version: string;
      };
      const run = (...args: string[]) =>
        spawnSync('backupctl', args, {
          cwd: tmpdir(),
          env: { PATH: `${join(prefix, 'bin')}:/usr/bin:/bin`, HOME: home },
          encoding: 'utf8',
          timeout: 60_000,
        });
      expect(run('--version')).toMatchObject({ status: 0, stdout: `backupctl ${version}\n`, stderr: '' });
      const page = run('help', 'list');
      expect(page.status).toBe(0);
      expect(page.stdout).toMatch(/^Usage: backupctl list \[--database NAME\]/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('names missing AWS credentials as a configuration error with the fix, exit 2', () => {
    const result = backupctl('list', '--stage', 'test');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('ConfigurationError: no AWS credentials found for --stage');
    expect(result.stderr).toContain('aws sso login');
    expect(result.stderr).not.toMatch(/CredentialsProviderError|at .*\.js:\d+/);
  });
});
