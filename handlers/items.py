"""Items: the lifecycle commands (/items /item /assign /progress /close /reject /reopen /my).

Intake lives in `handlers.intake`, feedback and rating in `handlers.rating`; this module owns
the commands and composes the feature. Every change goes through `storage.items.transition`,
so each one is an event row, and an illegal one is refused before anything changes.
"""

from __future__ import annotations

from datetime import datetime

from handlers import deadlines, delivery, intake, masking, notify_prefs, outbox, rating, supporters, units, visits
from handlers.args import to_id
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import person_name, require_station
from handlers.permissions import allowed_on_item
from handlers.router import Command, Feature
from storage import items as items_repo
from storage import supporters as supporters_repo
from storage.models import OPEN_STATUSES, Item, ItemEvent, ItemStatus, Person, Rating, Station
from storage.rows import id_of

LIST_LIMIT = 30
MY_LIMIT = 20

STATUS_LABELS = {
    ItemStatus.NEW: _("已受理"),
    ItemStatus.ASSIGNED: _("已分派"),
    ItemStatus.IN_PROGRESS: _("办理中"),
    ItemStatus.RESOLVED: _("已办结"),
    ItemStatus.REJECTED: _("不予受理"),
    ItemStatus.REOPENED: _("已重新办理"),
    ItemStatus.CLOSED: _("已关闭"),
    ItemStatus.MERGED: _("已合并"),
}
EVENT_LABELS = {
    "created": _("受理"),
    "edited": _("居民修改了内容"),
    "assigned": _("分派"),
    "progress": _("办理进展"),
    "resolved": _("办结"),
    "answered": _("联络站直接答复（办结）"),
    "rejected": _("不予受理"),
    "rated": _("居民评价"),
    "reopened": _("重新办理"),
    "categorized": _("归类"),
    "merged": _("并入其他事项"),
    "merged_in": _("并入重复事项"),
    "supported": _("居民附议"),
    "supporter_rated": _("附议人评价"),
    "routed": _("转办"),
    "callback": _("回访"),
    "extended": _("延期"),
    "extension_requested": _("申请延期"),
    "extension_refused": _("不同意延期"),
}
ACTION_LABELS = {
    "assign": _("分派"),
    "progress": _("登记进展"),
    "close": _("办结"),
    "reject": _("不予受理"),
    "reopen": _("重新办理"),
    "merge": _("合并"),
}
ACTION_HINTS = {
    "assign": _("/assign {number} <代表或承办单位> [工作日天数]"),
    "progress": _("/progress {number} <进展>"),
    "close": _("/close {number} <办理结果>"),
    "reject": _("/reject {number} <理由>"),
    "reopen": _("/reopen {number} [工作日天数] [理由]"),
    "merge": _("/merge {number} <并入编号>"),
}
# Where /route sent an item (handlers.routing, which builds on this module).
ROUTE_NAMES = {
    "township": _("转乡镇（街道）办理"),
    "county": _("县（区）代表建议"),
    "city": _("市代表建议"),
    "petition": _("转信访部门"),
}
FILTERS = {
    "open": "open", "未办结": "open", "办理中": "open",
    "overdue": "overdue", "超期": "overdue", "逾期": "overdue",
    "mine": "mine", "我的": "mine",
    "all": "all", "全部": "all",
}


# --- small helpers -------------------------------------------------------------------------------
def status_label(tr: Translator, status: str) -> str:
    return tr(STATUS_LABELS[ItemStatus(status)]) if status in STATUS_LABELS else status


def parse_number(ctx: Context, index: int = 0) -> int:
    if len(ctx.args) <= index:
        raise ctx.usage_error(_("缺少事项编号。"))
    number = to_id(ctx.args[index])
    if number is None:
        raise ctx.usage_error(_("「{value}」不是事项编号，编号应为正整数，例如 12。"), value=ctx.args[index])
    return number


async def load_item(ctx: Context, station: Station, number: int) -> Item:
    item = await items_repo.get_item(session=ctx.session, station_id=id_of(station), number=number)
    if item is None:
        raise ctx.error(_("{station} 没有编号为 #{number} 的事项。发送 /items 查看事项。"),
                        station=station.name, number=number)
    if item.private and not ctx.in_private_place:
        raise ctx.error(_("这件事项是居民私信反映的，不在群里处理。请在工作群或私聊中发送这条命令。"))
    return item


