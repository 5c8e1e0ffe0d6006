insert into app.customers (email, name)
    select 'c' || g || '@Example.com', 'Customer ' || g from generate_series(1, 50) g;
insert into app.products (sku, price) select 'SKU-' || g, g * 100 from generate_series(1, 20) g;
insert into app.invoices (customer_id, status, total)
    select 1 + g % 50, (array['new', 'paid', 'shipped', 'cancelled']::app.order_status[])[1 + g % 4], g * 10
    from generate_series(1, 200) g;
update app.customers c set last_invoice_id = (select max(id) from app.invoices i where i.customer_id = c.id);
insert into app.events (at, kind, payload)
    select date '2024-06-01' + g * 3, 'k' || g % 5, jsonb_build_object('n', g) from generate_series(1, 300) g;
insert into app.bookings (room, during)
    select g % 5, tstzrange('2026-01-01'::timestamptz + g * interval '1 day',
                            '2026-01-01'::timestamptz + (g + 1) * interval '1 day')
    from generate_series(1, 20) g;
insert into app.tags values ('red', 1), ('red', 1), ('red', 1), ('blue', 2), (null, null), (null, null);
insert into app.sessions select 'tok' || g, repeat('s', g) from generate_series(1, 10) g;
insert into app.documents
    select d, (select string_agg(md5(d::text || x::text), '') from generate_series(1, 4000) x),
           (select string_agg(decode(md5(x::text || d::text), 'hex'), ''::bytea) from generate_series(1, 3000) x)
    from generate_series(1, 3) d;
insert into app.notes (owner_name, body) select 'user' || g % 3, 'note ' || g from generate_series(1, 12) g;
insert into public.settings values ('theme', 'dark'), ('locale', 'de');
refresh materialized view app.revenue;
insert into app.customers (email, name) values ('late@example.com', 'Late');  -- stale_stats is stale now
select setval('app.global_id_seq', 5000, false);  -- is_called = false
