"""Gauntlet settings: one module, driven by environment variables. Bad values fail loudly at start-up."""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from runner.egress import EgressPolicy

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GAUNTLET_VAR_DIR", BASE_DIR / "var"))

# Under pytest, keep off the machine's shared Redis keys and the dev media: our own Redis database number and
# key prefix, exported so the worker and server processes the tests start inherit them.
TESTING = "pytest" in sys.modules
if TESTING:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("GAUNTLET_PREFIX", f"gauntlet-test-{os.getpid()}")
    os.environ.setdefault("GAUNTLET_MEDIA_ROOT", str(VAR_DIR / f"test-media-{os.getpid()}"))
    # pytest-xdist's workers inherit the controller's environment: each gets keys, queues and media of its own
    # (pytest-django gives each its own test database). Once: the processes a test starts inherit the worker's.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        for name in ("GAUNTLET_PREFIX", "GAUNTLET_MEDIA_ROOT"):
            if not os.environ[name].endswith(f"-{worker}"):
                os.environ[name] = f"{os.environ[name]}-{worker}"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
DEV_SECRET_KEY = "gauntlet-dev-only-not-secret"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not env_bool("GAUNTLET_DEV", True):
        raise ImproperlyConfigured("SECRET_KEY must be set when GAUNTLET_DEV is off")
    SECRET_KEY = DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

# Production (GAUNTLET_DEV and DEBUG off) is HTTPS only: redirects to https, secure cookies, HSTS. Each is
# overridable, and GAUNTLET_HTTPS=0 turns them all off (plain HTTP, e.g. compose on localhost). Development
# serves plain HTTP on loopback.
GAUNTLET_HTTPS = env_bool("GAUNTLET_HTTPS", not env_bool("GAUNTLET_DEV", True) and not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", GAUNTLET_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health probes reach the app directly, over plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", GAUNTLET_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", GAUNTLET_HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if GAUNTLET_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", GAUNTLET_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", GAUNTLET_HTTPS)
# Behind a proxy that terminates TLS every request arrives as plain HTTP, and the redirect would loop. Trust
# X-Forwarded-Proto only from a proxy that sets it and drops the client's own.
if env_bool("GAUNTLET_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "accounts",
    "ninja",
    "agents",
    "runs",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "benchmark_site.urls"
ASGI_APPLICATION = "benchmark_site.asgi.application"
WSGI_APPLICATION = None

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
                "benchmark_site.vendor.versions",
                "accounts.context_processors.signup",
                "agents.context_processors.teams",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gauntlet.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
except Exception as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}")
# The web server (benchmark_site.asgi turns this on) serves every request on a thread of its own: without a pool
# each request would open a new PostgreSQL connection (a server process forked, ~10 ms) and close it. A pooled
# connection is checked before it is handed out, so one the server dropped (restart, pg_terminate_backend) is
# replaced, not given to a request. Worker processes keep one connection per episode thread instead.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("GAUNTLET_DB_POOL", False):
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # with a pool: psycopg_pool's check on every checkout
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("GAUNTLET_DB_POOL_SIZE", "16")),
        "timeout": 20,
        "max_idle": 300,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The embedded default: a file, so worker processes share it with the web server; WAL mode and a
    # busy timeout let them write alongside each other.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs:index"
LOGOUT_REDIRECT_URL = "login"

# Sign-up: "open" (anyone may make an account) or "invite" (only through a team's invitation link). Open by
# default in development, invitation-only otherwise.
GAUNTLET_SIGNUP = os.environ.get("GAUNTLET_SIGNUP") or ("open" if env_bool("GAUNTLET_DEV", True) else "invite")
if GAUNTLET_SIGNUP not in ("open", "invite"):
    raise ImproperlyConfigured(f"GAUNTLET_SIGNUP must be open or invite, got {GAUNTLET_SIGNUP!r}")
# How long a team's invitation link can be used.
GAUNTLET_INVITE_DAYS = env_int("GAUNTLET_INVITE_DAYS", 7, minimum=1)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600, minimum=60)

