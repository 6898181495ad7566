"""/extend: more working days for an open item. Staff extend at once; the assignee asks, and a
staff member approves or declines with a button. Every step is an item event, the assignee is
told, and the chasing ladder starts over from the new deadline (its keys carry the deadline).
"""

from __future__ import annotations

from datetime import date

from handlers import deadlines, outbox, units
from handlers.context import Context
from handlers.i18n import _, translator
from handlers.items import check_relation, load_item, local, parse_number
from handlers.people import person_name, require_station
from handlers.router import Command, Feature
from handlers.transport import Button
from storage import deadlines as deadlines_repo
from storage import items as items_repo
from storage import people as people_repo
from storage import stations as stations_repo
from storage.models import OPEN_STATUSES, ChatPurpose, ExtensionRequest, Item, Person, RoleName, Station
from storage.rows import id_of

PREFIX = "ext"


async def extend_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) < 2:
        raise ctx.usage_error()
    number = parse_number(ctx)
    days = deadlines.parse_days(ctx.args[1])
    if days is None:
        raise deadlines.days_error(ctx, ctx.args[1])
    reason = ctx.rest(2)
    if not reason:
        raise ctx.usage_error(_("请写明延期的理由，例如 /extend {number} 5 需等供电所排期施工。"), number=number)
    item = await load_item(ctx, station, number)
    await check_relation(ctx, item)
    check_extendable(ctx, item)
    if ctx.is_staff(station.id):
        await _extend_now(ctx, station, item, days, reason)
    else:
        await _ask(ctx, station, item, days, reason)


def check_extendable(ctx: Context, item: Item) -> None:
    if item.status not in OPEN_STATUSES:
        raise ctx.error(_("事项 #{number} 已不在办理中，不需要延期。"), number=item.number)
    if item.due_at is None:
        raise ctx.error(_("事项 #{number} 还没有办理时限（尚未分派）。请用 /assign {number} <代表> <工作日天数> 分派并定时限。"),
                        number=item.number)


def _new_start(ctx: Context, station: Station, item: Item) -> date:
    """Extra days count from the deadline, or from today when it has passed."""
    assert item.due_at is not None
    return max(item.due_at.astimezone(ctx.zone(station)).date(), deadlines.local_today(ctx, station))


async def _extend_now(ctx: Context, station: Station, item: Item, days: int, reason: str) -> None:
    old = local(ctx, station, item.due_at, "%Y-%m-%d")
    due_by = await _apply(ctx, station, item, days, reason, requester=None)
    pending = await deadlines_repo.pending_request(session=ctx.session, item_id=id_of(item))
    if pending is not None:  # decided by this direct extension
        deadlines_repo.decide(session=ctx.session, request=pending, person_id=id_of(ctx.person), approved=True,
                              now=ctx.now())
    lines = [ctx.tr(_("已将事项 #{number} 的办理时限延长 {days} 个工作日，截止 {due}（原 {old}）。"),
                    number=item.number, days=days, due=due_by.day.isoformat(), old=old), *due_by.notice]
    told = await _handlers(ctx, item)
    if told:
        lines.append(ctx.tr(_("已私信通知 {name}。"), name="、".join([await person_name(ctx, pid) for pid in told])))
    await ctx.reply("\n".join(lines), item_id=item.id)


async def _handlers(ctx: Context, item: Item) -> list[int]:
    """Who handles the item (the deputy, the handling unit's contact), but the one acting."""
    people = [item.assignee_id, await units.contact_of(ctx, item)]
    return [person for person in dict.fromkeys(people) if person is not None and person != ctx.person.id]


