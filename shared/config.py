"""All configuration, read from environment variables in one place.

Locally, `emulators/dev.env` (plain KEY=value lines) supplies defaults; a variable already set in the
environment always wins. The file is never read in the cloud (K_SERVICE is set there) and is not part
of any deployed bundle.

| variable | meaning | local default |
| --- | --- | --- |
| GOOGLE_CLOUD_PROJECT | GCP project id | ledgerline-local |
| LEDGERLINE_ENV | `local` (emulators) or `cloud` | local |
| DATASTORE_PORT, PUBSUB_PORT | emulator ports | 8081, 8085 |
| TASKS_PORT | Cloud Tasks emulator port | 8123 |
| BIGQUERY_PORT, BIGQUERY_GRPC_PORT | BigQuery emulator REST / gRPC ports | 9050, 9060 |
| INTAKE_PORT … EXPORTS_PORT | functions-framework port per function | 8080, 8082-8084, 8086-8089 |
| BANK_SANDBOX_PORT | our bank sandbox (emulators/bank_sandbox: the column and lakeside banks' transfer API) | 8090 |
| WEBHOOK_RECEIVER_PORT | our webhook receiver (emulators/webhook_receiver: plays tenants' webhook endpoints) | 8092 |
| SCHEDULER_PORT | the local Cloud Scheduler's admin API (emulators/scheduler.py: state, forced runs) | 8094 |
| LEDGERLINE_SCHEDULER_PAUSED | `true`: the local scheduler fires no job on schedule | false; fresh: true |
| LEDGERLINE_SCHEDULER_BACKOFF_SCALE | local only (tests): multiplies the scheduler's retry backoff (60-600 s) | 1 |
| LOCALSTRIPE_PORT | localstripe (fake Stripe API + webhook sender, docs/localstripe.md) port | 8420 |
| DATASTORE_EMULATOR_HOST | read by google-cloud-datastore; derived from DATASTORE_PORT | 127.0.0.1:8081 |
| PUBSUB_EMULATOR_HOST | read by google-cloud-pubsub; derived from PUBSUB_PORT | 127.0.0.1:8085 |
| CLOUD_TASKS_EMULATOR_HOST | ours: gRPC host of the Tasks emulator | 127.0.0.1:8123 |
| BIGQUERY_EMULATOR_HOST | ours: REST host of the BigQuery emulator | 127.0.0.1:9050 |
| STORAGE_EMULATOR_HOST | google-cloud-storage: the storage emulator (fake-gcs-server) | http://127.0.0.1:4443 |
| <FUNCTION>_URL | base URL of a function (cloud: its https URL) | http://127.0.0.1:port |
| STRIPE_WEBHOOK_SECRET | Stripe signing secret(s), comma-separated for rotation | dev value in dev.env |
| STRIPE_API_KEY | Stripe secret API key (`sk_…`) the card processor adapter calls Stripe with | dev value in dev.env |
| STRIPE_API_BASE | Stripe API base URL for the SDK (cloud: unset: the SDK default) | 127.0.0.1:LOCALSTRIPE_PORT |
| ADYEN_HMAC_KEYS | Adyen notification HMAC key(s), hex, comma-separated for rotation | dev value in dev.env |
| ADYEN_BASIC_AUTH | Adyen Basic auth `user:password` pair(s), comma-separated | dev value in dev.env |
| GENERIC_WEBHOOK_SECRETS | Standard Webhooks partner secret(s) `whsec_<base64>`, comma-separated | dev.env |
| COLUMN_WEBHOOK_SECRETS | bank/ACH partner (Column-style) signing secret(s), comma-separated | dev value in dev.env |
| COLUMN_API_KEY, LAKESIDE_API_KEY | a bank's transfer API key (payouts; payments function only) | dev.env |
| COLUMN_API_URL, LAKESIDE_API_URL | a bank's transfer API base URL | the sandbox, http://127.0.0.1:8090/<bank> |
| PAYMENTS_FINGERPRINT_KEY | HMAC key of destination fingerprints (dedupe and search without the number) | dev.env |
| PAYMENTS_KMS_KEY | Cloud KMS crypto key that wraps the data keys of sealed account numbers | unset (cloud only) |
| PAYMENTS_LOCAL_KEK | the emulators' stand-in for that key: 64 hex digits (no KMS emulator exists) | dev.env |
| WEBHOOKS_KMS_KEY | Cloud KMS key wrapping sealed webhook signing secrets | unset (cloud; locally PAYMENTS_LOCAL_KEK) |
| LAKESIDE_WEBHOOK_SECRETS | second bank (Column-style, payout failover) signing secret(s), comma-separated | dev.env |
| LEDGERLINE_RUN_DIR | where `make up` keeps PIDs, logs and emulator data | .run |
| LEDGERLINE_TEST_PORT_OFFSET | `ctl run --fresh` (tests, benches): its stack's ports = the dev ports + this | 10000 |
| LEDGERLINE_MAX_BODY_BYTES | largest webhook body accepted | 1048576 (1 MiB) |
| LEDGERLINE_LIVEMODE | `true` only in production: partner events must match it to be posted | false |
| LEDGERLINE_DEV_ENV | path of the dev settings file | emulators/dev.env |
| LEDGERLINE_REGION | Cloud Tasks location (queues live in a region) | us-central1 |
| LEDGERLINE_WEBHOOK_RETRY_SCALE | local only (chaos): multiplies the webhook retry delays and deadline | 1 |
| LEDGERLINE_TOPOLOGY_DIR | where topology.json lives | topology/ |
| LEDGERLINE_TASKS_INVOKER_SA | service account in the OIDC token of Cloud Tasks tasks (retries checks it) | unset |
| LEDGERLINE_SCHEDULER_INVOKER_SA | service account of Cloud Scheduler OIDC tokens (job targets check it) | unset |
| LEDGERLINE_PUSH_INVOKER_SA | service account Pub/Sub push signs OIDC tokens as (retries checks it) | unset |
| LEDGERLINE_STALE_AFTER_SECONDS | age after which an unposted inbox event is re-driven by the sweep | 900 |
| LEDGERLINE_PARK_TTL_SECONDS | how long an out-of-order event waits for its predecessor | 259200 (72 h) |
| LEDGERLINE_DATASTORE_ON_DISK | `false`: the Datastore emulator keeps data in memory only (tests, benches) | true |
| LEDGERLINE_FAULT_INJECTION | `true`: honour Fault records in Datastore (local only; tests, chaos) | true in dev.env |
| LEDGERLINE_REPORTS_BUCKET | reports bucket or `file:///dir` (adapters/gcs_reports.py) | local: <project>-reports |
| LEDGERLINE_API_RATE_LIMIT | API requests per second per key, per instance (token bucket); 0 = off | 100 |
| LEDGERLINE_API_RATE_BURST | API token bucket size per key (0 = twice the rate) | 0 |
| LEDGERLINE_PAYOUT_DEFAULT_LIMITS | default payout limits per currency, JSON (shared/payments/limits.py) | dev.env |
| LEDGERLINE_OPERATOR | who runs the operator CLI, in its audit entries (shared/cli/operations.py) | cli:<OS user> |
| LEDGERLINE_APPROVAL_THRESHOLDS | minor units per currency from which a manual movement needs approval, JSON | 100000 |
| LEDGERLINE_IAP_AUDIENCE | set: operators sign in to the api by IAP's signed header (docs/console.md) | unset |
| LEDGERLINE_IAP_KEYS_URL | IAP's public signing keys (JSON, key id -> PEM) | gstatic.com/iap/verify/public_key |
| K_SERVICE | set by Cloud Run itself; marks the cloud (dev.env is then never read) | unset |

Where each variable comes from in the cloud is `CLOUD_SOURCES` below; tests/terraform/ checks it against this
table, the code's reads and Terraform, so a new variable is a row here, a line there, and what the test says.

Partner secrets follow one naming convention: `<PARTNER>_<WHAT>` (the partner's name upper-cased), classified
"secret" in `CLOUD_SOURCES`, comma-separated values (several active during a rotation). Settings reads every
such variable generically; a partner plugin declares the ones it needs (`PartnerSecret`, in its SECRETS) and
reads them with `cfg.secret(...)` / `cfg.partner_secrets(partner)`. A new partner's secret is its row in the
table above, its line in `CLOUD_SOURCES`, its dev value in emulators/dev.env and its topology entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_NAMES = ("intake", "ledger", "retries", "reconciliation", "api", "payments", "webhooks", "exports")
_DEFAULT_PORTS = {
    "DATASTORE_PORT": 8081,
    "PUBSUB_PORT": 8085,
    "TASKS_PORT": 8123,
    "BIGQUERY_PORT": 9050,
    "BIGQUERY_GRPC_PORT": 9060,
    "STORAGE_PORT": 4443,
    "LOCALSTRIPE_PORT": 8420,
    "INTAKE_PORT": 8080,
    "LEDGER_PORT": 8082,
    "RETRIES_PORT": 8083,
    "RECONCILIATION_PORT": 8084,
    "API_PORT": 8086,
    "PAYMENTS_PORT": 8088,
    "WEBHOOKS_PORT": 8087,
    "EXPORTS_PORT": 8089,
    "BANK_SANDBOX_PORT": 8090,
    "WEBHOOK_RECEIVER_PORT": 8092,
    "SCHEDULER_PORT": 8094,
}

# Where each variable of the table above comes from in the cloud:
#   "terraform": a plain environment variable Terraform sets on every function (terraform/modules/stack);
#   "secret":    a Secret Manager secret, latest version, mounted as an environment variable on the functions
#                whose topology entry lists it under cloud.access.secrets (values never enter Terraform state);
#   "default":   not set in the cloud: the default in this module applies there too;
#   "platform":  set by Cloud Run itself;
#   "local":     emulators and dev tooling only, never set in the cloud.
CLOUD_SOURCES: dict[str, str] = {
    "GOOGLE_CLOUD_PROJECT": "terraform",
    "LEDGERLINE_ENV": "terraform",
    "LEDGERLINE_REGION": "terraform",
    "LEDGERLINE_LIVEMODE": "terraform",
    "LEDGERLINE_TASKS_INVOKER_SA": "terraform",
    "LEDGERLINE_PUSH_INVOKER_SA": "terraform",
    "LEDGERLINE_SCHEDULER_INVOKER_SA": "terraform",
    "LEDGERLINE_REPORTS_BUCKET": "terraform",
    **{f"{name.upper()}_URL": "terraform" for name in FUNCTION_NAMES},
    "STRIPE_WEBHOOK_SECRET": "secret",
    "STRIPE_API_KEY": "secret",
    "ADYEN_HMAC_KEYS": "secret",
    "ADYEN_BASIC_AUTH": "secret",
    "GENERIC_WEBHOOK_SECRETS": "secret",
    "COLUMN_WEBHOOK_SECRETS": "secret",
    "COLUMN_API_KEY": "secret",
    "LAKESIDE_API_KEY": "secret",
    "COLUMN_API_URL": "terraform",
    "LAKESIDE_API_URL": "terraform",
    "PAYMENTS_FINGERPRINT_KEY": "secret",
    "PAYMENTS_KMS_KEY": "terraform",
    "WEBHOOKS_KMS_KEY": "terraform",
    "LAKESIDE_WEBHOOK_SECRETS": "secret",
    "LEDGERLINE_MAX_BODY_BYTES": "default",
    "STRIPE_API_BASE": "default",
    "LEDGERLINE_TOPOLOGY_DIR": "default",
    "LEDGERLINE_PARK_TTL_SECONDS": "default",
    "LEDGERLINE_STALE_AFTER_SECONDS": "default",
    "LEDGERLINE_API_RATE_LIMIT": "default",
    "LEDGERLINE_API_RATE_BURST": "default",
    "LEDGERLINE_PAYOUT_DEFAULT_LIMITS": "default",
    "LEDGERLINE_APPROVAL_THRESHOLDS": "default",
    "LEDGERLINE_IAP_AUDIENCE": "terraform",
    "LEDGERLINE_IAP_KEYS_URL": "default",
    "K_SERVICE": "platform",
    **dict.fromkeys(_DEFAULT_PORTS, "local"),
    "DATASTORE_EMULATOR_HOST": "local",
    "PUBSUB_EMULATOR_HOST": "local",
    "CLOUD_TASKS_EMULATOR_HOST": "local",
    "BIGQUERY_EMULATOR_HOST": "local",
    "LEDGERLINE_RUN_DIR": "local",
    "LEDGERLINE_TEST_PORT_OFFSET": "local",
    "LEDGERLINE_DEV_ENV": "local",
    "LEDGERLINE_OPERATOR": "local",
    "LEDGERLINE_FAULT_INJECTION": "local",
    "LEDGERLINE_WEBHOOK_RETRY_SCALE": "local",
    "LEDGERLINE_DATASTORE_ON_DISK": "local",
    "LEDGERLINE_SCHEDULER_PAUSED": "local",
    "LEDGERLINE_SCHEDULER_BACKOFF_SCALE": "local",
    "STORAGE_EMULATOR_HOST": "local",
    "PAYMENTS_LOCAL_KEK": "local",
}
# Secrets of ledgerline itself, not of a partner (the partners declare theirs: shared.partners SECRETS).
PLATFORM_SECRETS = ("PAYMENTS_FINGERPRINT_KEY",)


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse plain KEY=value lines; blank lines and # comments are ignored."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        values[key.strip()] = value.strip()
    return values


def load_dev_env(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Fill unset variables from the dev settings file (local only; never in the cloud)."""
    if environ.get("K_SERVICE"):
        return
    path = Path(environ.get("LEDGERLINE_DEV_ENV") or REPO_ROOT / "emulators" / "dev.env")
    if not path.is_file():
        return
    for key, value in read_env_file(path).items():
        environ.setdefault(key, value)


