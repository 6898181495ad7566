"""Feedback and rating (反馈 / 评议): the result goes back as a reply to the resident's own message,
and the resident rates it with a button or, where buttons are awkward (Matrix), a text reply.

A feedback post belongs to one round (`Item.reopen_count` when it was posted): a press from an
older round is stale, and only the reporter's first answer per round counts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers import deadlines, intake, masking, outbox
from handlers.context import CommandError, Context
from handlers.i18n import Translator, _, fold_chinese, translator
from handlers.transport import Button
from storage import items as items_repo
from storage import stations as stations_repo
from storage.models import (
    Account,
    ChatPurpose,
    HandlingUnit,
    Item,
    ItemStatus,
    Message,
    Person,
    Rating,
    Station,
)
from storage.rows import id_of

RATE_PREFIX = "rate"
# Outbox purposes of the posts a resident may answer with a text reply.
FEEDBACK = "feedback"
RATING_QUESTION = "rating_question"
REFERRAL = "referral"
ACK = "ack"
ANSWERABLE = frozenset({FEEDBACK, RATING_QUESTION, REFERRAL, ACK})
RATE_DATA_RE = re.compile(r"^rate:(\d{1,9}):(\d{1,4}):([sbu])$", re.ASCII)  # ids fit a 32-bit column
RATING_CODES = {"s": Rating.SATISFIED, "b": Rating.BASICALLY_SATISFIED, "u": Rating.UNSATISFIED}
CODE_OF = {rating: code for code, rating in RATING_CODES.items()}
RATING_LABELS = {
    Rating.SATISFIED: _("满意"),
    Rating.BASICALLY_SATISFIED: _("基本满意"),
    Rating.UNSATISFIED: _("不满意"),
}
# The labels a text reply may be (the buttons' labels, in each catalog's language); longest first,
# so "基本满意" and "不满意" are not read as "满意". Matched after folding to simplified Chinese.
TEXT_LABELS: list[tuple[str, Rating]] = [
    ("basically satisfied", Rating.BASICALLY_SATISFIED),
    ("not satisfied", Rating.UNSATISFIED),
    ("dissatisfied", Rating.UNSATISFIED),
    ("unsatisfied", Rating.UNSATISFIED),
    ("satisfied", Rating.SATISFIED),
    ("基本满意", Rating.BASICALLY_SATISFIED),
    ("不满意", Rating.UNSATISFIED),
    ("满意", Rating.SATISFIED),
]
QUESTION_MARKS = frozenset("?？¿")
# Words that mean the reply is about satisfaction even when it is no label: answered with the
# buttons and a question instead of being guessed ("不太满意", "满意度很低", "还行吧").
SATISFACTION_WORDS = ("满意", "还行", "还可以", "凑合", "马马虎虎", "一般般", "不错", "好评", "差评", "评价",
                      "satisf", "rating")


@dataclass(frozen=True)
class TextRating:
    rating: Rating
    comment: str


def _is_decoration(char: str) -> bool:
    """Punctuation, symbols, emoji and spaces around a label; never a question mark."""
    return not char.isalnum() and char not in QUESTION_MARKS


def parse_text_rating(text: str) -> TextRating | None:
    """A text reply that is exactly one of the labels: surrounding punctuation and emoji allowed,
    and a comment after a clear separator (`不满意，噪音还有` → unsatisfied, comment `噪音还有`).
    None for anything else — `不太满意`, `满意度很低`, `满意？根本没修好`, `满意个啥`."""
    original = text.strip()
    folded = fold_chinese(unicodedata.normalize("NFKC", original)).lower()
    if len(folded) != len(original):  # normalizing changed the length: the comment as normalized
        original = folded
    start = 0
    while start < len(folded) and _is_decoration(folded[start]):
        start += 1
    label = next(((word, rating) for word, rating in TEXT_LABELS if folded.startswith(word, start)), None)
    if label is None:
        return None
    after = start + len(label[0])
    gap = after
    while gap < len(folded) and _is_decoration(folded[gap]):
        gap += 1
    if gap == len(folded):
        return TextRating(label[1], "")
    if gap == after or folded[gap] in QUESTION_MARKS:
        return None  # the label runs into more words (满意度, 满意个啥), or is asked about (满意！？)
    comment = original[gap:].strip()
    return TextRating(label[1], comment)


def mentions_satisfaction(text: str) -> bool:
    folded = fold_chinese(unicodedata.normalize("NFKC", text)).lower()
    return any(word in folded for word in SATISFACTION_WORDS)


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


def rating_buttons(tr: Translator, item: Item, round_: int) -> list[Button]:
    return [Button(tr(RATING_LABELS[rating]), rate_data(id_of(item), round_, rating)) for rating in Rating]


@dataclass(frozen=True)
class Posted:
    """Where a post to the reporter went: into the chat of their message (else directly), and
    whether that chat is public (then personal data in it was masked)."""

    in_chat: bool
    public: bool


async def post_result(ctx: Context, item: Item, station: Station, *, answered: bool) -> Posted:
    """The result (or the station's direct answer) as a reply to the resident's own message, with
    the rating buttons of this round; directly to the resident when there is no such message."""
    tr = translator(ctx.language_for(station))
    values = {"name": await _reporter_name(ctx, item), "number": item.number, "text": short(item.text),
              "result": item.result or ""}
    if answered:
        head = tr(_("{name}，关于您反映的事项 #{number}「{text}」，本站答复如下：\n{result}"), **values)
    else:
        head = tr(_("{name}，您反映的事项 #{number}「{text}」已办结。\n办理结果：{result}"), **values)
    ask = tr(_("请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"))
    return await _to_reporter(ctx, item, station, key=feedback_key(item), purpose=FEEDBACK, text=f"{head}\n{ask}",
                              buttons=rating_buttons(tr, item, item.reopen_count))


async def post_referral(ctx: Context, item: Item, station: Station) -> Posted:
    """Not accepted (e.g. an individual petition referred to the petition office): the reason, and
    no rating buttons — a referral is final; only staff may /reopen it."""
    tr = translator(ctx.language_for(station))
    text = tr(_("{name}，您反映的事项 #{number}「{text}」不属于本站受理范围，不予受理。\n说明：{result}\n"
                "如有疑问，请联系本站联络员。"),
              name=await _reporter_name(ctx, item), number=item.number, text=short(item.text), result=item.result or "")
    return await _to_reporter(ctx, item, station, key=f"referral:item:{item.id}:{item.reopen_count}",
                              purpose=REFERRAL, text=text, buttons=[])


async def _reporter_name(ctx: Context, item: Item) -> str:
    reporter = await ctx.session.get(Person, item.reporter_id)
    return reporter.display_name if reporter else ""


async def _to_reporter(
    ctx: Context, item: Item, station: Station, *, key: str, purpose: str, text: str, buttons: list[Button]
) -> Posted:
    """A reply to the resident's original message (mentioning them), or a direct message when the
    item has no message of theirs (a visitor recorded by staff)."""
    return await to_author(ctx, person_id=item.reporter_id, source_message_id=item.source_message_id,
                           station=station, key=key, purpose=purpose, text=text, buttons=buttons, item_id=id_of(item))


async def to_author(
    ctx: Context, *, person_id: int, source_message_id: int | None, station: Station, key: str, purpose: str,
    text: str, buttons: list[Button], item_id: int,
) -> Posted:
    """A reply to a person's own message about an item (mentioning them; masked unless the chat is
    private), or a direct message when there is no such message."""
    source = await ctx.session.get(Message, source_message_id) if source_message_id else None
    if source is None:
        await outbox.to_person(
            session=ctx.session, key=key, purpose=purpose, person_id=person_id, text=text, buttons=buttons,
            now=ctx.now(), station_id=station.id, item_id=item_id,
        )
        return Posted(in_chat=False, public=False)
    mentions: list[str] = []
    if source.sender_account_id is not None:
        account = await ctx.session.get(Account, source.sender_account_id)
        if account is not None and account.platform == source.platform:
            mentions.append(account.user_id)
    private = await source_is_private(ctx, source)
    await outbox.to_chat(
        session=ctx.session, key=key, purpose=purpose, platform=source.platform, chat_id=source.chat_id,
        reply_to=source.message_id, thread_id=source.thread_id, text=text, buttons=buttons, mentions=mentions,
        now=ctx.now(), station_id=station.id, item_id=item_id, private=private,
    )
    return Posted(in_chat=True, public=not private)


def referral_explanation(ctx: Context, item: Item) -> str:
    return ctx.tr(_("您好！事项 #{number} 不属于本站受理范围，处理意见和可以反映的渠道见之前的答复。"
                    "这一答复不需要评价，您的回复不会改变处理结果；如有疑问，请联系本站联络员。"), number=item.number)


async def _apply_rating(ctx: Context, item: Item, press: RatePress, note: str = "", *, on_behalf: bool = False) -> str:
    """Check who and which round, record the rating, and return the thanks (already translated).

    A rating belongs to the round it was asked for (`Item.reopen_count` when the result was
    posted); a new resolution clears `Item.rating`, and the old one stays in the events.
    `on_behalf`: a liaison records what a resident without a chat said (a visitor, at the 回访)."""
    if not on_behalf and item.reporter_id != ctx.person.id:
        raise ctx.error(_("只有提出事项 #{number} 的居民本人可以评价。"), number=item.number)
    if item.status == ItemStatus.REJECTED:
        raise CommandError(referral_explanation(ctx, item))
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
        # Handled again: a new deadline (the station's default for the tag), chased again.
        days = await deadlines.default_days(session=ctx.session, station=station, tag=item.tag)
        due_by = await deadlines.compute(ctx, station, days)
        deadlines.apply(item, due_by, now)
        item.reopen_count += 1
        await items_repo.transition(
            session=ctx.session, item=item, to_status=ItemStatus.REOPENED, kind="rated",
            actor_id=ctx.person.id, note=event_note, now=now,
        )
        await _tell_unsatisfied(ctx, item, station, note, due_by)
        return ctx.tr(_("已收到您的评价：不满意。事项 #{number} 已重新交办，办结后会再次回复您。"), number=item.number)
    item.closed_at = now
    await items_repo.transition(
        session=ctx.session, item=item, to_status=ItemStatus.CLOSED, kind="rated",
        actor_id=ctx.person.id, note=event_note, now=now,
    )
    return ctx.tr(_("感谢您的评价（{rating}）！事项 #{number} 已关闭。"),
                  rating=ctx.tr(RATING_LABELS[press.rating]), number=item.number)


async def _tell_unsatisfied(
    ctx: Context, item: Item, station: Station, note: str, due_by: deadlines.Deadline
) -> None:
    """The assignee and the handling unit's contact (DM) and the station's staff chats learn that the
    resident was not satisfied, and the new deadline."""
    round_ = item.reopen_count
    tr = translator(ctx.language_for(station))
    text = "\n".join([_unsatisfied_text(tr, item, note, due_by), *due_by.notice])
    unit = await ctx.session.get(HandlingUnit, item.unit_id) if item.unit_id is not None else None
    handlers = list(dict.fromkeys(person_id for person_id in (item.assignee_id, unit.contact_id if unit else None)
                                  if person_id is not None))
    for person_id in handlers:
        person = await ctx.session.get(Person, person_id)
        dm_tr = translator(ctx.language_for(station, person=person))
        await outbox.to_person(
            session=ctx.session, key=f"unsatisfied:item:{item.id}:{round_}:person:{person_id}",
            purpose="unsatisfied", person_id=person_id, text=_unsatisfied_text(dm_tr, item, note, due_by),
            now=ctx.now(), station_id=station.id, item_id=item.id,
        )
    await outbox.to_staff(
        session=ctx.session, station_id=id_of(station), key=f"unsatisfied:item:{item.id}:{round_}",
        purpose="unsatisfied", text=text, now=ctx.now(), item_id=item.id, told=handlers,
    )


async def rate_on_behalf(ctx: Context, item: Item, rating: Rating, round_: int) -> None:
    """A liaison records the rating a visitor gave at the 回访 (the visitor has no chat to press in):
    the same round rules, and 不满意 reopens the item and tells its handlers, as a resident's would."""
    await _apply_rating(ctx, item, RatePress(id_of(item), round_, rating), on_behalf=True)


