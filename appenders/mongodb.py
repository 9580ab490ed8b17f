"""``type = "mongodb"``: records as documents, written with batched ``insert_many``.

The URI comes from the variable ``uri_env`` names (it may hold credentials). The client is
made lazily, in the delivery thread after any fork, with server-selection, connect and socket
timeouts, so an unreachable or hanging server fails a batch within ``timeout`` instead of
blocking. ``capped_size`` (bytes) creates the collection capped when it does not exist yet.
Network errors are retried by the delivery wrapper; a rejected write is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appenders.config import EntryReader
from appenders.errors import DeliveryError, permanent
from appenders.record import Record


@dataclass(frozen=True)
class MongoOptions:
    """The keys of a ``mongodb`` entry (``uri`` is the secret's value)."""

    uri: str = field(repr=False)  # a secret: never in a repr or a log
    database: str = "rocketjob"
    collection: str = "logs"
    capped_size: int | None = None
    timeout: float = 5.0


def parse(reader: EntryReader) -> MongoOptions:
    """Read a ``mongodb`` entry."""
    uri = reader.secret("uri_env") or ""
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        reader.fail("uri_env", "the variable must hold a mongodb:// or mongodb+srv:// URI")
    return MongoOptions(
        uri=uri,
        database=reader.text("database", "rocketjob"),
        collection=reader.text("collection", "logs"),
        capped_size=reader.integer("capped_size", None, minimum=4096),
        timeout=reader.number("timeout", 5.0, minimum=0.001),
    )


def document(record: Record) -> dict[str, Any]:
    """The stored form of a record (``time`` as a BSON date)."""
    return {
        "time": record.time,
        "level": record.level,
        "message": record.message,
        "extra": record.extra,
        "exception": record.exception,
        "logger": record.logger,
        "thread": record.thread,
        "process": record.process,
    }


class MongoAppender:
    """Inserts batches of records into one collection."""

    #: Client libraries whose own log records must not come back into this appender.
    ignore_loggers = ("pymongo",)

    def __init__(self, options: MongoOptions) -> None:
        self.options = options
        self._client: Any = None
        self._collection: Any = None

    def _connect(self) -> Any:
        if self._collection is None:
            import pymongo

            ms = int(self.options.timeout * 1000)
            self._client = pymongo.MongoClient(
                self.options.uri,
                serverSelectionTimeoutMS=ms,
                connectTimeoutMS=ms,
                socketTimeoutMS=ms,
                timeoutMS=ms,
                appname="rocketjob-appender",
            )
            db = self._client[self.options.database]
            if (
                self.options.capped_size
                and self.options.collection not in db.list_collection_names()
            ):
                db.create_collection(
                    self.options.collection, capped=True, size=self.options.capped_size
                )
            self._collection = db[self.options.collection]
        return self._collection

    def emit(self, record: Record) -> None:
        """Insert one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Insert records with one ``insert_many`` (unordered)."""
        from bson.errors import InvalidDocument
        from pymongo import errors

        try:
            self._connect().insert_many([document(r) for r in records], ordered=False)
        except (InvalidDocument, errors.BulkWriteError) as exc:
            raise permanent(f"mongodb insert rejected: {exc}") from exc
        except errors.PyMongoError as exc:
            self.close()
            raise DeliveryError(f"mongodb: {exc}") from exc

    def close(self) -> None:
        """Close the client."""
        if self._client is not None:
            self._client.close()
        self._client = self._collection = None


def create(options: MongoOptions) -> MongoAppender:
    """The appender for a parsed entry."""
    return MongoAppender(options)
