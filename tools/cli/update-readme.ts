/** `npm run docs:cli`: rewrite README.md's backupctl options section from the command table. */
import { readFileSync, writeFileSync } from 'node:fs';
import { withOptionsSection } from './readme-options.ts';

const path = new URL('../../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withOptionsSection(before);
if (after !== before) writeFileSync(path, after);
console.log(
  after === before ? 'README.md: options section already current' : 'README.md: options section rewritten',
);