async def _apply(
    ctx: Context, station: Station, item: Item, days: int, reason: str, requester: int | None
) -> deadlines.Deadline:
    """Set the new deadline, record it, and tell the assignee (unless they are the one acting)."""
    old = local(ctx, station, item.due_at, "%Y-%m-%d")
    due_by = await deadlines.compute(ctx, station, days, start=_new_start(ctx, station, item))
    deadlines.apply(item, due_by, ctx.now())
    ctx.session.add(item)
    tr = translator(ctx.language_for(station))
    values = {"days": days, "due": due_by.day.isoformat(), "old": old, "reason": reason}
    note = (tr(_("延长 {days} 个工作日，截止 {due}（原 {old}）：{reason}"), **values) if requester is None else
            tr(_("同意 {name} 的申请，延长 {days} 个工作日，截止 {due}（原 {old}）：{reason}"),
               name=await person_name(ctx, requester), **values))
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="extended",
                         from_status=item.status, to_status=item.status, note=note, now=ctx.now())
    for person_id in dict.fromkeys([*await _handlers(ctx, item), *([requester] if requester is not None else [])]):
        person = await ctx.session.get(Person, person_id)
        dm_tr = translator(ctx.language_for(station, person=person))
        text = dm_tr(_("{station} 的 {actor} 同意了您的延期申请：事项 #{number}「{text}」的办理时限延长 {days} 个工作日，"
                       "新的截止日期是 {due}（原 {old}）。") if person_id == requester else
                     _("{station} 的 {actor} 把您承办的事项 #{number}「{text}」的办理时限延长了 {days} 个工作日，"
                       "新的截止日期是 {due}（原 {old}）。理由：{reason}"),
                     station=station.name, actor=ctx.person.display_name, number=item.number, text=item.text,
                     **values)
        await outbox.to_person(
            session=ctx.session, key=f"extended:item:{item.id}:due:{int(due_by.due_at.timestamp())}:person:{person_id}",
            purpose="extended", person_id=person_id, text=text, now=ctx.now(), station_id=station.id,
            item_id=item.id,
        )
    return due_by


async def _ask(ctx: Context, station: Station, item: Item, days: int, reason: str) -> None:
    """The assignee's request goes to the staff chat (else the liaisons and head) with two buttons."""
    pending = await deadlines_repo.pending_request(session=ctx.session, item_id=id_of(item))
    if pending is not None:
        raise ctx.error(_("事项 #{number} 已有一份延期申请（{days} 个工作日）在等待联络员批准，请耐心等待。"),
                        number=item.number, days=pending.days)
    request = await deadlines_repo.add_request(
        session=ctx.session, item_id=id_of(item), station_id=id_of(station), person_id=id_of(ctx.person), days=days,
        reason=reason, due_at=item.due_at, now=ctx.now(),
    )
    tr = translator(ctx.language_for(station))
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="extension_requested",
                         from_status=item.status, to_status=item.status,
                         note=tr(_("{days} 个工作日：{reason}"), days=days, reason=reason), now=ctx.now())
    text = tr(_("延期申请：{name} 申请把事项 #{number}「{text}」的办理时限（{due}）延长 {days} 个工作日。理由：{reason}"),
              name=ctx.person.display_name, number=item.number, text=item.text,
              due=local(ctx, station, item.due_at, "%Y-%m-%d"), days=days, reason=reason)
    buttons = [Button(tr(_("同意延期")), f"{PREFIX}:{request.id}:yes"), Button(tr(_("不同意")), f"{PREFIX}:{request.id}:no")]
    told = await _to_staff(ctx, station, request, text, buttons)
    reply = (_("已把延期申请（事项 #{number}，延长 {days} 个工作日）发给联络员，批准后会通知您。在此之前，办理时限仍是 {due}。")
             if told else
             _("已记录延期申请（事项 #{number}，延长 {days} 个工作日），但本站没有工作群，也没有联络员或站长可以批准，请直接联系联络站。"))
    await ctx.reply(ctx.tr(reply, number=item.number, days=days, due=local(ctx, station, item.due_at, "%Y-%m-%d")),
                    item_id=item.id)


