"""The bot's HTTP layer under PTB (`bot.telegram_request.AiohttpRequest`), against servers on 127.0.0.1.

The rest of the Telegram tests run every Bot API call through it against the fake Bot API; these
cover what those scenarios don't reach: timeouts, a refused connection, uploads, downloads, and
the lifecycle PTB drives."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import BodyPartReader, web
from telegram import Bot, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram import TelegramOptions, build_application
from bot.telegram_request import AiohttpRequest, proxy_from_environment

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start an HTTP server on 127.0.0.1 answering every path with `handler`; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def test_form_fields_arrive_as_the_bot_api_expects(serve: Callable[[Handler], Awaitable[str]]) -> None:
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-www-form-urlencoded"
        assert request.headers["User-Agent"].startswith("python-telegram-bot")
        seen.append(dict(await request.post()))
        return ok(True)

    base = await serve(handler)
    async with AiohttpRequest() as request:
        data = RequestData([RequestParameter.from_input("chat_id", -1001), RequestParameter.from_input("text", "路灯")])
        assert await request.post(f"{base}/bot1:x/sendChatAction", request_data=data) is True
    assert seen == [{"chat_id": "-1001", "text": "路灯"}]


async def test_files_go_up_as_multipart_with_the_other_fields(serve: Callable[[Handler], Awaitable[str]]) -> None:
    parts: list[tuple[str | None, str | None, bytes]] = []  # (field name, file name, content)

    async def handler(request: web.Request) -> web.Response:
        assert request.content_type == "multipart/form-data"
        async for part in await request.multipart():
            assert isinstance(part, BodyPartReader)
            parts.append((part.name, part.filename, bytes(await part.read())))
        return ok(True)

    base = await serve(handler)
    upload = InputFile(b"PK\x03\x04 ledger", filename="台账.xlsx", attach=True)
    data = RequestData([RequestParameter.from_input("chat_id", 42), RequestParameter.from_input("document", upload)])
    async with AiohttpRequest() as request:
        await request.post(f"{base}/bot1:x/sendDocument", request_data=data)
    fields = {name: content for name, filename, content in parts if filename is None}
    files = [(name, filename, content) for name, filename, content in parts if filename is not None]
    assert fields["chat_id"] == b"42"
    assert len(files) == 1
    attach_name, filename, content = files[0]
    assert (filename, content) == ("台账.xlsx", b"PK\x03\x04 ledger")
    assert fields["document"] == f"attach://{attach_name}".encode()


async def test_a_download_returns_the_bytes(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.method == "GET"
        return web.Response(body=b"\x89PNG photo")

    base = await serve(handler)
    async with AiohttpRequest() as request:
        assert await request.retrieve(f"{base}/file/bot1:x/photos/1.png") == b"\x89PNG photo"


async def test_a_slow_answer_times_out_and_a_per_call_timeout_wins(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return ok(True)

    base = await serve(handler)
    async with AiohttpRequest(read_timeout=0.2) as request:
        with pytest.raises(TimedOut):
            await request.post(f"{base}/bot1:x/getMe?delay=1")
        # A longer timeout for one call (as long polling passes) lets the same wait through.
        assert await request.post(f"{base}/bot1:x/getMe?delay=0.4", read_timeout=2) is True
        with pytest.raises(TimedOut):
            await request.post(f"{base}/bot1:x/getMe?delay=1", read_timeout=0.1)


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connecting is refused
        async with AiohttpRequest(connect_timeout=1) as request:
            with pytest.raises(NetworkError) as caught:
                await request.post(f"http://127.0.0.1:{port}/bot1:x/getMe")
    assert not isinstance(caught.value, TimedOut)
    assert "aiohttp." in str(caught.value)


async def test_errors_of_the_bot_api_still_come_through_ptb(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/getMe"):  # asked once as the Bot starts
            return ok({"id": 1, "is_bot": True, "first_name": "Liaison", "username": "liaison_bot"})
        body = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}
        return web.json_response(body, status=429)

    base = await serve(handler)
    bot = Bot("1:x", base_url=f"{base}/bot", request=AiohttpRequest(), get_updates_request=AiohttpRequest())
    async with bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(chat_id=1, text="hi")
    assert caught.value._retry_after.total_seconds() == 3


async def test_it_is_refused_before_initialize_and_reopens_after_shutdown(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return ok(True)

    base = await serve(handler)
    request = AiohttpRequest()
    with pytest.raises(NetworkError, match="not initialized"):  # PTB wraps what isn't its own error
        await request.post(f"{base}/bot1:x/getMe")
    await request.initialize()
    await request.shutdown()
    await request.shutdown()  # twice is harmless, as PTB may do on the way down
    await request.initialize()  # an Application started again opens a new session
    try:
        assert await request.post(f"{base}/bot1:x/getMe") is True
    finally:
        await request.shutdown()


def test_the_bot_uses_it_for_sends_and_for_polling() -> None:
    application = build_application(TelegramOptions(token="1:x", base_url="http://127.0.0.1:9/bot"))
    bot = application.bot
    assert isinstance(bot.request, AiohttpRequest)
    assert isinstance(bot._request[0], AiohttpRequest) and bot._request[0] is not bot.request
    assert bot.request.read_timeout == 15


async def test_requests_go_through_the_given_proxy(serve: Callable[[Handler], Awaitable[str]]) -> None:
    """An HTTP proxy on 127.0.0.1 gets the request for a host that is never resolved here."""
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append(str(request.url))
        return ok(True)

    proxy_url = await serve(proxy)
    async with AiohttpRequest(proxy=proxy_url) as request:
        assert await request.post("http://api.telegram.invalid/bot1:x/getMe") is True
    assert asked == ["http://api.telegram.invalid/bot1:x/getMe"]


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://10.1.1.1:3128"}, "https://api.telegram.org/bot", "http://10.1.1.1:3128"),
        ({"https_proxy": "http://10.1.1.1:3128"}, "https://api.telegram.org/bot", "http://10.1.1.1:3128"),
        ({"ALL_PROXY": "http://10.2.2.2:8080"}, "https://api.telegram.org/bot", "http://10.2.2.2:8080"),
        ({"HTTPS_PROXY": "http://10.1.1.1:3128", "NO_PROXY": "telegram.org"}, "https://api.telegram.org/bot", None),
        ({"HTTP_PROXY": "http://10.1.1.1:3128"}, "https://api.telegram.org/bot", None),
        ({"HTTP_PROXY": "http://10.1.1.1:3128"}, "http://127.0.0.1:8081/bot", None),
        ({"HTTP_PROXY": "http://10.1.1.1:3128"}, "http://localhost:8081/bot", None),
        ({}, "https://api.telegram.org/bot", None),
    ],
)
def test_the_proxy_is_read_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_from_environment(url) == expected


def test_a_socks_proxy_is_refused_at_start_with_what_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:7891")
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="HTTP proxy only"):
        build_application(TelegramOptions(token="1:x", base_url="https://api.telegram.org/bot"))


def test_tls_is_verified_against_the_same_ca_list_as_ptbs_default_client() -> None:
    import ssl

    import certifi

    tls = AiohttpRequest().tls
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname
    bundled = ssl.create_default_context(cafile=certifi.where()).get_ca_certs()
    assert bundled and tls.get_ca_certs() == bundled
