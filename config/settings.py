"""MGE Studio settings: one module, every value from the environment.

The defaults run the whole app on one machine with nothing else installed: SQLite in
var/, kombu's filesystem broker in var/broker/ and the offline LLM provider. Set
DATABASE_URL and CELERY_BROKER_URL to run on PostgreSQL and Redis instead. Every
variable is listed, with its default, in README.md and .env.example.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_numbers, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# On by default like a development checkout; production (docker-compose.yml) turns it off.
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"  # noqa: S105
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "elicitation",
    "moralgraph",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.static.AsyncWhiteNoiseMiddleware",  # WhiteNoise, async-capable (config/static.py)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Control characters in parameters and oversized bodies: a clear page, never a 500.
    "elicitation.http.InputGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that its process_exception is the first to see a view's exception.
    "elicitation.http.ReconnectMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

# Plain inputs written without their three templates each (config/forms.py).
FORM_RENDERER = "config.forms.FormRenderer"

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
                "elicitation.context_processors.llm_mode",
            ],
        },
    }
]


def _database(url: str) -> dict:
    if not url.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with sqlite:// or postgres://, got {url.split(':')[0]!r}"
        )
    try:
        config = dj_database_url.parse(url)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid URL: {error}") from None
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django's, keeping what a request's writes committed (a request cut by a restart
        # runs again only if nothing was kept: elicitation.http.ReconnectMiddleware).
        config["ENGINE"] = "config.postgresql"
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL and IMMEDIATE transactions let the web process and the worker share one
        # SQLite file without "database is locked" errors under light load. Reads through
        # a memory map of the file (up to 1 GiB of it), not a copy per page read: a
        # large study's CSV export 6 % faster.
        config["OPTIONS"] = {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=1073741824;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif env_bool("DATABASE_POOL", True):
        # psycopg 3's pool: connections are reused across requests, so CONN_MAX_AGE
        # must stay 0 (Django refuses both at once). CONN_HEALTH_CHECKS makes Django give
        # the pool its connection check (ConnectionPool.check_connection): each connection
        # is tried as it is handed out, so after a database restart the pool replaces its
        # dead ones instead of serving errors.
        config["OPTIONS"] = {
            "pool": {
                "min_size": env_int("DATABASE_POOL_MIN", 1, minimum=0),
                "max_size": env_int("DATABASE_POOL_MAX", 20, minimum=1),
                "timeout": 10,
            }
        }
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_POOL_CHECK", True)
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

SESSION_COOKIE_AGE = 60 * 60 * 24 * 14  # a participant may come back within two weeks
# Database sessions whose save is made again when a database restart cut it.
SESSION_ENGINE = "elicitation.sessions"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"

# --- Production security (`manage.py check --deploy` passes with DEBUG off) ----------
# Behind a proxy that ends TLS (nginx, a load balancer), Django learns that the request
# was HTTPS from X-Forwarded-Proto; only set BEHIND_PROXY if the proxy always sets it.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the container's health check speaks plain HTTP
# A year, as browsers' preload lists ask; set 0 while first trying a new domain.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The largest form body accepted (files aside): far above any participant form, far
# below a pasted megabyte, which gets a page naming this limit (elicitation.http).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024, minimum=1024)

# Content Security Policy (django-csp), sent in development too so the browser tests
# run under it: scripts, styles, the interview's event stream and htmx's requests only
# from this site; no inline script or style anywhere (templates use static files).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
EXPORT_ROOT = VAR_DIR / "exports"

# Researchers sign in on Django's own login page (not the admin's, which admits only
# staff): research pages check per-study roles, the admin its own permissions.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "research:studies"
LOGOUT_REDIRECT_URL = "login"

# --- Celery -------------------------------------------------------------------------
# The default broker is a folder on disk: it works across processes on one machine
# with nothing installed, unlike eager mode, which would hide real queueing bugs.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if not CELERY_BROKER_URL.startswith(("filesystem://", "redis://", "rediss://", "amqp://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL must be filesystem://, redis:// or amqp://, "
        f"got {CELERY_BROKER_URL.split(':')[0]!r}"
    )
_BROKER_DIR = VAR_DIR / "broker"
# Above the longest task (a full reconciliation with a slow model), so that a message
# whose worker died is redelivered, and never one that is still being worked on.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 7200, minimum=60)
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("out", "processed", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis looks for messages of a dead worker every 10 s (kombu's default throttle made
    # it every 100 s), and hands back those older than the visibility timeout.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "mge")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
RECONCILE_SWEEP_SECONDS = env_int("RECONCILE_SWEEP_SECONDS", 300, minimum=5)
SCORE_DEBOUNCE_SECONDS = env_int("SCORE_DEBOUNCE_SECONDS", 30, minimum=0)
# The default scoring's model and thresholds (names of moralgraph.graph.pairwise's
# PairwiseParams, e.g. "confident_probability=0.975,resamples=400"); empty keeps the
# calibrated defaults. Unknown names stop the process at start.
PAIRWISE_PARAMS = env_numbers("PAIRWISE_PARAMS")
RECONCILE_MAX_ATTEMPTS = env_int("RECONCILE_MAX_ATTEMPTS", 5, minimum=1)
# A running export whose heartbeat is older than this is taken to have lost its worker.
EXPORT_LEASE_SECONDS = env_int("EXPORT_LEASE_SECONDS", 600, minimum=30)

# --- Reconciliation -----------------------------------------------------------------
# Dedup shows the LLM judge at most DEDUP_TOP_K candidate values per card, found by
# words (BM25) and by embedding; a value is a candidate only if its cosine reaches
# DEDUP_MIN_SIMILARITY or it shares DEDUP_MIN_OVERLAP of the card's informative words.
# Up to DEDUP_BATCH_CARDS cards that arrive together share one call. A card costs one
# call at most however many candidates it has, so the bar is low: cards in their own
# words sit at 0.2-0.35 with the local embedding. Set it again for an EMBEDDING_MODEL.
DEDUP_TOP_K = env_int("DEDUP_TOP_K", 12, minimum=1)
DEDUP_MIN_SIMILARITY = env_float("DEDUP_MIN_SIMILARITY", 0.2, minimum=0.0)
DEDUP_MIN_OVERLAP = env_float("DEDUP_MIN_OVERLAP", 0.2, minimum=0.0)
DEDUP_BATCH_CARDS = env_int("DEDUP_BATCH_CARDS", 4, minimum=1)
CONTEXT_MIN_SIMILARITY = env_float("CONTEXT_MIN_SIMILARITY", 0.5, minimum=0.0)
# Candidate pairs for upgrade stories, per value and context.
HYPOTHESIS_NEIGHBOURS = env_int("HYPOTHESIS_NEIGHBOURS", 2, minimum=0)
HYPOTHESIS_COSELECTED = env_int("HYPOTHESIS_COSELECTED", 2, minimum=0)
HYPOTHESIS_MIN_CONTAINMENT = env_float("HYPOTHESIS_MIN_CONTAINMENT", 0.5, minimum=0.0)
# Pairs of one context whose stories (both directions) one call writes; how many calls a
# study may make is its story budget (Study.story_budget, per submitted card).
HYPOTHESIS_BATCH_PAIRS = env_int("HYPOTHESIS_BATCH_PAIRS", 3, minimum=1)
# The LLM pre-screen of submitted cards (a flag for the moderation page, never a hide).
LLM_SCREEN_CARDS = env_bool("LLM_SCREEN_CARDS", True)

# --- LLM ----------------------------------------------------------------------------
# "offline" is the deterministic provider that ships with the app. Any other value is
# a litellm model name ("openai/gpt-4o", "anthropic/claude-...") and its key is read
# by litellm from the usual variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).
LLM_MODEL = env_str("LLM_MODEL", "offline")
# Each stage's default model; which stage reads which is elicitation/llm/stages.py.
LLM_INTERVIEW_MODEL = env_str("LLM_INTERVIEW_MODEL", LLM_MODEL)
LLM_ARTICULATE_MODEL = env_str("LLM_ARTICULATE_MODEL", LLM_MODEL)  # drafting and revising
LLM_DEDUP_MODEL = env_str("LLM_DEDUP_MODEL", LLM_MODEL)  # dedup and contexts
LLM_HYPOTHESIS_MODEL = env_str("LLM_HYPOTHESIS_MODEL", LLM_MODEL)
LLM_RESPONSE_MODEL = env_str("LLM_RESPONSE_MODEL", LLM_MODEL)
# The personas of `manage.py simulate`: offline unless asked, a dry run should cost little.
LLM_SIMULATE_MODEL = env_str("LLM_SIMULATE_MODEL", "offline")
# The budget cap reads a study's LLM spend at most this often (seconds) per process.
LLM_SPEND_REFRESH_SECONDS = env_float("LLM_SPEND_REFRESH_SECONDS", 10.0, minimum=0.0)
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "")  # empty: the local deterministic embedding
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 60.0, minimum=1.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 3, minimum=0)
LLM_RETRY_BASE_SECONDS = env_float("LLM_RETRY_BASE_SECONDS", 1.0, minimum=0.0)
LLM_API_BASE = env_str("LLM_API_BASE", "")  # an OpenAI-compatible server for every real model

# The offline provider writes instantly; a short pause between its tokens makes the
# demo's interview stream read like a real model's (0 in most tests).
OFFLINE_STREAM_DELAY_MS = env_int("OFFLINE_STREAM_DELAY_MS", 25, minimum=0)
# LLM requests (messages, card drafts, revisions) each participant may make in an hour,
# reserved for them out of the study's hourly budget while they are in the LLM steps
# (elicitation.ratelimit): a study admits a newcomer only if it can reserve this much.
LLM_ALLOWANCE_PER_PARTICIPANT = env_int("LLM_ALLOWANCE_PER_PARTICIPANT", 30, minimum=1)


def _offline_latency(name: str) -> dict[str, float]:
    """``5`` (every non-streamed offline call waits 5 s) or ``articulate:5,revise:3,*:1``
    (by stage, ``*`` for the rest): a real model's latency, for benches and demos."""
    latency: dict[str, float] = {}
    for item in env_str(name, "").split(","):
        stage, _, seconds = item.strip().rpartition(":")
        if not seconds:
            continue
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 600:
            raise ImproperlyConfigured(f"{name}: {item!r} is not 0 to 600 seconds")
        latency[stage or "*"] = value
    return latency


