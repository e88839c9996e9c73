"""Frozen settings: embedded defaults < config file (TOML) < environment < flags.

The embedded default file ``ceres/defaults/ceres.toml`` documents every key; ``ceres
config show`` prints the effective configuration in the same format. Unknown keys are
rejected everywhere (file and environment), with the offending path in the message.

Merging: a user file overrides the defaults key by key inside each table; the
``instruments`` array and the ``demo.funds`` table are replaced whole when given.
Environment variables are ``CERES_<SECTION>_<KEY>`` (e.g. ``CERES_SERVER_HTTP_PORT``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from ceres.domain.enums import Kind
from ceres.domain.errors import CeresError
from ceres.domain.instruments import Instrument
from ceres.venues.live.names import CCXT_IDS, CLOSED
from ceres.wire.origin import normalize_origin


class ConfigError(Exception):
    pass


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class ServerConfig(_Section, frozen=True):
    host: str = "127.0.0.1"
    http_port: int = 19000
    trade_ws_port: int = 19001
    notify_ws_port: int = 19003
    market_ws_port: int = 18003
    admin_port: int = 19009
    port_base: int = 0  # not 0: the five ports move together, keeping their layout (PORT_LAYOUT)
    data_dir: str = "ceres-data"
    timezone: str = "+08:00"
    base_currency: str = "USDT"
    log_level: str = "info"
    log_json: bool = False


class AuthConfig(_Section, frozen=True):
    timestamp_window_ms: int = 5000
    require_timestamp: bool = False
    require_timestamp_default: bool = False  # for keys created without --require-timestamp/--no-...


PROFILES = ("default", "strict")


class SecurityConfig(_Section, frozen=True):
    master_key_file: str = ""  # "" = DATA_DIR.master-key beside the data directory
    profile: str = "default"  # "strict": docs/security.md
    allowed_origins: list[str] | None = None  # None: any Origin (strict: none)

    def check(self, tls: TlsConfig) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"security.profile: {self.profile!r} is not one of {', '.join(PROFILES)}")
        for origin in self.allowed_origins or ():
            try:
                normalize_origin(origin)
            except ValueError as exc:
                raise ConfigError(f"security.allowed_origins: {exc}") from None
        if bool(tls.cert) != bool(tls.key):
            raise ConfigError("tls: set both cert and key (PEM files), or neither")
        if self.profile == "strict" and not tls.cert:
            raise ConfigError('security.profile = "strict" needs TLS: set [tls] cert and key (PEM files)')


class TlsConfig(_Section, frozen=True):
    cert: str = ""  # PEM certificate chain; with key: every public port speaks TLS (https, wss)
    key: str = ""   # PEM private key


class LimitsConfig(_Section, frozen=True):
    max_body_bytes: int = 65536
    max_order_query: int = 100
    max_unsent_kib: int = 1024
    requests_per_second: int = 0
    burst: int = 0
    # connections (docs/operations.md, Limits)
    max_connections: int = 0
    max_connections_per_ip: int = 2000
    max_connections_per_key: int = 500
    header_timeout_ms: int = 10000
    body_timeout_ms: int = 10000
    idle_timeout_ms: int = 60000
    max_header_bytes: int = 8190
    handshake_timeout_ms: int = 10000
    ws_ping_interval_ms: int = 30000
    ws_ping_timeout_ms: int = 20000
    ws_send_buffer_kib: int = 64
    drop_timeout_ms: int = 5000

    def check(self) -> None:
        """Raise ConfigError naming the first limit out of its range."""
        ranges = {"max_body_bytes": (1, 1 << 30), "max_unsent_kib": (1, 1 << 30), "max_connections": (0, 1 << 30),
                  "max_connections_per_ip": (1, 1 << 30), "max_connections_per_key": (1, 1 << 30),
                  "header_timeout_ms": (1, 3_600_000), "body_timeout_ms": (1, 3_600_000),
                  "idle_timeout_ms": (1, 86_400_000), "max_header_bytes": (1024, 65536),
                  "handshake_timeout_ms": (1, 3_600_000), "ws_ping_interval_ms": (0, 86_400_000),
                  "ws_ping_timeout_ms": (1, 86_400_000), "ws_send_buffer_kib": (0, 65536),
                  "drop_timeout_ms": (1, 3_600_000)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"limits.{name}: {value} is outside {low}..{high}")
        if self.ws_ping_interval_ms and self.ws_ping_timeout_ms > self.ws_ping_interval_ms:
            raise ConfigError("limits.ws_ping_timeout_ms must not exceed limits.ws_ping_interval_ms")


class JetStreamConfig(_Section, frozen=True):
    """``[journal.jetstream]``: the journal on NATS JetStream (``backend = "jetstream"``)."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    stream: str = "CERES"
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 5000
    lease_ms: Annotated[int, msgspec.Meta(ge=1000, le=600_000)] = 5000


