"""Helpers shared by the subcommands: loading the config and connecting the store."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from rocketjob import config as config_module
from rocketjob import connection, sizes
from rocketjob.config import Config
from rocketjob.store import Store


def load_config(args: argparse.Namespace, *, check_environment: bool = False) -> Config:
    """The configuration named by ``-c`` (or the defaults). Only the daemon and
    ``--check`` ask for the secrets' environment variables to be set."""
    path = getattr(args, "config", None)
    if not path:
        return config_module.Config()
    return config_module.load(path, check_environment=check_environment)


def connect(config: Config) -> Store:
    """Connect this process to the store of ``config`` (or ROCKETJOB_STORE, the default)
    and use its job size limit."""
    sizes.configure(config.store.max_job_bytes)
    return connection.connect(config.store.url)


def to_json(value: Any) -> str:
    """JSON text of a status dict (datetimes as ISO strings)."""

    def default(item: Any) -> Any:
        if isinstance(item, dt.datetime):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    return json.dumps(value, default=default, sort_keys=True)
