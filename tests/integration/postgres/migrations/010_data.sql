insert into customers (email, name) select 'c' || g || '@example.com', 'Customer ''' || g || '''' from generate_series(1, 20) g;
insert into products (sku, price_cents) select 'SKU-' || g, g * 100 from generate_series(1, 10) g;
insert into orders (customer_id, status) select 1 + g % 20, 'new' from generate_series(1, 30) g;
insert into order_items (order_id, product_id, quantity) select o, 1 + o % 10, 1 + o % 3 from generate_series(1, 30) o;
insert into order_items (order_id, product_id, quantity) select o, 1 + (o + 5) % 10, 2 from generate_series(1, 30) o;
select note('seeded by 010_data.sql; ok');
