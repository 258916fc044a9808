import { describe, expect, it } from '@jest/globals';
import type { Manifest } from '../../../../lib/backup/manifest.ts';
import { assertExtensionsAvailable } from '../../../../lib/commands/verify-backup.ts';
import type { ServerBundle } from '../../../../lib/pg/server-bundle.ts';

const bundle: ServerBundle = {
  kind: 'server',
  dir: '/nowhere',
  major: 18,
  version: '18.1',
  arch: 'x86_64',
  extensions: [],
  availableExtensions: ['plpgsql', 'pgcrypto', 'pg_trgm'],
};

function manifestUsing(...names: string[]): Manifest {
  return {
    extensions: names.map((name) => ({ name, version: '1.0', schema: 'public' })),
  } as Manifest;
}

describe('assertExtensionsAvailable', () => {
  it('passes when the server offers every extension the backup uses', () => {
    expect(() => assertExtensionsAvailable(manifestUsing('plpgsql', 'pg_trgm'), bundle)).not.toThrow();
  });

  it('names the missing extensions and the one stage config line that adds them all', () => {
    expect(() => assertExtensionsAvailable(manifestUsing('plpgsql', 'vector', 'postgis'), bundle)).toThrow(
      expect.objectContaining({
        name: 'ExtensionMissingError',
        message: expect.stringMatching(
          /add `verification: \{ extensions: \[pgvector, postgis\] \}` to config\/<stage>\.yml \(locally SCRATCH_EXTENSIONS=pgvector,postgis\)$/,
        ),
      }),
    );
  });

  it('points to staging mode for an extension no scratch server build provides', () => {
    expect(() => assertExtensionsAvailable(manifestUsing('timescaledb'), bundle)).toThrow(
      /no package of the scratch server provides timescaledb; verify this database on a staging database instead \(`verification: \{ target: staging \}`\)/,
    );
  });
});
