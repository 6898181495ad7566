"""Feedback and rating (反馈 / 评议): the result goes back as a reply to the resident's own message,
and the resident rates it with a button or, where buttons are awkward (Matrix), a text reply.

A feedback post belongs to one round (`Item.reopen_count` when it was posted): a press from an
older round is stale, and only the reporter's first answer per round counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers import masking, outbox
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.transport import Button
from storage import items as items_repo
from storage import messages as messages_repo
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import (
    Account,
    ChatPurpose,
    Direction,
    Item,
    ItemStatus,
    Message,
    Person,
    Rating,
    RoleName,
    Station,
)

RATE_PREFIX = "rate"
RATE_DATA_RE = re.compile(r"^rate:(\d{1,12}):(\d{1,4}):([sbu])$")
RATING_CODES = {"s": Rating.SATISFIED, "b": Rating.BASICALLY_SATISFIED, "u": Rating.UNSATISFIED}
CODE_OF = {rating: code for code, rating in RATING_CODES.items()}
RATING_LABELS = {
    Rating.SATISFIED: _("满意"),
    Rating.BASICALLY_SATISFIED: _("基本满意"),
    Rating.UNSATISFIED: _("不满意"),
}
# Text answers accepted from the reporter replying to the feedback post; longest first, so
# "基本满意" and "不满意" are not read as "满意".
TEXT_RATINGS: list[tuple[str, Rating]] = [
    ("basically satisfied", Rating.BASICALLY_SATISFIED),
    ("not satisfied", Rating.UNSATISFIED),
    ("dissatisfied", Rating.UNSATISFIED),
    ("unsatisfied", Rating.UNSATISFIED),
    ("satisfied", Rating.SATISFIED),
    ("基本满意", Rating.BASICALLY_SATISFIED),
    ("基本滿意", Rating.BASICALLY_SATISFIED),
    ("比较满意", Rating.BASICALLY_SATISFIED),
    ("非常满意", Rating.SATISFIED),
    ("不满意", Rating.UNSATISFIED),
    ("不滿意", Rating.UNSATISFIED),
    ("满意", Rating.SATISFIED),
    ("滿意", Rating.SATISFIED),
]
TRAILING = " \t\r\n。！!.～~，,"


def rate_data(item_id: int, round_: int, rating: Rating) -> str:
    """Compact button data, well under Telegram's 64 bytes: `rate:<item id>:<round>:<s|b|u>`."""
    return f"{RATE_PREFIX}:{item_id}:{round_}:{CODE_OF[rating]}"


@dataclass(frozen=True)
class RatePress:
    item_id: int
    round: int
    rating: Rating


def parse_rate_data(data: str | None) -> RatePress | None:
    match = RATE_DATA_RE.match(data or "")
    if match is None:
        return None
    return RatePress(int(match.group(1)), int(match.group(2)), RATING_CODES[match.group(3)])


def parse_text_rating(text: str) -> tuple[Rating, str] | None:
    """'不满意，路灯还是不亮' → (unsatisfied, '路灯还是不亮'); None when the text is no rating."""
    folded = text.strip().lower()
    for word, rating in TEXT_RATINGS:
        if folded.startswith(word):
            return rating, text.strip()[len(word) :].strip(TRAILING)
    return None


def feedback_key(item: Item) -> str:
    base = f"feedback:item:{item.id}"
    return base if item.reopen_count == 0 else f"{base}:{item.reopen_count}"


