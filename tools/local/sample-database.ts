/**
 * A realistic small application database for the demo and the tests: a shop with customers, products,
 * orders partitioned by month, order lines, a jsonb event log, enums, numerics, timestamps, sequences,
 * views, a materialized view, and mixed-case and unicode identifiers. `scale` 1 is about 70 MB on disk (7 MB as a zstd dump).
 */
import type { Session } from '../../lib/pg/session.ts';

export function sampleDatabaseSql(scale: number): string {
  const customers = Math.max(10, Math.round(40_000 * scale));
  const products = Math.max(10, Math.round(2_000 * scale));
  const orders = Math.max(10, Math.round(120_000 * scale));
  const events = Math.max(10, Math.round(60_000 * scale));
  return `
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'refunded');
CREATE DOMAIN email AS text CHECK (VALUE ~ '^[^@]+@[^@]+$');

CREATE TABLE customers (
  id bigserial PRIMARY KEY,
  email email NOT NULL UNIQUE,
  full_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  lifetime_value numeric(12,2) NOT NULL DEFAULT 0
);
INSERT INTO customers (email, full_name, created_at, lifetime_value)
SELECT 'user' || g || '@example.com', 'Customer ' || g || ' ' || md5(g::text),
       now() - (g % 900) * interval '1 day', round((random() * 5000)::numeric, 2)
  FROM generate_series(1, ${customers}) g;

CREATE TABLE products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  title text NOT NULL,
  price numeric(10,2) NOT NULL CHECK (price >= 0),
  attributes jsonb NOT NULL DEFAULT '{}'
);
INSERT INTO products (sku, title, price, attributes)
SELECT 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || g, round((1 + random() * 300)::numeric, 2),
       jsonb_build_object('color', (ARRAY['red','green','blue','black'])[1 + g % 4], 'weight_g', g % 5000)
  FROM generate_series(1, ${products}) g;

CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY,
  customer_id bigint NOT NULL REFERENCES customers(id),
  status order_status NOT NULL,
  ordered_at timestamptz NOT NULL,
  total numeric(12,2) NOT NULL,
  PRIMARY KEY (id, ordered_at)
) PARTITION BY RANGE (ordered_at);
CREATE TABLE orders_old PARTITION OF orders FOR VALUES FROM (MINVALUE) TO (date_trunc('month', now()) - interval '2 months');
CREATE TABLE orders_recent PARTITION OF orders FOR VALUES FROM (date_trunc('month', now()) - interval '2 months') TO (date_trunc('month', now()) + interval '1 month');
CREATE TABLE orders_future PARTITION OF orders DEFAULT;
INSERT INTO orders (customer_id, status, ordered_at, total)
SELECT 1 + g % ${customers}, (ARRAY['pending','paid','shipped','delivered','refunded']::order_status[])[1 + g % 5],
       now() - (g % 400) * interval '1 day' - (g % 1440) * interval '1 minute', round((random() * 800)::numeric, 2)
  FROM generate_series(1, ${orders}) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);

CREATE TABLE order_lines (
  order_id bigint NOT NULL,
  line_no smallint NOT NULL,
  product_id int NOT NULL REFERENCES products(id),
  quantity int NOT NULL CHECK (quantity > 0),
  unit_price numeric(10,2) NOT NULL,
  line_total numeric(12,2) GENERATED ALWAYS AS (quantity * unit_price) STORED,
  PRIMARY KEY (order_id, line_no)
);
INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price)
SELECT o, l, 1 + (o * 7 + l) % ${products}, 1 + (o + l) % 4, round((1 + random() * 300)::numeric, 2)
  FROM generate_series(1, ${orders}) o, generate_series(1, 2) l;

CREATE TABLE event_log (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  happened_at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  payload jsonb NOT NULL
);
INSERT INTO event_log (happened_at, kind, payload)
SELECT now() - g * interval '1 minute', (ARRAY['login','view','cart','checkout'])[1 + g % 4],
       jsonb_build_object('session', md5(g::text), 'path', '/p/' || (g % 997), 'ms', g % 3000)
  FROM generate_series(1, ${events}) g;

CREATE SCHEMA "Reporting";
CREATE TABLE "Reporting"."CustomerNotes" ("Id" serial PRIMARY KEY, "Note" text NOT NULL, "select" boolean DEFAULT false);
INSERT INTO "Reporting"."CustomerNotes" ("Note") SELECT 'note ' || g FROM generate_series(1, ${Math.max(5, Math.round(500 * scale))}) g;
CREATE TABLE "Reporting"."café_menü" (id int PRIMARY KEY, "naïve name" text);
INSERT INTO "Reporting"."café_menü" VALUES (1, 'crème brûlée'), (2, 'smørrebrød'), (3, '寿司');
CREATE TABLE "Reporting"."empty table" (id int);
CREATE UNLOGGED TABLE session_cache (key text PRIMARY KEY, value text);
INSERT INTO session_cache SELECT 'k' || g, repeat('v', 20) FROM generate_series(1, 100) g;

CREATE SEQUENCE invoice_number_seq START 1000;
SELECT setval('invoice_number_seq', 4242);

CREATE VIEW paid_orders AS SELECT id, customer_id, total FROM orders WHERE status = 'paid';
CREATE MATERIALIZED VIEW daily_revenue AS
  SELECT date_trunc('day', ordered_at) AS day, sum(total) AS revenue, count(*) AS orders
    FROM orders GROUP BY 1;
ANALYZE;
`;
}

export async function seedSampleDatabase(session: Session, scale = 1): Promise<void> {
  await session.query(sampleDatabaseSql(scale));
}
