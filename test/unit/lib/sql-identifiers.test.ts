/**
 * No SQL is built by pasting a value into it unquoted. Every template literal (or `+` concatenation)
 * in lib/ and functions/ whose text reads as SQL may only interpolate values that cannot carry SQL:
 * a quoting helper's result, a number or boolean, a compile-time string constant, or a const that was
 * itself built only from those, or a `QuotedSql` (lib/pg/session.ts) from one of the builders listed
 * here. Everything else must go through a `$n` parameter. The TypeScript checker decides the types, so
 * `${i}` with `i: number` passes and `${name}` with `name: string` fails.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const root = join(import.meta.dirname, '..', '..', '..');
const quotingHelpers = new Set(['quoteIdentifier', 'quoteIdentifiers', 'quoteLiteral']);
/** The only files that may cast to QuotedSql: each builds it from quoted names and constants alone. */
const quotedSqlBuilders = new Set(['lib/pg/row-hash.ts']);
const isQuotedSql = (type: ts.Type) => type.aliasSymbol?.name === 'QuotedSql';
// Upper-case keywords at the start of a statement or clause: how SQL is written in this code base.
const sqlText =
  /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|DROP|ALTER|GRANT|REVOKE|TRUNCATE|COPY|SET (TRANSACTION|SESSION|LOCAL|ROLE)|FROM|WHERE|COMMENT ON|REFRESH|VACUUM)\b/;

interface Finding {
  file: string;
  line: number;
  expression: string;
}

function isSafe(node: ts.Expression, checker: ts.TypeChecker, depth = 0): boolean {
  if (depth > 8) return false;
  const expression = ts.skipPartiallyEmittedExpressions(node);
  if (ts.isParenthesizedExpression(expression)) return isSafe(expression.expression, checker, depth + 1);
  if (ts.isStringLiteralLike(expression) || ts.isNumericLiteral(expression)) return true;
  if (ts.isTemplateExpression(expression)) {
    return expression.templateSpans.every((span) => isSafe(span.expression, checker, depth + 1));
  }
  if (ts.isConditionalExpression(expression)) {
    return (
      isSafe(expression.whenTrue, checker, depth + 1) && isSafe(expression.whenFalse, checker, depth + 1)
    );
  }
  if (ts.isCallExpression(expression)) {
    const callee = expression.expression;
    const name = ts.isIdentifier(callee)
      ? callee.text
      : ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : '';
    if (quotingHelpers.has(name)) return true;
  }
  const type = checker.getTypeAtLocation(expression);
  const parts = type.isUnion() ? type.types : [type];
  const harmless = ts.TypeFlags.NumberLike | ts.TypeFlags.BigIntLike | ts.TypeFlags.BooleanLike;
  if (parts.every((part) => part.flags & harmless || part.isStringLiteral() || isQuotedSql(part)))
    return true;
  // A const built only from safe parts (`const table = `${quoteIdentifier(s)}.${quoteIdentifier(t)}``).
  if (ts.isIdentifier(expression)) {
    const symbol = checker.getSymbolAtLocation(expression);
    const resolved =
      symbol && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const declaration = resolved?.valueDeclaration;
    if (
      declaration &&
      ts.isVariableDeclaration(declaration) &&
      declaration.initializer &&
      ts.getCombinedNodeFlags(declaration) & ts.NodeFlags.Const
    ) {
      return isSafe(declaration.initializer, checker, depth + 1);
    }
  }
  return false;
}

function staticText(node: ts.TemplateExpression): string {
  return [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' ');
}

