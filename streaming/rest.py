"""The REST transport: one GET with a timeout and bounded retries.

Venue network I/O lives here and in :mod:`streaming.transport` only.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from streaming.errors import StreamingError

log = logging.getLogger(__name__)


def get(base_url: str, path: str, params: dict[str, str], *, timeout: float = 10.0, attempts: int = 3) -> bytes:
    """GET ``base_url + path?params`` and return the body, retrying transient failures with backoff.

    Raises:
        StreamingError: Every attempt failed, or the venue answered 4xx (retrying cannot help).
    """
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code != 429:
                raise StreamingError(f"GET {url}: HTTP {error.code}: {error.read()[:200]!r}") from error
            reason = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = str(error)
        if attempt < attempts:
            log.warning("GET %s failed (%s); retrying", url, reason)
            time.sleep(0.5 * 2 ** (attempt - 1))
    raise StreamingError(f"GET {url} failed {attempts} times: {reason}")
