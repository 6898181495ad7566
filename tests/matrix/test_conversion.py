"""The adapter's pure pieces, without a homeserver: reply fallbacks, relations, and how homeserver
refusals become the outbox's RetryLater / Undeliverable."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from nio import RoomSendError

from bot.matrix import MatrixTransport, relations, strip_reply_fallback, text_to_html
from handlers.clock import SystemClock
from handlers.context import CoreConfig
from handlers.transport import Button, Outgoing, RetryLater, Undeliverable


class _App:
    """Just enough of App for a transport that never syncs."""

    config = CoreConfig()
    clock = SystemClock()


def transport(**kwargs: Any) -> MatrixTransport:
    t = MatrixTransport(
        _App(), homeserver="http://127.0.0.1:9", user="@bot:localhost", password="x",  # type: ignore[arg-type]
        store_path=tempfile.mkdtemp(prefix="liaison-matrix-store-"), **kwargs,
    )
    t._synced_rooms.add("!r")  # as if a sync had brought the room (no homeserver here)
    t._started = True
    t.client.user_id = "@bot:localhost"
    return t


def test_strip_reply_fallback() -> None:
    assert strip_reply_fallback("> <@a:x> 原文\n> 第二行\n\n满意") == "满意"
    assert strip_reply_fallback("满意") == "满意"
    assert strip_reply_fallback("> 引用但没有空行") == "> 引用但没有空行"


def test_relations_reply_thread_and_thread_fallback() -> None:
    assert relations({"m.relates_to": {"m.in_reply_to": {"event_id": "$r"}}}) == ("$r", None)
    thread = {"rel_type": "m.thread", "event_id": "$root", "m.in_reply_to": {"event_id": "$last"}}
    assert relations({"m.relates_to": {**thread, "is_falling_back": True}}) == (None, "$root")
    assert relations({"m.relates_to": {**thread, "is_falling_back": False}}) == ("$last", "$root")
    assert relations({"m.relates_to": "garbage"}) == (None, None)


def test_content_is_an_html_notice_with_buttons_listed_and_thread_relation() -> None:
    t = transport()
    content = t.content(
        Outgoing(text="a<b>\nc", chat_id="!r", reply_to="$m", thread_id="$root", buttons=[Button("满意", "d")]),
        mentions=["@alice:x"],
    )
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "a<b>\nc\n\n[满意]"
    assert content["formatted_body"] == text_to_html("a<b>\nc") + "<br><br>[满意]"
    assert content["m.mentions"] == {"user_ids": ["@alice:x"]}
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": False,
        "m.in_reply_to": {"event_id": "$m"},
    }


def error(code: str, retry_after_ms: int | None = None) -> RoomSendError:
    return RoomSendError(message="no", status_code=code, retry_after_ms=retry_after_ms)


async def test_a_long_rate_limit_goes_back_to_the_outbox_with_retry_after() -> None:
    t = transport(max_inline_wait=1.0)
    calls: list[str] = []

    async def room_send(room_id: str, event_type: str, content: Any, tx_id: str, **_options: Any) -> Any:
        calls.append(tx_id)
        return error("M_LIMIT_EXCEEDED", 30_000)

    t.client.room_send = room_send  # type: ignore[method-assign]
    with pytest.raises(RetryLater) as limited:
        await t.send(Outgoing(text="x", chat_id="!r", txn_id="t1"))
    assert limited.value.retry_after == pytest.approx(30, abs=1)
    assert calls == ["t1"]  # no second request while the homeserver says wait
    with pytest.raises(RetryLater):
        await t.send(Outgoing(text="y", chat_id="!r", txn_id="t2"))
    assert calls == ["t1"]


async def test_a_short_rate_limit_is_waited_out_with_the_same_transaction_id() -> None:
    t = transport(max_inline_wait=1.0)
    answers = [error("M_LIMIT_EXCEEDED", 50), None]
    calls: list[str] = []

    async def room_send(room_id: str, event_type: str, content: Any, tx_id: str, **_options: Any) -> Any:
        from nio import RoomSendResponse

        calls.append(tx_id)
        answer = answers.pop(0)
        return answer or RoomSendResponse(event_id="$sent", room_id=room_id)

    t.client.room_send = room_send  # type: ignore[method-assign]
    sent = await t.send(Outgoing(text="x", chat_id="!r", txn_id="t1"))
    assert (sent.message_id, sent.chat_id, calls, t.rate_limited) == ("$sent", "!r", ["t1", "t1"], 1)


@pytest.mark.parametrize(("code", "expected"), [("M_FORBIDDEN", Undeliverable), ("M_UNKNOWN", RetryLater)])
async def test_refusals_map_to_outbox_errors(code: str, expected: type[Exception]) -> None:
    t = transport()

    async def room_send(room_id: str, event_type: str, content: Any, tx_id: str, **_options: Any) -> Any:
        return error(code)

    t.client.room_send = room_send  # type: ignore[method-assign]
    with pytest.raises(expected):
        await t.send(Outgoing(text="x", chat_id="!r", txn_id="t"))


async def test_network_errors_are_retry_later() -> None:
    t = transport()

    async def room_send(room_id: str, event_type: str, content: Any, tx_id: str, **_options: Any) -> Any:
        raise ConnectionResetError("gone")

    t.client.room_send = room_send  # type: ignore[method-assign]
    with pytest.raises(RetryLater):
        await t.send(Outgoing(text="x", chat_id="!r", txn_id="t"))
