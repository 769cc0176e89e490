"""Settings for the jackpot portal.

One `env` reads everything from the environment (or a `.env` file next to manage.py).
Two modes:

* embedded (nothing configured): SQLite, tasks run in-process, in-memory channel layer
  and a random secret key kept in var/ -- one command starts it on a bare machine;
* production (`PORTAL_PRODUCTION=1`): every secret must come from the environment and
  the process refuses to start without it; `manage.py check --deploy` is clean.

`DATABASE_URL` switches to PostgreSQL and `REDIS_URL` to Redis (Celery broker, channel
layer and cache) in either mode.

DEBUG is off in every mode unless `DJANGO_DEBUG=1` asks for it (never in production): its
error pages show settings, DATABASE_URL and REDIS_URL included, to whoever causes an error.
"""

import os
import secrets
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


def local_secret_key() -> str:
    """Outside production without DJANGO_SECRET_KEY: a random key made once and kept in
    var/secret_key (ignored by git), the same for every process of this checkout (web
    workers, Celery). A constant default would let anyone who has read the source sign
    service tokens and session cookies."""
    path = BASE_DIR / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        draft = path.with_name(f"secret_key.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: of processes starting together, one key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

PRODUCTION = env.bool("PORTAL_PRODUCTION", default=False)

if PRODUCTION:
    # No defaults: a production process without its secrets must not start.
    SECRET_KEY = env("DJANGO_SECRET_KEY")
    DEBUG = False
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
    DATABASE_URL = env("DATABASE_URL")
    REDIS_URL = env("REDIS_URL")
else:
    SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or local_secret_key()
    DEBUG = env.bool("DJANGO_DEBUG", default=False)  # opt-in: see the docstring
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
    DATABASE_URL = env("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    REDIS_URL = env("REDIS_URL", default="")

CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "ninja",
    "corsheaders",
    "simple_history",
    "import_export",
    "axes",
    "portal",
    "sources",
    "players",
    "contributions",
]
if not PRODUCTION:
    # The demo (seed_demo, the reference wallet, the demo casino, simulate): never installed in
    # production, so none of it is loaded, routed or collected there.
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    # First: the log context of each request, and the contributions' outcome and latency.
    "portal.metrics.gateway_metrics",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.static_files",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a login lockout into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, grouping queries on partitioned tables correctly (portal/postgresql).
    DATABASES["default"]["ENGINE"] = "portal.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialise writers instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
else:
    # A connection pool per process (psycopg's, Django 5.1+). Under ASGI every request runs in
    # a thread of its own, so persistent per-thread connections would pile up until PostgreSQL
    # refuses clients; the pool hands connections back at the end of each request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With a pool this makes Django pass check=ConnectionPool.check_connection: each connection
    # is checked (an empty query) as it leaves the pool, so one the server ended
    # (pg_terminate_backend, a restart, an idle timeout) is replaced, not handed to a request
    # that would fail with DB_ERROR.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=16),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
    # test_<database>: test runs against different databases never share a test database.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env(
        "DATABASE_TEST_NAME", default=f"test_{DATABASES['default']['NAME']}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The runtime, decided here once from what is configured (portal/runtime.py acts on it; nothing
# else asks): "services" with REDIS_URL (always in production) -- Celery worker and beat, the
# Redis channel layer and cache; "embedded" without it (`make run`) -- one process, tasks and
# periodic jobs on an in-process scheduler, the in-memory channel layer and cache.
RUNTIME = "services" if REDIS_URL else "embedded"
if RUNTIME == "services":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Pub/sub: a group message is one PUBLISH that Redis fans out to the web processes, each
    # holding one subscription connection -- not one list push per socket.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Redis pub/sub ignores the database number: the prefix keeps deployments (and test
            # runs) that share one Redis server from hearing each other's events.
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env(
                "CHANNEL_PREFIX", default=f"jackpot.{urlsplit(REDIS_URL).path.strip('/') or '0'}")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
# The test suite's variant of the services mode (settings_test.py, and the web processes tests
# start): Celery runs each task in the calling process as it is sent (after commit), raising
# its errors, instead of sending it to the broker. Never in production.
CELERY_TASK_ALWAYS_EAGER = not PRODUCTION and env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran, so a worker killed mid-task gives it back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The admin writes dates as the staff pages do (2026-12-01 15:29:44, UTC): portal/formats/.
FORMAT_MODULE_PATH = ["portal.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "assets"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Login throttling (django-axes) on staff, admin and service logins (see portal/throttle.py).
# The axes backend comes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Failures are counted in the database (shared by every process in both modes, unlike the
# embedded mode's per-process cache) and listed for superusers in the admin (Axes).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
# Username + address (service logins: also the address alone), never the username alone.
AXES_LOCKOUT_PARAMETERS = "portal.throttle.lockout_parameters"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
# The client address is REMOTE_ADDR: uvicorn sets it from X-Forwarded-For only for the proxies
# it trusts (FORWARDED_ALLOW_IPS, loopback by default), so a client cannot choose its own.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "portal:login"

# Security: sane everywhere, strict in production.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Logs: one JSON object per line (LOG_FORMAT=json, the production default) or text (the
# embedded default); either way every record carries the trace_id, operator and brand of the
# request or task it belongs to (portal/logs.py).
LOG_FORMAT = env("LOG_FORMAT", default="json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logs.ContextFilter"},
                "client_errors": {"()": "portal.logs.ClientErrorsAtInfo"}},
    "formatters": {"json": {"()": "portal.logs.json_formatter"}, "text": {"()": "portal.logs.text_formatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # 4xx are normal traffic (INFO); WARNING and above is for what needs a person.
        "django.request": {"filters": ["client_errors"]},
        # uvicorn's own lines (access log included) in the same format, in its worker processes.
        "uvicorn": {"handlers": ["console"], "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "propagate": False},
        # The embedded scheduler (portal/runtime.py) logs every job it adds and runs at INFO,
        # and Celery a "succeeded" line per task it runs (the coalesced updates every 2 s): in the
        # embedded runtime only failures (a worker's log keeps them in the services runtime).
        "apscheduler": {"level": "WARNING"},
        "celery.app.trace": {"level": "INFO" if RUNTIME == "services" else "WARNING"},
    },
}
# Celery workers keep this configuration instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Metrics: GET /metrics (portal/monitoring.py) with `Authorization: Bearer <METRICS_TOKEN>`, or
# a logged-in staff user who sees every operator. Empty: no token is accepted. Several
# processes (uvicorn --workers, Celery) share counts through PROMETHEUS_MULTIPROC_DIR, which
# the runtime sets in their environment (see portal/metrics.py).
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- Product settings -------------------------------------------------------------------

# Every amount is a Decimal. Pots, base-currency amounts and rates keep this many places;
# amounts paid or charged in a currency are rounded to its ISO 4217 minor unit.
MONEY_MAX_DIGITS = 28
MONEY_DECIMAL_PLACES = 8
RATE_MAX_DIGITS = 24
RATE_DECIMAL_PLACES = 10
MONEY_ROUNDING = ROUND_HALF_EVEN
BASE_CURRENCY = env("BASE_CURRENCY", default="EUR")

# Hot-path catalogue reads (brands, routes, instance configuration, rates) are kept this long
# in each process; configuration changes take effect within it (0: no cache).
CATALOGUE_CACHE_SECONDS = env.float("CATALOGUE_CACHE_SECONDS", default=2.0)

# Gateway: contributions wait on the event loop; their database work runs in batches on one
# thread per process (contributions/gateway.py, contributions/services/lane.py).
SERVICE_TOKEN_TTL_SECONDS = env.int("SERVICE_TOKEN_TTL_SECONDS", default=1800)
PLAYER_TOKEN_TTL_SECONDS = env.int("PLAYER_TOKEN_TTL_SECONDS", default=86400)
GATEWAY_MAX_BODY_BYTES = 64 * 1024
CONTRIBUTION_METADATA_MAX_BYTES = 16 * 1024
# Largest base_wager accepted (anything above is a typo or an attack, not a bet).
MAX_BASE_WAGER = Decimal(env("MAX_BASE_WAGER", default="1000000000"))

# Webhooks: an attempt's hard deadline (connect, send, answer; however slowly the receiver
# trickles), and the backoff between attempts, in seconds (about 5 s, 30 s, 2 min ... 6 h).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=int, default=[5, 30, 120, 600, 1800, 3600, 10800, 21600]
)
# An attempt not finished this long after its deadline is taken to have died with its worker
# (so its claim, deadline + this, never expires while the attempt runs; at least 1 s).
WEBHOOK_CLAIM_SLACK_SECONDS = env.float("WEBHOOK_CLAIM_SLACK_SECONDS", default=30.0)
# Attempts a sending task runs at once, and at most this many of one operator's across all
# workers: a slow receiver holds its own operator's slots, never everyone's.
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=16)
WEBHOOK_OPERATOR_CONCURRENCY = env.int("WEBHOOK_OPERATOR_CONCURRENCY", default=4)
# A sender claims an operator's due deliveries this many rounds of its share ahead (fewer
# transactions per webhook); a sender that dies leaves them to the sweeper once their claims
# end (each lasts its place in the queue times WEBHOOK_TIMEOUT_SECONDS, plus the slack).
WEBHOOK_CLAIM_WAVES = env.int("WEBHOOK_CLAIM_WAVES", default=8)
# Async work in batches: contributions processed per transaction; the webhook sweeper queues
# one sending task per this many due deliveries.
ASYNC_BATCH_SIZE = env.int("ASYNC_BATCH_SIZE", default=50)
# Async contributions are processed by drains (contributions/tasks.py), not a task each: at most
# one is scheduled at a time; if it is lost, another is scheduled after this long.
ASYNC_DRAIN_SCHEDULED_SECONDS = env.float("ASYNC_DRAIN_SCHEDULED_SECONDS", default=10.0)
# Group commit of synchronous contributions to one instance (contributions/services/group.py):
# at most this many share a transaction; batches form while the previous one commits, and
# a window above 0 makes the first request of a batch wait that long for company.
GROUP_COMMIT_MAX = env.int("GROUP_COMMIT_MAX", default=64)
GROUP_COMMIT_WINDOW_MS = env.float("GROUP_COMMIT_WINDOW_MS", default=0.0)
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=50)
# An accepted async contribution still unprocessed after this long is queued again.
ASYNC_REQUEUE_AFTER_SECONDS = env.float("ASYNC_REQUEUE_AFTER_SECONDS", default=30.0)
# Hosts or networks webhooks may reach although they resolve to private addresses.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
# Accepting a callback URL resolves its host on a small pool of threads, given up after this
# long (400 INVALID_PROPERTY_VALUE): a slow name server never holds a gateway thread longer.
WEBHOOK_RESOLVE_TIMEOUT_SECONDS = env.float("WEBHOOK_RESOLVE_TIMEOUT_SECONDS", default=2.0)
WEBHOOK_RESOLVE_THREADS = env.int("WEBHOOK_RESOLVE_THREADS", default=16)

