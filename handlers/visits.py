"""Visitors at the reception (接待选民登记): `/visit <name> [phone] <text>`, one visitor a line.

Most items at a station come from people who walk in on a reception day, phone or write. Staff
(or a deputy on duty that day) record them; each becomes an item whose reporter is a person
without any chat account, named like the visitor; the visitor's name and phone stay in the
`visitor` row and are shown only in private places (the staff chat, DMs to staff). The item is
linked to that day's reception when there is one. A visitor has no chat to be answered in, so
the result (or a referral) becomes a 回访 task for the liaisons, with buttons to record what the
visitor said (满意 / 基本满意 / 不满意, or 未能联系上).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers import intake, outbox, rating
from handlers import reception_notify as notify
from handlers.args import to_id
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import require_station
from handlers.router import Command, Feature
from handlers.transport import Button
from storage import items as items_repo
from storage import receptions as receptions_repo
from storage import units as units_repo
from storage.models import ChatPurpose, Item, ItemStatus, Person, Rating, Reception, Station, Visitor
from storage.rows import id_of

CHANNELS = {
    "来访": "visit", "接待": "visit", "visit": "visit",
    "来电": "phone", "电话": "phone", "phone": "phone",
    "来信": "letter", "信件": "letter", "letter": "letter",
}
CHANNEL_LABELS = {"visit": _("接待"), "phone": _("来电"), "letter": _("来信")}
MAX_NAME = 20
MAX_VISITORS = 30
CALLBACK_PREFIX = "visit"
UNREACHED = "n"
CALLBACK_DATA_RE = re.compile(r"^visit:(\d{1,9}):(\d{1,4}):([sbun])$", re.ASCII)
CALLBACK_RATINGS = {"s": Rating.SATISFIED, "b": Rating.BASICALLY_SATISFIED, "u": Rating.UNSATISFIED}
PHONE_JUNK = re.compile(r"[-\s()（）]")
PHONE_RE = re.compile(r"^(?:1[3-9]\d{9}|0\d{9,11}|\d{7,8})$", re.ASCII)


def normalize_phone(token: str) -> str | None:
    """A phone number as typed (`13712345678`, `137-1234-5678`, `+86 137…`, `0791-88123456`), else None."""
    digits = PHONE_JUNK.sub("", unicodedata.normalize("NFKC", token))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return token.strip() if PHONE_RE.match(digits) else None


@dataclass(frozen=True)
class VisitLine:
    channel: str
    name: str
    phone: str | None
    text: str


def parse_line(ctx: Context, line: str, index: int, several: bool) -> VisitLine:
    """`[来电|来信] <name> [phone] <text>`; a refusal names the line when there are several."""
    words = line.split()
    channel = CHANNELS.get(words[0].lower(), None) if words else None
    if channel is not None:
        line = line.split(maxsplit=1)[1] if len(words) > 1 else ""
        words = words[1:]
    channel = channel or "visit"
    where = ctx.tr(_("第 {index} 行："), index=index) if several else ""
    if not words:
        raise ctx.usage_error(_("{where}缺少来访群众的姓名和反映的内容。"), where=where)
    name = words[0]
    if len(name) > MAX_NAME or name[0] in "@#＃/!！" or to_id(name) is not None or normalize_phone(name):
        raise ctx.usage_error(_("{where}「{name}」不像姓名：请先写姓名（最长 {max} 个字，如 刘大爷），再写电话（可不写）和内容。"),
                              where=where, name=name[:30], max=MAX_NAME)
    phone = normalize_phone(words[1]) if len(words) > 1 else None
    skip = 2 if phone else 1
    parts = line.split(maxsplit=skip)
    text = parts[skip].strip() if len(parts) > skip else ""
    if not text:
        raise ctx.usage_error(_("{where}缺少 {name} 反映的内容。"), where=where, name=name)
    return VisitLine(channel, name, phone, text)


async def visit_command(ctx: Context) -> None:
    station = require_station(ctx)
    if not ctx.in_private_place:
        raise ctx.error(_("/visit 会记录来访群众的姓名和电话，请在工作群或私聊中发送，不要在居民群里发送。"))
    lines = [line.strip() for line in ctx.raw_args.split("\n") if line.strip()]
    if not lines:
        raise ctx.usage_error()
    if len(lines) > MAX_VISITORS:
        raise ctx.error(_("一次最多登记 {max} 位来访群众，请分几次发送。"), max=MAX_VISITORS)
    visits = [parse_line(ctx, line, index, len(lines) > 1) for index, line in enumerate(lines, start=1)]
    reception = await _todays_reception(ctx, station)
    recorded: list[tuple[VisitLine, Item]] = []
    for visit in visits:
        recorded.append((visit, await _record(ctx, station, visit, reception)))
    answer = [ctx.tr(_("已登记 {count} 位来访群众：") if len(recorded) > 1 else _("已登记来访群众："), count=len(recorded))]
    for visit, item in recorded:
        who = f"{visit.name}（{visit.phone}）" if visit.phone else visit.name
        answer.append(f"#{item.number} {who}{_channel_note(ctx.tr, visit.channel)}：{rating.short(visit.text, 40)}")
    answer.append(ctx.tr(_("请把事项编号告诉来访群众，便于查询。分派：/assign <编号> <代表或承办单位> [天数]。")
                         if ctx.is_staff(station.id) else _("请把事项编号告诉来访群众，便于查询。联络员会分派办理。")))
    if reception is not None:
        answer.append(ctx.tr(_("已记入接待日 #{id}（{when}）的接待登记。"), id=reception.id,
                             when=notify.fmt_when(ctx.tr, reception)))
    if not any(visit.phone for visit in visits):
        answer.append(ctx.tr(_("没有登记电话：办结后的回访需要联络员另行联系来访群众。")))
    await ctx.reply("\n".join(answer))


def _channel_note(tr: Translator, channel: str) -> str:
    return "" if channel == "visit" else f"（{tr(CHANNEL_LABELS[channel])}）"


async def _todays_reception(ctx: Context, station: Station) -> Reception | None:
    """Today's reception at the station; a deputy may record only on a day they are on duty."""
    today = ctx.now().astimezone(ctx.zone(station)).date()
    receptions = await receptions_repo.on_date(session=ctx.session, station_ids=[id_of(station)], day=today)
    if ctx.is_staff(station.id):
        started = [reception for reception in receptions if reception.starts_at <= ctx.now()]
        if started:
            return started[-1]
        return receptions[0] if receptions else None
    for reception in receptions:
        duty = await receptions_repo.get_duty(session=ctx.session, reception_id=id_of(reception),
                                              person_id=id_of(ctx.person))
        if duty is not None and duty.on_duty and duty.leave_at is None:
            return reception
    raise ctx.error(_("今天没有您值班的接待日：来访群众请由联络员用 /visit 登记。"))


