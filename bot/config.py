"""Load and validate Tripwire's TOML configuration and environment secrets.

The config is read once at start (tomllib → pydantic), validated as a whole, and passed into whatever
needs it; nothing reads it at import time. Every problem is reported with its TOML path
(``rules[3].level: Input should be greater than 0``) so ``tripwire check-config`` can list them all at
once. Secrets never come from the TOML file: they are read from the environment (or a ``.env`` file, or a
file named by ``TRIPWIRE_DISCORD_TOKEN_FILE``) and redacted wherever the config is printed.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from detectors.base import MARKET_SYMBOL, SEVERITIES, Detector, DetectorSettings, Severity
from detectors.liqmap.params import LiqMapParams
from detectors.registry import detector_classes
from feeds.config import FeedsConfig
from feeds.markets import canonical_symbol
from storage.config import StrictModel
from storage.pg_url import is_postgres_url, redact
from storage.rows import DAY_MS

log = logging.getLogger(__name__)

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
SPOT_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h")
# Keys that look like secrets; finding one in the TOML file is an error that says where it belongs.
# What alerts of one channel may be grouped by, besides the channel (bot.notify.grouping reads them).
GroupKey = Literal["symbol", "detector", "rule", "severity"]
SECRET_KEYS = {"token", "discord_token", "bot_token", "secret", "api_key", "api_secret", "password"}


class RetentionConfig(StrictModel):
    """How long observations are kept before `tripwire db prune` (and the daily job) removes them."""

    # Liquidation rows (each forced order, or an aggregated source's buckets); their hourly totals stay.
    liquidations_days: int = Field(30, ge=1, le=3650)
    # The hourly liquidation totals per symbol and source (the liquidation_hourly rollup).
    liquidations_hourly_days: int = Field(3650, ge=1, le=36500)
    candles_1m_days: int = Field(90, ge=1, le=3650)
    candles_other_days: int = Field(3650, ge=1, le=36500)
    funding_days: int = Field(730, ge=1, le=36500)
    open_interest_days: int = Field(90, ge=1, le=3650)
    alert_events_days: int = Field(365, ge=1, le=36500)
    delivered_outbox_days: int = Field(14, ge=1, le=3650)
    # Positioning ([feeds.positioning]). The minimums keep what the detectors read: the market history
    # loads 35 days of long/short readings, dvol's window reaches 30 days, thin_liquidity averages up to
    # 48 hours of depth. Predicted funding is about the next settlement only.
    long_short_days: int = Field(90, ge=35, le=3650)
    implied_vol_days: int = Field(365, ge=31, le=3650)
    depth_days: int = Field(30, ge=3, le=3650)
    predicted_funding_days: int = Field(7, ge=1, le=3650)
    # Fold 1m candles into 1h candles before deleting them, so charts and long-range detectors keep
    # working after the minutes are gone.
    downsample: bool = True


class StorageConfig(StrictModel):
    """Which database Tripwire uses (a SQLite file by default, or PostgreSQL) and what it keeps."""

    path: Path = Path("tripwire.db")
    # A SQLite file, or postgresql://user@host:port/dbname (README, "Choosing the database"). Unset: path.
    url: str | None = None
    retention: RetentionConfig = RetentionConfig()

    @field_validator("url")
    @classmethod
    def _no_password_in_the_file(cls, url: str | None) -> str | None:
        if url is not None and not is_postgres_url(url) and "://" in url:
            # Read as a file name it would be a SQLite database at an odd path ("postgresql+psycopg:/…").
            scheme = url.split("://", 1)[0]
            raise ValueError(
                f"{scheme}:// is not a database Tripwire opens: give postgresql://user@host:port/dbname or a"
                " SQLite file's path (no scheme)"
            )
        if url is None or not is_postgres_url(url):
            return url
        from psycopg import ProgrammingError  # here: a bot on SQLite never loads psycopg (issue 24)
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(url)
        except ProgrammingError as exc:
            raise ValueError(f"not a valid PostgreSQL URL: {str(exc).strip()}") from None
        if parts.get("password"):
            # Secrets never live in the config file (it is shared, pasted into issues, checked in).
            raise ValueError(
                "the URL holds a password; put it in PGPASSWORD or ~/.pgpass (libpq reads both), "
                "not in the config file"
            )
        return url

    @model_validator(mode="after")
    def _one_database(self) -> StorageConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("give either storage.path or storage.url, not both")
        return self

    @property
    def database(self) -> str | Path:
        """Return what to open: ``url`` when set (a SQLite path or a PostgreSQL URL), else ``path``."""
        if self.url is None:
            return self.path
        return self.url if is_postgres_url(self.url) else Path(self.url)


class EngineConfig(StrictModel):
    """How often rules are evaluated and how alerts are throttled."""

    evaluate_seconds: float = Field(15.0, ge=1, le=3600)
    # An alert whose market time is older than this when it is recorded is marked late.
    late_after_seconds: float = Field(300.0, ge=0, le=86400)
    default_cooldown_seconds: int = Field(900, ge=0, le=7 * 86400)
    # Alerts for one channel arriving within this window become one message.
    group_window_seconds: float = Field(20.0, ge=0, le=600)
    # Besides the channel, what alerts must share to be grouped (e.g. ["symbol"]: one message per symbol).
    group_by: list[GroupKey] = []
    # Hard cap per channel; beyond it alerts are summarised in one message.
    channel_max_per_minute: int = Field(10, ge=1, le=60)
    # While an alert of an `inhibitors` detector fires for a symbol, new alerts of the `inhibited`
    # detectors for that symbol are folded into its message instead of posted on their own.
    inhibit_lesser_alerts: bool = True
    inhibitors: list[str] = ["liquidation_cascade", "squeeze"]
    inhibited: list[str] = ["round_levels", "pct_move", "volume_spike"]


class OutboxConfig(StrictModel):
    """How queued alerts are retried and shown when they could not be delivered for a while."""

    # The longest wait between two attempts of one delivery; there is no attempt cap (an alert is never
    # dropped for an outage), so this is how soon after Discord comes back every queued alert goes out.
    retry_max_backoff_seconds: float = Field(600.0, ge=1, le=3600)
    # An alert still queued this long after it was recorded is posted marked late, and a channel's late
    # alerts go together in one list (0: never marked).
    late_after_seconds: float = Field(600.0, ge=0, le=7 * 86400)


class RouteConfig(StrictModel):
    """Send alerts of config-file rules matching these filters to a Discord channel."""

    guild_id: int = Field(gt=0)
    channel_id: int = Field(gt=0)
    role_id: int | None = Field(None, gt=0)
    symbols: list[str] = []
    detectors: list[str] = []
    min_severity: Severity = "info"


class DiscordConfig(StrictModel):
    """The Discord front end."""

    enabled: bool = True
    # Guilds to sync slash commands to immediately; empty syncs globally (can take up to an hour).
    guild_ids: list[int] = []
    ops_channel_id: int | None = Field(None, gt=0)
    max_rules_per_user: int = Field(20, ge=1, le=500)
    max_rules_per_guild: int = Field(200, ge=1, le=5000)
    # Show one symbol's price in the bot's presence (updated at most once a minute).
    presence_symbol: str | None = None
    # Scheduled digests (/digest set) one server may have.
    max_digests_per_guild: int = Field(10, ge=1, le=100)
    # Ask for the privileged Server Members intent (enable it in the Developer Portal first) to pause a
    # member's personal alerts the moment they leave a server; without it they are paused when their next
    # alert finds them gone.
    members_intent: bool = False
    # Only for local testing against the emulator in tests/emulators (also TRIPWIRE_DISCORD_API_BASE).
    api_base: str | None = None
    gateway_url: str | None = None
    # How long Discord is trusted to drop a repeated message nonce (it documents "the past few minutes"):
    # a message whose first send was interrupted longer ago is looked for in the channel before it is sent
    # again. Keep it below Discord's window; lower only costs a look-up more often.
    nonce_window_s: float = Field(60.0, gt=0, le=600)
    # Requests per second the Discord sink allows itself across all channels. Discord's global limit is
    # 50 requests per second per bot (developers/topics/rate-limits.mdx, "Global Rate Limit") and sends no
    # headers for it before a 429, so the default stays below it to leave room for command replies.
    global_rate_per_s: int = Field(40, ge=1, le=50)
    # With Discord clusters (`tripwire run --role discord`): a Redis server through which every process
    # shares the bot's one global limit of 50 requests/s (bot/notify/shared_limit.py). Unset: each process
    # keeps its own window, so several clusters could exceed Discord's limit together.
    shared_rate_url: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")
    # What the shared limit allows all processes together (below Discord's 50, as global_rate_per_s).
    shared_rate_per_s: int = Field(45, ge=1, le=50)

    @model_validator(mode="before")
    @classmethod
    def _drop_channel_rate(cls, data: Any) -> Any:
        """Accept and ignore the retired ``channel_rate`` so an older config file still loads."""
        # Channel pacing now follows the rate-limit headers Discord sends (its documents say not to
        # hard-code limits); the key was only ever for emulators with other limits.
        if isinstance(data, dict) and "channel_rate" in data:
            data = {k: v for k, v in data.items() if k != "channel_rate"}
            log.warning(
                "[discord] channel_rate is no longer used (Discord's rate-limit headers pace each channel)"
            )
        return data


class RolesConfig(StrictModel):
    """How the processes of a multi-process bot (``tripwire run --role``, PostgreSQL only) coordinate."""

    # How often a standby market process tries the lease (and the leader checks it holds it): a standby
    # takes over within about this long plus its start-up after the leader dies or loses its connection.
    lease_poll_seconds: float = Field(2.0, ge=0.1, le=10)


class WatchdogConfig(StrictModel):
    """Feed-health reports in the ops channels."""

    enabled: bool = True
    # A feed must stay stale (or fresh again) this long before it is reported, so a flapping feed is
    # reported once instead of at every flap.
    debounce_seconds: float = Field(120.0, ge=0, le=86400)


class HttpConfig(StrictModel):
    """The optional /healthz and /metrics server."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=1, le=65535)


