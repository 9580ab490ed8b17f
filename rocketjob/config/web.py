"""``[web]``: Mission Control's configuration, validated once into frozen dataclasses.

::

    [web]
    bind = "127.0.0.1:8080"                 # a non-loopback bind needs users or proxy_auth_header
    secret_key_env = "ROCKETJOB_WEB_SECRET" # names the env var that signs cookies
    proxy_auth_header = ""                  # e.g. "X-Forwarded-User" behind a trusted proxy
    trusted_proxies = []                    # proxy addresses/CIDRs (required with the header)
    proxy_default_role = ""                 # role of proxy users not in [[web.users]] ("": none)
    secure_cookies = false                  # mark the session cookie Secure (behind HTTPS)
    refresh_seconds = 5                     # live refresh of dashboards and lists (0: off)
    counts_ttl_seconds = 5                  # how long cached job counts are served
    session_idle_minutes = 30               # a session unused this long ends (1..1440)
    session_lifetime_hours = 12             # every session ends this long after login (<= 720)
    lockout_minutes = 15                    # lockout after 20 failed logins (1..1440)

    [[web.users]]
    name = "ops"
    password_hash = "scrypt$..."            # from `rocketjob web hash-password`
    role = "operator"                       # view, operator or admin

Errors are :class:`rocketjob.errors.ConfigError` naming the key (``web.users[0].role: ...``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocketjob.errors import ConfigError

ROLES = ("view", "operator", "admin")
DEFAULT_BIND = "127.0.0.1:8080"


@dataclass(frozen=True)
class WebUser:
    """One ``[[web.users]]`` entry."""

    name: str
    password_hash: str
    role: str


@dataclass(frozen=True)
class WebConfig:
    """The whole ``[web]`` table."""

    bind: str = DEFAULT_BIND
    secret_key_env: str = "ROCKETJOB_WEB_SECRET"
    proxy_auth_header: str = ""
    trusted_proxies: tuple[str, ...] = ()
    proxy_default_role: str = ""
    secure_cookies: bool = False
    refresh_seconds: float = 5.0
    counts_ttl_seconds: float = 5.0
    session_idle_minutes: float = 30.0
    session_lifetime_hours: float = 12.0
    lockout_minutes: float = 15.0
    users: tuple[WebUser, ...] = ()

    @property
    def auth_configured(self) -> bool:
        """True when users or a trusted proxy header authenticate requests."""
        return bool(self.users or self.proxy_auth_header)

    def user(self, name: str) -> WebUser | None:
        """The configured user called ``name``."""
        return next((u for u in self.users if u.name == name), None)


def parse_bind(bind: str, where: str = "web.bind") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as a (host, port) pair."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected HOST:PORT such as 127.0.0.1:8080, got {bind!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SIMPLE: dict[str, type] = {
    "bind": str,
    "secret_key_env": str,
    "proxy_auth_header": str,
    "proxy_default_role": str,
    "secure_cookies": bool,
    "refresh_seconds": float,
    "counts_ttl_seconds": float,
    "session_idle_minutes": float,
    "session_lifetime_hours": float,
    "lockout_minutes": float,
    "trusted_proxies": list,
}
#: Allowed ranges of the session and lockout settings: (low, high), inclusive.
_RANGES = {
    "session_idle_minutes": (1.0, 1440.0),
    "session_lifetime_hours": (0.1, 720.0),
    "lockout_minutes": (1.0, 1440.0),
}
_USER_KEYS = ("name", "password_hash", "role")


def load_web_config(raw: Mapping[str, Any]) -> WebConfig:
    """Validate the raw ``[web]`` table; raise ConfigError naming the key."""
    if not isinstance(raw, Mapping):
        raise ConfigError("web: expected a [web] table")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "users":
            continue
        if key not in _SIMPLE:
            known = ", ".join(sorted([*_SIMPLE, "users"]))
            raise ConfigError(f"web.{key}: unknown key; expected one of {known}")
        values[key] = _check_type(f"web.{key}", _SIMPLE[key], value)
    values["trusted_proxies"] = tuple(_proxies(values.get("trusted_proxies", [])))
    config = WebConfig(**values, users=_users(raw.get("users", [])))
    parse_bind(config.bind)
    if config.proxy_default_role not in ("", *ROLES):
        raise ConfigError(
            f'web.proxy_default_role: must be one of {", ".join(ROLES)} or "" (no access)'
        )
    if config.proxy_auth_header and not config.trusted_proxies:
        raise ConfigError(
            "web.trusted_proxies: required when web.proxy_auth_header is set; list the "
            'addresses of the proxies that set it, e.g. trusted_proxies = ["127.0.0.1"]'
        )
    for key, (low, high) in _RANGES.items():
        if not low <= getattr(config, key) <= high:
            raise ConfigError(
                f"web.{key}: must be between {low:g} and {high:g}, got {getattr(config, key):g}"
            )
    for key in ("refresh_seconds", "counts_ttl_seconds"):
        if getattr(config, key) < 0:
            raise ConfigError(f"web.{key}: must not be negative, got {getattr(config, key)}")
    return config


def _check_type(where: str, kind: type, value: Any) -> Any:
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected a {kind.__name__}, got {value!r}")
    return value


def _proxies(raw: list[Any]) -> list[str]:
    """``trusted_proxies`` entries, each an address or a CIDR network."""
    for i, value in enumerate(raw):
        try:
            ipaddress.ip_network(value, strict=False)
        except (TypeError, ValueError):
            raise ConfigError(
                f"web.trusted_proxies[{i}]: {value!r} is not an IP address or CIDR network "
                "such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return [str(value) for value in raw]


def _users(raw: Any) -> tuple[WebUser, ...]:
    if not isinstance(raw, list) or not all(isinstance(u, dict) for u in raw):
        raise ConfigError("web.users: expected [[web.users]] tables")
    users: list[WebUser] = []
    for i, entry in enumerate(raw):
        where = f"web.users[{i}]"
        for key in entry:
            if key not in _USER_KEYS:
                raise ConfigError(
                    f"{where}.{key}: unknown key; expected one of {', '.join(_USER_KEYS)}"
                )
        for key in _USER_KEYS:
            if key not in entry:
                raise ConfigError(f"{where}.{key}: missing")
            _check_type(f"{where}.{key}", str, entry[key])
        if entry["role"] not in ROLES:
            raise ConfigError(
                f"{where}.role: must be one of {', '.join(ROLES)}, got {entry['role']!r}"
            )
        if not entry["password_hash"].startswith("scrypt$"):
            raise ConfigError(
                f"{where}.password_hash: expected a scrypt$... hash from "
                "`rocketjob web hash-password`, never a plain password"
            )
        if any(u.name == entry["name"] for u in users):
            raise ConfigError(f"{where}.name: duplicate user {entry['name']!r}")
        users.append(WebUser(entry["name"], entry["password_hash"], entry["role"]))
    return tuple(users)
