/**
 * Each setting is declared once, in lib/settings.ts: its name, schema and default, the functions that
 * get it, how a stage fills it and whether local runs pass it through. Elsewhere a setting is read
 * (`settings.RPO_HOURS`) or derived from the table, never declared again: no object literal with a
 * setting's name as a key (a schema, an environment, a defaults object), no list of names, no type
 * member restating one. Only the places below set values the table cannot know, each for its reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';
import { prices } from '../../../config/prices.ts';
import { readRuntimeSettings } from '../../../lib/config.ts';
import {
  defaultOf,
  localPassThrough,
  type SettingName,
  settingRows,
  settings,
} from '../../../lib/settings.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const names = new Set<string>(Object.keys(settings));

/** Files that give settings values at run time, which no table can hold. */
const valuesAt: Record<string, string> = {
  'tools/local/environment.ts': 'a local run points at the servers and bucket it started',
  'tools/local/run-restore.ts': "the local worker gets the restore target's URL in its environment",
  'tools/cli/context.ts': "the CLI's runtime for a stage: the bucket it looked up, the stage's region",
  'lib/runtime.ts': 'hands PG_CLIENT_DIR on to lib/pg/client.ts, which takes it as an environment',
  'tools/local/state-machine-runner.ts': 'a local build gets what CodeBuild and the state machine give one',
};

interface Finding {
  file: string;
  line: number;
  name: string;
  how: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

function declarationsIn(file: string): Finding[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(join(root, file), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const found: Finding[] = [];
  const record = (node: ts.Node, name: string, how: string) => {
    if (!names.has(name)) return;
    found.push({ file, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, name, how });
  };
  const keyText = (key: ts.PropertyName) =>
    ts.isIdentifier(key) || ts.isStringLiteralLike(key) ? key.text : undefined;
  const visit = (node: ts.Node) => {
    if (
      (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) &&
      ts.isObjectLiteralExpression(node.parent)
    ) {
      const name = keyText(node.name);
      if (name) record(node, name, 'object key');
    } else if (ts.isPropertySignature(node)) {
      const name = keyText(node.name);
      if (name) record(node, name, 'type member');
    } else if (ts.isStringLiteralLike(node) && ts.isArrayLiteralExpression(node.parent)) {
      record(node, node.text, 'list entry');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('lib/settings.ts', () => {
  it('is the only place a setting is declared', () => {
    const files = ['lib', 'functions', 'tools']
      .flatMap(sourceFiles)
      .filter((file) => file !== 'lib/settings.ts' && !(file in valuesAt));
    expect(files.flatMap(declarationsIn)).toEqual([]);
  });

  it('finds a setting declared elsewhere (the check can fail)', () => {
    const findings = Object.keys(valuesAt).flatMap(declarationsIn);
    expect(findings.map((f) => f.file)).toEqual(expect.arrayContaining(Object.keys(valuesAt)));
  });

  it('gives every setting a default that the runtime reads when the variable is unset', () => {
    const unset = readRuntimeSettings({ BACKUP_BUCKET: 'backups-test' });
    for (const [name] of settingRows()) {
      if (name === 'BACKUP_BUCKET') continue;
      expect({ name, value: unset[name] }).toEqual({ name, value: defaultOf(name) });
    }
  });

  it('reads the price table the deploy sets for the status function, and names a broken one', () => {
    const read = (text: string) => readRuntimeSettings({ BACKUP_BUCKET: 'backups-test', PRICE_TABLE: text });
    expect(read(JSON.stringify(prices)).PRICE_TABLE).toEqual(prices);
    expect(() => read('{"checked": "x"}')).toThrow(/PRICE_TABLE/);
    expect(() => read('not json')).toThrow(/environment variable PRICE_TABLE must be JSON/);
  });

  it('fills on AWS exactly the settings some function gets, and passes local ones through', () => {
    for (const [name, row] of settingRows()) {
      expect({ name, grouped: Boolean(row.groups?.length) }).toEqual({ name, grouped: Boolean(row.stage) });
    }
    const local: SettingName[] = localPassThrough();
    expect(local).toContain('VERIFY_VENUE');
    expect(local).not.toContain('LOCAL_SECRETS_DIR');
  });
});