class WebhooksInConfig(StrictModel):
    """Alerts posted to the bot (TradingView webhooks), on the ``[http]`` server (docs/webhooks.md)."""

    enabled: bool = False
    # Where senders reach the bot, e.g. https://alerts.example.com (a reverse proxy on port 443 in front of
    # [http]: TradingView posts only to ports 80 and 443); /webhook add shows route URLs starting with it.
    public_url: str = Field("", max_length=200, pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")
    # New routes' limits (each route keeps its own): the largest body, and alerts per minute.
    max_body_bytes: int = Field(4096, ge=256, le=65536)
    rate_per_minute: int = Field(30, ge=1, le=600)
    max_routes_per_guild: int = Field(10, ge=1, le=100)
    # Only these senders (e.g. TradingView's addresses), by the connection's address; empty: anyone with
    # the secret. Behind a reverse proxy the connection comes from the proxy: allowlist there instead.
    allowed_ips: list[str] = []

    @field_validator("allowed_ips")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address or network") from None
        return value


class WebhookOutConfig(StrictModel):
    """Post every alert event (firing and resolved) as signed JSON to a URL (docs/webhooks.md)."""

    name: str = Field(pattern=RULE_ID_PATTERN)
    url: str = Field(max_length=2000, pattern=r"^https?://[^\s]+$")
    # "tripwire": one event per request (docs/webhooks.md); "alertmanager": Alertmanager's webhook_config
    # payload (version "4"), so receivers written for Alertmanager work unchanged.
    format: Literal["tripwire", "alertmanager"] = "tripwire"
    # The signing secret, never in this file: the name of an environment variable holding it, or a file.
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
    secret_file: Path | None = None
    min_severity: Severity = "info"
    guild_ids: list[int] = []
    symbols: list[str] = []
    detectors: list[str] = []
    # Members' personal (DM) alerts are theirs; forwarded only when the operator says so.
    include_personal: bool = False
    timeout_seconds: float = Field(10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookOutConfig:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError(
                "give the signing secret as either secret_env (the name of an environment variable) or "
                "secret_file (a file holding it), not both and not in this file"
            )
        return self

    def secret(self) -> bytes:
        """Read the signing secret from its environment variable or file; raise ConfigError if absent."""
        where = f"webhooks_out.{self.name}"
        if self.secret_env is not None:
            value = os.environ.get(self.secret_env, "").strip()
            if not value:
                raise ConfigError([Problem(where, f"the environment variable {self.secret_env} is not set")])
            return value.encode("utf-8")
        assert self.secret_file is not None
        try:
            value = self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([Problem(where, f"cannot read {exc.filename}: {exc.strerror}")]) from None
        if not value:
            raise ConfigError([Problem(where, f"{self.secret_file} is empty")])
        return value.encode("utf-8")


class BacktestConfig(StrictModel):
    """Limits on one backtest (`/alert test`, `tripwire backtest`), so each stays a matter of seconds."""

    # The longest window; /alert test's `period` and `tripwire backtest --days` go up to it.
    max_days: float = Field(90.0, ge=1, le=3650)
    # Candles replayed within the window: the finest interval stored at each moment, one per open time
    # (90 days of 1m candles of one symbol are 129,600). A backtest costs about 18 µs and 500 to 750 bytes
    # a candle (bench.charts); the ceiling (a year of 1m candles: about 9 s and 400 MB) keeps a typo from
    # stalling a worker for minutes.
    max_candles: int = Field(150_000, ge=1, le=600_000)
    # The window of a backtest asked for without one.
    default_days: float = Field(30.0, gt=0, le=3650)
    # History replayed before the window without evaluating, so rolling detectors start warm; replayed on
    # top of max_candles, hence the small ceiling.
    warmup_days: float = Field(7.0, ge=0, le=30)

    @field_validator("default_days")
    @classmethod
    def _default_within_max(cls, value: float, info: ValidationInfo) -> float:
        longest = info.data.get("max_days")
        if longest is not None and value > longest:
            # A default over the longest window allowed would refuse every backtest asked for without one.
            raise PydanticCustomError(
                "default_over_max", f"must be at most max_days ({longest:g}); {value:g} was given"
            )
        return value


class RuleCommon(StrictModel):
    """Options every rule has, whatever its detector."""

    id: str = Field(pattern=RULE_ID_PATTERN)
    detector: str
    symbol: str = MARKET_SYMBOL
    enabled: bool = True
    repeat: bool = True
    cooldown_seconds: int | None = Field(None, ge=0, le=30 * 86400)
    pending_seconds: int = Field(0, ge=0, le=86400)
    pending_evaluations: int = Field(0, ge=0, le=1000)
    note: str | None = Field(None, max_length=300)
    role_id: int | None = Field(None, gt=0)
    channel_id: int | None = Field(None, gt=0)
    # When a state-like alert (cascade, squeeze, funding extreme) ends: "edit" its message to say so and how
    # long it lasted, "message" (edit it and post a notice too), or "none".
    resolve_notice: Literal["edit", "message", "none"] = "edit"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A validated rule from the config file: common options plus the detector's typed settings."""

    common: RuleCommon
    settings: DetectorSettings

    @property
    def id(self) -> str:
        """Return the rule id."""
        return self.common.id


class Config(StrictModel):
    """The whole validated configuration."""

    symbols: list[str] = Field(min_length=1)
    storage: StorageConfig = StorageConfig()
    feeds: FeedsConfig = FeedsConfig()
    engine: EngineConfig = EngineConfig()
    discord: DiscordConfig = DiscordConfig()
    outbox: OutboxConfig = OutboxConfig()
    http: HttpConfig = HttpConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    roles: RolesConfig = RolesConfig()
    backtest: BacktestConfig = BacktestConfig()
    liqmap: LiqMapParams = LiqMapParams()
    routes: list[RouteConfig] = []
    webhooks_in: WebhooksInConfig = WebhooksInConfig()
    webhooks_out: list[WebhookOutConfig] = []
    rules: list[dict[str, Any]] = []

    @model_validator(mode="after")
    def _webhooks_need_http(self) -> Config:
        if self.webhooks_in.enabled and not self.http.enabled:
            raise ValueError("webhooks_in needs the [http] server: set [http] enabled = true")
        names = [hook.name for hook in self.webhooks_out]
        if len(set(names)) != len(names):
            raise ValueError("two [[webhooks_out]] have the same name")
        return self

    @model_validator(mode="after")
    def _sample_needs_trades(self) -> Config:
        # The measured map finds its accounts in the Hyperliquid trades stream [feeds.hyperliquid] runs.
        if self.liqmap.hyperliquid.enabled and not self.feeds.hyperliquid.enabled:
            raise ValueError(
                "[liqmap.hyperliquid] finds accounts in Hyperliquid's public trades: set "
                "[feeds.hyperliquid] enabled = true too"
            )
        return self

    @field_validator("symbols")
    @classmethod
    def _symbols_are_pairs(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not SYMBOL_PATTERN.match(symbol):
                raise ValueError(f"{symbol!r} is not a symbol like BTCUSDT (upper-case letters and digits)")
        if len(set(value)) != len(value):
            raise ValueError("symbols are listed twice")
        return value

    def rule_specs(self) -> list[RuleSpec]:
        """Return the rules as validated RuleSpecs (the config was validated when it was loaded)."""
        return [_rule_spec(raw) for raw in self.rules]


class Secrets(BaseSettings):
    """Secrets from the environment (``TRIPWIRE_*``) or a ``.env`` file; never from the TOML file."""

    model_config = SettingsConfigDict(env_prefix="TRIPWIRE_", env_file=".env", extra="ignore")

    discord_token: SecretStr | None = None
    discord_token_file: Path | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None

    # The ETF flow source's free API key ([feeds.etf], feeds/etf_flows.py), the same two ways.
    etf_api_key: SecretStr | None = None
    etf_api_key_file: Path | None = None

    def token(self) -> str | None:
        """Return the Discord token from the environment or the secrets file it names."""
        return _secret(self.discord_token, self.discord_token_file, "TRIPWIRE_DISCORD_TOKEN_FILE")

    def etf_key(self) -> str | None:
        """Return the ETF flow API key from the environment or the secrets file it names."""
        return _secret(self.etf_api_key, self.etf_api_key_file, "TRIPWIRE_ETF_API_KEY_FILE")


def _secret(value: SecretStr | None, file: Path | None, file_variable: str) -> str | None:
    """Return a secret given directly (first) or in a file, stripped; None when neither holds one."""
    if value is not None and value.get_secret_value().strip():
        return value.get_secret_value().strip()
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [Problem(file_variable, f"cannot read {exc.filename}: {exc.strerror}")]
            ) from None
        return text or None
    return None


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration problem at a TOML path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _loc_to_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = _loc_to_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
        # A validator's own message (a combo's `when`: what is wrong and at which character) reads as is.
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown option (check the spelling; config.example.toml lists every option)"
        problems.append(Problem(path, message))
    return problems


def _find_secrets(data: Any, path: str = "") -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            sub = f"{path}.{key}" if path else str(key)
            if str(key).lower() in SECRET_KEYS:
                problems.append(
                    Problem(
                        sub,
                        "secrets are not read from the config file; set TRIPWIRE_DISCORD_TOKEN in the "
                        "environment (or in a .env file next to where you run tripwire, or point "
                        "TRIPWIRE_DISCORD_TOKEN_FILE at a file holding it) and remove it from here",
                    )
                )
            else:
                problems += _find_secrets(value, sub)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            problems += _find_secrets(item, f"{path}[{i}]")
    return problems


_COMMON_KEYS = set(RuleCommon.model_fields)


def _rule_spec(raw: Mapping[str, Any]) -> RuleSpec:
    common = RuleCommon.model_validate({k: v for k, v in raw.items() if k in _COMMON_KEYS})
    cls = detector_classes()[common.detector]
    settings = cls.Settings.model_validate({k: v for k, v in raw.items() if k not in _COMMON_KEYS})
    return RuleSpec(common, settings)


def parse_rule(raw: Mapping[str, Any]) -> RuleSpec:
    """Validate one rule given as a table (common options plus its detector's settings).

    Raises ConfigError listing every problem, each at its option name (``level: Input should be greater
    than 0``). Used for rules that arrive one at a time (a backtest, a rule typed in Discord); the config
    file's rules are checked together by ``parse_config``, which also knows the watched symbols.
    """
    try:
        common = RuleCommon.model_validate({k: v for k, v in raw.items() if k in _COMMON_KEYS})
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc)) from None
    classes = detector_classes()
    cls = classes.get(common.detector)
    if cls is None:
        raise ConfigError(
            [Problem("detector", f"unknown detector {common.detector!r}; known: {', '.join(classes)}")]
        )
    problems: list[Problem] = []
    if cls.market_wide and common.symbol != MARKET_SYMBOL:
        problems.append(Problem("symbol", f"{common.detector} watches the whole market; remove the symbol"))
    elif not cls.market_wide and "symbol" not in raw:
        problems.append(Problem("symbol", "a symbol is required for this detector"))
    elif not cls.market_wide and not SYMBOL_PATTERN.match(common.symbol):
        problems.append(Problem("symbol", f"{common.symbol!r} is not a symbol like BTCUSDT"))
    try:
        settings = cls.Settings.model_validate({k: v for k, v in raw.items() if k not in _COMMON_KEYS})
    except ValidationError as exc:
        problems += _problems_from(exc)
    if problems:
        raise ConfigError(problems)
    return RuleSpec(common, settings)


