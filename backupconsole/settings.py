"""Settings, all from the environment (and `.env` when present).

The names DB_HOST .. DB_PASSWORD and BACKUP_ROOT are the original backup
script's; keep them.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from backupconsole import env_files

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

if not SECRET_KEY:
    # A stable key per installation, kept beside the console's own database.
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        import os
        import secrets

        VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Private from its first byte: a key readable for a moment is a key to forge sessions with.
        _fd = os.open(_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(_fd, "w") as _f:
            _f.write(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()

INSTALLED_APPS = [
    # The admin's modules are loaded by backupconsole/urls.py (admin.autodiscover), so the
    # commands cron runs (backup, restore, verify) start without them.
    "backups_app.console_site.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_q: its `qcluster` command is replaced by one that always stops (backups_app/management).
    "backups_app",
    "django_q",
    "axes",
    "csp",
    "django_htmx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's CSS and scripts from STATIC_ROOT (after collectstatic) under gunicorn too.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # request.htmx: the Jobs page and the policy preview answer their live fragments with a fragment.
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the 429 page.
    "axes.middleware.AxesMiddleware",
]

# --- Signing in: django-axes locks a user name out, from the address it was tried from, after
# LOGIN_FAILURE_LIMIT wrong passwords, for LOGIN_LOCKOUT_MINUTES. `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
# The pair, not the address alone: people who share an address (an office) do not lock each other out;
# and not the user name alone, or a stranger could lock anybody out from anywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The reverse proxies in front of gunicorn (addresses or networks; docs/deploy.md's nginx: 127.0.0.1).
# Only from them is X-Forwarded-For believed, so the lock above is on the real client's address and
# not on the proxy's, which every browser would share (services/web/client_address.py).
TRUSTED_PROXY_IPS = env.list("TRUSTED_PROXY_IPS", default=[])
AXES_CLIENT_IP_CALLABLE = "backups_app.services.web.client_address.client_address"
AXES_RESET_ON_SUCCESS = True

# --- HTTPS. HTTPS=true when people reach the console only through https:// (a TLS proxy in
# front of gunicorn): cookies go over TLS only, http:// is redirected, browsers remember (HSTS).
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# includeSubDomains and preload bind every other site of the domain to HTTPS too: that is the
# domain owner's decision, not this console's, so they are opt-in and their reminders silenced.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

# --- Content-Security-Policy: the admin runs no inline script (the console's own scripts are
# static files); inline style attributes stay allowed for the admin's and the status badges'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "backupconsole.urls"
WSGI_APPLICATION = "backupconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's look over every admin page (admin/base_site.html), ahead of the admin's own.
        "DIRS": [BASE_DIR / "backupconsole" / "templates"],
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

# The console's own database: SQLite under ./var unless DATABASE_URL says
# otherwise. Several worker processes write to it, hence WAL, IMMEDIATE
# transactions (no lock upgrade deadlocks) and a generous busy timeout.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'console.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Its folder (VAR_DIR by default) is made on the first start, private, so `migrate` on a new machine
    # needs no mkdir first; one that cannot be made is one line, not SQLite's traceback.
    _db_folder = Path(DATABASES["default"]["NAME"]).parent
    try:
        _db_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as _exc:
        raise SystemExit(f"The console database's folder {_db_folder} cannot be made: {_exc.strerror}. "
                         "Set VAR_DIR (or DATABASE_URL) to a folder this user can make.") from None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="ja")
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "backups_app" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# The web server itself serves the admin's CSS and JavaScript (no separate file
# server needed); straight from the apps, so collectstatic is optional.
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "admin:login"

# --- The default backup target (the original script's variables) ---------
# From the environment or .env; when neither sets any DB_*, from the demo cluster's
# demo.env, so every command run from this checkout finds what run-console.sh set up.
DEMO_PG_DIR = Path(env.str("DEMO_PG_DIR", default="") or VAR_DIR / "demo-pg")
DB_SETTINGS_FILE = env_files.load_demo_settings(DEMO_PG_DIR / "demo.env")
DB_HOST = env.str("DB_HOST", default="localhost")
DB_PORT = env.int("DB_PORT", default=5432)
DB_NAME = env.str("DB_NAME", default="trading_system")
DB_USER = env.str("DB_USER", default="postgres")
# DB_PASSWORD is read from the environment at dump time, by name, and never
# copied into settings, records or logs.
# The environment variables a target may name as its password: names, or
# prefixes ending in * (never the console's own secrets, see postgres/names.py).
TARGET_PASSWORD_VARIABLES = env.list("TARGET_PASSWORD_VARIABLES", default=["DB_PASSWORD", "BACKUP_PG_PASSWORD_*"])

# --- Backups ---------------------------------------------------------------
BACKUP_ROOT = Path(env.str("BACKUP_ROOT", default=str(BASE_DIR / "backups"))).resolve()
# Extra directory searched first for pg_dump / pg_restore / psql.
PG_BIN_DIR = env.str("PG_BIN_DIR", default="")
# Use only the programs in PG_BIN_DIR (no PATH or system folders).
PG_BIN_DIR_ONLY = env.bool("PG_BIN_DIR_ONLY", default=False)
# auto: zstd:1 when the chosen pg_dump has zstd (16+), else gzip:1. pg_dump's
# own default (gzip level 6) is several times slower on real data.
BACKUP_CUSTOM_COMPRESSION = env.str("BACKUP_CUSTOM_COMPRESSION", default="auto")
# Directory-format backups (`--format directory`) dump this many tables at
# once (pg_dump --jobs; each job is one more connection to the server).
# Worth it where a database has many tables, e.g. TimescaleDB chunks.
BACKUP_DUMP_JOBS = env.int("BACKUP_DUMP_JOBS", default=min(4, os.cpu_count() or 1))
# A directory-format backup's files whose content an earlier one stored already are hard links
# to one copy in BACKUP_ROOT/.store (services/storage/local_store.py).
BACKUP_DEDUP = env.bool("BACKUP_DEDUP", default=True)
# Encrypted directory backups share a file when its content before encryption is the same, found by
# HMAC-SHA256 under the key in the environment variable named here (32+ characters, read when used,
# never stored); unset, a key derived from SECRET_KEY (services/crypto/sealing.py).
BACKUP_DEDUP_KEY_ENV = env.str("BACKUP_DEDUP_KEY_ENV", default="BACKUP_DEDUP_KEY")
# Plain SQL dumps are compressed by an external program: "gzip" (.sql.gz,
# level 1) or "zstd" (.sql.zst, level 3).
BACKUP_SQL_COMPRESSION = env.str("BACKUP_SQL_COMPRESSION", default="gzip")
BACKUP_PREFLIGHT = env.bool("BACKUP_PREFLIGHT", default=True)
# Exact row counts per table, taken in pg_dump's own snapshot, so restore
# drills can compare them. Off by default: it reads every table once more.
BACKUP_ROW_COUNTS = env.bool("BACKUP_ROW_COUNTS", default=False)
BACKUP_KEEP_DAYS = env.int("BACKUP_KEEP_DAYS", default=30)
# Encryption at rest (age). Targets set to encrypt use their own public keys
# or, when they have none, these (comma-separated age1... keys). The private
# key is only needed to restore and verify: a file, or an environment
# variable named here (read when used, never stored). Restores stream the
# decrypted backup; only a parallel one (--jobs) decrypts into a private
# temporary copy in BACKUP_SCRATCH_DIR (below), removed afterwards.
BACKUP_AGE_RECIPIENTS = env.list("BACKUP_AGE_RECIPIENTS", default=[])
BACKUP_AGE_IDENTITY_FILE = env.str("BACKUP_AGE_IDENTITY_FILE", default="")
BACKUP_AGE_IDENTITY_ENV = env.str("BACKUP_AGE_IDENTITY_ENV", default="BACKUP_AGE_IDENTITY")
# Offsite copies (services/storage/offsite.py): uploads are tried this many times, waiting
# OFFSITE_RETRY_SECONDS, then twice that, between tries; parts of OFFSITE_PART_MB, at most
# OFFSITE_CONCURRENCY in flight. Files fetched back for a restore or verification go to
# BACKUP_SCRATCH_DIR (this host's own) and are removed when the job ends.
OFFSITE_UPLOAD_ATTEMPTS = env.int("OFFSITE_UPLOAD_ATTEMPTS", default=3)
OFFSITE_RETRY_SECONDS = env.float("OFFSITE_RETRY_SECONDS", default=5)
OFFSITE_PART_MB = env.int("OFFSITE_PART_MB", default=16)
OFFSITE_CONCURRENCY = env.int("OFFSITE_CONCURRENCY", default=2)
# Directory-format backups share their files in object storage (services/storage/blob_sweep.py):
# a prune of the shared files holds the store this long at most without renewing its lock; an upload
# waits while one does, and a lock older than this (its prune was killed) is taken as gone.
OFFSITE_STORE_LEASE_SECONDS = env.int("OFFSITE_STORE_LEASE_SECONDS", default=600)
# ... and each storage holding them is swept this often besides (blobs a killed prune or upload left are
# removed within this time even when no prune runs); 0: only prunes sweep.
OFFSITE_SWEEP_HOURS = env.int("OFFSITE_SWEEP_HOURS", default=24)
BACKUP_SCRATCH_DIR = Path(env.str("BACKUP_SCRATCH_DIR", default=str(VAR_DIR / "scratch"))).resolve()
# Server targets (every database of a server): how many of its databases a run backs up at once.
# 1 backs them up in turn; more finish sooner but load the server (and its disks) that much more.
SERVER_BACKUP_PARALLEL = env.int("SERVER_BACKUP_PARALLEL", default=1)
# A TimescaleDB database overwritten by a restore is swapped out, not emptied:
# it stays under a dated name as the safety copy unless this is off.
RESTORE_KEEP_REPLACED_DATABASE = env.bool("RESTORE_KEEP_REPLACED_DATABASE", default=True)

# --- Monitoring -------------------------------------------------------------
# A succeeded backup is flagged when its size is further than this many percent
# from the median of the previous BACKUP_SIZE_ANOMALY_HISTORY backups of the
# same target, type and format (0 turns the check off).
BACKUP_SIZE_ANOMALY_PERCENT = env.float("BACKUP_SIZE_ANOMALY_PERCENT", default=50)
BACKUP_SIZE_ANOMALY_HISTORY = env.int("BACKUP_SIZE_ANOMALY_HISTORY", default=7)
# /metrics answers a request bearing this token, or coming from one of these
# addresses or networks; nobody else (and nobody at all when both are empty).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# --- Jobs (django-q2) -------------------------------------------------------
# The longest a job may run (a big dump takes hours); django-q2 stops it after this.
JOB_TIMEOUT = env.int("JOB_TIMEOUT", default=6 * 3600)
# A running job marks its row alive this often; one silent for JOB_LOST_AFTER_SECONDS
# is failed as "job lost" by the reaper, which runs every JOB_REAP_SECONDS in each worker.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=10)
JOB_LOST_AFTER_SECONDS = env.int("JOB_LOST_AFTER_SECONDS", default=120)
# A running job writes the bytes it has done this often, for the Jobs page's live progress.
JOB_PROGRESS_SECONDS = env.float("JOB_PROGRESS_SECONDS", default=1)
JOB_REAP_SECONDS = env.float("JOB_REAP_SECONDS", default=max(1, min(30, JOB_LOST_AFTER_SECONDS // 4)))
# A job waits for its target's turn until this long after it was requested; then it is refused.
JOB_LOCK_WAIT_SECONDS = env.int("JOB_LOCK_WAIT_SECONDS", default=2 * 3600)
# A queued job whose target is busy holds a worker only this long before going back
# to the queue, so workers serve other targets meanwhile.
JOB_TURN_SLICE_SECONDS = env.float("JOB_TURN_SLICE_SECONDS", default=3)
REDIS_URL = env.str("REDIS_URL", default="")
# A schedule (backup, verification or drill) may run at most this often: a drill every minute
# restores into the server every minute. 0 to 1440; 0 allows every minute.
SCHEDULE_MIN_INTERVAL_MINUTES = env.int("SCHEDULE_MIN_INTERVAL_MINUTES", default=60)
# This host's name among hosts sharing the console database (docs/deploy.md): a backup's local file is
# on the host that made it, and a job that needs that file is run by that host's worker. Default: the
# machine's host name; set it when two hosts (containers) share one, and keep it while their backups do.
CONSOLE_HOST_NAME = env.str("CONSOLE_HOST_NAME", default="")

Q_CLUSTER = {
    "name": "backupconsole",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": JOB_TIMEOUT,
    # Larger than timeout, so a long dump is never handed to a second worker.
    "retry": JOB_TIMEOUT + 600,
    # A failed backup is recorded as failed and not tried again by the queue.
    "max_attempts": 1,
    "ack_failures": True,
    # Tasks taken off the broker wait in the cluster's memory, out of sight and lost
    # in a crash: keep at most one there besides those running.
    "queue_limit": 1,
    "catch_up": False,
    "save_limit": 1000,
    # How often an idle cluster asks the ORM broker for work: the delay between
    # pressing "Back up now" and the job starting.
    "poll": env.float("Q_POLL", default=0.5),
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
# django-q2's own brokers, each also reading this host's list of jobs only it can run (services/jobs/broker.py).
Q_CLUSTER["broker_class"] = "backups_app.services.jobs.broker." + ("HostRedis" if REDIS_URL else "HostORM")

# --- The HTTP API (docs/api.md) -------------------------------------------------
# Calls per API token, and invalid tokens per client address, per period (N/s, N/min, N/h, N/day).
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="120/min")
API_FAILED_AUTH_RATE = env.str("API_FAILED_AUTH_RATE", default="20/min")
# The longest a call waiting for a job's end is held open; past it the job is answered as it stands.
API_WAIT_MAX_SECONDS = env.int("API_WAIT_MAX_SECONDS", default=60)

# --- Notifications -----------------------------------------------------------
# Channels are made in the admin; email goes through Django's email settings.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="backup-console@localhost")
# Each channel gives up after this long, so a dead server delays the end of a job at most this much.
NOTIFY_TIMEOUT_SECONDS = env.float("NOTIFY_TIMEOUT_SECONDS", default=10)
# How often each worker looks for targets without a fresh backup (0: never).
NOTIFY_STALE_CHECK_SECONDS = env.int("NOTIFY_STALE_CHECK_SECONDS", default=600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "backups_app": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        # A page that fails (HTTP 500) with its traceback: Django's own logging sends it only to ADMINS
        # by mail when DEBUG is off, and the console has none.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        # Apprise's own lines can hold a channel's URL: captured and scrubbed by services/notify instead.
        "apprise": {"handlers": [], "propagate": False},
    },
}
