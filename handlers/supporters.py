"""Supporters (附议): residents who raised the same matter as an item.

A resident becomes a supporter by answering an item's acknowledgement (or the report itself) with
"+1", "同问", "同样问题", "我也是" and the like, or when staff merge their duplicate into the item
(`handlers.merge`). They are acknowledged once, privately when possible; when the item is resolved
or referred, each gets the result as a reply to their own message (else by direct message) and may
rate it. Only the reporter's rating decides whether the item is handled again; a supporter's is
kept with the item, and a supporter's 不满意 is brought to the staff.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers import delivery, intake, masking, outbox, rating
from handlers.context import Context
from handlers.i18n import Translator, _, fold_chinese, translator
from handlers.transport import Button
from storage import items as items_repo
from storage import messages as messages_repo
from storage import supporters as supporters_repo
from storage.models import (
    OPEN_STATUSES,
    Direction,
    Item,
    ItemStatus,
    Message,
    Outbox,
    Person,
    Rating,
    Station,
    Supporter,
)
from storage.rows import id_of

SUPPORT_RATE_PREFIX = "srate"
SUPPORT_FEEDBACK = "support_feedback"
SUPPORT_REFERRAL = "support_referral"
SUPPORT_RATE_RE = re.compile(r"^srate:(\d{1,9}):(\d{1,4}):([sbu])$", re.ASCII)
# What residents write to say "the same here", folded to simplified Chinese and lower case; the
# longest first, so "同样的问题" is not read as "同样".
PLUS_ONE_WORDS = sorted(
    ["+1", "同问", "同样问题", "同样的问题", "同样情况", "同样的情况", "我也是", "我也一样", "我也遇到了", "我也遇到过",
     "我家也是", "我们也是", "我们家也是", "我们楼也是", "同求", "附议", "同上", "一样", "me too", "same here",
     "same", "same problem", "same issue"],
    key=len, reverse=True,
)
SEPARATORS = "，,。.；;！!、：: \t\n"


def is_plus_one(text: str) -> bool:
    """'+1', '＋1', '+1+1', '同问！', '我也是，3栋也一样', 'Same here': a resident adding their voice.
    Not '+1000 块钱', '一样吗？', '同问一下怎么报名' (more words without a separator)."""
    folded = fold_chinese(unicodedata.normalize("NFKC", text)).lower().strip()
    folded = "".join(char for char in folded if not _is_decoration(char)).strip(SEPARATORS)
    word = next((word for word in PLUS_ONE_WORDS if folded.startswith(word)), None)
    if word is None:
        return False
    rest = folded[len(word):]
    while rest.startswith("+1"):
        rest = rest[2:]
    if not rest:
        return True
    if rest[0] in "?？" or rest[0].isdigit():
        return False
    return rest[0] in SEPARATORS


def _is_decoration(char: str) -> bool:
    """Emoji, symbols and surrounding punctuation (never '+', a digit, a separator or a question mark)."""
    if char.isalnum() or char in "+?？" or char in SEPARATORS:
        return False
    return unicodedata.category(char)[0] in "SP"


# --- becoming a supporter --------------------------------------------------------------------------
async def _item_answered(ctx: Context) -> Item | None:
    """The item whose acknowledgement (or original report) this message replies to."""
    incoming = ctx.incoming
    if not incoming.reply_to:
        return None
    target = await messages_repo.get_message(
        session=ctx.session, platform=incoming.platform, chat_id=incoming.chat_id, message_id=incoming.reply_to
    )
    if target is None:
        return None
    if target.direction == Direction.IN:
        return await items_repo.get_item_by_source(session=ctx.session, source_message_id=id_of(target))
    if target.item_id is None or target.outbox_id is None:
        return None
    post = await ctx.session.get(Outbox, target.outbox_id)
    if post is None or post.purpose != rating.ACK:
        return None
    return await items_repo.get_item_by_id(session=ctx.session, item_id=target.item_id)


async def on_message(ctx: Context) -> bool:
    """A "+1" in reply to an item's acknowledgement or report makes the sender a supporter."""
    if ctx.message is None or not is_plus_one(ctx.incoming.text) or intake.parse_intake(ctx, ctx.incoming.text):
        return False
    item = await _item_answered(ctx)
    if item is None:
        return False
    if item.status == ItemStatus.MERGED and item.merged_into_id is not None:
        item = await items_repo.get_item_by_id(session=ctx.session, item_id=item.merged_into_id) or item
    station = await ctx.session.get(Station, item.station_id)
    assert station is not None
    ctx.message.item_id = item.id
    ctx.session.add(ctx.message)
    tr = ctx.tr
    values = {"number": item.number, "text": rating.short(masking.mask_text(item.text), 30)}
    if item.reporter_id == ctx.person.id:
        await delivery.note_privately(ctx, tr(_("您就是事项 #{number} 的提出人，不需要附议；办结后会把结果告诉您。"),
                                              **values),
                                      fallback=tr(_("您是事项 #{number} 的提出人，不需要附议。"), **values))
        return True
    if item.status not in OPEN_STATUSES:
        await delivery.note_privately(ctx, _closed_text(tr, item), fallback=_closed_text(tr, item))
        return True
    await ctx.session.flush()  # the reply's own row, so the result can later answer it
    added = await supporters_repo.add_supporter(
        session=ctx.session, item=item, person_id=id_of(ctx.person), source_message_id=id_of(ctx.message),
        merged_item_id=None, now=ctx.now(),
    )
    if added is None:
        await delivery.note_privately(ctx, tr(_("您已经附议过事项 #{number}「{text}」，无需重复；办结后会把结果告诉您。"),
                                              **values),
                                      fallback=tr(_("您已经附议过事项 #{number}，无需重复。"), **values))
        return True
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="supported",
                         from_status=item.status, to_status=item.status, note=None, now=ctx.now())
    count = len(await supporters_repo.supporters_of(session=ctx.session, item_id=id_of(item)))
    await delivery.note_privately(
        ctx,
        tr(_("已记录您对事项 #{number}「{text}」的附议（目前共 {count} 位居民附议）。办结后会把结果告诉您。"),
           count=count, **values),
        fallback=tr(_("已记录您对事项 #{number} 的附议，办结后会在此回复您。"), **values),
        item_id=item.id,
    )
    return True