def _check_rules(rules: Any, symbols: list[str], retention: RetentionConfig | None = None) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(rules, list):
        return problems  # already reported as a type error of `rules`
    classes = detector_classes()
    seen: dict[str, int] = {}
    for i, raw in enumerate(rules):
        if not isinstance(raw, Mapping):
            continue
        where = f"rules[{i}]"
        common_raw = {k: v for k, v in raw.items() if k in _COMMON_KEYS}
        try:
            common = RuleCommon.model_validate(common_raw)
        except ValidationError as exc:
            problems += _problems_from(exc, where)
            continue
        if common.id in seen:
            problems.append(
                Problem(f"{where}.id", f"rule id {common.id!r} is already used by rules[{seen[common.id]}]")
            )
        seen.setdefault(common.id, i)
        cls = classes.get(common.detector)
        if cls is None:
            problems.append(
                Problem(
                    f"{where}.detector", f"unknown detector {common.detector!r}; known: {', '.join(classes)}"
                )
            )
            continue
        if cls.market_wide:
            if "symbol" in raw and common.symbol != MARKET_SYMBOL:
                problems.append(
                    Problem(
                        f"{where}.symbol", f"{common.detector} watches the whole market; remove the symbol"
                    )
                )
        elif "symbol" not in raw:
            problems.append(Problem(f"{where}.symbol", "a symbol is required for this detector"))
        elif common.symbol not in symbols:
            problems.append(
                Problem(
                    f"{where}.symbol",
                    f"unknown symbol {common.symbol!r}; add it to `symbols` ({', '.join(symbols)})",
                )
            )
        problems += _check_settings(cls, raw, where, retention)
    return problems