async def notify_reporter(ctx: Context, item: Item, station: Station, *, key: str, purpose: str, text: str) -> Posted:
    """A message about the item to the resident who raised it (a reply to their message, else a DM)."""
    return await _to_reporter(ctx, item, station, key=key, purpose=purpose, text=text, buttons=[])


def _unsatisfied_text(tr: Translator, item: Item, note: str, due_by: deadlines.Deadline) -> str:
    text = tr(
        _("事项 #{number}「{text}」的提出人对办理结果不满意，事项已重新办理（第 {round} 次）。"
          "请继续办理：/progress {number} <进展>，或由联络员 /assign {number} <代表> 重新分派。"),
        number=item.number, text=short(item.text), round=item.reopen_count,
    )
    if note:
        text += "\n" + tr(_("居民意见：{note}"), note=note)
    return text + "\n" + tr(_("新的办理时限：{days} 个工作日，截止 {due}。"), days=due_by.days, due=due_by.day.isoformat())


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
    """The resident answers one of the bot's posts about their item with a text reply.

    To the result (or a rating question): exactly a label is a rating (`不满意，噪音还有` counts,
    with its comment); anything else that mentions satisfaction, and any other reply to the result
    itself, gets the buttons and a one-line question, and records nothing. The same for a reply to
    the item's acknowledgement while its result awaits a rating (people answer the bot's first
    message too). To a referral: a polite explanation, and nothing changes. A tagged reply is a new
    item, left to intake."""
    incoming = ctx.incoming
    replied = await outbox.replied_post(ctx.session, incoming)
    if replied is None or replied[0].item_id is None:
        return False
    target, post = replied
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=target.item_id)
    if post.purpose not in ANSWERABLE or item is None:
        return False
    parsed = parse_text_rating(incoming.text)
    if item.reporter_id != ctx.person.id:
        if parsed is not None and post.purpose in (FEEDBACK, RATING_QUESTION):
            raise ctx.error(_("只有提出事项 #{number} 的居民本人可以评价。"), number=item.number)
        return False
    if intake.parse_intake(ctx, incoming.text) is not None:
        return False
    if ctx.message is not None:
        ctx.message.item_id = item.id
        ctx.session.add(ctx.message)
    if item.status == ItemStatus.REJECTED:
        await ctx.reply(referral_explanation(ctx, item), item_id=item.id)
        return True
    if post.purpose == ACK:
        if item.status != ItemStatus.RESOLVED:
            return False  # a reply to "已受理" while the item is handled is chatter about it
        rounds = {item.reopen_count}
    else:
        rounds = {press.round for press in map(parse_rate_data, (b.get("data") for b in target.buttons)) if press}
    if len(rounds) != 1:
        return False
    round_ = rounds.pop()
    if parsed is not None:
        await ctx.reply(await _apply_rating(ctx, item, RatePress(id_of(item), round_, parsed.rating), parsed.comment),
                        item_id=item.id)
        return True
    awaiting = item.status == ItemStatus.RESOLVED and round_ == item.reopen_count
    if awaiting and (post.purpose == FEEDBACK or mentions_satisfaction(incoming.text)):
        await ctx.reply(ctx.tr(_("请问您对事项 #{number} 的办理结果是否满意？请点击下方按钮评价（刚才的回复没有计为评价）。"),
                               number=item.number),
                        buttons=rating_buttons(ctx.tr, item, round_), item_id=item.id, purpose=RATING_QUESTION)
        return True
    return False
