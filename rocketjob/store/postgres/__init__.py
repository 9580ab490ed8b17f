"""The PostgreSQL store: one typed store class composed from small modules by concern."""

from rocketjob.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
