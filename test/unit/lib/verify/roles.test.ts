import { describe, expect, it } from '@jest/globals';
import { rolesIn } from '../../../../lib/backup/globals.ts';
import { describeReplayStatement, forReplay, replayStatementAt } from '../../../../lib/verify/roles.ts';

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

describe('describeReplayStatement', () => {
  it('names the statement kind and the roles, never a setting value or a password', () => {
    expect(
      describeReplayStatement(
        'ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;',
      ),
    ).toBe('ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS');
    expect(
      describeReplayStatement("ALTER ROLE app WITH LOGIN PASSWORD 'hunter2' VALID UNTIL 'infinity';"),
    ).toBe('ALTER ROLE app WITH LOGIN');
    expect(describeReplayStatement("ALTER ROLE reader SET app.api_key TO 'sk-secret';")).toBe(
      'ALTER ROLE reader SET app.api_key',
    );
    expect(describeReplayStatement("ALTER ROLE reader IN DATABASE shop SET work_mem TO '64MB';")).toBe(
      'ALTER ROLE reader IN DATABASE shop SET work_mem',
    );
    expect(describeReplayStatement('CREATE ROLE "Weird ""Name""";')).toBe('CREATE ROLE "Weird ""Name"""');
    expect(describeReplayStatement('GRANT pg_read_all_data TO app_owner WITH INHERIT TRUE;')).toBe(
      'GRANT pg_read_all_data TO app_owner',
    );
    expect(describeReplayStatement("COMMENT ON ROLE app IS 'the password is hunter2';")).toBe(
      'COMMENT ON ROLE app',
    );
    expect(describeReplayStatement("CREATE TABLESPACE fast OWNER app LOCATION '/ssd';")).toBe(
      'CREATE TABLESPACE fast',
    );
  });
});

describe('replayStatementAt', () => {
  const script = [
    '--',
    '-- Roles',
    '--',
    '',
    'CREATE ROLE app;',
    "COMMENT ON ROLE app IS 'first line",
    "second line';",
    'ALTER ROLE postgres WITH SUPERUSER;',
  ].join('\n');

  it('finds the statement whose end psql names, over several lines if it spans them', () => {
    expect(replayStatementAt(script, 5)).toBe('CREATE ROLE app;');
    expect(replayStatementAt(script, 7)).toBe("COMMENT ON ROLE app IS 'first line second line';");
    expect(replayStatementAt(script, 8)).toBe('ALTER ROLE postgres WITH SUPERUSER;');
    expect(replayStatementAt(script, 99)).toBeUndefined();
  });
});