async def check_relation(ctx: Context, item: Item) -> None:
    """Assignee (the deputy, or the handling unit's contact) and reporter relations: the router let
    the command through, the item decides."""
    command = ctx.command or ""
    if not allowed_on_item(command, ctx.audiences(item.station_id), person_id=id_of(ctx.person),
                           reporter_id=item.reporter_id, assignee_id=item.assignee_id,
                           unit_contact_id=await units.contact_of(ctx, item)):
        raise ctx.error(_("抱歉，您没有权限对事项 #{number} 使用 /{name}。"),
                        number=item.number, name=command)


def check_transition(ctx: Context, item: Item, action: str) -> None:
    """Refuse an illegal transition, naming the current status and what is possible from it."""
    if items_repo.may_transition(action, item.status):
        return
    possible = [ctx.tr(ACTION_HINTS[other], number=item.number)
                for other in items_repo.actions_from(item.status) if other in ACTION_HINTS]
    if item.status == ItemStatus.RESOLVED:
        possible.insert(0, ctx.tr(_("等待居民评价")))
    if not possible:  # merged: the item it went into is the one to act on
        raise ctx.error(_("事项 #{number} 当前状态为「{status}」，不能{action}。"),
                        number=item.number, status=status_label(ctx.tr, item.status),
                        action=ctx.tr(ACTION_LABELS[action]))
    raise ctx.error(_("事项 #{number} 当前状态为「{status}」，不能{action}。现在可以：{hint}"),
                    number=item.number, status=status_label(ctx.tr, item.status),
                    action=ctx.tr(ACTION_LABELS[action]), hint="；".join(possible))


async def command_item(ctx: Context, action: str, *, text_required: bool) -> tuple[Station, Item, str]:
    """Common front of /progress /close /reject /reopen: `<n> <text>`, the relation and the state checked."""
    station = require_station(ctx)
    number = parse_number(ctx)
    text = ctx.rest(1)
    if text_required and not text:
        raise ctx.usage_error(_("缺少说明文字。"))
    item = await load_item(ctx, station, number)
    await check_relation(ctx, item)
    check_transition(ctx, item, action)
    return station, item, text


def local(ctx: Context, station: Station, moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(ctx.zone(station)).strftime(fmt) if moment else ""


# --- commands ------------------------------------------------------------------------------------
async def assign_command(ctx: Context) -> None:
    """`/assign <n> <deputy|unit> [days] [督办 <deputy>]`: to a deputy, a handling unit, or a unit
    with a supervising deputy (`handlers.units`)."""
    station = require_station(ctx)
    number = parse_number(ctx)
    plan = await units.parse_assignment(ctx, station)
    item = await load_item(ctx, station, number)
    check_transition(ctx, item, "assign")
    now = ctx.now()
    defaulted = plan.days is None
    days = plan.days or await deadlines.default_days(session=ctx.session, station=station, tag=item.tag)
    due_by = await deadlines.compute(ctx, station, days)
    item.assignee_id = plan.deputy_id
    item.unit_id = id_of(plan.unit) if plan.unit is not None else None
    item.route = None  # handled here again, not by the level it was routed to
    deadlines.apply(item, due_by, now)
    due = local(ctx, station, item.due_at, "%Y-%m-%d")
    name = plan.label(ctx.tr)
    await items_repo.transition(
        session=ctx.session, item=item, to_status=ItemStatus.ASSIGNED, kind="assigned", actor_id=ctx.person.id,
        note=ctx.tr(_("{name}，{days} 个工作日，截止 {due}"), name=name, days=days, due=due), now=now,
    )
    sequence = await items_repo.count_events(session=ctx.session, item_id=id_of(item), kind="assigned")
    lines = [ctx.tr(_("已将事项 #{number} 分派给 {name}，办理时限 {days} 个工作日，截止 {due}。"),
                    number=item.number, name=name, days=days, due=due), *due_by.notice]
    if defaulted:
        lines.append(ctx.tr(_("（未指定时限，按默认 {days} 个工作日；可用 /assign {number} <代表或承办单位> <天数> 修改。）"),
                            days=days, number=item.number))
    lines.extend(await units.tell_handlers(ctx, station, item, plan, days, due, sequence))
    lines.extend(await notify_prefs.item_assigned(ctx, station, item, name, due, sequence))
    await ctx.reply("\n".join(lines), item_id=item.id)


async def progress_command(ctx: Context) -> None:
    _station, item, text = await command_item(ctx, "progress", text_required=True)
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.IN_PROGRESS, kind="progress",
                                actor_id=ctx.person.id, note=text, now=ctx.now())
    await ctx.reply(ctx.tr(_("已记录事项 #{number} 的办理进展，状态：{status}。"),
                           number=item.number, status=status_label(ctx.tr, item.status)), item_id=item.id)


