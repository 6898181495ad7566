"""One resident flooding a chat is answered in one batched reply, and nothing of it is lost.

Every tagged message still becomes an item. The first `Station.acks_per_minute` items a person
raises in a station within a minute are acknowledged one by one; the rest of that minute's go
into one reply that lists their numbers, sent when the minute is over. So one person cannot
spend a group's 20 bot messages a minute (Telegram's limit) and make everyone else wait for
their answers, and the liaisons still see every item.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from handlers import outbox
from handlers.context import Context
from handlers.i18n import _
from storage.models import Item, Outbox, OutboxState, Station

WINDOW = timedelta(minutes=1)
LAST_CALL = timedelta(seconds=2)  # a batched reply about to leave takes no more numbers
PURPOSE = "ack_batch"


def over_limit(ctx: Context, station: Station) -> bool:
    """Count this sender's new item; True when it is past the station's per-minute limit."""
    counter = ctx.recent_intake
    if counter is None or station.id is None or ctx.person.id is None:
        return False
    earlier = counter.count_since(station.id, ctx.person.id, ctx.now() - WINDOW)
    counter.add(station.id, ctx.person.id, ctx.now())
    return bool(station.acks_per_minute) and earlier >= station.acks_per_minute


async def acknowledge_in_batch(ctx: Context, station: Station, item: Item) -> None:
    """Put the item's number into the sender's batched reply of this minute (made if needed)."""
    now = ctx.now()
    prefix = f"ack-batch:{station.id}:{ctx.person.id}:{ctx.incoming.chat_id}:"
    pending = (await ctx.session.exec(
        select(Outbox).where(
            col(Outbox.key).startswith(prefix, autoescape=True), Outbox.state == OutboxState.PENDING,
            col(Outbox.due_at) > now + LAST_CALL,
        ).order_by(col(Outbox.id).desc()).limit(1)
    )).first()
    if pending is None:
        await outbox.to_chat(
            session=ctx.session, key=f"{prefix}{item.number}", purpose=PURPOSE, platform=ctx.incoming.platform,
            chat_id=ctx.incoming.chat_id, reply_to=ctx.incoming.message_id, thread_id=ctx.incoming.thread_id,
            text=_render(ctx, [item.number]), now=now, due_at=now + WINDOW, station_id=station.id,
            follow_moves=False,
        )
        return
    first = int(pending.key.rsplit(":", 1)[1])
    numbers = await _unacknowledged_numbers(ctx, station, since_number=first)
    pending.text = _render(ctx, sorted({*numbers, item.number}))
    ctx.session.add(pending)


async def _unacknowledged_numbers(ctx: Context, station: Station, *, since_number: int) -> list[int]:
    """The sender's items from `since_number` on that got no acknowledgement of their own."""
    result = await ctx.session.exec(
        select(Item.number).where(
            Item.station_id == station.id, Item.reporter_id == ctx.person.id, col(Item.number) >= since_number,
            ~select(Outbox.id).where(Outbox.item_id == Item.id, Outbox.purpose == "ack").exists(),
        )
    )
    return list(result.all())


def number_ranges(numbers: list[int]) -> str:
    """#6–#9、#12 for 6, 7, 8, 9, 12."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(f"#{start}" if start == previous else f"#{start}–#{previous}")
        if number is not None:
            start = previous = number
    return "、".join(parts)


def _render(ctx: Context, numbers: list[int]) -> str:
    return ctx.tr(
        _("您刚才连续发来的另外 {count} 条意见建议也都已受理，编号 {numbers}。为免刷屏，合并在此答复；办结后会逐条回复您。"),
        count=len(numbers), numbers=number_ranges(numbers),
    )
