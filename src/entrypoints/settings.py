"""Configuration, read from the environment here and nowhere else (names fixed by api.md)."""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """An environment variable has a value Footfall cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str | None
    admin_token: str
    admin_token_generated: bool
    # None: not needed (daily salts key the visits) and not given.
    hash_secret: bytes | None
    hash_rotation: str
    trusted_proxies: tuple[IPNetwork, ...]
    sendgrid_api_key: str | None
    sendgrid_host: str
    email_from: str
    host: str
    port: int
    web_concurrency: int
    public_url: str
    aggregate_every_s: float
    visit_retention_days: int
    visit_buffer_max: int
    visit_flush_interval_s: float
    product_cache_ttl_s: float
    email_lease_s: float = 300.0
    cors_origins: tuple[str, ...] = ("*",)
    redis_prefix: str = "footfall"
    # where `footfall worker` / `footfall scheduler` serve metrics; None: each its default
    metrics_port: int | None = None
    tracking_enabled: bool = True
    bench_visit_sink: str = "buffer"
    data_dir: Path = field(default_factory=Path.cwd)
    # FOOTFALL_PUBLIC_URL unset: public_url is where this process listens, which the
    # recipients of an e-mail can rarely reach.
    public_url_guessed: bool = False

    @property
    def unsubscribe_links_warning(self) -> str | None:
        """What to tell an operator whose real e-mails would carry links nobody can follow."""
        if self.sendgrid_api_key is None or not self.public_url_guessed:
            return None
        return (
            f"FOOTFALL_PUBLIC_URL is not set: unsubscribe links in e-mails point at "
            f"{self.public_url}; set it to the API's address as recipients reach it"
        )

    @property
    def visitors_per_day(self) -> bool:
        """Daily salts make a visitor recognisable within one UTC day only."""
        return self.hash_rotation == "daily"

    @property
    def embedded(self) -> bool:
        """No broker configured: worker and schedule run inside `footfall serve`."""
        return self.broker_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be <= {maximum}")
    return value


def _port(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    return _int(env, name, default, minimum=minimum, maximum=65535)


def _float(env: Mapping[str, str], name: str, default: float, *, zero: bool = False) -> float:
    """A number of seconds: finite and above zero (or zero too, where zero means "off")."""
    raw = env.get(name)
    try:
        value = float(raw) if raw not in (None, "") else default
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise SettingsError(f"{name} must be a number {'>=' if zero else '>'} 0, got {raw!r}")
    return value


# The async drivers Footfall installs; a URL naming another would fail at its first query.
DATABASE_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")


def _database_url(raw: str | None) -> str | None:
    """The URL as given, if SQLAlchemy can read it and names a driver Footfall has. Its
    text is never repeated in an error: it may hold a password."""
    if not raw:
        return None
    try:
        driver = make_url(raw).drivername
    except ArgumentError:
        driver = None
    if driver not in DATABASE_DRIVERS:
        raise SettingsError(
            "FOOTFALL_DATABASE_URL must be a SQLAlchemy URL for "
            + " or ".join(f"{name}://..." for name in DATABASE_DRIVERS)
            + (f", not {driver}://..." if driver else "")
        )
    return raw


def _http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an absolute http(s):// URL, got {raw!r}")
    return raw.rstrip("/")


def _address(raw: str) -> str:
    """The sender: one bare address (SendGrid refuses every message from anything else)."""
    local, at, domain = raw.partition("@")
    if not (local and at and domain) or "@" in domain or any(c.isspace() for c in raw):
        raise SettingsError(f"FOOTFALL_EMAIL_FROM must be an e-mail address, got {raw!r}")
    return raw


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    try:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip()
        )
    except ValueError as exc:
        raise SettingsError(f"FOOTFALL_TRUSTED_PROXIES: {exc}") from exc


def _make_data_dir(data_dir: Path) -> None:
    """The embedded default's directory (SQLite file, secret, salts), made private if it
    does not exist yet; one that cannot be made is refused by name."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"FOOTFALL_DATA_DIR: cannot use {data_dir}: {exc.strerror}") from exc


def _secret_beside(data_dir: Path) -> bytes:
    """The embedded default keeps a generated secret in a 0600 file next to the SQLite file.

    Written whole under a name of its own, then linked into place: a process starting at
    the same moment reads either no file or the whole secret, and the first link wins."""
    path = data_dir / "footfall.secret"
    try:
        if not path.exists():
            fd, name = tempfile.mkstemp(prefix=".footfall.secret.", dir=data_dir)  # 0600
            draft = Path(name)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
                os.link(draft, path)
            except FileExistsError:
                pass  # another process's secret is in place: that one is used
            finally:
                draft.unlink()
        return bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        raise SettingsError(f"FOOTFALL_DATA_DIR: cannot keep {path}: {exc.strerror}") from exc