async def _record(ctx: Context, station: Station, visit: VisitLine, reception: Reception | None) -> Item:
    person = await units_repo.visitor_person(session=ctx.session, station_id=id_of(station), name=visit.name,
                                             phone=visit.phone)
    if person is None:
        person = Person(display_name=visit.name, created_at=ctx.now())
        ctx.session.add(person)
        await ctx.session.flush()
    item = items_repo.create_item(session=ctx.session, station=station, tag="", text=visit.text,
                                  reporter_id=id_of(person), source_message=None, now=ctx.now())
    await ctx.session.flush()
    ctx.session.add(Visitor(station_id=id_of(station), item_id=id_of(item), reception_id=reception.id if reception else None,
                            channel=visit.channel, name=visit.name, phone=visit.phone, recorded_by=ctx.person.id,
                            created_at=ctx.now()))
    return item


# --- feedback: the 回访 task -----------------------------------------------------------------------
async def visitor_of(ctx: Context, item: Item) -> Visitor | None:
    return await units_repo.visitor_of(session=ctx.session, item_id=id_of(item))


def callback_data(item: Item, code: str) -> str:
    return f"{CALLBACK_PREFIX}:{id_of(item)}:{item.reopen_count}:{code}"


async def callback_task(ctx: Context, item: Item, station: Station, visitor: Visitor, *, kind: str) -> str:
    """The result (`resolved`, `answered`) or a referral (`rejected`) goes to the liaisons as a 回访
    task; returns the answer for whoever closed the item."""
    tr = translator(ctx.language_for(station))
    who = f"{visitor.name} {visitor.phone}" if visitor.phone else visitor.name
    values = {"who": who, "number": item.number, "text": rating.short(item.text), "result": item.result or ""}
    if kind == "petition":
        text = tr(_("回访 {who}：事项 #{number}「{text}」属于个人信访事项，已转介信访部门。\n请告知：{result}"), **values)
        buttons: list[Button] = []
    elif kind == "rejected":
        text = tr(_("回访 {who}：事项 #{number}「{text}」不予受理（不属于本站受理范围）。\n说明：{result}\n"
                    "请电话或当面告知来访群众。"), **values)
        buttons = []
    else:
        text = tr(_("回访 {who}：事项 #{number}「{text}」已办结。\n结果：{result}\n"
                    "请电话或当面告知来访群众，并按其意见点击下方按钮记录评价。"), **values)
        buttons = [Button(tr(rating.RATING_LABELS[value]), callback_data(item, code))
                   for code, value in CALLBACK_RATINGS.items()]
        buttons.append(Button(tr(_("未能联系上")), callback_data(item, UNREACHED)))
    if not visitor.phone:
        text += "\n" + tr(_("（登记时没有留电话。）"))
    key = f"callback:item:{item.id}:{item.reopen_count}:{kind}"
    told = await _to_liaisons(ctx, station, item, key=key, text=text, buttons=buttons)
    if kind == "petition":
        return ctx.tr(_("事项 #{number} 已按个人信访事项转介。来访群众没有聊天账号：回访任务已发给{told}，请告知其信访渠道"
                        "（不请其评价；如需重新办理，请用 /reopen {number}）。"), number=item.number, told=told)
    if kind == "rejected":
        return ctx.tr(_("事项 #{number} 不予受理。来访群众没有聊天账号：回访任务已发给{told}，请告知其说明（不请其评价；"
                        "如需重新办理，请用 /reopen {number}）。"), number=item.number, told=told)
    return ctx.tr(_("事项 #{number} 已办结。来访群众没有聊天账号：回访任务已发给{told}，回访后请按来访群众的意见点击评价。"),
                  number=item.number, told=told)


