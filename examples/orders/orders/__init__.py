"""The example order service: an HTTP API (``orders.api``) and a worker (``orders.worker``).

- ``POST /orders`` stores an order (status ``pending``) in PostgreSQL and publishes it
  to the ``orders`` topic.
- The worker consumes ``orders``, reserves stock (once per order, however often a
  message is delivered), caches the order in Redis with a TTL and publishes
  ``orders.confirmed``; a message it cannot read goes to ``orders.dlq``.

Configuration comes from the environment (:mod:`orders.config`).
"""