def _closed_text(tr: Translator, item: Item) -> str:
    if item.status == ItemStatus.REJECTED:
        return tr(_("事项 #{number} 不属于本站受理范围，已不再办理。如有同样的问题，请联系本站联络员。"), number=item.number)
    return tr(_("事项 #{number} 已办结。如果问题仍然存在，请发送「#建议 内容」重新反映。"), number=item.number)


async def item_lines(ctx: Context, item: Item) -> list[str]:
    """What /item shows of duplicates and supporters (names to staff only) and of a private report."""
    tr, lines = ctx.tr, []
    if item.private:
        lines.append(tr(_("来源：私信反映（不在任何群里显示，进展和结果私信告知提出人）")))
    if item.status == ItemStatus.MERGED and item.merged_into_id is not None:
        into = await items_repo.get_item_by_id(session=ctx.session, item_id=item.merged_into_id)
        if into is not None:
            lines.append(tr(_("已并入：事项 #{number}（按一件事项办理）"), number=into.number))
    duplicates = await supporters_repo.merged_into(session=ctx.session, item_id=id_of(item))
    if duplicates:
        lines.append(tr(_("并入的重复事项：{numbers}"), numbers="、".join(f"#{other.number}" for other in duplicates)))
    supporters = await supporters_repo.supporters_of(session=ctx.session, item_id=id_of(item))
    if supporters and ctx.is_staff(item.station_id):
        names = [person.display_name for supporter in supporters
                 if (person := await ctx.session.get(Person, supporter.person_id)) is not None]
        lines.append(tr(_("附议：{count} 人（{names}）"), count=len(supporters), names="、".join(names)))
    elif supporters:
        lines.append(tr(_("附议：{count} 人"), count=len(supporters)))
    return lines


async def merged_note(ctx: Context, item: Item) -> str:
    """A line of /my about a duplicate: where it is handled."""
    if item.status != ItemStatus.MERGED or item.merged_into_id is None:
        return ""
    into = await items_repo.get_item_by_id(session=ctx.session, item_id=item.merged_into_id)
    if into is None or into.private:
        return ctx.tr(_("（已与同一问题合并办理）"))
    return ctx.tr(_("（已并入事项 #{number} 合并办理）"), number=into.number)


