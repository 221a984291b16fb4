"""Settings for test runs: the project's settings with a private Redis and var dir.

pytest-django reads the settings module before any conftest.py runs, so the test environment must be
set up here. Test runs go on side by side on one machine: each gets its own Redis server, so no run
(and no `make demo`) flushes another's data. Tests that make Redis "lose everything" flush the
test database (FLUSHDB): that is everything the product keeps there.
"""

import atexit
import os
import secrets
import tempfile

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["FUNDRAISER_VAR_DIR"] = tempfile.mkdtemp(prefix="fr-test-var-")
os.environ.setdefault("INGEST_IDLE_POLL_SECONDS", "0.05")
os.environ.setdefault("INGEST_DISCOVER_SECONDS", "1")
# Tests and the servers they start run as production does (DEBUG off) on plain HTTP over loopback:
# a key of this run, no HTTPS redirect or Secure cookies, static files served by Django, and the
# local moto server as the only endpoint a campaign may name.
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("DJANGO_SERVE_STATIC", "1")
os.environ.setdefault("INGEST_ALLOWED_ENDPOINTS", "127.0.0.1,localhost")

# `make test` runs the suite in two processes (pytest -n 2); each starts a Redis of its own. A Redis
# this file started in the parent process (named in REDIS_TEST_OWNER) is not shared. A Redis the
# caller named in REDIS_URL cannot be shared either (pub/sub ignores database numbers, and tests
# flush it): `make test` then runs in one process.
_owner = os.environ.get("REDIS_TEST_OWNER")
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("REDIS_URL") and not _owner:
    raise RuntimeError(
        "REDIS_URL names a Redis, and tests running in several processes would flush it and hear "
        "each other's events: run them in one (`make test` does when REDIS_URL is set; no -n)."
    )
if not os.environ.get("REDIS_URL") or (_owner and _owner != str(os.getpid())):
    from devtools.embedded import EmbeddedRedis

    _redis = EmbeddedRedis().start()
    atexit.register(_redis.close)
    os.environ["REDIS_URL"] = _redis.url
    os.environ["REDIS_TEST_OWNER"] = str(os.getpid())

from config.settings import *  # noqa: E402, F403
