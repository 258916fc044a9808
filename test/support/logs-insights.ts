/**
 * The CloudWatch Logs Insights queries of docs/logs.md, and what they read: the fields they name and
 * the messages they compare with. Tests check both against the lines real steps write, so a query in
 * the docs cannot drift from the log format unnoticed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DocumentedQuery {
  title: string;
  query: string;
}

const root = join(import.meta.dirname, '..', '..');

/** The ```logs-insights blocks of docs/logs.md, each with the heading above it. */
export function documentedQueries(): DocumentedQuery[] {
  const text = readFileSync(join(root, 'docs', 'logs.md'), 'utf8');
  const queries: DocumentedQuery[] = [];
  let title = '';
  for (const block of text.split(/^```/m).entries()) {
    const [index, part] = block;
    if (index % 2 === 0) {
      const headings = [...part.matchAll(/^#+ (.+)$/gm)];
      title = headings.at(-1)?.[1] ?? title;
    } else if (part.startsWith('logs-insights\n')) {
      queries.push({ title, query: part.slice('logs-insights\n'.length) });
    }
  }
  return queries;
}

/** Query words that are not fields: commands, operators, functions and sort orders. */
const queryWords = new Set(
  [
    'fields filter stats sort limit display parse dedup by as asc desc and or not like in',
    'count avg sum min max pct latest earliest ispresent isempty stddev count_distinct bin',
  ]
    .join(' ')
    .split(' '),
);

/** The log fields a query reads: every identifier that is not a keyword, an alias, a number or @-field. */
export function fieldsOf(query: string): string[] {
  const withoutStrings = query.replace(/"[^"]*"|'[^']*'/g, ' ');
  const aliases = new Set([...withoutStrings.matchAll(/\bas\s+([A-Za-z_][\w.]*)/g)].map((m) => m[1]));
  const fields = new Set<string>();
  for (const match of withoutStrings.matchAll(/(@?)([A-Za-z_][\w.]*)/g)) {
    const [, at, word] = match;
    if (at || !word || queryWords.has(word) || aliases.has(word)) continue;
    fields.add(word);
  }
  return [...fields].sort();
}

/** The `message = "..."` values a query filters on. */
export function messagesFilteredOn(query: string): string[] {
  return [...query.matchAll(/\bmessage\s*=\s*"([^"]*)"/g)].map((m) => m[1] ?? '');
}
