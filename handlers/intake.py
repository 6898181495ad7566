"""Intake: a tagged message (or one that mentions the bot) in a residents chat or a DM becomes an item.

Intake is idempotent on the stored message: the app records every platform message once, the
item points at that row, and an edit updates the item instead of making a second one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers import flood, outbox
from handlers.context import Context
from handlers.i18n import _, fold_chinese
from handlers.router import parse_command
from storage import items as items_repo
from storage.models import DEFAULT_TAGS, Item, Station
from storage.rows import id_of

# A tag at the start of a line: the sign, optional spaces ("# 建议 …"), the tag's word.
LINE_TAG_RE = re.compile(r"^[ \t\u3000]*[#＃][ \t\u3000]*(?P<token>[^\s#＃]+)")
# Separators people put between a tag and its text: "#建议：路灯坏了", "#help - lamp".
LEADING_JUNK = " \t\r\n:：,，.。;；-—、"
TAG_SEPARATORS = ":：,，、"
WORD_END = TAG_SEPARATORS + ".。;；!！?？"
# The acknowledgement of a private report (raised in a direct message): it is never shown in a group.
PRIVATE_ACK = _("已受理，编号 #{number}。您是私信反映的，事项只有联络站工作人员和承办人能看到，不会出现在任何群里；"
                "办理进展和结果都会私信告诉您。")


@dataclass(frozen=True)
class Tagged:
    tag: str  # normalized: no '#', English lower-cased, as configured for the station
    text: str  # the message with every recognised tag (and bot mention) removed


def normalize_tag(tag: str) -> str:
    """'＃Ｈelp' and '#HELP' are the same tag as 'help'."""
    return unicodedata.normalize("NFKC", tag).lstrip("#").strip().lower()


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _match_tag(token: str, tags: list[str]) -> tuple[str, int] | None:
    """The longest configured tag that begins `token`, and how many characters of `token` it covers.

    CJK tags may run straight into the text ('#建议路灯坏了'); a Latin tag must end at a word
    boundary so '#helpdesk' is not '#help'.
    """
    folded = fold_chinese(unicodedata.normalize("NFKC", token)).lower()
    if len(folded) != len(token):  # NFKC changed the length (rare ligatures): compare whole tokens only
        return next(((tag, len(token)) for tag in tags if folded == tag), None)
    best: tuple[str, int] | None = None
    for tag in tags:
        if not tag or not folded.startswith(tag):
            continue
        rest = folded[len(tag) :]
        if rest and _is_word_char(tag[-1]) and _is_word_char(rest[0]):
            continue
        if best is None or len(tag) > best[1]:
            best = (tag, len(tag))
    return best


def find_tag(
    text: str, station_tags: list[str], bot_names: set[str] | None = None, *, mentioned: bool = False
) -> Tagged | None:
    """The tag a message is raised under, and its text without the tag; None when it has none.

    A tag counts only at the very start (after an optional mention of the bot; `# 建议` with a
    space too), where a Chinese tag may run into the text (`#建议路灯坏了`), or as a whole word at
    the start of a later line. `有人知道#建议怎么用吗？` is chatter.
    """
    tags = [normalize_tag(tag) for tag in station_tags]
    lines = text.split("\n")
    first = _strip_bot_mention(lines[0], bot_names or set(), mentioned=mentioned)
    found = _line_tag(first, tags, whole_word=False)
    if found is not None:
        tag, rest = found
        while (more := _line_tag(rest, tags, whole_word=True)) is not None:  # "#建议 #求助 …": one item
            rest = more[1]
        return Tagged(tag=tag, text=clean_text("\n".join([rest, *lines[1:]]), bot_names))
    for index, line in enumerate(lines[1:], start=1):
        found = _line_tag(line, tags, whole_word=True)
        if found is not None:
            remaining = [*lines[:index], found[1], *lines[index + 1 :]]
            return Tagged(tag=found[0], text=clean_text("\n".join(part for part in remaining if part.strip()),
                                                         bot_names))
    return None


def _line_tag(line: str, tags: list[str], *, whole_word: bool) -> tuple[str, str] | None:
    """(tag, the line after it) when `line` starts with a recognised tag."""
    match = LINE_TAG_RE.match(line)
    if match is None:
        return None
    token = match.group("token")
    found = _match_tag(token, tags)
    if found is None:
        return None
    tag, length = found
    if whole_word and length < len(token) and token[length] not in WORD_END:
        return None
    rest = line[match.start("token") + length :]
    return tag, rest.lstrip(TAG_SEPARATORS)


def _strip_bot_mention(line: str, bot_names: set[str], *, mentioned: bool) -> str:
    """The first line without a leading mention of the bot: `@bot #建议 …`, or a Matrix client's
    `Bot name: #建议 …` when the message mentions the bot."""
    names = sorted({name.lstrip("@") for name in bot_names if name}, key=len, reverse=True)
    if names:
        pattern = "|".join(re.escape(name) for name in names)
        line = re.sub(rf"^\s*(?:@?(?:{pattern})\b[:：,，]?\s*)+", "", line, flags=re.IGNORECASE)
    if mentioned:
        line = re.sub(r"^[^#＃\n]{1,40}?[:：]\s*(?=[#＃])", "", line)
    return line


def clean_text(text: str, bot_names: set[str] | None = None) -> str:
    """Drop mentions of the bot and the punctuation left at the start after removing a tag."""
    for name in bot_names or ():
        text = re.sub(rf"@{re.escape(name.lstrip('@'))}\b", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"[ \t]+", " ", text)
    return text.strip().lstrip(LEADING_JUNK).strip()


def _bot_names(ctx: Context) -> set[str]:
    return set(ctx.platforms.bot_names(ctx.incoming.platform))


def _tags_for(station: Station | None) -> list[str]:
    return list(station.tags) if station is not None and station.tags else list(DEFAULT_TAGS)


def parse_intake(ctx: Context, text: str) -> Tagged | None:
    """What an incoming text asks for: a tagged item, an item by mention, or nothing."""
    if parse_command(text) is not None:
        return None
    tagged = find_tag(text, _tags_for(ctx.station), _bot_names(ctx), mentioned=ctx.incoming.mentions_bot)
    if tagged is not None:
        return tagged
    if ctx.incoming.mentions_bot and not ctx.incoming.is_private:
        return Tagged(tag="", text=clean_text(text, _bot_names(ctx)))
    return None


def intake_allowed_here(ctx: Context) -> bool:
    """Items come from a bound residents chat or from a DM; staff chats and unbound groups make none."""
    return ctx.in_residents_chat or ctx.incoming.is_private


async def create_from_message(ctx: Context, tagged: Tagged) -> Item | None:
    """Make the item for `ctx.message` and queue the ack; None (with an answer) when it can't be made."""
    if ctx.station is None:
        # Only reachable in a DM whose station nothing tells (handlers.private_reports asks first).
        raise ctx.error(_("请先发送 /use <站点代码> 选择要反映问题的联络站，再重新发送「#建议 内容」。"))
    if not tagged.text:
        await ctx.reply(ctx.tr(_("请在标签后写上具体内容，例如：#建议 小区路灯坏了，晚上很不安全。")))
        return None
    assert ctx.message is not None
    if not ctx.fresh_message:  # a message first seen just now can have no item yet
        existing = await items_repo.get_item_by_source(session=ctx.session, source_message_id=id_of(ctx.message))
        if existing is not None:
            return existing
    station = ctx.station
    private = ctx.incoming.is_private  # a private report: never shown in any group
    # Staged, not flushed: the message, the item, its event and the ack are written together when
    # the event's (or the batch's) transaction commits, the ids filled in by the flush.
    item = items_repo.create_item(
        session=ctx.session, station=station, tag=tagged.tag, text=tagged.text,
        reporter_id=id_of(ctx.person), source_message=ctx.message, now=ctx.now(), private=private,
    )
    if flood.over_limit(ctx, station):  # a flood: acknowledged together, once the minute is over
        await flood.acknowledge_in_batch(ctx, station, item)
        return item
    ack = PRIVATE_ACK if private else _("已受理，编号 #{number}。联络员会分派给代表办理，办结后在此回复您。")
    text = ctx.tr(ack, number=item.number)
    await outbox.to_chat(
        session=ctx.session, key=f"ack:item:{station.id}:{item.number}", purpose="ack",
        platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id, reply_to=ctx.incoming.message_id,
        thread_id=ctx.incoming.thread_id, text=text, now=ctx.now(), station_id=station.id, item=item,
        follow_moves=False, new_key=True, private=ctx.in_private_place,
    )
    return item


