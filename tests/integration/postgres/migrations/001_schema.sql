-- five tables with foreign keys, indexes and sequences
create table customers (
    id bigserial primary key,
    email text not null unique,
    name text not null
);
create table products (
    id serial primary key,
    sku text not null unique,
    price_cents integer not null check (price_cents >= 0)
);
create table orders (
    id bigserial primary key,
    customer_id bigint not null references customers (id),
    status text not null default 'new',
    created_at timestamptz not null default '2026-01-01T00:00:00Z'
);
create index orders_customer_idx on orders (customer_id);
create table order_items (
    order_id bigint not null references orders (id) on delete cascade,
    product_id integer not null references products (id),
    quantity integer not null,
    primary key (order_id, product_id)
);
create table audit_log (   -- no primary key on purpose
    entry text not null,
    at integer not null
);
create function note(text) returns void language plpgsql as $$
begin
    insert into audit_log (entry, at) values ($1, 0);  -- a semicolon inside dollar quotes
end $$;