async def list_marks(ctx: Context, item: Item) -> str:
    """What a line of /items adds: a private report, and how many support the item."""
    marks = [ctx.tr(_("私信反映"))] if item.private else []
    count = (await supporters_repo.count_supporters(session=ctx.session, item_ids=[id_of(item)])).get(id_of(item))
    if count:
        marks.append(ctx.tr(_("附议 {count} 人"), count=count))
    return "".join(f"〔{mark}〕" for mark in marks)


# --- the result, to every supporter -----------------------------------------------------------------
@dataclass(frozen=True)
class SupportPress:
    supporter_id: int
    round: int
    rating: Rating


def support_rate_data(supporter_id: int, round_: int, value: Rating) -> str:
    return f"{SUPPORT_RATE_PREFIX}:{supporter_id}:{round_}:{rating.CODE_OF[value]}"


def parse_support_rate(data: str | None) -> SupportPress | None:
    match = SUPPORT_RATE_RE.match(data or "")
    if match is None:
        return None
    return SupportPress(int(match.group(1)), int(match.group(2)), rating.RATING_CODES[match.group(3)])


def _buttons(tr: Translator, supporter: Supporter, round_: int) -> list[Button]:
    return [Button(tr(rating.RATING_LABELS[value]), support_rate_data(id_of(supporter), round_, value))
            for value in Rating]


async def _about(ctx: Context, item: Item, supporter: Supporter, public: bool) -> dict[str, object]:
    """How a supporter's message names the matter: their own duplicate (and the item it joined,
    unless that is a private report and the message goes to a group), or the item they supported."""
    merged = await items_repo.get_item_by_id(session=ctx.session, item_id=supporter.merged_item_id) \
        if supporter.merged_item_id else None
    person = await ctx.session.get(Person, supporter.person_id)
    name = person.display_name if person else ""
    if merged is not None:
        return {"name": name, "number": merged.number, "text": rating.short(merged.text), "into": item.number,
                "joined": not (item.private and public)}
    return {"name": name, "number": item.number, "text": rating.short(masking.mask_text(item.text)), "into": None,
            "joined": False}


async def post_results(ctx: Context, item: Item, station: Station, *, referral: bool) -> int:
    """The result (or the referral) of `item` to each of its supporters, as a reply to their own
    message where there is one, else by direct message; with their own rating buttons unless it
    is a referral. Returns how many were told."""
    supporters = await supporters_repo.supporters_of(session=ctx.session, item_id=id_of(item))
    tr = translator(ctx.language_for(station))
    for supporter in supporters:
        public = await _goes_public(ctx, supporter)
        about = await _about(ctx, item, supporter, public)
        head = _head(tr, about, referral=referral)
        if referral:
            text = "\n".join([head, tr(_("说明：{result}"), result=item.result or ""),
                              tr(_("如有疑问，请联系本站联络员。"))])
            buttons: list[Button] = []
        else:
            text = "\n".join([head, tr(_("办理结果：{result}"), result=item.result or ""),
                              tr(_("请您评价：点击下方按钮，或回复本消息「满意」「基本满意」「不满意」。"))])
            buttons = _buttons(tr, supporter, item.reopen_count)
        await rating.to_author(
            ctx, person_id=supporter.person_id, source_message_id=supporter.source_message_id, station=station,
            key=f"{'support-referral' if referral else 'support-feedback'}:item:{item.id}:{item.reopen_count}"
                f":supporter:{supporter.id}",
            purpose=SUPPORT_REFERRAL if referral else SUPPORT_FEEDBACK, text=text, buttons=buttons,
            item_id=id_of(item),
        )
    return len(supporters)


def _head(tr: Translator, about: dict[str, object], *, referral: bool) -> str:
    if about["into"] is not None and about["joined"]:
        return tr(_("{name}，您反映的事项 #{number}「{text}」已与事项 #{into} 合并办理；该事项不属于本站受理范围，不予受理。") if referral
                  else _("{name}，您反映的事项 #{number}「{text}」已与事项 #{into} 合并办理，现已办结。"), **about)
    if about["into"] is not None:
        return tr(_("{name}，您反映的事项 #{number}「{text}」不属于本站受理范围，不予受理。") if referral
                  else _("{name}，您反映的事项 #{number}「{text}」已办结。"), **about)
    return tr(_("{name}，您附议的事项 #{number}「{text}」不属于本站受理范围，不予受理。") if referral
              else _("{name}，您附议的事项 #{number}「{text}」已办结。"), **about)


