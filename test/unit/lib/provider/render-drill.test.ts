/**
 * Roles in Render's export: a pg_dump archive holds no role definitions, but its table of contents
 * names each relation's owner and holds its grant (ACL) entries. These are read from pg_restore --list
 * and compared with what our manifest recorded (lib/pg/ownership.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { archiveRolesFromListing, compareArchiveRoles } from '../../../../lib/provider/render-drill.ts';

/** pg_restore --list lines as PostgreSQL 18 prints them for a small shop (names with spaces included). */
const listing = [
  '5; 2615 16390 SCHEMA - Reporting app',
  '220; 1259 16400 TABLE public customers app',
  '221; 1259 16405 SEQUENCE public customers_id_seq app',
  '222; 0 0 SEQUENCE OWNED BY public customers_id_seq app',
  '223; 1259 16410 TABLE public orders app',
  '224; 1259 16420 TABLE public orders_old app',
  '225; 0 0 TABLE ATTACH public orders_old app',
  '226; 1259 16430 TABLE Reporting empty table report_owner',
  '227; 1259 16440 VIEW public open orders app',
  '228; 1259 16450 MATERIALIZED VIEW public daily totals app',
  '3400; 0 16400 TABLE DATA public customers app',
  '3410; 0 0 SEQUENCE SET public customers_id_seq app',
  '3420; 0 0 ACL public TABLE orders app',
  '3421; 0 0 ACL Reporting TABLE empty table report_owner',
  '3422; 0 0 ACL public COLUMN customers.name app',
];

const ours = [
  { kind: 'schema', schema: 'Reporting', name: '', owner: 'app', acl: null },
  { kind: 'r', schema: 'public', name: 'customers', owner: 'app', acl: null },
  { kind: 'S', schema: 'public', name: 'customers_id_seq', owner: 'app', acl: null },
  { kind: 'p', schema: 'public', name: 'orders', owner: 'app', acl: '{app=arwdDxt/app,reader=r/app}' },
  { kind: 'r', schema: 'public', name: 'orders_old', owner: 'app', acl: null },
  {
    kind: 'r',
    schema: 'Reporting',
    name: 'empty table',
    owner: 'report_owner',
    acl: '{report_owner=arwdDxt/report_owner,=r/report_owner}',
  },
  { kind: 'v', schema: 'public', name: 'open orders', owner: 'app', acl: null },
  { kind: 'm', schema: 'public', name: 'daily totals', owner: 'app', acl: '{app=arwdDxt/app}' },
];

describe('archiveRolesFromListing()', () => {
  it("reads each relation's owner and its grant entries, not the entries about its data", () => {
    const roles = archiveRolesFromListing(listing);
    expect(Object.fromEntries(roles.owners)).toEqual({
      'TABLE public customers': 'app',
      'SEQUENCE public customers_id_seq': 'app',
      'TABLE public orders': 'app',
      'TABLE public orders_old': 'app',
      'TABLE Reporting empty table': 'report_owner',
      'VIEW public open orders': 'app',
      'MATERIALIZED VIEW public daily totals': 'app',
    });
    expect([...roles.granted].sort()).toEqual(['TABLE Reporting empty table', 'TABLE public orders']);
  });
});

describe('compareArchiveRoles()', () => {
  it('matches an export with the same owners and a grant entry wherever ours grants to another role', () => {
    expect(compareArchiveRoles(ours, archiveRolesFromListing(listing))).toEqual({
      definitions: 'not in a pg_dump archive',
      ownersCompared: 7,
      ownerDiffers: [],
      grantEntries: 2,
      grantsMissing: [],
    });
  });

  it('names a relation another role owns in the export, and grants an export made without them lacks', () => {
    const changed = listing
      .filter((line) => !line.includes(' ACL '))
      .map((line) => line.replace('TABLE public customers app', 'TABLE public customers intruder'));
    const result = compareArchiveRoles(ours, archiveRolesFromListing(changed));
    expect(result.ownerDiffers).toEqual([
      { relation: 'TABLE public.customers', ours: 'app', render: 'intruder' },
    ]);
    // A grant to PUBLIC counts as a grant to another role; an ACL holding only the owner's does not.
    expect(result.grantsMissing).toEqual(['TABLE public.orders', 'TABLE Reporting.empty table']);
    expect(result.grantEntries).toBe(0);
  });
});
