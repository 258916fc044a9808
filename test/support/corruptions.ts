/**
 * The corruption suite's material (test/integration/corruptions.test.ts): a production schema built to
 * be corrupted, and the table of deliberate changes to a restored copy that verification must catch.
 *
 * Each change keeps every row count (a count would see it otherwise) and most keep each column's
 * multiset of values: the changes a sum of linearly combined column hashes (row-hash-sum64-v2) cannot
 * see. The others are the ways a restore can differ without changing a value's equality: numeric scale,
 * float -0, case under a nondeterministic collation, and what is not rows at all (a large object's
 * bytes, a sequence, owners and grants, row-level security).
 */

/** Roles of production: the owner (no superuser, as managed providers give) and one it grants to. */
export const corruptionRoles = { owner: 'corrupt_owner', reader: 'corrupt_reader' } as const;

/** The statements production's owner runs to create the schema the cases corrupt. */
export const corruptionSchema = [
  'CREATE TABLE pairs (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL)',
  "INSERT INTO pairs SELECT i, i * 7, 'b' || i FROM generate_series(1, 10) AS i",
  `GRANT SELECT ON pairs TO ${corruptionRoles.reader}`,
  'CREATE TABLE rotate_10 (id int PRIMARY KEY, v text NOT NULL)',
  'INSERT INTO rotate_10 SELECT i, md5(i::text) FROM generate_series(1, 10) AS i',
  'CREATE TABLE rotate_1000 (id int PRIMARY KEY, v bigint NOT NULL)',
  'INSERT INTO rotate_1000 SELECT i, i * 1000003 FROM generate_series(1, 1000) AS i',
  // Without a key: distinct rows, and equal rows.
  'CREATE TABLE log_lines (line text, n int)',
  "INSERT INTO log_lines VALUES ('start', 1), ('middle', 2), ('end', 3)",
  'CREATE TABLE twins (v text, n int)',
  "INSERT INTO twins VALUES ('same', 1), ('same', 1), ('other', 2)",
  'CREATE TABLE measures (id int PRIMARY KEY, amount numeric, ratio float8)',
  "INSERT INTO measures VALUES (1, 1.50, '-0'), (2, 2.25, 1.5)",
  "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
  'CREATE TABLE labels (id int PRIMARY KEY, label text COLLATE ci)',
  "INSERT INTO labels VALUES (1, 'ABC'), (2, 'def')",
  // Stored generated columns whose "immutable" functions are not: one reads TimeZone, one a table.
  `CREATE FUNCTION local_hour(at timestamptz) RETURNS int LANGUAGE sql IMMUTABLE
     AS $$ SELECT extract(hour FROM at)::int $$`,
  `CREATE TABLE hours_all (id int PRIMARY KEY, at timestamptz NOT NULL,
     hour int GENERATED ALWAYS AS (public.local_hour(at)) STORED)`,
  // Every hour of a day once: recomputed in another zone, the hours are a permutation of themselves.
  "INSERT INTO hours_all (id, at) SELECT h, '2026-01-01 00:00Z'::timestamptz + h * interval '1 hour' FROM generate_series(0, 23) AS h",
  `CREATE TABLE hours_some (id int PRIMARY KEY, at timestamptz NOT NULL,
     hour int GENERATED ALWAYS AS (public.local_hour(at)) STORED)`,
  "INSERT INTO hours_some (id, at) VALUES (1, '2026-01-01 01:00Z'), (2, '2026-01-01 02:00Z'), (3, '2026-01-01 05:00Z')",
  // Named to sort first: a restore with one job loads it before the tables whose columns read it.
  'CREATE TABLE a_rates (code text PRIMARY KEY, factor int NOT NULL)',
  "INSERT INTO a_rates VALUES ('x', 1), ('y', 2), ('z', 3)",
  `CREATE FUNCTION rate_of(code text) RETURNS int LANGUAGE plpgsql IMMUTABLE
     AS $$ BEGIN RETURN (SELECT r.factor FROM public.a_rates r WHERE r.code = $1); END $$`,
  `CREATE TABLE priced_all (id int PRIMARY KEY, code text NOT NULL,
     factor int GENERATED ALWAYS AS (public.rate_of(code)) STORED)`,
  "INSERT INTO priced_all (id, code) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
  `CREATE TABLE priced_some (id int PRIMARY KEY, code text NOT NULL,
     factor int GENERATED ALWAYS AS (public.rate_of(code)) STORED)`,
  "INSERT INTO priced_some (id, code) VALUES (1, 'x'), (2, 'x'), (3, 'y')",
  // 64-bit values: their hash functions fold them to 32 bits (lo ^ hi).
  'CREATE TABLE wide_values (id int PRIMARY KEY, big int8, at timestamptz)',
  "INSERT INTO wide_values VALUES (1, 1, '2000-01-01 00:00:00.000001+00'), (2, 2, '2026-01-01 00:00Z')",
  'CREATE SEQUENCE order_numbers',
  "SELECT nextval('order_numbers'), nextval('order_numbers'), nextval('order_numbers')",
  "SELECT lo_from_bytea(0, 'the bytes of a large object')",
];