async def _goes_public(ctx: Context, supporter: Supporter) -> bool:
    if supporter.source_message_id is None:
        return False
    source = await ctx.session.get(Message, supporter.source_message_id)
    return source is not None and not await rating.source_is_private(ctx, source)


# --- a supporter rates --------------------------------------------------------------------------------
async def _apply(ctx: Context, supporter: Supporter, round_: int, value: Rating, note: str = "") -> str:
    if supporter.person_id != ctx.person.id:
        raise ctx.error(_("只有附议人本人可以评价这条结果。"))
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=supporter.item_id)
    assert item is not None
    if item.status not in (ItemStatus.RESOLVED, ItemStatus.CLOSED):
        raise ctx.error(_("事项 #{number} 现在不需要评价。"), number=item.number)
    if round_ != item.reopen_count:
        raise ctx.error(_("这个评价已过期：事项 #{number} 已重新办理，请对最新的办理结果评价。"), number=item.number)
    if supporter.rated_round == round_:
        raise ctx.error(_("您已经评价过事项 #{number} 的这次办理结果，谢谢！"), number=item.number)
    supporter.rating, supporter.rated_round = value.value, round_
    ctx.session.add(supporter)
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="supporter_rated",
                         from_status=item.status, to_status=item.status,
                         note=value.value + (f": {note}" if note else ""), now=ctx.now())
    label = ctx.tr(rating.RATING_LABELS[value])
    if value is not Rating.UNSATISFIED:
        return ctx.tr(_("感谢您的评价（{rating}）！"), rating=label)
    station = await ctx.session.get(Station, item.station_id)
    assert station is not None
    staff_tr = translator(ctx.language_for(station))
    text = staff_tr(_("事项 #{number}「{text}」的附议人 {name} 对办理结果不满意。事项状态不变（是否重新办理以提出人的评价为准）；"
                      "如需重新办理，请发送 /reopen {number}。"),
                    number=item.number, text=rating.short(item.text), name=ctx.person.display_name)
    if note:
        text += "\n" + staff_tr(_("居民意见：{note}"), note=note)
    await outbox.to_staff(session=ctx.session, station_id=id_of(station),
                          key=f"support-unsatisfied:item:{item.id}:{round_}:supporter:{supporter.id}",
                          purpose="unsatisfied", text=text, now=ctx.now(), item_id=item.id)
    return ctx.tr(_("已收到您的评价：不满意。已转告联络站工作人员，谢谢您的意见。"))


async def on_rate_button(ctx: Context) -> None:
    press = parse_support_rate(ctx.incoming.button_data)
    carried = {button.get("data") for button in ctx.message.buttons} if ctx.message is not None else set()
    supporter = await ctx.session.get(Supporter, press.supporter_id) if press is not None else None
    if press is None or supporter is None or ctx.incoming.button_data not in carried:
        raise ctx.error(_("这个按钮已失效。"))
    await ctx.answer(await _apply(ctx, supporter, press.round, press.rating))


async def on_reply_to_result(ctx: Context) -> bool:
    """A supporter answers the result they were sent with a text: a label is a rating; anything
    else about satisfaction gets the buttons again."""
    incoming = ctx.incoming
    replied = await outbox.replied_post(ctx.session, incoming)
    if replied is None:
        return False
    target, post = replied
    presses = [press for press in map(parse_support_rate, (b.get("data") for b in target.buttons)) if press]
    if post.purpose != SUPPORT_FEEDBACK or not presses:
        return False
    supporter = await ctx.session.get(Supporter, presses[0].supporter_id)
    if supporter is None or supporter.person_id != ctx.person.id or intake.parse_intake(ctx, incoming.text):
        return False
    parsed = rating.parse_text_rating(incoming.text)
    if parsed is not None:
        await ctx.reply(await _apply(ctx, supporter, presses[0].round, parsed.rating, parsed.comment),
                        item_id=supporter.item_id)
        return True
    await ctx.reply(ctx.tr(_("请问您对这次办理结果是否满意？请点击下方按钮评价（刚才的回复没有计为评价）。")),
                    buttons=_buttons(ctx.tr, supporter, presses[0].round), item_id=supporter.item_id,
                    purpose=SUPPORT_FEEDBACK)
    return True


async def on_any_message(ctx: Context) -> bool:
    return await on_reply_to_result(ctx) or await on_message(ctx)