async def _to_liaisons(ctx: Context, station: Station, item: Item, *, key: str, text: str,
                       buttons: list[Button]) -> str:
    """Into the station's staff chats; with none, to the liaisons and the head directly; with
    nobody at all, to the admins. Returns who was told, for the answer."""
    where = await outbox.to_staff(session=ctx.session, station_id=id_of(station), key=key, purpose="callback",
                                  text=text, now=ctx.now(), item_id=item.id, buttons=buttons)
    if where == "chat":
        return ctx.tr(_("工作群"))
    if where == "people":
        return ctx.tr(_("联络员（私信）"))
    await outbox.to_admins(session=ctx.session, admins=ctx.config.admins, key=key, purpose="callback", text=text,
                           now=ctx.now(), station_id=station.id, item_id=item.id)
    return ctx.tr(_("管理员（本站没有工作群和联络员）"))


async def on_callback_button(ctx: Context) -> None:
    """A liaison records what the visitor said at the 回访 (or that they could not be reached)."""
    match = CALLBACK_DATA_RE.match(ctx.incoming.button_data or "")
    carried = {button.get("data") for button in ctx.message.buttons} if ctx.message is not None else set()
    if match is None or ctx.incoming.button_data not in carried:
        raise ctx.error(_("这个按钮已失效。"))
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=int(match.group(1)))
    if item is None:
        raise ctx.error(_("这个按钮已失效。"))
    if not ctx.is_staff(item.station_id):
        raise ctx.error(_("回访结果由联络员记录。"))
    visitor = await visitor_of(ctx, item)
    name = visitor.name if visitor else ""
    round_, code = int(match.group(2)), match.group(3)
    if item.status == ItemStatus.CLOSED and round_ == item.reopen_count:
        raise ctx.error(_("事项 #{number} 的回访评价已经记录，不能重复记录。"), number=item.number)
    if code == UNREACHED:
        if item.status != ItemStatus.RESOLVED or round_ != item.reopen_count:
            raise ctx.error(_("事项 #{number} 现在不需要回访。"), number=item.number)
        attempt = await items_repo.count_events(session=ctx.session, item_id=id_of(item), kind="callback") + 1
        items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="callback",
                             from_status=item.status, to_status=item.status, note="unreached", now=ctx.now())
        await _recorded(ctx, item, f"{round_}:unreached:{attempt}", ctx.tr(
            _("已记录：{actor} 回访 {name} 未能联系上（事项 #{number}）。联系上后，请在这条回访任务上点击评价。"),
            actor=ctx.person.display_name, name=name, number=item.number))
        return
    chosen = CALLBACK_RATINGS[code]
    await rating.rate_on_behalf(ctx, item, chosen, round_)
    label = ctx.tr(rating.RATING_LABELS[chosen])
    if chosen is Rating.UNSATISFIED:
        text = _("已记录 {name} 的评价：{rating}（{actor} 回访）。事项 #{number} 已重新办理，承办人已收到通知。")
    else:
        text = _("已记录 {name} 的评价：{rating}（{actor} 回访）。事项 #{number} 已关闭。")
    await _recorded(ctx, item, f"{round_}:rated", ctx.tr(text, name=name, rating=label, actor=ctx.person.display_name,
                                               number=item.number))