def any_values(env: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """A secret whose every non-empty value is usable as it is."""
    return values


def hex_keys(env: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """A secret of hex keys; anything else is a ConfigError naming the variable."""
    for value in values:
        try:
            bytes.fromhex(value)
        except ValueError:
            raise ConfigError(f"{env} must be comma-separated hex keys") from None
    return values


def credential_pairs(env: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """A secret of `user:password` pairs; a value without `:` is no pair and is left out."""
    return tuple(v for v in values if ":" in v)


@dataclass(frozen=True)
class PartnerSecret:
    """One secret a partner plugin needs: the environment variable holding it (named by the convention above;
    the name is a contract with Terraform and the deployed environments) and how its values are read."""

    env: str
    read: Callable[[str, tuple[str, ...]], tuple[str, ...]] = any_values


@dataclass(frozen=True)
class Settings:
    project: str
    env: str
    ports: dict[str, int]
    run_dir: Path
    max_body_bytes: int
    function_urls: dict[str, str]
    tasks_emulator_host: str | None
    bigquery_emulator_host: str | None
    # Stripe's API base URL for the SDK; None: the SDK's own default (https://api.stripe.com).
    stripe_api_base: str | None = None
    livemode: bool = False
    # Every partner secret variable (CLOUD_SOURCES "secret"), split at commas; read through secret().
    secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    signature_tolerance_seconds: int = 300
    tasks_invoker_sa: str | None = None
    push_invoker_sa: str | None = None
    scheduler_invoker_sa: str | None = None
    park_ttl_seconds: int = 72 * 3600
    stale_after_seconds: int = 900
    fault_injection: bool = False
    # local only: the webhook retry schedule compressed (0.02: 3 days in about 1.5 hours), so a chaos run
    # with receivers failing at random quiesces; always 1 in the cloud
    webhook_retry_scale: float = 1.0
    datastore_on_disk: bool = True
    # local only: the local Cloud Scheduler (emulators/scheduler.py) fires nothing on schedule (test stacks),
    # and its retry backoff compressed (tests); the cloud has Cloud Scheduler and Terraform's `paused`
    scheduler_paused: bool = False
    scheduler_backoff_scale: float = 1.0
    # a bucket name, or file:///dir (shared.adapters.gcs_reports); "" in the cloud until Terraform sets it
    reports_bucket: str = ""
    storage_emulator_host: str | None = None
    api_rate_limit: int = 100
    api_rate_burst: int = 0
    # the console behind IAP (shared/api/iap.py): the audience of IAP's signed header; "": IAP is off
    iap_audience: str = ""
    iap_keys_url: str = "https://www.gstatic.com/iap/verify/public_key"
    payments_kms_key: str | None = None
    webhooks_kms_key: str | None = None
    # base URLs of the partners' transfer APIs, by variable (CLOUD_SOURCES "<PARTNER>_API_URL")
    api_urls: Mapping[str, str] = field(default_factory=dict)
    payments_local_kek: str | None = field(default=None, repr=False)
    # JSON text, parsed and checked by shared.payments.limits.parse_defaults when the payments services
    # are built (shared.bootstrap): currency -> max_single, daily_outflow
    payout_default_limits: str | None = None
    # JSON text, parsed by shared.operations.thresholds: currency -> minor units (maker-checker)
    approval_thresholds: str | None = None

    @property
    def local(self) -> bool:
        return self.env == "local"

    def port(self, name: str) -> int:
        return self.ports[f"{name.upper()}_PORT"]

    def secret(self, secret: PartnerSecret) -> tuple[str, ...]:
        """The active values of one partner secret, read by its own rule; () when it is not set."""
        return secret.read(secret.env, self.secrets.get(secret.env, ()))

    def partner_secrets(self, partner) -> dict[str, tuple[str, ...]]:
        """Every secret a partner declares (its SECRETS, shared.partners.base.Partner), by variable name."""
        return {s.env: self.secret(s) for s in partner.SECRETS}

    def webhook_secrets(self, partner: str) -> tuple[str, ...]:
        """A partner's webhook signing secrets, by the convention `<PARTNER>_WEBHOOK_SECRET` (Stripe's) or
        `<PARTNER>_WEBHOOK_SECRETS`; () for a partner without one (Adyen: HMAC keys and Basic credentials)."""
        singular = f"{partner.upper()}_WEBHOOK_SECRET"
        return self.secrets.get(singular) or self.secrets.get(f"{singular}S") or ()

    def push_endpoint(self, function: str, topic: str) -> str:
        """Push URL whose path names the topic, so functions-framework fills the CloudEvent source."""
        return f"{self.function_urls[function]}/projects/{self.project}/topics/{topic}"


def _int(environ, key: str, default: int) -> int:
    raw = environ.get(key)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from exc


def _float(environ, key: str, default: float) -> float:
    raw = environ.get(key)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from exc


def _list(environ, key: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in environ.get(key, "").split(",") if v.strip())


def _api_url(environ, name: str, env: str, ports: dict[str, int]) -> str:
    """A partner's transfer API base URL; locally the bank sandbox's path for that bank by default."""
    url = environ.get(name)
    if not url and env == "local":
        url = f"http://127.0.0.1:{ports['BANK_SANDBOX_PORT']}/{name.removesuffix('_API_URL').lower()}"
    return (url or "").rstrip("/")


def settings_from(environ) -> Settings:
    env = environ.get("LEDGERLINE_ENV", "cloud" if environ.get("K_SERVICE") else "local")
    ports = {key: _int(environ, key, default) for key, default in _DEFAULT_PORTS.items()}
    urls = {}
    for name in FUNCTION_NAMES:
        url = environ.get(f"{name.upper()}_URL")
        if not url and env == "local":
            url = f"http://127.0.0.1:{ports[f'{name.upper()}_PORT']}"
        urls[name] = (url or "").rstrip("/")
    return Settings(
        project=environ.get("GOOGLE_CLOUD_PROJECT", "ledgerline-local"),
        env=env,
        ports=ports,
        run_dir=Path(environ.get("LEDGERLINE_RUN_DIR") or REPO_ROOT / ".run"),
        # 1 MiB: far above real partner events; bodies over 512 KiB are stored in chunks (datastore_store).
        max_body_bytes=_int(environ, "LEDGERLINE_MAX_BODY_BYTES", 1 << 20),
        livemode=environ.get("LEDGERLINE_LIVEMODE", "false").lower() == "true",
        secrets={name: _list(environ, name) for name, source in CLOUD_SOURCES.items() if source == "secret"},
        function_urls=urls,
        tasks_emulator_host=environ.get("CLOUD_TASKS_EMULATOR_HOST")
        or (f"127.0.0.1:{ports['TASKS_PORT']}" if env == "local" else None),
        bigquery_emulator_host=environ.get("BIGQUERY_EMULATOR_HOST")
        or (f"127.0.0.1:{ports['BIGQUERY_PORT']}" if env == "local" else None),
        stripe_api_base=(environ.get("STRIPE_API_BASE") or "").rstrip("/")
        or (f"http://127.0.0.1:{ports['LOCALSTRIPE_PORT']}" if env == "local" else None),
        tasks_invoker_sa=environ.get("LEDGERLINE_TASKS_INVOKER_SA") or None,
        push_invoker_sa=environ.get("LEDGERLINE_PUSH_INVOKER_SA") or None,
        scheduler_invoker_sa=environ.get("LEDGERLINE_SCHEDULER_INVOKER_SA") or None,
        park_ttl_seconds=_int(environ, "LEDGERLINE_PARK_TTL_SECONDS", 72 * 3600),
        stale_after_seconds=_int(environ, "LEDGERLINE_STALE_AFTER_SECONDS", 900),
        api_rate_limit=_int(environ, "LEDGERLINE_API_RATE_LIMIT", 100),
        api_rate_burst=_int(environ, "LEDGERLINE_API_RATE_BURST", 0),
        iap_audience=environ.get("LEDGERLINE_IAP_AUDIENCE", "").strip(),
        iap_keys_url=environ.get("LEDGERLINE_IAP_KEYS_URL") or "https://www.gstatic.com/iap/verify/public_key",
        payout_default_limits=environ.get("LEDGERLINE_PAYOUT_DEFAULT_LIMITS") or None,
        approval_thresholds=environ.get("LEDGERLINE_APPROVAL_THRESHOLDS") or None,
        # Never in the cloud, whatever the variable says: fault injection is a test tool.
        fault_injection=env == "local" and environ.get("LEDGERLINE_FAULT_INJECTION", "false").lower() == "true",
        webhook_retry_scale=_retry_scale(environ) if env == "local" else 1.0,
        datastore_on_disk=environ.get("LEDGERLINE_DATASTORE_ON_DISK", "true").lower() != "false",
        scheduler_paused=environ.get("LEDGERLINE_SCHEDULER_PAUSED", "false").lower() == "true",
        scheduler_backoff_scale=_float(environ, "LEDGERLINE_SCHEDULER_BACKOFF_SCALE", 1.0),
        reports_bucket=environ.get("LEDGERLINE_REPORTS_BUCKET")
        or (f"{environ.get('GOOGLE_CLOUD_PROJECT', 'ledgerline-local')}-reports" if env == "local" else ""),
        storage_emulator_host=(environ.get("STORAGE_EMULATOR_HOST") or "").rstrip("/")
        or (f"http://127.0.0.1:{ports['STORAGE_PORT']}" if env == "local" else None),
        payments_kms_key=environ.get("PAYMENTS_KMS_KEY") or None,
        webhooks_kms_key=environ.get("WEBHOOKS_KMS_KEY") or None,
        api_urls={name: _api_url(environ, name, env, ports) for name in CLOUD_SOURCES if name.endswith("_API_URL")},
        payments_local_kek=(environ.get("PAYMENTS_LOCAL_KEK") or None) if env == "local" else None,
    )


def export_emulator_hosts(settings: Settings, environ=os.environ) -> None:
    """The official clients find their emulators through these variables."""
    if settings.local:
        environ.setdefault("DATASTORE_EMULATOR_HOST", f"127.0.0.1:{settings.ports['DATASTORE_PORT']}")
        environ.setdefault("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{settings.ports['PUBSUB_PORT']}")
        environ.setdefault("CLOUD_TASKS_EMULATOR_HOST", settings.tasks_emulator_host or "")
        environ.setdefault("BIGQUERY_EMULATOR_HOST", settings.bigquery_emulator_host or "")
        environ.setdefault("STORAGE_EMULATOR_HOST", settings.storage_emulator_host or "")
        environ.setdefault("GOOGLE_CLOUD_PROJECT", settings.project)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Process-wide settings: dev file defaults, then the environment; emulator hosts exported."""
    load_dev_env()
    current = settings_from(os.environ)
    export_emulator_hosts(current)
    return current


def _retry_scale(environ: Mapping[str, str]) -> float:
    text = environ.get("LEDGERLINE_WEBHOOK_RETRY_SCALE") or "1"
    try:
        scale = float(text)
    except ValueError:
        raise ConfigError(f"LEDGERLINE_WEBHOOK_RETRY_SCALE must be a number, got {text!r}") from None
    if not 0.001 <= scale <= 1:
        raise ConfigError("LEDGERLINE_WEBHOOK_RETRY_SCALE is between 0.001 and 1")
    return scale