def _check_settings(
    cls: type[Detector], raw: Mapping[str, Any], where: str, retention: RetentionConfig | None
) -> list[Problem]:
    """Return the problems of a config rule's detector settings, its window against retention included."""
    try:
        settings = cls.Settings.model_validate({k: v for k, v in raw.items() if k not in _COMMON_KEYS})
    except ValidationError as exc:
        return _problems_from(exc, where)
    if retention is not None and (beyond := retention_problem(settings, retention)) is not None:
        return [Problem(where, beyond)]
    return []


def _retention_days(kind: str, retention: RetentionConfig) -> int | None:
    """Return how many days of ``kind`` are kept, or None when it is never pruned."""
    if kind == "candles":
        # With downsampling, 1m candles live on as 1h candles for candles_other_days; without it, a window
        # over the sub-hour candles reaches back only as far as the 1m candles are kept.
        if retention.downsample:
            return retention.candles_other_days
        return min(retention.candles_1m_days, retention.candles_other_days)
    days: dict[str, int] = {
        "liquidations": retention.liquidations_days,
        "funding": retention.funding_days,
        "open_interest": retention.open_interest_days,
    }
    return days.get(kind)


def retention_problem(settings: DetectorSettings, retention: RetentionConfig) -> str | None:
    """Return why a rule's window reaches back further than its data is kept, or None when it does not."""
    for kind, lookback in settings.lookback_ms().items():
        days = _retention_days(kind, retention)
        if days is not None and lookback > days * DAY_MS:
            name = kind.replace("_", " ")
            return (
                f"its window reaches back {lookback / DAY_MS:g} days, but {name} are kept for {days} days "
                "(storage.retention): the data it reads would be pruned"
            )
    return None


