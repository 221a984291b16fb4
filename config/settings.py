"""One settings module, configured from environment variables with defaults that just work.

See README.md ("Settings") for every variable. Importing it reads the environment and nothing else:
it starts no process (the embedded Redis of local runs is the entry points' job, config/local.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE

from .env import ConfigError, env_bool, env_float, env_int, env_list, env_str, local_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FUNDRAISER_VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: `make demo` turns it on, and so does DJANGO_DEBUG=1 for runserver.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(for local development run with DJANGO_DEBUG=1)"
        )
    SECRET_KEY = local_secret_key(VAR_DIR)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first, so `manage.py runserver` serves ASGI and streams SSE
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_eventstream",
    "axes",
    "csp",
    "fundraiser",
    "ingest",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL_PATH = env_str("DJANGO_SQLITE_PATH", str(VAR_DIR / "db.sqlite3"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATABASE_URL_PATH,
        "OPTIONS": {"timeout": 20},
    }
}
# Keep database connections between requests (pages read the database only when a campaign's
# configuration changed: dashboard/configs.py); health checks drop a broken one first.
CONN_MAX_AGE = env_int("DJANGO_CONN_MAX_AGE", 300, minimum=0)
if env_str("DJANGO_DB_ENGINE") == "postgresql":
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env_str("POSTGRES_DB", "fundraiser"),
        "USER": env_str("POSTGRES_USER", "postgres"),
        "PASSWORD": env_str("POSTGRES_PASSWORD", ""),
        "HOST": env_str("POSTGRES_HOST", "127.0.0.1"),
        "PORT": env_str("POSTGRES_PORT", "5432"),
    }
elif env_str("DJANGO_DB_ENGINE", "sqlite") != "sqlite":
    raise ConfigError("DJANGO_DB_ENGINE must be 'sqlite' or 'postgresql'")
DATABASES["default"]["CONN_MAX_AGE"] = CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# uvicorn does not serve /static/; with this on (the default under DEBUG) Django does (dashboard/urls.py).
SERVE_STATIC = env_bool("DJANGO_SERVE_STATIC", DEBUG)

# --- HTTPS, cookies and headers (docs/security.md): on by default whenever DEBUG is off ----------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)  # inert until the domain is submitted
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):  # a proxy that always sets X-Forwarded-Proto
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): no inline script or style anywhere; the screens' theme
# colours come in one <style> with a per-response nonce. Screens add their logo's origin to img-src
# and drop frame-ancestors (signage players frame them): dashboard/views.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": env_list("DJANGO_CSP_REPORT_URI", []) or None,
    }
}

# --- admin login: lockout per account and per client (django-axes) -----------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one locks: per client, per account
AXES_CLIENT_IP_CALLABLE = "config.clients.client_ip"
# Not reset by a successful login: a staff member could otherwise clear the failed attempts made
# against another account from the same address, and guess without limit.
AXES_RESET_ON_SUCCESS = False
AXES_HTTP_RESPONSE_CODE = 429

# --- public endpoints: per-client caps (dashboard/limits.py) ------------------------------------
# Open event streams per client and web process; each holds a thread (docs/security.md).
STREAMS_PER_CLIENT = env_int("STREAMS_PER_CLIENT", 24, minimum=1)
# Unknown kiosk tokens a client may try per window before every /s/ request answers 429.
KIOSK_TOKEN_GUESSES = env_int("KIOSK_TOKEN_GUESSES", 20, minimum=1)
KIOSK_GUESS_WINDOW_SECONDS = env_int("KIOSK_GUESS_WINDOW_SECONDS", 300, minimum=1)
# Detailed health JSON at /healthz?detail=1 with "Authorization: Bearer <token>"; unset: admin only.
HEALTH_TOKEN = env_str("HEALTH_TOKEN", "")

# --- behind Pushpin (docs/PERFORMANCE.md): Pushpin holds the streams, `manage.py pushpin_relay` feeds it
# The key Pushpin signs proxied requests with (its `sig_key`); unset: streams are served directly.
PUSHPIN_SIG_KEY = env_str("PUSHPIN_SIG_KEY", "")
# Pushpin's publish endpoint (its control port), for the relay.
PUSHPIN_PUBLISH_URL = env_str("PUSHPIN_PUBLISH_URL", "http://127.0.0.1:5561/publish/")

# --- Redis: aggregates, checkpoints, leases, Celery broker and SSE fan-out ------------------
# Unset: the embedded Redis on EMBEDDED_REDIS_PORT, which the entry points start (config/local.py).
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6391, minimum=1)
REDIS_EMBEDDED = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL") or f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ConfigError(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://")
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "fr")


def _eventstream_redis_kwargs(url: str) -> dict:
    from redis.connection import parse_url

    kwargs = parse_url(url)
    return {k: v for k, v in kwargs.items() if k in ("host", "port", "db", "password", "username", "path")}


EVENTSTREAM_REDIS = _eventstream_redis_kwargs(REDIS_URL)
if "path" in EVENTSTREAM_REDIS:
    EVENTSTREAM_REDIS["unix_socket_path"] = EVENTSTREAM_REDIS.pop("path")

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "ensure-consumers": {"task": "ingest.tasks.ensure_consumers", "schedule": 2.0},
}

# --- Ingestion ------------------------------------------------------------------------------
# How long a shard lease lasts without renewal; a killed worker's shards move after this.
INGEST_LEASE_SECONDS = env_float("INGEST_LEASE_SECONDS", 10.0, minimum=1.0)
# Pause between GetRecords calls on a shard that returned nothing (AWS Lambda polls 4x/s).
INGEST_IDLE_POLL_SECONDS = env_float("INGEST_IDLE_POLL_SECONDS", 0.25, minimum=0.01)
# How often each consumer re-lists shards (DescribeStream) when nothing ended.
INGEST_DISCOVER_SECONDS = env_float("INGEST_DISCOVER_SECONDS", 10.0, minimum=0.5)
# A consumer task runs this long, then hands over to a fresh task (bounded task lifetime).
INGEST_CONSUMER_SECONDS = env_float("INGEST_CONSUMER_SECONDS", 300.0, minimum=1.0)
# How many consumer tasks the beat keeps alive across all workers.
INGEST_CONSUMERS = env_int("INGEST_CONSUMERS", 1, minimum=1)
INGEST_BATCH_LIMIT = env_int("INGEST_BATCH_LIMIT", 1000, minimum=1)
# Threads reading a behind shard's next batch while one is committed (0: no read-ahead).
INGEST_READ_AHEAD_THREADS = env_int("INGEST_READ_AHEAD_THREADS", 4, minimum=0)
INGEST_MAX_LAG_SECONDS = env_float("INGEST_MAX_LAG_SECONDS", 60.0, minimum=1.0)
INGEST_REJECTS_KEPT = env_int("INGEST_REJECTS_KEPT", 500, minimum=1)
# Backfill/rebuild: parallel Scan segments and items per Scan page.
INGEST_SCAN_SEGMENTS = env_int("INGEST_SCAN_SEGMENTS", 4, minimum=1)
INGEST_SCAN_PAGE = env_int("INGEST_SCAN_PAGE", 500, minimum=1)

AWS_DEFAULT_REGION = env_str("AWS_DEFAULT_REGION", "us-east-1")
# Hosts a campaign's endpoint URL may name (host or host:port); empty means AWS only. Anything else
# would let a campaign editor point the worker, and its signed requests, at an internal address.
INGEST_ALLOWED_ENDPOINTS = env_list(
    "INGEST_ALLOWED_ENDPOINTS",
    ["localhost", "127.0.0.1", "[::1]", "dynamodb-local", "localstack"] if DEBUG else [],
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner on every process; lockouts still log
    },
}