async def _to_staff(
    ctx: Context, station: Station, request: ExtensionRequest, text: str, buttons: list[Button]
) -> bool:
    bindings = await stations_repo.bindings_of(session=ctx.session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
    for binding in bindings:
        await outbox.to_chat(
            session=ctx.session, key=f"extension:{request.id}:chat:{binding.id}", purpose="extension",
            platform=binding.platform, chat_id=binding.chat_id, text=text, buttons=buttons, now=ctx.now(),
            station_id=station.id, item_id=request.item_id, private=True,
        )
    if bindings:
        return True
    told = False
    for role in (RoleName.LIAISON, RoleName.HEAD):
        for person in await people_repo.people_with_role(session=ctx.session, station_id=id_of(station), role=role):
            row, _created = await outbox.to_person(
                session=ctx.session, key=f"extension:{request.id}:person:{person.id}", purpose="extension",
                person_id=id_of(person), text=text, buttons=buttons, now=ctx.now(), station_id=station.id,
                item_id=request.item_id,
            )
            told = told or row is not None
    return told


async def on_extension_button(ctx: Context) -> None:
    """同意延期 / 不同意 under a request: staff of the item's station only, once."""
    data = ctx.incoming.button_data or ""
    carried = {button.get("data") for button in ctx.message.buttons} if ctx.message is not None else set()
    parts = data.split(":")
    request = (await ctx.session.get(ExtensionRequest, int(parts[1]))
               if len(parts) == 3 and parts[1].isdigit() and parts[2] in ("yes", "no") and data in carried else None)
    if request is None:
        raise ctx.error(_("这个按钮已失效。"))
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=request.item_id)
    station = await ctx.session.get(Station, request.station_id)
    assert item is not None and station is not None
    if not ctx.is_staff(id_of(station)):
        raise ctx.error(_("只有本站的联络员、站长或管理员可以批准延期申请。"))
    if request.decided_at is not None:
        raise ctx.error(_("这份延期申请已经处理过了（事项 #{number}）。"), number=item.number)
    check_extendable(ctx, item)
    requester = await person_name(ctx, request.requested_by)
    approved = parts[2] == "yes"
    deadlines_repo.decide(session=ctx.session, request=request, person_id=id_of(ctx.person), approved=approved,
                          now=ctx.now())
    if approved:
        due_by = await _apply(ctx, station, item, request.days, request.reason, requester=request.requested_by)
        await ctx.reply(ctx.tr(_("{actor} 同意了 {name} 的延期申请：事项 #{number} 的办理时限延长 {days} 个工作日，截止 {due}。"),
                               actor=ctx.person.display_name, name=requester, number=item.number, days=request.days,
                               due=due_by.day.isoformat()) + "".join("\n" + line for line in due_by.notice),
                        item_id=item.id)
        return
    due = local(ctx, station, item.due_at, "%Y-%m-%d")
    tr = translator(ctx.language_for(station))
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="extension_refused",
                         from_status=item.status, to_status=item.status,
                         note=tr(_("{name} 申请的 {days} 个工作日"), name=requester, days=request.days), now=ctx.now())
    requester_person = await ctx.session.get(Person, request.requested_by)
    dm_tr = translator(ctx.language_for(station, person=requester_person))
    await outbox.to_person(
        session=ctx.session, key=f"extension:{request.id}:refused:person:{request.requested_by}", purpose="extension",
        person_id=request.requested_by, now=ctx.now(), station_id=station.id, item_id=item.id,
        text=dm_tr(_("{station} 的 {actor} 没有同意事项 #{number} 的延期申请，办理时限仍是 {due}。如有困难，请与联络员沟通。"),
                   station=station.name, actor=ctx.person.display_name, number=item.number, due=due),
    )
    await ctx.reply(ctx.tr(_("{actor} 没有同意 {name} 的延期申请（事项 #{number}），办理时限仍是 {due}。已私信告知 {name}。"),
                           actor=ctx.person.display_name, name=requester, number=item.number, due=due), item_id=item.id)


FEATURE = Feature(
    name="extensions",
    commands=[
        Command("extend", extend_command, _("/extend <编号> <工作日天数> <理由>"),
                _("延长事项的办理时限（承办代表提出申请，由联络员批准）")),
    ],
    on_button={PREFIX: on_extension_button},
)
