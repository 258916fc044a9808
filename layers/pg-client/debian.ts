/**
 * Debian archive metadata: the Release file (InRelease), the Packages index and the dependency closure
 * of the client packages. Pure functions, no I/O, so the parts that decide what goes into the bundle
 * are unit-tested without the network.
 */
import { PgClientBuildError } from '../../lib/errors.ts';

export interface ReleaseFile {
  suite: string;
  codename: string;
  date: string;
  validUntil: string | undefined;
  /** SHA-256 and size of every index the release lists, by path relative to dists/<suite>/. */
  sha256: Map<string, { sha256: string; size: number }>;
}

export interface PackageEntry {
  name: string;
  version: string;
  architecture: string;
  filename: string;
  size: number;
  sha256: string;
  depends: DependencyGroup[];
  provides: string[];
  multiArch: string | undefined;
}

/** One comma-separated item of Depends: alternatives, any one of which satisfies it. */
export type DependencyGroup = Dependency[];

export interface Dependency {
  name: string;
  /** `>=`, `<=`, `=`, `>>`, `<<`; undefined when unversioned. */
  relation: string | undefined;
  version: string | undefined;
}

/** Splits deb822 text into paragraphs of fields; continuation lines are joined with newlines. */
export function parseDeb822(text: string): Map<string, string>[] {
  const paragraphs: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let lastField: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) paragraphs.push(current);
      current = new Map();
      lastField = undefined;
      continue;
    }
    if ((line.startsWith(' ') || line.startsWith('\t')) && lastField !== undefined) {
      current.set(lastField, `${current.get(lastField) ?? ''}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastField = line.slice(0, colon);
    current.set(lastField, line.slice(colon + 1).trim());
  }
  if (current.size > 0) paragraphs.push(current);
  return paragraphs;
}

/** Parses the signed text of an InRelease file (the part gpgv vouched for, without the armor). */
export function parseRelease(text: string): ReleaseFile {
  const [fields] = parseDeb822(text);
  if (!fields) throw new PgClientBuildError('the Release file is empty');
  const sha256 = new Map<string, { sha256: string; size: number }>();
  for (const line of (fields.get('SHA256') ?? '').split('\n')) {
    const [hash, size, path] = line.trim().split(/\s+/);
    if (hash && size && path) sha256.set(path, { sha256: hash, size: Number(size) });
  }
  const suite = fields.get('Suite');
  const codename = fields.get('Codename');
  const date = fields.get('Date');
  if (!suite || !codename || !date || sha256.size === 0) {
    throw new PgClientBuildError('the Release file lacks Suite, Codename, Date or SHA256');
  }
  return { suite, codename, date, validUntil: fields.get('Valid-Until'), sha256 };
}

export function parseDependencies(field: string | undefined): DependencyGroup[] {
  if (!field) return [];
  return field.split(',').map((group) =>
    group.split('|').map((alternative) => {
      const match = /^\s*([^\s(:]+)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/.exec(
        alternative,
      );
      if (!match?.[1]) throw new PgClientBuildError(`cannot parse dependency "${alternative.trim()}"`);
      return { name: match[1], relation: match[2], version: match[3] };
    }),
  );
}

/** The Packages index as a map by package name. Keeps the highest version when a name repeats. */
export function parsePackages(text: string): Map<string, PackageEntry> {
  const packages = new Map<string, PackageEntry>();
  for (const fields of parseDeb822(text)) {
    const name = fields.get('Package');
    const version = fields.get('Version');
    const filename = fields.get('Filename');
    const sha256 = fields.get('SHA256');
    if (!name || !version || !filename || !sha256) continue;
    const entry: PackageEntry = {
      name,
      version,
      architecture: fields.get('Architecture') ?? '',
      filename,
      size: Number(fields.get('Size') ?? 0),
      sha256,
      depends: [...parseDependencies(fields.get('Pre-Depends')), ...parseDependencies(fields.get('Depends'))],
      provides: parseDependencies(fields.get('Provides')).flatMap((group) => group.map((p) => p.name)),
      multiArch: fields.get('Multi-Arch'),
    };
    const existing = packages.get(name);
    if (!existing || compareDebianVersions(version, existing.version) > 0) packages.set(name, entry);
  }
  return packages;
}

function splitVersion(version: string): { epoch: number; upstream: string; revision: string } {
  const colon = version.indexOf(':');
  const epoch = colon >= 0 ? Number(version.slice(0, colon)) : 0;
  const rest = colon >= 0 ? version.slice(colon + 1) : version;
  const dash = rest.lastIndexOf('-');
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: '0' };
}

/** dpkg's ordering of non-digit parts: `~` sorts before everything, even the end of the string. */
function characterOrder(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !/\d/.test(a.charAt(i))) || (j < b.length && !/\d/.test(b.charAt(j)))) {
      const ca = i < a.length && !/\d/.test(a.charAt(i)) ? a.charAt(i) : undefined;
      const cb = j < b.length && !/\d/.test(b.charAt(j)) ? b.charAt(j) : undefined;
      const diff = characterOrder(ca) - characterOrder(cb);
      if (diff !== 0) return diff;
      if (ca !== undefined) i++;
      if (cb !== undefined) j++;
    }
    let na = '';
    while (i < a.length && /\d/.test(a.charAt(i))) na += a.charAt(i++);
    let nb = '';
    while (j < b.length && /\d/.test(b.charAt(j))) nb += b.charAt(j++);
    const diff = Number(na || '0') - Number(nb || '0');
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Debian version comparison (epoch, upstream, revision; `~` before anything), as dpkg does it. */
export function compareDebianVersions(a: string, b: string): number {
  const va = splitVersion(a);
  const vb = splitVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch - vb.epoch;
  return compareFragment(va.upstream, vb.upstream) || compareFragment(va.revision, vb.revision);
}

export function satisfies(version: string, dependency: Dependency): boolean {
  if (dependency.relation === undefined || dependency.version === undefined) return true;
  const order = compareDebianVersions(version, dependency.version);
  switch (dependency.relation) {
    case '>=':
      return order >= 0;
    case '<=':
      return order <= 0;
    case '=':
      return order === 0;
    case '>>':
      return order > 0;
    case '<<':
      return order < 0;
    default:
      return false;
  }
}

/**
 * Debian marks shared-library packages `Multi-Arch: same` (co-installable for several architectures);
 * everything else a client package depends on (postgresql-client-common's pg_wrapper, sensible-utils,
 * perl, debconf) is tooling for an installed system that the bundle does not use. The bundle later
 * keeps only the files the programs actually load.
 */
export function isLibraryPackage(entry: PackageEntry): boolean {
  return entry.multiArch === 'same';
}

/**
 * The roots plus the closure of their library dependencies, sorted by name. Each dependency must be
 * satisfiable from the index (first satisfiable alternative wins, virtual packages via Provides);
 * otherwise the build cannot be trusted to be complete and fails naming the package.
 * `withoutDependencies` roots are taken alone (ca-certificates only contributes its data files).
 */
export function resolvePackages(
  index: Map<string, PackageEntry>,
  roots: string[],
  withoutDependencies: string[] = [],
): PackageEntry[] {
  const providers = new Map<string, PackageEntry[]>();
  for (const entry of index.values()) {
    for (const provided of entry.provides)
      providers.set(provided, [...(providers.get(provided) ?? []), entry]);
  }
  const find = (dependency: Dependency): PackageEntry | undefined => {
    const direct = index.get(dependency.name);
    if (direct && satisfies(direct.version, dependency)) return direct;
    if (dependency.relation === undefined) return providers.get(dependency.name)?.[0];
    return undefined;
  };

  const chosen = new Map<string, PackageEntry>();
  const visit = (entry: PackageEntry, followDependencies: boolean) => {
    if (chosen.has(entry.name)) return;
    chosen.set(entry.name, entry);
    if (!followDependencies) return;
    for (const group of entry.depends) {
      const match = group.map(find).find((candidate) => candidate !== undefined);
      if (match && !isLibraryPackage(match)) continue;
      if (!match) {
        const named = group.map((d) => index.get(d.name)).filter((e) => e !== undefined);
        if (named.length > 0 && !named.some(isLibraryPackage)) continue;
        const wanted = group
          .map((d) => (d.relation ? `${d.name} (${d.relation} ${d.version})` : d.name))
          .join(' | ');
        throw new PgClientBuildError(
          `${entry.name} depends on ${wanted}, which the Packages index cannot satisfy`,
        );
      }
      visit(match, true);
    }
  };
  for (const root of [...roots, ...withoutDependencies]) {
    const entry = index.get(root);
    if (!entry) throw new PgClientBuildError(`package ${root} is not in the Packages index`);
    visit(entry, !withoutDependencies.includes(root));
  }
  return [...chosen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** `18.6-3` -> `18.6`: the PostgreSQL release inside a Debian package version. */
export function upstreamVersion(debianVersion: string): string {
  return splitVersion(debianVersion).upstream.replace(/[+~].*$/, '');
}
