"""PTB's network layer on aiohttp instead of httpx.

python-telegram-bot lets a bot bring its own HTTP client (`telegram.request.BaseRequest`); all
of PTB above it (the Bot's methods, error mapping, `RetryAfter`, the rate limiter) is unchanged.
The benchmark (bench/telegram_bench.py) found httpx's request path to be half of the bot's CPU per
message; aiohttp, already here for the webhook server and for matrix-nio, does the same exchange
for a fraction of it. The bot's sends are its hot path: every acknowledgement, reminder and
feedback post goes through here.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

# What PTB passes for a timeout the caller left unset (`BaseRequest.DEFAULT_NONE` and its kind).
UNSET = type(BaseRequest.DEFAULT_NONE)


def proxy_from_environment(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, ALL_PROXY, NO_PROXY, as curl and
    PTB's default client read them); never one for a loopback address (tests, a local Bot API).
    A SOCKS proxy is refused at start, with what to use instead, rather than on every request."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a name, not an address
    if urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy is not None and urlsplit(proxy).scheme not in ("http", "https"):
        raise ValueError(
            f"proxy {proxy!r} (from the environment): the bot reaches Telegram through an HTTP proxy only, "
            "e.g. HTTPS_PROXY=http://127.0.0.1:7890"
        )
    return proxy


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession`; the timeouts mean what PTB's do.

    - connect: establishing a new connection; pool: waiting for a free one in the pool. aiohttp
      counts both in its `connect` budget, so that is their sum.
    - read: the longest pause while reading the answer.
    - write: aiohttp has no write timeout; the whole exchange is capped at the sum of all four,
      so a stalled upload still ends.
    A proxy is given once (`proxy_from_environment`), not looked up per request: aiohttp's
    `trust_env` reads the environment and ~/.netrc on a worker thread for every request."""

    __slots__ = ("_connection_pool_size", "_defaults", "_media_write_timeout", "_proxy", "_session", "tls")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
    ) -> None:
        self._proxy = proxy
        # Mozilla's CA list as PTB's default client (httpx) uses it, not whatever the host has:
        # a slim container without ca-certificates must still reach api.telegram.org.
        self.tls = ssl.create_default_context(cafile=certifi.where())
        self._connection_pool_size = connection_pool_size
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
        }
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_pool_size, ssl=self.tls),
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets none; don't parse for them
                headers={"User-Agent": self.USER_AGENT},
                proxy=self._proxy,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _timeout(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        pool: ODVInput[float],
        *,
        uploads: bool,
    ) -> aiohttp.ClientTimeout:
        def chosen(value: ODVInput[float], name: str) -> float | None:
            if isinstance(value, UNSET):
                if name == "write" and uploads:
                    return self._media_write_timeout
                return self._defaults[name]
            return value

        read_s, write_s, connect_s, pool_s = (
            chosen(read, "read"),
            chosen(write, "write"),
            chosen(connect, "connect"),
            chosen(pool, "pool"),
        )
        parts = (read_s, write_s, connect_s, pool_s)
        total = None if any(part is None for part in parts) else sum(parts)  # type: ignore[arg-type]
        acquire = None if connect_s is None or pool_s is None else connect_s + pool_s
        return aiohttp.ClientTimeout(total=total, connect=acquire, sock_connect=connect_s, sock_read=read_s)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        data: Any = fields
        if files:
            # Unquoted: Telegram shows a file name as sent, and 台账.xlsx must not become %E5%8F%B0...
            form = aiohttp.FormData(fields or {}, quote_fields=False)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, uploads=bool(files))
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's timeouts derive from it
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name helps when the message is empty, as with a dropped connection.
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