/** Unquoted values interpolated or concatenated into SQL text in `files`. */
function findUnquotedSql(program: ts.Program, files: readonly string[]): Finding[] {
  const checker = program.getTypeChecker();
  const findings: Finding[] = [];
  for (const file of files) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`${file} is not part of the program`);
    const report = (node: ts.Node) =>
      findings.push({
        file: relative(root, file),
        line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
        expression: node.getText(source),
      });
    const visit = (node: ts.Node) => {
      if (ts.isTemplateExpression(node) && sqlText.test(staticText(node))) {
        for (const span of node.templateSpans) if (!isSafe(span.expression, checker)) report(span.expression);
      }
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
        const operands = [node.left, node.right];
        const sqlOperand = operands.some(
          (o) => (ts.isStringLiteralLike(o) || ts.isTemplateExpression(o)) && sqlText.test(o.getText(source)),
        );
        if (sqlOperand) for (const o of operands) if (!isSafe(o, checker)) report(o);
      }
      if (
        ts.isAsExpression(node) &&
        isQuotedSql(checker.getTypeFromTypeNode(node.type)) &&
        !quotedSqlBuilders.has(relative(root, file))
      ) {
        report(node);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return findings;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(root, dir, name));
}

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  allowImportingTsExtensions: true,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
};

/** A program of one virtual file beside lib/ (so its imports resolve), for checking the checker. */
function checkSnippet(code: string): Finding[] {
  const file = join(root, 'lib', '__snippet__.ts');
  const host = ts.createCompilerHost(options);
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, code, version) : original(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  return findUnquotedSql(ts.createProgram([file], options, host), [file]);
}

const prelude = `import { quoteIdentifier, type Session } from './pg/session.ts';
declare const session: Session;
declare const name: string;
declare const rows: number;
`;

describe('findUnquotedSql()', () => {
  it('flags a name interpolated into SQL without quoting', () => {
    expect(checkSnippet(`${prelude}session.query(\`DROP SCHEMA \${name} CASCADE\`);`)).toEqual([
      { file: 'lib/__snippet__.ts', line: 5, expression: 'name' },
    ]);
  });

  it('flags a name concatenated into SQL', () => {
    expect(checkSnippet(`${prelude}session.query('SELECT count(*) FROM ' + name);`)).toHaveLength(1);
  });

  it('flags a const that was built from an unquoted name', () => {
    const code = `${prelude}const table = \`public.\${name}\`;\nsession.query(\`DELETE FROM \${table}\`);`;
    expect(checkSnippet(code).map((f) => f.expression)).toEqual(['table']);
  });

  it('flags a hand-rolled escape: only the quoting helpers count', () => {
    const code = `${prelude}session.query(\`SET TRANSACTION SNAPSHOT '\${name.replace(/'/g, "''")}'\`);`;
    expect(checkSnippet(code)).toHaveLength(1);
  });

  it('accepts quoted names, numbers, string constants and consts built from them', () => {
    const code = `${prelude}const schema = 'lease';
const table = \`\${quoteIdentifier(schema)}.\${quoteIdentifier(name)}\`;
session.query(\`SELECT \${rows}::int AS i FROM \${table} WHERE x = $1 AND y = '\${schema}'\`, [name]);
session.query(\`CREATE SCHEMA \${quoteIdentifier(name)}\`);`;
    expect(checkSnippet(code)).toEqual([]);
  });

  it('accepts QuotedSql, and flags a cast to it outside the listed builders', () => {
    const code = `import { type QuotedSql, type Session } from './pg/session.ts';
declare const session: Session;
declare const name: string;
declare const built: QuotedSql;
session.query(\`SELECT \${built} FROM t\`);
session.query(\`SELECT \${name as QuotedSql} FROM t\`);`;
    expect(checkSnippet(code).map((f) => f.expression)).toEqual(['name as QuotedSql']);
  });

  it('ignores templates that are not SQL', () => {
    expect(checkSnippet(`${prelude}const message = \`backup \${name} is ready\`;`)).toEqual([]);
  });
});

describe('lib/ and functions/', () => {
  it('build no SQL from an unquoted value', () => {
    const files = [...sourceFiles('lib'), ...sourceFiles('functions')];
    const program = ts.createProgram(files, options);
    expect(findUnquotedSql(program, files)).toEqual([]);
  }, 60_000);
});