async def close_command(ctx: Context) -> None:
    """Resolve: the result goes to the resident with the rating buttons of a new round. An item
    nobody was assigned (staff answering on the spot, 当场答复) is answered by the station."""
    station, item, text = await command_item(ctx, "close", text_required=True)
    answered = item.assignee_id is None and item.unit_id is None and item.route is None
    item.result = text
    item.resolved_at = ctx.now()
    item.rating = None  # a rating belongs to one round: the new result is rated afresh
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.RESOLVED,
                                kind="answered" if answered else "resolved", actor_id=ctx.person.id, note=text,
                                now=ctx.now())
    if (visitor := await visits.visitor_of(ctx, item)) is not None:  # no chat: a 回访 task for the liaisons
        task = await visits.callback_task(ctx, item, station, visitor, kind="resolved")
        supported = await supporters.post_results(ctx, item, station, referral=False)
        await ctx.reply(_with_supporters_note(ctx, task, supported), item_id=item.id)
        return
    posted = await rating.post_result(ctx, item, station, answered=answered)
    supported = await supporters.post_results(ctx, item, station, referral=False)
    if answered:
        reply = (_("事项 #{number} 已由本站直接答复并办结。答复已回复到居民的原消息下，并请其评价。") if posted.in_chat
                 else _("事项 #{number} 已由本站直接答复并办结。答复已私信告知居民，并请其评价。"))
    else:
        reply = (_("事项 #{number} 已办结。结果已回复到居民的原消息下，并请其评价。") if posted.in_chat
                 else _("事项 #{number} 已办结。结果已私信告知居民，并请其评价。"))
    await ctx.reply(_with_supporters_note(ctx, _with_masking_note(ctx, ctx.tr(reply, number=item.number), text, posted),
                                          supported), item_id=item.id)


def _with_supporters_note(ctx: Context, reply: str, supported: int) -> str:
    if not supported:
        return reply
    return reply + "\n" + ctx.tr(_("结果也已告知 {count} 位附议人（回复到各自的消息下，或私信）。"), count=supported)


async def reject_command(ctx: Context) -> None:
    """Not accepted (e.g. an individual petition referred to the petition office): final. The
    reason goes to the resident without rating buttons; only staff may /reopen it."""
    station, item, text = await command_item(ctx, "reject", text_required=True)
    item.result = text
    item.resolved_at = item.closed_at = ctx.now()
    item.rating = None
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.REJECTED, kind="rejected",
                                actor_id=ctx.person.id, note=text, now=ctx.now())
    if (visitor := await visits.visitor_of(ctx, item)) is not None:
        task = await visits.callback_task(ctx, item, station, visitor, kind="rejected")
        supported = await supporters.post_results(ctx, item, station, referral=True)
        await ctx.reply(_with_supporters_note(ctx, task, supported), item_id=item.id)
        return
    posted = await rating.post_referral(ctx, item, station)
    supported = await supporters.post_results(ctx, item, station, referral=True)
    reply = (_("事项 #{number} 不予受理，理由已回复到居民的原消息下（不请居民评价；如需重新办理，请用 /reopen {number}）。")
             if posted.in_chat
             else _("事项 #{number} 不予受理，理由已私信告知居民（不请居民评价；如需重新办理，请用 /reopen {number}）。"))
    await ctx.reply(_with_supporters_note(ctx, _with_masking_note(ctx, ctx.tr(reply, number=item.number), text, posted),
                                          supported), item_id=item.id)