# Live events: how often coalesced JackpotUpdate messages go out.
JACKPOT_UPDATE_INTERVAL_SECONDS = env.float("JACKPOT_UPDATE_INTERVAL_SECONDS", default=2.0)

# Demo mode (`make run` sets PORTAL_DEMO=1): the demo casino page (/demo/casino/) shows the lobby
# widget and mints player tokens for the demo players. Never in production, whatever is set.
DEMO_MODE = not PRODUCTION and env.bool("PORTAL_DEMO", default=False)


def _time_zone(name: str) -> str:
    """An IANA time zone name, checked at start: a typo stops the process, never cuts days wrong."""
    ZoneInfo(name)
    return name


# Reports (contributions/reports.py). Business days end at midnight in this time zone, or in an
# operator's own (BUSINESS_TIME_ZONES="thrilltech=Europe/Malta,other=America/New_York"). A day
# is closed (beat, `close_day`) once it has been over DAILY_CLOSE_GRACE_SECONDS, so contributions
# of its last moments have committed.
BUSINESS_TIME_ZONE = _time_zone(env("BUSINESS_TIME_ZONE", default="UTC"))
BUSINESS_TIME_ZONES = {operator: _time_zone(zone)
                       for operator, zone in env.dict("BUSINESS_TIME_ZONES", default={}).items()}
