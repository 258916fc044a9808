/**
 * Every command the runbook shows, in document order, so a test can run them all against the local
 * setup and the runbook cannot rot: shell lines from ```sh blocks (comments stripped, `\` continuations
 * joined), SQL statements from ```sql blocks, and inline code spans that are commands on their own
 * (`npx backupctl ...`, `npm run ...`, `ALTER DATABASE ...`, `CREATE DATABASE ...`).
 */
export interface RunbookCommand {
  kind: 'sh' | 'sql';
  text: string;
  /** 1-based line in the runbook where the command starts. */
  line: number;
}

const inlineShell = /^(npx backupctl|npm run) /;
const inlineSql = /^(ALTER|CREATE|DROP) DATABASE /i;

/** Drops a trailing `# comment` that is outside quotes. */
export function stripShellComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

function splitSql(block: string, line: number): RunbookCommand[] {
  return block
    .split(';')
    .map((statement) => statement.replace(/--.*$/gm, '').trim())
    .filter((statement) => statement.length > 0)
    .map((statement) => ({ kind: 'sql' as const, text: `${statement};`, line }));
}

export function extractRunbookCommands(markdown: string): RunbookCommand[] {
  const commands: RunbookCommand[] = [];
  const lines = markdown.split('\n');
  let fence: { language: string; startLine: number; body: string[] } | undefined;
  lines.forEach((raw, index) => {
    const lineNumber = index + 1;
    const fenceMatch = /^\s*```(\w*)\s*$/.exec(raw);
    if (fenceMatch) {
      if (!fence) {
        fence = { language: fenceMatch[1] ?? '', startLine: lineNumber + 1, body: [] };
        return;
      }
      const { language, startLine, body } = fence;
      fence = undefined;
      if (language === 'sh' || language === 'bash') {
        let pending: { text: string; line: number } | undefined;
        body.forEach((bodyLine, offset) => {
          const text = stripShellComment(bodyLine).trim();
          if (!text && !pending) return;
          const joined = pending ? `${pending.text} ${text}` : text;
          const startsAt = pending?.line ?? startLine + offset;
          if (joined.endsWith('\\')) {
            pending = { text: joined.slice(0, -1).trimEnd(), line: startsAt };
          } else {
            pending = undefined;
            commands.push({ kind: 'sh', text: joined, line: startsAt });
          }
        });
      } else if (language === 'sql') {
        commands.push(...splitSql(body.join('\n'), startLine));
      }
      return;
    }
    if (fence) {
      fence.body.push(raw);
      return;
    }
    if (raw.trimStart().startsWith('<!--')) return;
    for (const match of raw.matchAll(/`([^`]+)`/g)) {
      const span = (match[1] ?? '').trim();
      if (inlineShell.test(span)) commands.push({ kind: 'sh', text: span, line: lineNumber });
      else if (inlineSql.test(span)) commands.push(...splitSql(span, lineNumber));
    }
  });
  return commands;
}