def short(text: str, limit: int = 40) -> str:
    """One line of at most `limit` characters; never cuts personal data in half, so what is shown
    of it can still be recognised and masked."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: masking.safe_cut(text, limit - 1)].rstrip() + "…"


async def source_is_private(ctx: Context, source: Message) -> bool:
    """Items come from a residents chat or a direct chat, and a direct chat is never bound: an
    item's chat without a binding is the resident's direct chat with the bot."""
    binding = await stations_repo.get_binding(session=ctx.session, platform=source.platform, chat_id=source.chat_id)
    return binding is None or (binding.active and binding.purpose == ChatPurpose.STAFF)


async def post_feedback(ctx: Context, item: Item, station: Station) -> bool:
    """Queue the result as a reply to the resident's message, with the rating buttons of this round.

    Returns False when the item has no source message (then the reporter gets a direct message).
    """
    tr = translator(ctx.language_for(station))
    reporter = await ctx.session.get(Person, item.reporter_id)
    name = reporter.display_name if reporter else ""
    if item.status == ItemStatus.REJECTED:
        head = tr(_("{name}，您反映的事项 #{number}「{text}」不予受理。\n理由：{result}"),
                  name=name, number=item.number, text=short(item.text), result=item.result or "")
    else:
        head = tr(_("{name}，您反映的事项 #{number}「{text}」已办结。\n办理结果：{result}"),
                  name=name, number=item.number, text=short(item.text), result=item.result or "")
    ask = tr(_("请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"))
    buttons = [Button(tr(RATING_LABELS[rating]), rate_data(item.id or 0, item.reopen_count, rating)) for rating in Rating]
    source = await ctx.session.get(Message, item.source_message_id) if item.source_message_id else None
    if source is None:
        await outbox.to_person(
            session=ctx.session, key=feedback_key(item), purpose="feedback", person_id=item.reporter_id,
            text=f"{head}\n{ask}", buttons=buttons, now=ctx.now(), station_id=station.id, item_id=item.id,
        )
        return False
    mentions: list[str] = []
    if source.sender_account_id is not None:
        account = await ctx.session.get(Account, source.sender_account_id)
        if account is not None and account.platform == source.platform:
            mentions.append(account.user_id)
    await outbox.to_chat(
        session=ctx.session, key=feedback_key(item), purpose="feedback", platform=source.platform,
        chat_id=source.chat_id, reply_to=source.message_id, thread_id=source.thread_id, text=f"{head}\n{ask}",
        buttons=buttons, mentions=mentions, now=ctx.now(), station_id=station.id, item_id=item.id,
        private=await source_is_private(ctx, source),
    )
    return True


async def _apply_rating(ctx: Context, item: Item, press: RatePress, note: str = "") -> str:
    """Check who and which round, record the rating, and return the thanks (already translated)."""
    if item.reporter_id != ctx.person.id:
        raise ctx.error(_("只有提出事项 #{number} 的居民本人可以评价。"), number=item.number)
    if press.round != item.reopen_count:
        raise ctx.error(_("这个评价已过期：事项 #{number} 已重新办理，请对最新的办理结果评价。"), number=item.number)
    if not items_repo.may_transition("rate", item.status):
        if item.status == ItemStatus.CLOSED:
            raise ctx.error(_("您已经评价过事项 #{number}，谢谢！"), number=item.number)
        raise ctx.error(_("事项 #{number} 现在不需要评价。"), number=item.number)
    station = await ctx.session.get(Station, item.station_id)
    assert station is not None
    now = ctx.now()
    item.rating = press.rating
    event_note = press.rating.value + (f": {note}" if note else "")
    if press.rating is Rating.UNSATISFIED:
        item.reopen_count += 1
        await items_repo.transition(
            session=ctx.session, item=item, to_status=ItemStatus.REOPENED, kind="rated",
            actor_id=ctx.person.id, note=event_note, now=now,
        )
        await _tell_unsatisfied(ctx, item, station, note)
        return ctx.tr(_("已收到您的评价：不满意。事项 #{number} 已重新交办，办结后会再次回复您。"), number=item.number)
    item.closed_at = now
    await items_repo.transition(
        session=ctx.session, item=item, to_status=ItemStatus.CLOSED, kind="rated",
        actor_id=ctx.person.id, note=event_note, now=now,
    )
    return ctx.tr(_("感谢您的评价（{rating}）！事项 #{number} 已关闭。"),
                  rating=ctx.tr(RATING_LABELS[press.rating]), number=item.number)


async def _tell_unsatisfied(ctx: Context, item: Item, station: Station, note: str) -> None:
    """The assignee (DM) and the station's staff chats learn that the resident was not satisfied."""
    round_ = item.reopen_count
    tr = translator(ctx.language_for(station))
    text = _unsatisfied_text(tr, item, note)
    if item.assignee_id is not None:
        assignee = await ctx.session.get(Person, item.assignee_id)
        dm_tr = translator(ctx.language_for(station, person=assignee))
        await outbox.to_person(
            session=ctx.session, key=f"unsatisfied:item:{item.id}:{round_}:person:{item.assignee_id}",
            purpose="unsatisfied", person_id=item.assignee_id, text=_unsatisfied_text(dm_tr, item, note),
            now=ctx.now(), station_id=station.id, item_id=item.id,
        )
    staff_chats = await stations_repo.bindings_of(
        session=ctx.session, station_id=station.id or 0, purpose=ChatPurpose.STAFF
    )
    for binding in staff_chats:
        await outbox.to_chat(
            session=ctx.session, key=f"unsatisfied:item:{item.id}:{round_}:chat:{binding.id}",
            purpose="unsatisfied", platform=binding.platform, chat_id=binding.chat_id, text=text,
            now=ctx.now(), station_id=station.id, item_id=item.id, private=True,
        )
    if staff_chats:
        return
    # No staff chat bound: the liaisons and the head hear it directly, so it is never lost.
    told: set[int] = {item.assignee_id} if item.assignee_id is not None else set()
    for role in (RoleName.LIAISON, RoleName.HEAD):
        for person in await people_repo.people_with_role(session=ctx.session, station_id=station.id or 0, role=role):
            if person.id is None or person.id in told:
                continue
            told.add(person.id)
            await outbox.to_person(
                session=ctx.session, key=f"unsatisfied:item:{item.id}:{round_}:person:{person.id}",
                purpose="unsatisfied", person_id=person.id, text=text, now=ctx.now(),
                station_id=station.id, item_id=item.id,
            )