class JournalConfig(_Section, frozen=True):
    backend: str = "file"
    jetstream: JetStreamConfig = JetStreamConfig()
    fsync: bool = True
    snapshot_every: int = 100000
    segment_mb: int = 64
    keep_snapshots: int = 3
    retry_ms: Annotated[int, msgspec.Meta(ge=10)] = 1000
    resume_probe_kb: Annotated[int, msgspec.Meta(ge=0)] = 1024


STORE_BACKENDS = ("sqlite", "postgres")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreConfig(_Section, frozen=True):
    """``[store]``: where the history (orders, fills, trades, candles, notices) is kept
    (docs/history-store.md)."""

    backend: str = "sqlite"  # "sqlite": DATA_DIR/ceres.db; "postgres": dsn and schema
    dsn: str = ""            # libpq connection string or URI
    schema: str = "public"   # the PostgreSQL schema holding the tables (created if missing)

    def check(self) -> None:
        if self.backend not in STORE_BACKENDS:
            raise ConfigError(f"store.backend: {self.backend!r} is not one of "
                              + ", ".join(f'"{b}"' for b in STORE_BACKENDS))
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise ConfigError(f"store.schema: {self.schema!r} is not a lower-case SQL name (a-z, 0-9, _)")
        if self.backend != "postgres":
            return
        if not self.dsn:
            raise ConfigError('store.backend = "postgres" needs store.dsn, e.g. '
                              '"postgresql://ceres@127.0.0.1:5432/ceres"')
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError('store.backend = "postgres" needs psycopg 3: pip install "ceres[cluster]"')


def redact_dsn(dsn: str) -> str:
    """``dsn`` with any password shown as ``***`` (URI user info, ``password=`` settings)."""
    dsn = re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", r"\1***", dsn)


class MarketConfig(_Section, frozen=True):
    push_interval_ms: int = 100
    notice_retention: int = 10000
    trade_retention_days: int = 7


class SimMarketConfig(_Section, frozen=True):
    contract: str
    price: str
    size: str
    exchange: str = "TEST"
    volatility: str = "0.0005"
    spread_ticks: int = 10
    level_ticks: int = 5
    levels: int = 10
    activity: str = "0.5"


class SimulatorConfig(_Section, frozen=True):
    enabled: bool = True
    product: str = "simulator"
    seed: int = 42
    interval_ms: int = 500
    requote_every: int = 20
    funds: dict[str, str] = {}
    markets: list[SimMarketConfig] = []


class DemoConfig(_Section, frozen=True):
    enabled: bool = True
    product: str = "demo"
    funds: dict[str, str] = {}
    contract_funds: dict[str, str] = {}


class InstrumentConfig(_Section, frozen=True):
    exchange: str
    contract: str
    kind: int
    base: str
    quote: str
    tick_size: str
    volume_increment: str
    min_price: str
    min_volume: str
    maker_fee: str
    taker_fee: str
    # contracts (kind 1 dated, 3 perpetual)
    contract_value: str = "0"
    inverse: bool = False
    max_lever: int = 1
    maint_margin: str = "0"
    expiry: str = ""                # dated: ISO 8601 time, e.g. "2027-03-26T08:00:00Z"
    funding_interval_s: int = 0     # perpetual
    funding_rate: str = "0"         # perpetual, until set by a SetFundingRate command


class VenueConfig(_Section, frozen=True):
    """``[venues.NAME]``: one live exchange (docs/venues.md)."""

    enabled: bool = False
    mode: str = "live"        # "live": orders go to the venue with each product's keys; "paper": filled here
    paper_fee: str = "0.001"  # paper mode: the fee rate of every paper fill (in what the order receives)
    contracts: bool = False   # BINANCE: also its USDT-M perpetuals (contract orders, positions, account type 4)
    sandbox: bool = False     # the venue's testnet, through ccxt's sandbox mode
    rest_url: str = ""        # every REST call goes to this base URL instead (testnets, proxies, tests)
    ws_url: str = ""          # the same for streams
    timeout_ms: Annotated[int, msgspec.Meta(ge=100, le=120_000)] = 10000
    poll_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 1000  # orders' fills and ends, while any is open

    def check(self, name: str) -> None:
        if self.contracts and name != "BINANCE":
            raise ConfigError(f"venues.{name}.contracts: only BINANCE's USDT-M perpetuals so far")
        if self.mode not in ("live", "paper"):
            raise ConfigError(f"venues.{name}.mode: {self.mode!r} is not one of \"live\", \"paper\"")
        try:
            fee = Decimal(self.paper_fee)
        except InvalidOperation:
            fee = Decimal(-1)
        if not (fee.is_finite() and Decimal(0) <= fee < Decimal("0.1")) or "e" in self.paper_fee.lower():
            raise ConfigError(f"venues.{name}.paper_fee: {self.paper_fee!r} is not a decimal rate in [0, 0.1)")
        for field in ("rest_url", "ws_url"):
            url = getattr(self, field)
            schemes = ("http", "https") if field == "rest_url" else ("ws", "wss")
            parts = urlsplit(url)
            if url and not (parts.scheme in schemes and parts.netloc and parts.path in ("", "/") and not parts.query):
                raise ConfigError(f"venues.{name}.{field}: {url!r} is not a base URL like "
                                  f"{schemes[0]}://host:port (no path)")


