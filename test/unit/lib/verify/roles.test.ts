import { describe, expect, it } from '@jest/globals';
import { rolesIn } from '../../../../lib/backup/globals.ts';
import { forReplay } from '../../../../lib/verify/roles.ts';

// As pg_dumpall --globals-only --no-role-passwords writes them (PostgreSQL 18).
const globals = `CREATE ROLE app_owner;
ALTER ROLE app_owner WITH NOSUPERUSER INHERIT CREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE "Weird ""Name""";
ALTER ROLE "Weird ""Name""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE postgres SET statement_timeout TO '2min';
ALTER ROLE app_owner SET search_path TO 'app';
GRANT app_owner TO postgres WITH INHERIT TRUE GRANTED BY postgres;
GRANT "Weird ""Name""" TO app_owner WITH ADMIN OPTION, INHERIT TRUE GRANTED BY "Weird ""Name""";`;

describe('forReplay', () => {
  const replay = forReplay(globals, 'postgres').split('\n');

  it('leaves out the defaults only a superuser may state, and keeps what they may not', () => {
    expect(replay).toContain('ALTER ROLE app_owner WITH INHERIT CREATEROLE NOCREATEDB LOGIN;');
    expect(replay).toContain('ALTER ROLE "Weird ""Name""" WITH INHERIT NOCREATEROLE NOCREATEDB NOLOGIN;');
    expect(replay).toContain("ALTER ROLE app_owner SET search_path TO 'app';");
  });

  it('grants memberships as the restoring user', () => {
    expect(replay).toContain('GRANT app_owner TO postgres WITH INHERIT TRUE;');
    expect(replay).toContain('GRANT "Weird ""Name""" TO app_owner WITH ADMIN OPTION, INHERIT TRUE;');
  });

  it('never alters the role it connects as: no NOLOGIN, no statement_timeout for the restore itself', () => {
    expect(replay.filter((line) => line.startsWith('ALTER ROLE postgres'))).toEqual([]);
    expect(replay).toContain('CREATE ROLE postgres;');
    expect(forReplay('ALTER ROLE "my admin" WITH NOLOGIN;', 'my admin')).toBe('');
  });
});

describe('rolesIn', () => {
  it('names the roles the SQL creates, quoted names unquoted', () => {
    expect(rolesIn(globals)).toEqual(['Weird "Name"', 'app_owner', 'postgres']);
  });
});