# The offline provider answers non-streamed calls (drafting and revising a card, the
# graph's stages) at once; this makes it wait like a real model. Empty (0) by default.
LLM_OFFLINE_LATENCY_SECONDS = _offline_latency("LLM_OFFLINE_LATENCY_SECONDS")

# How long a web process reuses a study it read (selectors.published_study): a change
# made in another process reaches its pages within this many seconds (0: read each time).
STUDY_CACHE_SECONDS = env_float("STUDY_CACHE_SECONDS", 2.0, minimum=0.0)

# Requests to sync views running at once per web process (0: no bound); the others wait
# on the event loop (config/static.py). Well below the pool's size: the async views' short
# database steps (a stream's start and saves, a card's draft) take connections beside
# them. With 8 of 10, hundreds of those steps queued for the other two while the pages
# held theirs (bench/load.py, 500 people: a message sent waited 5-7 s for its page).
SYNC_REQUESTS_AT_ONCE = env_int(
    "SYNC_REQUESTS_AT_ONCE",
    max(1, min(8, env_int("DATABASE_POOL_MAX", 20, minimum=1) - 2)),
    minimum=0,
)

# --- Participant limits -------------------------------------------------------------
MESSAGE_MAX_CHARS = env_int("MESSAGE_MAX_CHARS", 2000, minimum=100)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django gives its own logger a console handler under DEBUG; one is enough.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "elicitation.tasks.heartbeat", "schedule": 60.0},
    # Sweeps catch up whatever a lost message or a dead worker left behind.
    "reconcile-sweep": {
        "task": "moralgraph.tasks.sweep_studies",
        "schedule": float(RECONCILE_SWEEP_SECONDS),
    },
}
