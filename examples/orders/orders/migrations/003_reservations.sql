-- One row per order the worker handled: the reason a redelivered message changes nothing.
CREATE TABLE reservations (
    order_id bigint PRIMARY KEY REFERENCES orders (id),
    sku text NOT NULL REFERENCES products (sku),
    quantity integer NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('confirmed', 'rejected')),
    reserved_at timestamptz NOT NULL DEFAULT now()
);