def _check_routes(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    classes = detector_classes()
    for i, route in enumerate(config.routes):
        for j, symbol in enumerate(route.symbols):
            if symbol not in config.symbols:
                problems.append(Problem(f"routes[{i}].symbols[{j}]", f"unknown symbol {symbol!r}"))
        for j, name in enumerate(route.detectors):
            if name not in classes:
                problems.append(Problem(f"routes[{i}].detectors[{j}]", f"unknown detector {name!r}"))
    for field in ("inhibitors", "inhibited"):
        for j, name in enumerate(getattr(config.engine, field)):
            if name not in classes:
                problems.append(Problem(f"engine.{field}[{j}]", f"unknown detector {name!r}"))
    if config.discord.presence_symbol and config.discord.presence_symbol not in config.symbols:
        problems.append(
            Problem("discord.presence_symbol", f"unknown symbol {config.discord.presence_symbol!r}")
        )
    return problems + _check_everyone_roles(config)


def _check_everyone_roles(config: Config) -> list[Problem]:
    """Refuse a role id that is a configured guild's id: that is the guild's @everyone role."""
    guilds = {route.guild_id for route in config.routes} | set(config.discord.guild_ids)
    why = "is the @everyone role of a configured server; Tripwire never pings everyone, use a role of its own"
    problems = [
        Problem(f"routes[{i}].role_id", why)
        for i, route in enumerate(config.routes)
        if route.role_id in guilds
    ]
    for i, raw in enumerate(config.rules):
        if raw.get("role_id") in guilds:
            problems.append(Problem(f"rules[{i}].role_id", why))
    return problems


@dataclass(frozen=True, slots=True)
class Renamed:
    """A name in the config file read as another symbol."""

    path: str
    written: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.path}: {self.written} is read as {self.symbol} (prices and sizes per coin)"