def _with_masking_note(ctx: Context, reply: str, written: str, posted: rating.Posted) -> str:
    """Staff learn when what they wrote for the residents group had numbers hidden (a phone number
    is masked there even when it is an office's), so they can name the office instead."""
    hidden = masking.mask(written).hidden
    if not (posted.public and hidden):
        return reply
    return reply + "\n" + ctx.tr(_("注意：居民群里的这条回复隐去了{hidden}（居民群不显示电话、证件号等号码）。"
                                   "如需告诉居民办事电话，请写明部门名称，或私信居民。"),
                                 hidden=masking.describe_hidden(ctx.tr, hidden))


async def reopen_command(ctx: Context) -> None:
    """Handle again, with a new deadline: the days given, else the station's default for the tag."""
    station, item, text = await command_item(ctx, "reopen", text_required=False)
    given = deadlines.parse_days(ctx.args[1]) if len(ctx.args) > 1 else None
    if given is not None:
        text = ctx.rest(2)
    elif len(ctx.args) > 1 and deadlines.LOOKS_LIKE_DAYS.match(ctx.args[1]):
        raise deadlines.days_error(ctx, ctx.args[1])
    days = given or await deadlines.default_days(session=ctx.session, station=station, tag=item.tag)
    due_by = await deadlines.compute(ctx, station, days)
    deadlines.apply(item, due_by, ctx.now())
    due = local(ctx, station, item.due_at, "%Y-%m-%d")
    item.reopen_count += 1
    item.closed_at = None
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.REOPENED, kind="reopened",
                                actor_id=ctx.person.id, note=text or None, now=ctx.now())
    handlers = {item.assignee_id, await units.contact_of(ctx, item)} - {None, ctx.person.id}
    for handler_id in sorted(person_id for person_id in handlers if person_id is not None):
        handler = await ctx.session.get(Person, handler_id)
        dm_tr = translator(ctx.language_for(station, person=handler))
        await outbox.to_person(
            session=ctx.session, key=f"reopened:item:{item.id}:{item.reopen_count}:person:{handler_id}",
            purpose="reopened", person_id=handler_id, now=ctx.now(), station_id=station.id, item_id=item.id,
            text=dm_tr(_("{station} 的 {actor} 重新打开了您承办的事项 #{number}「{text}」。{reason}请继续办理，并用 /progress {number} 或 /close {number} 反馈。"),
                       station=station.name, actor=ctx.person.display_name, number=item.number,
                       text=item.text, reason=dm_tr(_("理由：{reason}。"), reason=text) if text else "")
            + "\n" + dm_tr(_("新的办理时限：{days} 个工作日，截止 {due}。"), days=days, due=due),
        )
    lines = [ctx.tr(_("事项 #{number} 已重新办理，新的办理时限 {days} 个工作日，截止 {due}。"),
                    number=item.number, days=days, due=due), *due_by.notice]
    if item.assignee_id is None:
        lines.append(ctx.tr(_("请用 /assign {number} <代表> 分派。"), number=item.number))
    else:
        lines.append(ctx.tr(_("已私信通知承办代表 {name}。"), name=await person_name(ctx, item.assignee_id))
                     if item.assignee_id != ctx.person.id else "")
    await ctx.reply("\n".join(line for line in lines if line), item_id=item.id)


async def items_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) > 1:
        raise ctx.usage_error()
    staff = ctx.is_staff(station.id)
    requested = FILTERS.get(ctx.args[0].lower()) if ctx.args else None
    if ctx.args and requested is None:
        raise ctx.usage_error(_("不认识的筛选条件「{value}」，可选 open、overdue、mine、all。"), value=ctx.args[0])
    which = requested or ("open" if staff else "mine")
    if not staff and which != "mine":
        raise ctx.error(_("代表和承办单位只能查看分派给自己的事项，请发送 /items mine。"))
    now = ctx.now()
    query: dict[str, object] = {"session": ctx.session, "station_id": station.id}
    header = {
        "open": _("{station} 未办结的事项（{count} 项）："),
        "overdue": _("{station} 已超期的事项（{count} 项）："),
        "mine": _("分派给您、尚未办结的事项（{count} 项）："),
        "all": _("{station} 的全部事项（{count} 项）："),
    }[which]
    if which in ("open", "overdue", "mine"):
        query["statuses"] = list(OPEN_STATUSES)
    if which == "overdue":
        query["due_before"] = now
    if which == "mine":
        query["assignee_id"] = ctx.person.id
    total = await items_repo.count_items(**query)  # type: ignore[arg-type]
    found = await items_repo.list_items(**query, limit=LIST_LIMIT)  # type: ignore[arg-type]
    if which == "mine":  # a handling unit's contact: the unit's items too
        extra = await units.items_of_contact(ctx, station, exclude={id_of(item) for item in found}, limit=LIST_LIMIT)
        total, found = total + len(extra), [*found, *extra][:LIST_LIMIT]
    if not found:
        await delivery.answer_privately(ctx, ctx.tr(_("没有符合条件的事项。")))
        return
    lines = [ctx.tr(header, station=station.name, count=total)]
    for item in found:
        lines.append(await _item_line(ctx, station, item, now))
    if total > len(found):
        lines.append(ctx.tr(_("……另有 {count} 项未列出。用 /item <编号> 查看详情。"), count=total - len(found)))
    await delivery.answer_privately(ctx, "\n".join(lines))


