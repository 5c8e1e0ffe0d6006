CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200),
    sku text NOT NULL REFERENCES products (sku),
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'rejected')),
    created_at timestamptz NOT NULL DEFAULT now()
);
