/**
 * The import direction of docs/architecture.md: tools -> functions -> lib. lib/ is what ships to Lambda
 * and the worker, so it may not reach into the handlers or the tools around them (CLI, local runner,
 * deploy helpers); functions/ may not reach into tools/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = join(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|cjs|js)$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** Every relative module a file imports, as a path from the project root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s*|import\s*\(\s*|require\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)];
  return specifiers.map((match) => relative(root, resolve(root, dirname(file), match[1] ?? '')));
}

function crossings(from: string, forbidden: string[]): string[] {
  return sourceFiles(from).flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden.some((dir) => target.startsWith(`${dir}/`)))
      .map((target) => `${file} -> ${target}`),
  );
}

describe('layout', () => {
  it('keeps lib/ free of imports from functions/ and tools/', () => {
    expect(crossings('lib', ['functions', 'tools', 'config', 'test', 'bench'])).toEqual([]);
  });

  it('keeps functions/ free of imports from tools/', () => {
    expect(crossings('functions', ['tools', 'test', 'bench'])).toEqual([]);
  });

  it('finds the imports it checks (a moved file would otherwise make the check vacuous)', () => {
    expect(importsOf('functions/dump/handler.ts').some((target) => target.startsWith('lib/'))).toBe(true);
    expect(crossings('tools', ['lib']).length).toBeGreaterThan(0);
  });
});
