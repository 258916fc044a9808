/**
 * Time zone data for the Debian-built scratch servers. Debian builds PostgreSQL with
 * `--with-system-tzdata=/usr/share/zoneinfo`: postgres and initdb read time zones from that directory,
 * a path compiled into both programs, and nothing at run time can move it (PostgreSQL's own tz code,
 * not glibc's, reads no TZDIR). An image without tzdata (Lambda's may have none) then refuses
 * `TimeZone = UTC`, and every restore that names a zone.
 *
 * So the server bundle carries Debian's `tzdata` package (from the same signed, checksummed suite as
 * the server) under `tz/`, and the layer zip's two programs name that directory where the layer always
 * lands: `/opt/pg-server/tz` (Lambda mounts layers under /opt; the worker unpacks them there too). The
 * path is written over the compiled-in one, which is longer, in the zip only: the bundle under
 * `layers/pg-client/dist/` keeps Debian's programs as they are and reads the host's tzdata, which
 * every host that runs the local steps has (or fails with a named error, lib/commands/verify-backup.ts).
 */
import { cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PgClientBuildError } from '../../lib/errors.ts';

/** Where Debian's server looks for time zones (its `--with-system-tzdata`). */
export const systemTimeZoneDir = '/usr/share/zoneinfo';
/** The bundle's own time zone data, relative to the bundle (the zip's `pg-server/tz/`). */
export const bundleTimeZoneDir = 'tz';
/** Where the layer's server looks for them instead: the bundle's `tz/` under Lambda's /opt/pg-server. */
export const layerTimeZoneDir = `/opt/pg-server/${bundleTimeZoneDir}`;
/**
 * The Debian packages that hold them (arch all, no dependencies the copy needs): from trixie on, the
 * old names (`US/Eastern`, `GB`, ...) are in `tzdata-legacy`, which PostgreSQL's own copy still has
 * and a production database may name; before, `tzdata` has them all.
 */
export function timeZonePackages(suite: string): string[] {
  return ['bullseye', 'bookworm'].includes(suite) ? ['tzdata'] : ['tzdata', 'tzdata-legacy'];
}

/**
 * Copies the unpacked tzdata package's zones into the bundle's `tz/`, links resolved to plain files
 * (a layer unpacks plain files only). Left out: `posix/` and `right/` (copies and leap-second variants
 * of the same zones, which PostgreSQL's own copy does not have either) and `localtime`.
 */
export async function copyTimeZones(root: string, bundle: string): Promise<number> {
  const source = join(root, systemTimeZoneDir);
  // `localtime` links to /etc/localtime, the build host's: never the bundle's business.
  const skipped = new Set(['posix', 'right', 'localtime']);
  const entries = (await readdir(source)).filter((name) => !skipped.has(name));
  if (!entries.includes('UTC') || !entries.includes('Europe')) {
    throw new PgClientBuildError(`tzdata holds no UTC or Europe/ under ${systemTimeZoneDir}`);
  }
  for (const name of entries) {
    await cp(join(source, name), join(bundle, bundleTimeZoneDir, name), {
      recursive: true,
      dereference: true,
    });
  }
  return entries.length;
}

/**
 * `bytes` (postgres or initdb) with the compiled-in time zone directory, a NUL-terminated string of its
 * own, replaced by the layer's, NUL-padded to the same length so nothing else in the file moves. A
 * program without that string is an error: a server that would read the image's tzdata after all.
 */
export function withLayerTimeZoneDir(bytes: Buffer, program: string): Buffer {
  const wanted = Buffer.from(`\0${systemTimeZoneDir}\0`, 'latin1');
  const replacement = Buffer.alloc(wanted.length);
  replacement.write(`\0${layerTimeZoneDir}`, 'latin1');
  if (replacement.length < Buffer.byteLength(`\0${layerTimeZoneDir}\0`)) {
    throw new PgClientBuildError(`${layerTimeZoneDir} is longer than ${systemTimeZoneDir}`);
  }
  const patched = Buffer.from(bytes);
  let count = 0;
  for (let at = patched.indexOf(wanted); at !== -1; at = patched.indexOf(wanted, at + wanted.length)) {
    replacement.copy(patched, at);
    count += 1;
  }
  if (count === 0) {
    throw new PgClientBuildError(
      `${program} does not name ${systemTimeZoneDir}: it was not built --with-system-tzdata as Debian builds it`,
    );
  }
  return patched;
}