def _unsatisfied_text(tr: Translator, item: Item, note: str) -> str:
    text = tr(
        _("事项 #{number}「{text}」的提出人对办理结果不满意，事项已重新办理（第 {round} 次）。"
          "请继续办理：/progress {number} <进展>，或由联络员 /assign {number} <代表> 重新分派。"),
        number=item.number, text=short(item.text), round=item.reopen_count,
    )
    if note:
        text += "\n" + tr(_("居民意见：{note}"), note=note)
    return text


async def on_rate_button(ctx: Context) -> None:
    """A press on 满意 / 基本满意 / 不满意 under a feedback post."""
    press = parse_rate_data(ctx.incoming.button_data)
    if press is None:
        raise ctx.error(_("这个按钮已失效。"))
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=press.item_id)
    # The press must come from under a feedback post that carries exactly this data: forged data
    # (another item, another round, the ack's message) is refused.
    carried = {button.get("data") for button in ctx.message.buttons} if ctx.message is not None else set()
    if item is None or ctx.incoming.button_data not in carried:
        raise ctx.error(_("这个按钮已失效。"))
    await ctx.answer(await _apply_rating(ctx, item, press))


async def on_message(ctx: Context) -> bool:
    """A text rating: the reporter replies '满意' / 'unsatisfied' … to the feedback post."""
    incoming = ctx.incoming
    if not incoming.reply_to:
        return False
    parsed = parse_text_rating(incoming.text)
    if parsed is None:
        return False
    target = await messages_repo.get_message(
        session=ctx.session, platform=incoming.platform, chat_id=incoming.chat_id, message_id=incoming.reply_to
    )
    if target is None or target.direction != Direction.OUT or target.item_id is None:
        return False
    rounds = {press.round for press in map(parse_rate_data, (b.get("data") for b in target.buttons)) if press}
    if len(rounds) != 1:
        return False  # not a feedback post
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=target.item_id)
    if item is None:
        return False
    rating, note = parsed
    if ctx.message is not None:
        ctx.message.item_id = item.id
        ctx.session.add(ctx.message)
    await ctx.reply(await _apply_rating(ctx, item, RatePress(item.id or 0, rounds.pop(), rating), note))
    return True
