"""The benchmark's baseline: a trivial authenticated insert (``POST /bench/ping/``), installed only by
``bench.settings``, never by the product's settings."""