/** Rates permuted (x->2, y->3, z->1), a table's generated column recomputed, the rates put back. */
const recomputedWithRatesPermuted = (table: string) => [
  "UPDATE public.a_rates SET factor = CASE code WHEN 'x' THEN 2 WHEN 'y' THEN 3 ELSE 1 END",
  `UPDATE public.${table} SET code = code`,
  "UPDATE public.a_rates SET factor = CASE code WHEN 'x' THEN 1 WHEN 'y' THEN 2 ELSE 3 END",
];

export interface Corruption {
  name: string;
  /** Run, in order and in one session, as the restored copy's superuser. */
  change: string[];
  /** Verify as production's owner (no superuser) instead of the server's superuser. */
  asOwner?: boolean;
}

/** Every change keeps each table's row count. */
export const corruptions: Corruption[] = [
  {
    name: "one column's values swapped between two rows",
    change: ["UPDATE public.pairs SET b = CASE id WHEN 1 THEN 'b2' ELSE 'b1' END WHERE id IN (1, 2)"],
  },
  {
    name: 'a column rotated by one row among 10 rows',
    change: ['UPDATE public.rotate_10 r SET v = s.v FROM public.rotate_10 s WHERE s.id = r.id % 10 + 1'],
  },
  {
    name: 'a column rotated by one row among 1,000 rows',
    change: [
      'UPDATE public.rotate_1000 r SET v = s.v FROM public.rotate_1000 s WHERE s.id = r.id % 1000 + 1',
    ],
  },
  {
    name: "two rows' keys swapped",
    change: [
      'UPDATE public.pairs SET id = -1 WHERE id = 1',
      'UPDATE public.pairs SET id = 1 WHERE id = 2',
      'UPDATE public.pairs SET id = 2 WHERE id = -1',
    ],
  },
  { name: 'one value changed', change: ['UPDATE public.pairs SET a = a + 1 WHERE id = 5'] },
  {
    name: 'a row deleted and another duplicated (no key)',
    change: [
      "DELETE FROM public.log_lines WHERE line = 'end'",
      "INSERT INTO public.log_lines VALUES ('start', 1)",
    ],
  },
  {
    name: 'equal rows of a keyless table changed into other equal rows',
    change: ["UPDATE public.twins SET v = 'twin' WHERE v = 'same'"],
  },
  {
    name: 'a TimeZone-dependent generated column recomputed into a permutation of its values',
    change: ["SET TimeZone = 'Etc/GMT-1'", 'UPDATE public.hours_all SET at = at'],
  },
  {
    name: 'a TimeZone-dependent generated column recomputed into other values',
    change: ["SET TimeZone = 'Etc/GMT-1'", 'UPDATE public.hours_some SET at = at'],
  },
  {
    name: 'a lookup-dependent generated column recomputed into a permutation of its values',
    change: recomputedWithRatesPermuted('priced_all'),
  },
  {
    name: 'a lookup-dependent generated column recomputed into other values',
    change: recomputedWithRatesPermuted('priced_some'),
  },
  {
    name: 'case changed under a nondeterministic ICU collation',
    change: ["UPDATE public.labels SET label = 'abc' WHERE id = 1"],
  },
  {
    name: 'a bigint changed into one whose 32-bit halves xor alike (1 -> 4294967296)',
    change: ['UPDATE public.wide_values SET big = 4294967296 WHERE id = 1'],
  },
  {
    name: 'a timestamptz moved to one whose 32-bit halves xor alike (1 µs -> 2^32 µs after 2000-01-01)',
    change: ["UPDATE public.wide_values SET at = '2000-01-01 01:11:34.967296+00' WHERE id = 1"],
  },
  {
    name: 'numeric scale changed (1.50 -> 1.5)',
    change: ['UPDATE public.measures SET amount = 1.5 WHERE id = 1'],
  },
  { name: 'float -0 changed to 0', change: ['UPDATE public.measures SET ratio = 0 WHERE id = 1'] },
  {
    name: 'one byte of a large object changed',
    change: ["SELECT lo_put(oid, 4, '\\x00'::bytea) FROM pg_largeobject_metadata"],
  },
  { name: 'a sequence set back', change: ["SELECT setval('public.order_numbers', 1)"] },
  {
    name: "a table's owner changed",
    change: [`ALTER TABLE public.labels OWNER TO ${corruptionRoles.reader}`],
  },
  { name: 'a grant revoked', change: [`REVOKE SELECT ON public.pairs FROM ${corruptionRoles.reader}`] },
  { name: 'a grant added', change: [`GRANT INSERT ON public.labels TO ${corruptionRoles.reader}`] },
  {
    name: 'a row hidden by row-level security from the verifying owner',
    change: [
      'ALTER TABLE public.pairs ENABLE ROW LEVEL SECURITY',
      'ALTER TABLE public.pairs FORCE ROW LEVEL SECURITY',
      'CREATE POLICY hide_one ON public.pairs USING (id <> 1)',
    ],
    asOwner: true,
  },
];