DAILY_CLOSE_GRACE_SECONDS = env.int("DAILY_CLOSE_GRACE_SECONDS", default=600)
DAILY_CLOSE_DAYS_PER_RUN = env.int("DAILY_CLOSE_DAYS_PER_RUN", default=200)
# The hit-frequency audit flags a HitRate pot whose observed hits are this improbable under its
# configured odds (two-sided p-value).
HIT_AUDIT_ALPHA = env.float("HIT_AUDIT_ALPHA", default=0.001)

# Public reads (SPEC 2.9, portal/public.py): instance snapshots, a brand's jackpots, currencies and
# rules answer without a token. Per client address, at most this many (django-ratelimit's
# "count/period", period s, m, h or d; players behind one NAT address share it); a service
# token is not counted.
PUBLIC_READ_RATE = env("PUBLIC_READ_RATE", default="600/m")
RATELIMIT_FAIL_OPEN = True  # a cache outage must not turn every public read into a 429
# Browsers and proxies may keep an anonymous answer this long (values move every few seconds).
PUBLIC_READ_MAX_AGE_SECONDS = env.int("PUBLIC_READ_MAX_AGE_SECONDS", default=2)
# CORS (django-cors-headers) on the public reads only: the origins come from each operator's
# allowed origins (admin: Operators), never a global list. Reads, no cookies.
CORS_ALLOW_METHODS = ["GET", "OPTIONS"]
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "if-none-match"]
CORS_EXPOSE_HEADERS = ["ETag", "Retry-After"]
CORS_ALLOW_CREDENTIALS = False
# Rules documents (sources/rules.py) state each random pot's chance at this stake, in the
# instance's currency (or at its minimum base wager when that is higher).
RULES_REFERENCE_STAKE = Decimal(env("RULES_REFERENCE_STAKE", default="1"))