class Config(_Section, frozen=True):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    security: SecurityConfig = SecurityConfig()
    tls: TlsConfig = TlsConfig()
    limits: LimitsConfig = LimitsConfig()
    journal: JournalConfig = JournalConfig()
    store: StoreConfig = StoreConfig()
    demo: DemoConfig = DemoConfig()
    market: MarketConfig = MarketConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    currencies: dict[str, int] = {}
    instruments: list[InstrumentConfig] = []
    venues: dict[str, VenueConfig] = {}

    # --- derived ----------------------------------------------------------------------
    def build_instruments(self) -> list[Instrument]:
        out = []
        seen = set()
        for ic in self.instruments:
            key = (ic.exchange, ic.contract)
            if key in seen:
                raise ConfigError(f"instrument {ic.exchange} {ic.contract} defined twice")
            seen.add(key)
            held = (ic.base,) if ic.inverse else (ic.base, ic.quote)
            for cur in held:
                if cur not in self.currencies:
                    raise ConfigError(f"instrument {ic.contract}: currency {cur} missing from [currencies]")
            try:
                out.append(Instrument(
                    ic.exchange, ic.contract, Kind(ic.kind), ic.base, ic.quote, ic.tick_size,
                    ic.volume_increment, ic.min_price, ic.min_volume, ic.maker_fee, ic.taker_fee,
                    self.currencies[ic.base], self.currencies.get(ic.quote, 0),
                    contract_value=ic.contract_value, inverse=ic.inverse, max_lever=ic.max_lever,
                    maint_margin=ic.maint_margin, expiry_ms=parse_time_ms(ic.expiry) if ic.expiry else 0,
                    funding_interval_ms=ic.funding_interval_s * 1000, funding_rate=ic.funding_rate))
            except (ValueError, CeresError) as exc:
                raise ConfigError(f"instrument {ic.contract}: {exc}") from None
        return out

    def live_venues(self) -> dict[str, VenueConfig]:
        """The enabled ``[venues.NAME]`` tables; ConfigError for a name Ceres cannot connect
        (TEST is simulated, BITMEX has closed, anything else is not a venue)."""
        out = {}
        for name, venue in sorted(self.venues.items()):
            if name in CLOSED:
                raise ConfigError(f"venues.{name}: {CLOSED[name]}")
            if name not in CCXT_IDS:
                raise ConfigError(f"venues.{name}: not a live venue (one of {', '.join(sorted(CCXT_IDS))})")
            if any(i.exchange == name for i in self.instruments):
                raise ConfigError(f"venues.{name}: also configured as simulated [[instruments]]")
            venue.check(name)
            if venue.enabled:
                out[name] = venue
        return out

    @property
    def tz(self) -> timezone:
        return parse_tz(self.server.timezone)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    # --- the security profile (docs/security.md) -----------------------------------------
    @property
    def strict(self) -> bool:
        return self.security.profile == "strict"

    @property
    def require_timestamp(self) -> bool:
        """Every key must sign a fresh ``timestamp`` (REST and handshakes)."""
        return self.auth.require_timestamp or self.strict

    @property
    def allowed_origins(self) -> tuple[str, ...] | None:
        """The WebSocket ``Origin`` allowlist; None: no check (strict: empty unless set)."""
        origins = self.security.allowed_origins
        if origins is None:
            return () if self.strict else None
        return tuple(origins)


def parse_time_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        raise ConfigError(f"{text!r} needs a time zone (e.g. Z)")
    return int(dt.timestamp() * 1000)


def parse_tz(text: str) -> timezone:
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{2}):?(\d{2})", text.strip())
    if text.strip().upper() in ("UTC", "Z"):
        return UTC
    if not m:
        raise ConfigError(f"server.timezone: {text!r} is not an offset like +08:00")
    sign = 1 if m.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def default_text() -> str:
    return resources.files("ceres").joinpath("defaults/ceres.toml").read_text(encoding="utf-8")


