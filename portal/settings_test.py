"""Settings for the test suite: the real services of this machine kind (PostgreSQL and
Redis on loopback) unless DATABASE_URL / REDIS_URL say otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jackpot_portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from portal.settings import *  # noqa: E402,F403

# The services runtime, with each task run in the calling process right after commit (Celery's
# eager mode) unless a test starts a real worker (tests/worker.py) or asks for the embedded one.
CELERY_TASK_ALWAYS_EAGER = True

# Fast password hashing: the suite creates many accounts.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests open connections from many threads (servers, workers); a plain connection per thread,
# closed after each request, keeps them from pinning the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