# Mail (invitations, password resets): printed on the console in development, SMTP otherwise, or any backend
# EMAIL_BACKEND names (e.g. django.core.mail.backends.filebased.EmailBackend with EMAIL_FILE_PATH).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if env_bool("GAUNTLET_DEV", True)
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
if os.environ.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Gauntlet <gauntlet@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("GAUNTLET_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
# Daphne serves /static/ itself unless a front proxy does (set GAUNTLET_SERVE_STATIC=0 behind one).
GAUNTLET_SERVE_STATIC = env_bool("GAUNTLET_SERVE_STATIC", True)

# Artifacts (traces, screenshots) go through default_storage: files under MEDIA_ROOT by default, or an
# S3-compatible bucket shared by every web and worker host (GAUNTLET_STORAGE=s3). They are private: pages
# serve them after an ownership check, streamed by the app, or (GAUNTLET_ARTIFACT_REDIRECT=1, S3 only) by a
# redirect to a short-lived presigned URL, which browsers must then be able to reach.


def artifact_storage() -> dict:
    """The ``STORAGES["default"]`` entry that GAUNTLET_STORAGE and the GAUNTLET_S3_* variables describe."""
    kind = os.environ.get("GAUNTLET_STORAGE", "filesystem")
    if kind == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(f"GAUNTLET_STORAGE must be filesystem or s3, got {kind!r}")
    if not os.environ.get("GAUNTLET_S3_BUCKET"):
        raise ImproperlyConfigured("GAUNTLET_S3_BUCKET must be set when GAUNTLET_STORAGE is s3")
    style = os.environ.get("GAUNTLET_S3_ADDRESSING_STYLE") or None
    if style not in (None, "auto", "path", "virtual"):
        raise ImproperlyConfigured(f"GAUNTLET_S3_ADDRESSING_STYLE must be auto, path or virtual, got {style!r}")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["GAUNTLET_S3_BUCKET"],
            "endpoint_url": os.environ.get("GAUNTLET_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("GAUNTLET_S3_REGION") or None,
            "addressing_style": style,
            # Unset keys leave boto3 its own chain (AWS_* variables, instance or task roles).
            "access_key": os.environ.get("GAUNTLET_S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("GAUNTLET_S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,  # the bucket's own (private) policy, never public-read
            "querystring_auth": True,
            # Signature V2 links, botocore's default for presigning here, are refused by newer AWS regions.
            "signature_version": "s3v4",
            # A presigned download link is followed at once; a short life limits what a leaked link shows.
            "querystring_expire": 60,
            # Reads are buffered in a spooled file: past 2 MiB on disk, not in the process's memory
            # (0, the library's default, would keep any artifact in memory whole).
            "max_memory_size": 2 * 1024 * 1024,
        },
    }


STORAGES = {
    "default": artifact_storage(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
GAUNTLET_ARTIFACT_REDIRECT = env_bool("GAUNTLET_ARTIFACT_REDIRECT", False)
if GAUNTLET_ARTIFACT_REDIRECT and os.environ.get("GAUNTLET_STORAGE") != "s3":
    raise ImproperlyConfigured("GAUNTLET_ARTIFACT_REDIRECT needs GAUNTLET_STORAGE=s3 (local files have no URL)")

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
GAUNTLET_PREFIX = os.environ.get("GAUNTLET_PREFIX", "gauntlet")

CHANNEL_LAYERS = {
    "default": {
        # The pub/sub layer: the core layer drops messages in bursts. socket_timeout=None keeps idle
        # websockets open (channels-redis 4.3 with redis-py 8 closes them after ~5 s otherwise).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": f"{GAUNTLET_PREFIX}:channels",
        },
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("GAUNTLET_QUEUE", f"{GAUNTLET_PREFIX}-episodes")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One worker process plays this many episodes at once, each in its own context of the process's one Chromium
# (runner/host.py): Celery's threads pool, one thread per episode, instead of a process (and a browser) each.
# With late acks and a prefetch multiplier of 1 a process reserves no more messages than it has threads, so
# it hoards nothing; a process that dies leaves its episodes' leases to expire, and the reaper re-sends them.
GAUNTLET_EPISODES_PER_WORKER = env_int("GAUNTLET_EPISODES_PER_WORKER", 4, minimum=1)
# A worker lowers its CPU priority to this niceness (0 to 19; 0 leaves it) before it starts anything, so its
# threads, Playwright driver and Chromium inherit it: on a host that also serves the dashboard, people's
# pages and live events come before the batch work of episodes. Episodes only slow down while pages are busy.
GAUNTLET_WORKER_NICE = env_int("GAUNTLET_WORKER_NICE", 10, minimum=0)
if GAUNTLET_WORKER_NICE > 19:
    raise ImproperlyConfigured(f"GAUNTLET_WORKER_NICE must be at most 19, got {GAUNTLET_WORKER_NICE}")
# Lower still: the runner host's loop thread, and so its Playwright driver and Chromium, the bulk of an
# episode's CPU. The worker's threads that write steps and publish live events stay at GAUNTLET_WORKER_NICE,
# so live events keep up while Chromium yields to the web processes (bench/load.py: run page p95 under load
# 0.57-0.68 s with Chromium at 10, 0.31-0.44 s at 19). Lowering only: it never raises the worker's priority.
GAUNTLET_BROWSER_NICE = env_int("GAUNTLET_BROWSER_NICE", 19, minimum=0)
if GAUNTLET_BROWSER_NICE > 19:
    raise ImproperlyConfigured(f"GAUNTLET_BROWSER_NICE must be at most 19, got {GAUNTLET_BROWSER_NICE}")
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = GAUNTLET_EPISODES_PER_WORKER
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# An episode running longer is stopped and retried as an infrastructure failure. The broker's visibility
# timeout stays longer, otherwise Redis hands a running episode to a second worker.
GAUNTLET_EPISODE_TIMEOUT_S = env_int("GAUNTLET_EPISODE_TIMEOUT_S", 900, minimum=10)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": GAUNTLET_EPISODE_TIMEOUT_S * 2,
    "global_keyprefix": f"{GAUNTLET_PREFIX}:celery:",
}
CELERY_TASK_ALWAYS_EAGER = False
# Redis serves priority 0 first. Fresh episodes go out at 6; an episode put back in the queue (its worker
# died, its message was lost, a retry) goes out at 0 and overtakes the backlog instead of waiting behind it.
CELERY_TASK_DEFAULT_PRIORITY = 6
# A worker renews its episode's lease every step and every third of the lease while it waits, so a dead
# worker's episode is back in the queue within a lease plus a reaper interval (45 s by default).
GAUNTLET_LEASE_S = env_int("GAUNTLET_LEASE_S", 30, minimum=2)
GAUNTLET_REAPER_INTERVAL_S = env_int("GAUNTLET_REAPER_INTERVAL_S", 15, minimum=1)
# A queued episode not claimed this long after it was enqueued may have lost its message (Redis restarted
# empty, the web process died mid-enqueue): the reaper enqueues it again if the broker holds too few messages.
GAUNTLET_REQUEUE_AFTER_S = env_int("GAUNTLET_REQUEUE_AFTER_S", 60, minimum=1)
# Fair dispatch (runs/dispatch.py): the broker holds at most GAUNTLET_DISPATCH_AHEAD fresh episodes not yet
# claimed, and the dispatcher picks the next ones from the database: the team with the fewest episodes in
# play first, round-robin over its runs, each run interleaved across scenarios. A team (the built-in runs
# with no team count as one) has at most GAUNTLET_TEAM_MAX_RUNNING episodes running or sent (0: no limit).
# GAUNTLET_FAIR_DISPATCH=0 sends every episode of a run at once in suite order (first come, first served).
GAUNTLET_FAIR_DISPATCH = env_bool("GAUNTLET_FAIR_DISPATCH", True)
GAUNTLET_DISPATCH_AHEAD = env_int("GAUNTLET_DISPATCH_AHEAD", 2, minimum=1)
GAUNTLET_TEAM_MAX_RUNNING = env_int("GAUNTLET_TEAM_MAX_RUNNING", 0, minimum=0)
# Beat runs the reaper itself (runs/scheduler.py), so a backlog or busy workers cannot hold it up.
CELERY_BEAT_SCHEDULER = "runs.scheduler:Scheduler"
CELERY_BEAT_SCHEDULE = {
    "reap-stranded-episodes": {
        "task": "runs.tasks.reap_stranded_episodes",
        "schedule": float(GAUNTLET_REAPER_INTERVAL_S),
    },
}

# Which internal addresses HTTP and LLM agent endpoints may reach (runner.egress reads the same variables in
# every process that calls agents); parsed here so that a bad value stops start-up.
try:
    GAUNTLET_AGENT_EGRESS = EgressPolicy.from_env()
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

GAUNTLET_MAX_ATTEMPTS = env_int("GAUNTLET_MAX_ATTEMPTS", 3, minimum=1)
GAUNTLET_DEFAULT_MAX_STEPS = env_int("GAUNTLET_DEFAULT_MAX_STEPS", 30, minimum=1)
# How often a live page hears the run's latest sequence number: the bound on how long it may miss a lost event.
GAUNTLET_LIVE_HEARTBEAT_S = env_int("GAUNTLET_LIVE_HEARTBEAT_S", 3, minimum=1)
# "Open sandbox": a user's newest sessions are kept up to the per-user cap; past the global cap new ones are
# refused, so no user can close another's.
GAUNTLET_PLAYGROUND_PER_USER = env_int("GAUNTLET_PLAYGROUND_PER_USER", 3, minimum=1)
GAUNTLET_PLAYGROUND_MAX = env_int("GAUNTLET_PLAYGROUND_MAX", 100, minimum=1)
GAUNTLET_PLAYGROUND_TTL_S = env_int("GAUNTLET_PLAYGROUND_TTL_S", 3600, minimum=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # One INFO line per agent request is noise; failures reach the trace as named agent errors.
        "httpx": {"level": "WARNING"},
    },
}