async def _item_line(ctx: Context, station: Station, item: Item, now: datetime) -> str:
    """`#12 [已分派] 路灯坏了 — 李代表 (截止 12-15)`"""
    line = f"#{item.number} [{status_label(ctx.tr, item.status)}] {rating.short(item.text, 30)}"
    handlers = [name for name in (await units.unit_name(ctx, item.unit_id),) if name]
    if item.route in ROUTE_NAMES and item.route != "petition":
        handlers.append(ctx.tr(ROUTE_NAMES[item.route]))
    if item.assignee_id is not None:
        handlers.append(await person_name(ctx, item.assignee_id))
    if handlers:
        line += " — " + "、".join(handlers)
    if item.due_at is not None and item.status in OPEN_STATUSES:
        due = local(ctx, station, item.due_at, "%m-%d")
        if item.due_at < now:
            line += " " + ctx.tr(_("（截止 {due}，已超期）"), due=due)
        else:
            line += " " + ctx.tr(_("（截止 {due}）"), due=due)
    return line + await supporters.list_marks(ctx, item)


async def item_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) != 1:
        raise ctx.usage_error()
    item = await load_item(ctx, station, parse_number(ctx))
    await check_relation(ctx, item)
    tr = ctx.tr
    lines = [tr(_("事项 #{number} [{status}]"), number=item.number, status=status_label(tr, item.status))]
    if item.tag:
        lines.append(tr(_("标签：#{tag}"), tag=item.tag))
    if item.category:
        lines.append(tr(_("类别：{category}"), category=item.category))
    if item.route:
        lines.append(tr(_("去向：{route}"), route=tr(ROUTE_NAMES[item.route]) if item.route in ROUTE_NAMES else item.route))
    lines.append(tr(_("内容：{text}"), text=item.text))
    lines.append(tr(_("提出人：{name}"), name=await person_name(ctx, item.reporter_id)))
    lines.extend(await visits.item_lines(ctx, item))
    lines.append(tr(_("受理时间：{at}"), at=local(ctx, station, item.created_at)))
    lines.extend(await units.item_lines(ctx, item))
    if item.assignee_id is not None:
        label = _("督办代表：{name}") if item.unit_id is not None else _("承办代表：{name}")
        lines.append(tr(label, name=await person_name(ctx, item.assignee_id)))
    if item.due_at is not None:
        overdue = item.status in OPEN_STATUSES and item.due_at < ctx.now()
        due = local(ctx, station, item.due_at, "%Y-%m-%d")
        lines.append(tr(_("截止：{due}（已超期）"), due=due) if overdue else tr(_("截止：{due}"), due=due))
    if item.result:
        lines.append(tr(_("结果：{result}"), result=item.result))
    if item.rating:
        lines.append(tr(_("评价：{rating}"), rating=tr(rating.RATING_LABELS[Rating(item.rating)])))
    lines.extend(await supporters.item_lines(ctx, item))
    lines.append(tr(_("办理记录：")))
    for event in await items_repo.events_of(session=ctx.session, item_id=id_of(item)):
        lines.append(await _event_line(ctx, station, event))
    await delivery.answer_privately(ctx, "\n".join(lines), item_id=item.id)


