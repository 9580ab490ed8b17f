"""The MongoDB store: one typed store class composed from small modules by concern."""

from rocketjob.store.mongodb.store import MongoStore

__all__ = ["MongoStore"]