async def on_message(ctx: Context) -> bool:
    """A plain message: make an item when it carries a tag or mentions the bot."""
    return ctx.message is not None and await _take_in(ctx)


async def _take_in(ctx: Context) -> bool:
    """Make the item the message's text asks for, where items may come from; False if none."""
    if not intake_allowed_here(ctx):
        return False
    tagged = parse_intake(ctx, ctx.incoming.text)
    if tagged is None:
        return False
    await create_from_message(ctx, tagged)
    return True


async def on_edit(ctx: Context) -> bool:
    """An edited message: update its item (recorded as an event), or make the item a new tag asks for."""
    message = ctx.message
    if message is None:
        return False
    now = ctx.now()
    message.text = ctx.incoming.text
    message.edited_at = now
    ctx.session.add(message)
    item = await items_repo.get_item_by_source(session=ctx.session, source_message_id=id_of(message))
    if item is None:
        return await _take_in(ctx)
    if parse_command(ctx.incoming.text) is not None:
        return True  # an item's text turned into a command: keep the item as it was
    tagged = find_tag(ctx.incoming.text, _tags_for(await ctx.session.get(Station, item.station_id)), _bot_names(ctx),
                      mentioned=ctx.incoming.mentions_bot)
    new_text = tagged.text if tagged is not None else clean_text(ctx.incoming.text, _bot_names(ctx))
    if not new_text or new_text == item.text:
        return True
    old_text = item.text
    item.text = new_text
    item.updated_at = now
    ctx.session.add(item)
    items_repo.add_event(
        session=ctx.session, item=item, actor_id=ctx.person.id, kind="edited", from_status=item.status,
        to_status=item.status, note=old_text, now=now,
    )
    return True
