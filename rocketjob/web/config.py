"""``[web]``: Mission Control's configuration, validated once into frozen dataclasses.

::

    [web]
    bind = "127.0.0.1:8080"                 # a non-loopback bind needs users or proxy_auth_header
    secret_key_env = "ROCKETJOB_WEB_SECRET" # names the env var that signs cookies
    proxy_auth_header = ""                  # e.g. "X-Forwarded-User" behind a trusted proxy
    proxy_default_role = "view"             # role of proxy users not listed in [[web.users]]
    secure_cookies = false                  # mark the session cookie Secure (behind HTTPS)
    refresh_seconds = 5                     # live refresh of dashboards and lists (0: off)
    counts_ttl_seconds = 5                  # how long cached job counts are served

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
    proxy_default_role: str = "view"
    secure_cookies: bool = False
    refresh_seconds: float = 5.0
    counts_ttl_seconds: float = 5.0
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
    config = WebConfig(**values, users=_users(raw.get("users", [])))
    parse_bind(config.bind)
    if config.proxy_default_role not in ROLES:
        raise ConfigError(f"web.proxy_default_role: must be one of {', '.join(ROLES)}")
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