def _hash_secret(
    secret: str | None, rotation: str, on_sqlite: bool, data_dir: Path
) -> bytes | None:
    """The secret as given; else, in the embedded default, one generated beside the SQLite
    file. A shared database with no secret given: under daily rotation none is needed (the
    day's salts key the visits); under ``none`` every host, and every container restart,
    would generate a secret of its own and count one visitor as several."""
    if secret:
        return secret.encode()
    if on_sqlite:
        return _secret_beside(data_dir)
    if rotation == "none":
        raise SettingsError(
            "FOOTFALL_HASH_SECRET must be set when FOOTFALL_HASH_ROTATION is 'none' and the "
            "database is not the embedded SQLite file: each process would otherwise key "
            "visitors with a secret of its own"
        )
    return None


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("FOOTFALL_DATA_DIR") or Path.cwd())
    rotation = env.get("FOOTFALL_HASH_ROTATION") or "daily"
    if rotation not in ("daily", "none"):
        raise SettingsError("FOOTFALL_HASH_ROTATION must be 'daily' or 'none'")
    secret = env.get("FOOTFALL_HASH_SECRET")
    token = env.get("FOOTFALL_ADMIN_TOKEN")
    host = env.get("FOOTFALL_HOST") or "127.0.0.1"
    port = _port(env, "FOOTFALL_PORT", 8000)
    broker_url = env.get("FOOTFALL_BROKER_URL") or None
    if broker_url is not None and urlsplit(broker_url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError("FOOTFALL_BROKER_URL must be a redis://, rediss:// or unix:// URL")
    web_concurrency = _int(env, "WEB_CONCURRENCY", 1, minimum=1)
    # Admin changes reach other API processes' caches over the broker's Redis; without one,
    # several processes would each serve a product changed or deleted elsewhere until its
    # entry aged (up to 3 x the TTL): no cache then, unless one is asked for.
    cache_ttl_default = 0.0 if broker_url is None and web_concurrency > 1 else 10.0
    shown_host = f"[{host}]" if ":" in host else host
    database_url = (
        _database_url(env.get("FOOTFALL_DATABASE_URL"))
        or f"sqlite+aiosqlite:///{data_dir / 'footfall.db'}"
    )
    on_sqlite = database_url.startswith("sqlite")
    if broker_url is None or on_sqlite:
        _make_data_dir(data_dir)  # the SQLite file, the secret or the day's salts are kept there
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        admin_token=token or secrets.token_urlsafe(24),
        admin_token_generated=not token,
        hash_secret=_hash_secret(secret, rotation, on_sqlite, data_dir),
        hash_rotation=rotation,
        trusted_proxies=_networks(env.get("FOOTFALL_TRUSTED_PROXIES", "")),
        sendgrid_api_key=env.get("SENDGRID_API_KEY") or None,
        sendgrid_host=_http_url(
            "FOOTFALL_SENDGRID_HOST",
            env.get("FOOTFALL_SENDGRID_HOST") or "https://api.sendgrid.com",
        ),
        email_from=_address(env.get("FOOTFALL_EMAIL_FROM") or "no-reply@localhost"),
        host=host,
        port=port,
        web_concurrency=web_concurrency,
        # The base of unsubscribe links: absolute, or they do not work from an e-mail.
        public_url=_http_url(
            "FOOTFALL_PUBLIC_URL", env.get("FOOTFALL_PUBLIC_URL") or f"http://{shown_host}:{port}"
        ),
        aggregate_every_s=_float(env, "FOOTFALL_AGGREGATE_EVERY_S", 60.0),
        visit_retention_days=_int(env, "FOOTFALL_VISIT_RETENTION_DAYS", 90, minimum=1),
        visit_buffer_max=_int(env, "FOOTFALL_VISIT_BUFFER_MAX", 100_000, minimum=1),
        visit_flush_interval_s=_float(env, "FOOTFALL_VISIT_FLUSH_INTERVAL_S", 0.1),
        product_cache_ttl_s=_float(
            env, "FOOTFALL_PRODUCT_CACHE_TTL_S", cache_ttl_default, zero=True
        ),
        email_lease_s=_float(env, "FOOTFALL_EMAIL_LEASE_S", 300.0),
        cors_origins=tuple(
            o.strip() for o in (env.get("FOOTFALL_CORS_ORIGINS") or "*").split(",") if o.strip()
        ),
        redis_prefix=env.get("FOOTFALL_REDIS_PREFIX") or "footfall",
        metrics_port=(
            _port(env, "FOOTFALL_METRICS_PORT", 0, minimum=0)
            if env.get("FOOTFALL_METRICS_PORT")
            else None
        ),
        # Benchmark-only switches (make bench): tracking off, or the seed's synchronous INSERT.
        tracking_enabled=(env.get("FOOTFALL_BENCH_TRACKING") or "on") != "off",
        bench_visit_sink=env.get("FOOTFALL_BENCH_VISIT_SINK") or "buffer",
        data_dir=data_dir,
        public_url_guessed=not env.get("FOOTFALL_PUBLIC_URL"),
    )
