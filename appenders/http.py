"""A small HTTP POST client for the HTTP appenders: a timeout on every call, keep-alive,
optional gzip, and status codes sorted into retry (408, 429, 5xx) or give up (other 4xx).

It is the stdlib ``http.client`` on purpose: no connection pool or threads of its own, one
connection owned by the delivery thread, and nothing that logs through the appender it serves.
"""

from __future__ import annotations

import gzip
import http.client
import ssl
import urllib.parse
from collections.abc import Mapping

from appenders.errors import DeliveryError, permanent

_RETRY_STATUSES = frozenset({408, 425, 429})


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: use the normal back-off


class HttpPoster:
    """POSTs bodies to one URL; raises :class:`DeliveryError` on failure."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        compress: bool = False,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = dict(headers)
        self.timeout = timeout
        self.compress = compress
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                context = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, body: bytes, content_type: str = "application/json") -> bytes:
        """Send ``body``; return the response body of a 2xx answer."""
        headers = {**self.headers, "Content-Type": content_type}
        if self.compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise DeliveryError(f"POST {self.url}: {exc!r}") from exc
        return self._check(response, data)

    def _check(self, response: http.client.HTTPResponse, data: bytes) -> bytes:
        status = response.status
        if 200 <= status < 300:
            return data
        self.close()  # start the next attempt on a fresh connection
        message = f"POST {self.url}: HTTP {status} {data[:200]!r}"
        if status in _RETRY_STATUSES or status >= 500:
            raise DeliveryError(
                message, retry_after=_retry_after(response.getheader("Retry-After"))
            )
        raise permanent(message)

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
