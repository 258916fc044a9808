import { describe, expect, it } from '@jest/globals';
import { compareOwnership, type Ownership, parseAcl } from '../../../../lib/pg/ownership.ts';

const table = (acl: string | null, owner = 'app_owner'): Ownership => ({
  kind: 'r',
  schema: 'sales',
  name: 'orders',
  owner,
  acl,
});

describe('parseAcl()', () => {
  it('reads PUBLIC, grant options and quoted role names, commas and quotes included', () => {
    // aclitem quotes a name (doubling its quotes); the array then quotes that element (escaping with \\).
    expect(
      parseAcl('{app=arwdDxt/app,=r/app,"\\"we\\"\\"ird, one\\"=r*/app","\\"q x\\"=U/\\"q x\\""}'),
    ).toEqual([
      { grantee: 'app', privileges: 'arwdDxt', grantor: 'app' },
      { grantee: '', privileges: 'r', grantor: 'app' },
      { grantee: 'we"ird, one', privileges: 'r*', grantor: 'app' },
      { grantee: 'q x', privileges: 'U', grantor: 'q x' },
    ]);
  });
});

describe('compareOwnership()', () => {
  const same = { source: 150000, target: 150000 };
  const up = { source: 150000, target: 180000 };

  it('takes grants in another order, and a default ACL spelled out, as the same', () => {
    expect(
      compareOwnership(
        [table('{reporting=r/app_owner,app_owner=arwdDxt/app_owner}')],
        [table('{app_owner=arwdDxt/app_owner,reporting=r/app_owner}')],
        same,
      ),
    ).toEqual([]);
    expect(compareOwnership([table(null)], [table('{app_owner=arwdDxt/app_owner}')], same)).toEqual([]);
  });

  it('ignores MAINTAIN, which the source major (before 17) does not have, on a 17+ target', () => {
    expect(
      compareOwnership(
        [table('{app_owner=arwdDxt/app_owner,reporting=r/app_owner}')],
        [table('{app_owner=arwdDxtm/app_owner,reporting=r/app_owner}')],
        up,
      ),
    ).toEqual([]);
    expect(compareOwnership([table(null)], [table(null)], up)).toEqual([]);
    expect(compareOwnership([table(null)], [table('{app_owner=arwdDxtm/app_owner}')], up)).toEqual([]);
  });

  it('still compares MAINTAIN where the source has it', () => {
    expect(
      compareOwnership(
        [table('{app_owner=arwdDxtm/app_owner,reporting=m/app_owner}')],
        [table('{app_owner=arwdDxtm/app_owner}')],
        { source: 170000, target: 180000 },
      ),
    ).toEqual([
      'sales.orders: grants {app_owner=arwdDxtm/app_owner}, expected {app_owner=arwdDxtm/app_owner,reporting=m/app_owner}',
    ]);
  });

  it('names a grant taken away, one added, a lost grant option, another grantor and another owner', () => {
    const recorded = table('{app_owner=arwdDxt/app_owner,reporting=r*/app_owner}');
    for (const restored of [
      '{app_owner=arwdDxtm/app_owner}',
      '{app_owner=arwdDxtm/app_owner,reporting=r*/app_owner,=r/app_owner}',
      '{app_owner=arwdDxtm/app_owner,reporting=r/app_owner}',
      '{app_owner=arwdDxtm/app_owner,reporting=r*/admin}',
    ]) {
      expect(compareOwnership([recorded], [table(restored)], up)).toEqual([
        `sales.orders: grants ${restored}, expected {app_owner=arwdDxt/app_owner,reporting=r*/app_owner}`,
      ]);
    }
    expect(compareOwnership([recorded], [table(recorded.acl, 'admin')], same)).toEqual([
      'sales.orders: owner admin, expected app_owner',
    ]);
    expect(compareOwnership([recorded], [], same)).toEqual(['sales.orders: missing']);
  });

  it('expands a default ACL by the kind of object: a sequence, a schema', () => {
    const sequence: Ownership = { kind: 'S', schema: 'sales', name: 's', owner: 'o', acl: null };
    const schema: Ownership = { kind: 'schema', schema: 'sales', name: '', owner: 'o', acl: null };
    expect(compareOwnership([sequence], [{ ...sequence, acl: '{o=rwU/o}' }], up)).toEqual([]);
    expect(compareOwnership([schema], [{ ...schema, acl: '{o=UC/o}' }], up)).toEqual([]);
    expect(compareOwnership([schema], [{ ...schema, acl: '{o=U/o}' }], up)).toEqual([
      'schema sales: grants {o=U/o}, expected default',
    ]);
  });
});