def canonicalise_config_data(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[Renamed]]:
    """Return the config data with every market name made canonical, and what was renamed where.

    The names are made canonical by ``feeds.markets.canonical_symbol`` (no instrument list needed).
    Covers ``symbols``, each rule's ``symbol``, each route's ``symbols`` and ``discord.presence_symbol``.
    """
    out = copy.deepcopy(dict(data))
    renamed: list[Renamed] = []

    def fix(path: str, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        symbol = canonical_symbol(value)
        if symbol != value:
            renamed.append(Renamed(path, value, symbol))
        return symbol

    symbols = out.get("symbols")
    if isinstance(symbols, list):
        out["symbols"] = [fix(f"symbols[{i}]", s) for i, s in enumerate(symbols)]
    for i, rule in enumerate(out.get("rules") or []):
        if isinstance(rule, dict) and isinstance(rule.get("symbol"), str) and rule["symbol"] != "*":
            rule["symbol"] = fix(f"rules[{i}].symbol", rule["symbol"])
    for i, route in enumerate(out.get("routes") or []):
        if isinstance(route, dict) and isinstance(route.get("symbols"), list):
            route["symbols"] = [fix(f"routes[{i}].symbols[{j}]", s) for j, s in enumerate(route["symbols"])]
    discord = out.get("discord")
    if isinstance(discord, dict) and isinstance(discord.get("presence_symbol"), str):
        discord["presence_symbol"] = fix("discord.presence_symbol", discord["presence_symbol"])
    return out, renamed


def parse_config(data: Mapping[str, Any]) -> Config:
    """Validate parsed TOML data into a Config, raising ConfigError with every problem found.

    Market names are made canonical first (``1000PEPEUSDT`` and ``PEPE`` are PEPEUSDT, see
    ``canonicalise_config_data``); ``tripwire check-config`` says which were renamed.
    """
    data, _ = canonicalise_config_data(data)
    problems = _find_secrets(data)
    secret_paths = {p.path for p in problems}
    raw_symbols = data.get("symbols")
    symbols = [s for s in raw_symbols if isinstance(s, str)] if isinstance(raw_symbols, list) else []
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        # A secret key is also an unknown option; report it once, with directions.
        others = [p for p in _problems_from(exc) if p.path not in secret_paths]
        # Rules are checked even when another section is wrong, so one run lists every problem.
        raise ConfigError(problems + others + _check_rules(data.get("rules", []), symbols)) from None
    problems += _check_rules(config.rules, config.symbols, config.storage.retention) + _check_routes(config)
    if problems:
        raise ConfigError(problems)
    return config


def shown_database(database: str | Path) -> str:
    """Return how a database is named in messages and logs (a PostgreSQL URL without its password)."""
    return redact(str(database)) if is_postgres_url(database) else str(database)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file, raising ConfigError with every problem found."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", f"config file {file} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"cannot read config file {file}: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"{file} is not valid TOML: {exc}")]) from None
    except RecursionError:
        # tomllib parses nested arrays and tables recursively: a few thousand levels exhaust the stack.
        raise ConfigError([Problem("", f"{file} is nested too deeply to be a Tripwire config")]) from None
    try:
        return parse_config(data)
    except RecursionError:
        raise ConfigError([Problem("", f"{file} is nested too deeply to be a Tripwire config")]) from None