async def _event_line(ctx: Context, station: Station, event: ItemEvent) -> str:
    tr = ctx.tr
    label = tr(EVENT_LABELS[event.kind]) if event.kind in EVENT_LABELS else event.kind
    line = f"{local(ctx, station, event.at)} {await person_name(ctx, event.actor_id)} {label}"
    if event.from_status and event.to_status and event.from_status != event.to_status:
        line += f"（{status_label(tr, event.from_status)} → {status_label(tr, event.to_status)}）"
    if event.note:
        note = event.note
        if event.kind in ("rated", "supporter_rated"):
            code, _sep, rest = note.partition(": ")
            if code in {member.value for member in Rating}:
                note = tr(rating.RATING_LABELS[Rating(code)]) + (f"：{rest}" if rest else "")
        elif event.kind == "edited":
            note = tr(_("原内容：{text}"), text=note)
        elif event.kind == "callback" and note == "unreached":
            note = tr(_("未能联系上"))
        line += f"：{note}"
    return line


async def my_command(ctx: Context) -> None:
    """A resident's own items, in every station, with status and result."""
    if ctx.args:
        raise ctx.usage_error()
    found = await items_repo.items_reported_by(session=ctx.session, person_id=id_of(ctx.person), limit=MY_LIMIT + 1)
    supported = await supporters_repo.supported_by(session=ctx.session, person_id=id_of(ctx.person), limit=MY_LIMIT)
    if not found and not supported:
        await delivery.answer_privately(ctx, ctx.tr(_("您还没有提出过事项。在居民群里发送「#建议 内容」即可提出意见建议；不想公开的，在这里私信发送，只有工作人员能看到。")))
        return
    stations = {item.station_id for item in [*found, *supported]}
    names: dict[int, str] = {}
    for station_id in stations:
        station = await ctx.session.get(Station, station_id)
        names[station_id] = station.name if station else str(station_id)
    lines = [ctx.tr(_("您提出的事项："))] if found else []
    for item in found[:MY_LIMIT]:
        lines.append(_my_line(ctx, item, item.text, names if len(stations) > 1 else {})
                     + await supporters.merged_note(ctx, item))
    if len(found) > MY_LIMIT:
        lines.append(ctx.tr(_("……只列出最近 {count} 项。"), count=MY_LIMIT))
    if supported:  # someone else's words: masked
        lines.append(ctx.tr(_("您附议的事项：")))
        lines.extend(_my_line(ctx, item, masking.mask_text(item.text), names if len(stations) > 1 else {})
                     for item in supported)
    await delivery.answer_privately(ctx, "\n".join(lines))


def _my_line(ctx: Context, item: Item, text: str, station_names: dict[int, str]) -> str:
    line = f"#{item.number} [{status_label(ctx.tr, item.status)}] {rating.short(text, 30)}"
    if item.station_id in station_names:
        line = f"{station_names[item.station_id]} {line}"
    if item.result and item.status in (ItemStatus.RESOLVED, ItemStatus.REJECTED, ItemStatus.CLOSED):
        line += " — " + ctx.tr(_("结果：{result}"), result=rating.short(item.result, 40))
    return line


# --- hooks and the feature ------------------------------------------------------------------------
async def on_message(ctx: Context) -> bool:
    """A text rating in reply to a feedback post comes first; then intake of tagged messages."""
    return await rating.on_message(ctx) or await intake.on_message(ctx)


FEATURE = Feature(
    name="items",
    commands=[
        Command("items", items_command, _("/items [open|overdue|mine|all]"), _("列出本站事项")),
        Command("item", item_command, _("/item <编号>"), _("查看事项详情和办理记录")),
        Command("assign", assign_command, _("/assign <编号> <代表或承办单位> [工作日天数] [督办 <代表>]"),
                _("把事项分派给代表或承办单位办理")),
        Command("progress", progress_command, _("/progress <编号> <进展>"), _("登记事项的办理进展")),
        Command("close", close_command, _("/close <编号> <办理结果>"), _("办结事项并把结果回复给居民")),
        Command("reject", reject_command, _("/reject <编号> <理由>"), _("不予受理并说明理由")),
        Command("reopen", reopen_command, _("/reopen <编号> [工作日天数] [理由]"), _("重新办理已办结或已关闭的事项，并给出新的办理时限")),
        Command("my", my_command, _("/my"), _("查看我提出的事项")),
    ],
    on_message=on_message,
    on_edit=intake.on_edit,
    on_button={rating.RATE_PREFIX: rating.on_rate_button},
)