# Records (contributions/partitions.py, services/archive.py): on PostgreSQL the ledger is
# partitioned by month, partitions made this many months ahead; `archive_contributions` keeps
# the current month and this many before it in the database and writes older months to files
# under ARCHIVE_DIR (their totals stay, so `reconcile` stays exact).
PARTITIONS_AHEAD_MONTHS = env.int("PARTITIONS_AHEAD_MONTHS", default=3)
ARCHIVE_KEEP_MONTHS = env.int("ARCHIVE_KEEP_MONTHS", default=13)
ARCHIVE_DIR = Path(env("ARCHIVE_DIR", default=str(BASE_DIR / "var" / "archive")))

# History: reverting from the history page would move money-bearing rows behind the ledger's back.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# Player socket authentication, tried in order (see players/auth.py).
# Tokens the portal signed are decided locally for any brand; only other tokens go to the wallet.
PLAYER_AUTHENTICATORS = ["players.auth.portal_token", "contributions.wallet.socket_authenticate"]
# Player sockets whose token goes to the wallet: one short attempt, at most this many per brand
# and in all in flight per process (beyond: refused at once), on a pool of threads of their own.
WALLET_AUTH_TIMEOUT_SECONDS = env.float("WALLET_AUTH_TIMEOUT_SECONDS", default=3.0)
WALLET_AUTH_MAX_PER_BRAND = env.int("WALLET_AUTH_MAX_PER_BRAND", default=4)
WALLET_AUTH_MAX_CALLS = env.int("WALLET_AUTH_MAX_CALLS", default=8)
SOCKET_AUTH_THREADS = env.int("SOCKET_AUTH_THREADS", default=16)
# WebSocket requests: the largest text frame read, and a token bucket per socket.
WS_MAX_FRAME_CHARS = 16 * 1024
# The ASGI server's limit (uvicorn ws_max_size): a bigger message closes the socket (1009)
# before the portal sees it; anything up to it above WS_MAX_FRAME_CHARS gets an Error.
WS_MAX_MESSAGE_BYTES = env.int("WS_MAX_MESSAGE_BYTES", default=4 * 1024 * 1024)
WS_RATE_PER_SECOND = env.float("WS_RATE_PER_SECOND", default=20.0)
WS_RATE_BURST = env.int("WS_RATE_BURST", default=40)

# Wallet: first retry after this many seconds, then times the brand's backoff factor.
WALLET_RETRY_BASE_SECONDS = env.float("WALLET_RETRY_BASE_SECONDS", default=0.5)
# A Debit with no contribution this long after it is cancelled by the sweeper (a crash
# between the Debit and the transaction), and pending Credits are retried after this long.
WALLET_ORPHAN_SECONDS = env.float("WALLET_ORPHAN_SECONDS", default=60.0)
WALLET_CREDIT_RETRY_SECONDS = env.float("WALLET_CREDIT_RETRY_SECONDS", default=30.0)
# Bulkhead: contributions waiting on a brand's wallet (its calls, or a duplicate waiting for the
# first) are at most this many per brand and in all per process; beyond, 503 WALLET_UNAVAILABLE
# at once. Each holds a thread and a database connection: keep WALLET_MAX_CALLS well below
# DATABASE_POOL_MAX.
WALLET_MAX_CALLS_PER_BRAND = env.int("WALLET_MAX_CALLS_PER_BRAND", default=6)
WALLET_MAX_CALLS = env.int("WALLET_MAX_CALLS", default=10)
# One wallet call, retries and backoff included, ends within this many seconds.
WALLET_CALL_DEADLINE_SECONDS = env.float("WALLET_CALL_DEADLINE_SECONDS", default=15.0)
