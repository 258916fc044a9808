import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { errorCatalog } from '../../../../lib/errors.ts';
import { projectRoot } from '../../../../tools/local/environment.ts';

/** The rows of the runbook's "What to do for each alert" table, by the error name in their first cell. */
function alertRows(): Map<string, string> {
  const runbook = readFileSync(join(projectRoot, 'BACKUP_RUNBOOK.md'), 'utf8');
  const section = runbook.split(/^## /m).find((part) => part.startsWith('What to do for each alert')) ?? '';
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const name = /^\| `(\w+)` \|/.exec(line)?.[1];
    if (name) rows.set(name, line);
  }
  return rows;
}

describe('the runbook alert table', () => {
  it('tells the on-call engineer what to do for every error the pipeline can raise', () => {
    const rows = alertRows();
    const missing = Object.keys(errorCatalog).filter((name) => !rows.has(name));
    expect(missing).toEqual([]);
  });

  it('names no error that does not exist', () => {
    const unknown = [...alertRows().keys()].filter((name) => !(name in errorCatalog));
    expect(unknown).toEqual([]);
  });
});