_REPLACED_WHOLE = {("instruments",), ("demo", "funds"), ("demo", "contract_funds"), ("currencies",),
                   ("simulator", "funds"), ("simulator", "markets")}


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        sub = (*path, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and sub not in _REPLACED_WHOLE:
            out[key] = _merge(out[key], value, sub)
        else:
            out[key] = value
    return out


NOT_SETTINGS = ("CERES_CONFIG", "CERES_MASTER_KEY", "CERES_NEW_MASTER_KEY")  # read elsewhere (keys: ceres.keystore)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    sections = {f.name: f.type for f in msgspec.structs.fields(Config)}
    for name, value in env.items():
        if not name.startswith("CERES_") or name in NOT_SETTINGS:
            continue
        rest = name[len("CERES_"):].lower()
        section, _, key = rest.partition("_")
        stype = sections.get(section)
        if stype is None or not isinstance(stype, type) or not issubclass(stype, _Section) or not key:
            raise ConfigError(f"environment variable {name}: no such setting")
        keys = {f.name: f.type for f in msgspec.structs.fields(stype)}
        if key not in keys:
            raise ConfigError(f"environment variable {name}: no setting {section}.{key}")
        is_list = "list[" in str(keys[key])  # a list of strings: comma-separated
        out.setdefault(section, {})[key] = [v.strip() for v in value.split(",") if v.strip()] if is_list else value
    return out


PORT_LAYOUT = {"http_port": 0, "trade_ws_port": 1, "notify_ws_port": 3, "market_ws_port": -997, "admin_port": 9}
"""Each port's offset from ``[server] port_base`` (19000 gives the defaults)."""


def _place_ports(raw: dict[str, Any], given: set[str]) -> None:
    """With ``port_base`` set, every port not given explicitly (file, environment or command
    line) moves to ``port_base`` + its offset."""
    server = raw.setdefault("server", {})
    base = server.get("port_base") or 0
    if not base:
        return
    if not isinstance(base, int) or isinstance(base, bool):
        raise ConfigError("server.port_base: must be a port number")
    for key, offset in PORT_LAYOUT.items():
        if key in given:
            continue
        port = base + offset
        if not 1 <= port <= 65535:
            raise ConfigError(f"server.port_base: {base} puts {key} at {port}, outside 1..65535 "
                              f"(the layout is base, +1, +3, -997, +9)")
        server[key] = port


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Effective configuration; raises ConfigError naming the bad key or value."""
    raw = tomllib.loads(default_text())
    given: set[str] = set()  # the [server] keys set explicitly
    if path is not None:
        try:
            user = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        raw = _merge(raw, user)
        given |= set(user.get("server") or {})
    env_values = _env_overrides(os.environ if env is None else env)
    raw = _merge(raw, env_values)
    given |= set(env_values.get("server") or {})
    if overrides:
        raw = _merge(raw, {k: dict(v) for k, v in overrides.items()})
        given |= set(overrides.get("server") or {})
    _place_ports(raw, given)
    try:
        cfg = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config: {exc}") from None
    cfg.build_instruments()
    cfg.tz  # noqa: B018 - validates the timezone
    cfg.limits.check()
    cfg.security.check(cfg.tls)
    cfg.live_venues()
    cfg.store.check()
    if cfg.server.base_currency not in cfg.currencies:
        raise ConfigError(f"server.base_currency {cfg.server.base_currency} missing from [currencies]")
    if not (cfg.journal.backend.isidentifier()
            and importlib.util.find_spec(f"ceres.journal.{cfg.journal.backend}") is not None):
        raise ConfigError(f"journal.backend: no journal backend {cfg.journal.backend!r} "
                          "(ceres/journal/<name>/; the embedded one is \"file\")")
    return cfg


# --- printing ---------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(type(value))


def to_toml(cfg: Config) -> str:
    """The effective configuration as TOML (round-trips through ``load_config``, but for a
    password in ``store.dsn``, shown as ``***``)."""
    data = msgspec.to_builtins(cfg)
    data["store"]["dsn"] = redact_dsn(cfg.store.dsn)
    lines: list[str] = []
    for section, body in data.items():
        if section == "instruments":
            continue
        scalars = {k: v for k, v in body.items()  # None (unset) is left out; lists of strings are values
                   if v is not None and not isinstance(v, dict) and not (isinstance(v, list) and v and
                                                                          isinstance(v[0], dict))}
        tables = {k: v for k, v in body.items() if isinstance(v, dict)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
        lines.append("")
        for name, table in tables.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
            lines.append("")
    for inst in data["instruments"]:
        lines.append("[[instruments]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in inst.items()]
        lines.append("")
    for market in data["simulator"]["markets"]:
        lines.append("[[simulator.markets]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in market.items()]
        lines.append("")
    return "\n".join(lines)