async def _recorded(ctx: Context, item: Item, what: str, text: str) -> None:
    """The record of a 回访 as a reply to its task, for every liaison to see (keyed by what was
    recorded in which round: two presses of one person on one task are two answers)."""
    await outbox.to_chat(
        session=ctx.session, key=f"callback-recorded:item:{item.id}:{what}",
        purpose="callback_recorded", platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id,
        reply_to=ctx.incoming.message_id, thread_id=ctx.incoming.thread_id, text=text, now=ctx.now(),
        station_id=item.station_id, item_id=item.id, follow_moves=False, private=ctx.in_private_place,
    )


async def item_lines(ctx: Context, item: Item) -> list[str]:
    """/item's line about the visitor (answered privately: name and phone may show)."""
    visitor = await visitor_of(ctx, item)
    if visitor is None:
        return []
    who = f"{visitor.name} {visitor.phone}" if visitor.phone else visitor.name
    where = ctx.tr(_("，接待日 #{id}"), id=visitor.reception_id) if visitor.reception_id else ""
    return [ctx.tr(_("来访登记：{who}（{channel}{where}）"), who=who, channel=ctx.tr(CHANNEL_LABELS[visitor.channel]),
                   where=where)]


# --- the reception's record, the staff chat's #建议 -------------------------------------------------
async def reception_lines(ctx: Context, reception: Reception) -> list[str]:
    """The visitors a reception's record lists: how many and their items; their names only where
    personal data may be shown."""
    found = await units_repo.visitors_at(session=ctx.session, reception_id=id_of(reception))
    if not found:
        return [ctx.tr(_("来访群众：无登记。"))]
    if ctx.in_private_place:
        listed = "、".join(f"#{item.number} {visitor.name}" for visitor, item in found)
    else:
        listed = "、".join(f"#{item.number}" for _visitor, item in found)
    return [ctx.tr(_("来访群众 {count} 人，登记事项：{listed}"), count=len(found), listed=listed)]


async def on_message(ctx: Context) -> bool:
    """A tagged message in the staff chat makes no item (the staff chat is no residents group), but
    it is never ignored: the answer says how to record a visitor's matter."""
    binding = ctx.binding
    if binding is None or not binding.active or binding.purpose != ChatPurpose.STAFF or ctx.incoming.is_private:
        return False
    tagged = intake.parse_intake(ctx, ctx.incoming.text)
    if tagged is None or not tagged.tag:
        return False
    await ctx.reply(ctx.tr(_("工作群里的 #建议 不会登记为事项。代来访群众登记，请发送 /visit <姓名> [电话] <内容>"
                             "（例如 /visit 刘大爷 13712345678 小区门口积水；一行一位）；居民可在居民群发送 #建议 内容。")))
    return True


FEATURE = Feature(
    name="visits",
    commands=[
        Command("visit", visit_command, _("/visit [来电|来信] <姓名> [电话] <内容>（一行一位）"),
                _("登记来访群众反映的事项（接待、来电、来信）")),
    ],
    on_message=on_message,
    on_button={CALLBACK_PREFIX: on_callback_button},
)