def load_secrets() -> Secrets:
    """Read secrets from the environment and an optional .env file in the working directory."""
    return Secrets()


def redacted_dump(config: Config, secrets: Secrets) -> dict[str, Any]:
    """Return the effective config as plain data, with secrets shown only as set or unset."""
    data = config.model_dump(mode="json")
    token = None
    try:
        token = secrets.token()
    except ConfigError:
        token = None
    try:
        etf_key = secrets.etf_key()
    except ConfigError:
        etf_key = None
    data["secrets"] = {
        "TRIPWIRE_DISCORD_TOKEN": "<set, redacted>" if token else "<unset>",
        "TRIPWIRE_ETF_API_KEY": "<set, redacted>" if etf_key else "<unset>",
    }
    return data


def summary(config: Config) -> str:
    """Return a one-line description of a valid config."""
    feeds = [name for name, feed in config.feeds if getattr(feed, "enabled", False)]
    detectors = sorted({raw["detector"] for raw in config.rules})
    return (
        f"config OK: {len(config.symbols)} symbols ({', '.join(config.symbols)}), "
        f"{len(config.rules)} rules using {len(detectors)} detectors, {len(config.routes)} routes, "
        f"feeds: {', '.join(feeds) or 'none'}, database {shown_database(config.storage.database)}"
    )


__all__ = [
    "SEVERITIES",
    "Config",
    "ConfigError",
    "Problem",
    "RuleSpec",
    "Secrets",
    "load_config",
    "load_secrets",
    "parse_config",
    "parse_rule",
    "redacted_dump",
    "retention_problem",
    "summary",
]
