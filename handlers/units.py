"""Handling units (承办单位): /unit, /units, and whom an /assign hands an item to.

Stations hand most matters to departments (街道城管科, 供电所, 县住建局), not to deputies. A unit is
no person: it is never on a roster nor counted in attendance. Its contact person, when it has one,
gets the unit's assignments by DM and may /progress and /close them (the `unit_contact` role in the
station); without one, the liaison records progress and the result on the unit's behalf. An item
may have a handling unit and a responsible deputy (督办代表) at once:
`/assign <n> <deputy|unit> [days] [督办 <deputy>]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers import outbox, rating
from handlers.args import MAX_WORKDAYS, to_id, to_workdays
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import person_name, require_station, resolve_user
from handlers.router import Command, Feature
from storage import people as people_repo
from storage import units as units_repo
from storage.models import OPEN_STATUSES, HandlingUnit, Item, Person, RoleName, Station
from storage.rows import id_of

SUPERVISE_WORDS = ("督办", "督辦", "supervisor", "supervised-by")
ADD_WORDS = ("add", "添加")
REMOVE_WORDS = ("remove", "删除", "移除")
MAX_UNIT_NAME = 50


# --- /assign's target ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    """Whom an item goes to: a unit, a deputy, or a unit with a deputy who supervises it (督办)."""

    unit: HandlingUnit | None
    deputy_id: int | None
    deputy_name: str | None
    days: int | None  # None: the station's default

    def label(self, tr: Translator) -> str:
        if self.unit is not None and self.deputy_name:
            return tr(_("{unit}（督办代表 {deputy}）"), unit=self.unit.name, deputy=self.deputy_name)
        return self.unit.name if self.unit is not None else self.deputy_name or ""


async def parse_assignment(ctx: Context, station: Station) -> Assignment:
    """`<n> <deputy|unit> [days] [督办 <deputy>]` (the number is read by the caller)."""
    if len(ctx.args) < 2:
        raise ctx.usage_error()
    target, rest = ctx.args[1], ctx.args[2:]
    days = to_workdays(rest[0]) if rest else None
    if days is not None:
        rest = rest[1:]
    elif rest and rest[0].lower() not in SUPERVISE_WORDS:
        raise ctx.usage_error(_("办理时限应为 1 到 {max} 之间的工作日天数，而不是「{value}」。"),
                              max=MAX_WORKDAYS, value=rest[0])
    supervisor = None
    if rest:
        if rest[0].lower() not in SUPERVISE_WORDS or len(rest) != 2:
            raise ctx.usage_error(_("督办代表的写法是「督办 <代表>」，例如 /assign 4 街道城管科 10 督办 @li。"))
        supervisor = rest[1]
    unit = await units_repo.get_unit(session=ctx.session, station_id=id_of(station), name=target)
    if unit is not None and unit.active:
        if supervisor is None:
            return Assignment(unit, None, None, days)
        deputy_id, name = await require_deputy(ctx, station, supervisor)
        return Assignment(unit, deputy_id, name, days)
    if unit is not None:
        raise ctx.error(_("承办单位「{unit}」已从本站移除。如需继续交它办理，请先 /unit add {unit}。"), unit=target)
    deputy_id, name = await require_deputy(ctx, station, target, unit_hint=True)
    if supervisor is not None:
        raise ctx.error(_("{name} 是代表，由其直接承办即可。「督办」用于交承办单位办理时指定督办代表："
                          "/assign <编号> <承办单位> [天数] 督办 <代表>。"), name=name)
    return Assignment(None, deputy_id, name, days)


async def require_deputy(ctx: Context, station: Station, token: str, *, unit_hint: bool = False) -> tuple[int, str]:
    """The deputy `token` names, or a refusal that says how to add one (or a unit, for a department)."""
    account = await resolve_user(ctx, token)
    role = await people_repo.get_role(session=ctx.session, person_id=account.person_id, station_id=station.id,
                                      role=RoleName.DEPUTY)
    name = await person_name(ctx, account.person_id)
    if role is not None and role.active:
        return account.person_id, name
    if unit_hint:
        raise ctx.error(_("「{user}」既不是 {station} 的代表，也不是本站的承办单位。"
                          "交部门办理：先用 /unit add {user} [联系人] 添加承办单位；交代表办理：先用 /deputy add <用户> 添加代表。"
                          "发送 /units 查看本站的承办单位。"), user=token, station=station.name)
    raise ctx.error(_("{name} 不是 {station} 的代表，不能担任督办代表。"), name=name, station=station.name)


async def tell_handlers(ctx: Context, station: Station, item: Item, plan: Assignment, days: int, due: str,
                        sequence: int) -> list[str]:
    """DM whoever acts on the assignment (the deputy; the unit's contact; the supervising deputy)
    and return the lines that tell the liaison who was told, or who must be called."""
    lines: list[str] = []
    told: set[int] = set()
    if plan.unit is not None:
        contact_id = plan.unit.contact_id
        if contact_id is not None:
            await _dm(ctx, station, item, contact_id, sequence, [
                _("您好！{station} 把事项 #{number} 交 {unit} 办理："), None,
                _("办理时限：{days} 个工作日，截止 {due}。"),
                _("登记进展请发送 /progress {number} <进展>，办结请发送 /close {number} <办理结果>。"),
            ], unit=plan.unit.name, days=days, due=due)
            told.add(contact_id)
            lines.append(ctx.tr(_("已私信通知 {unit} 的联系人 {contact}。"), unit=plan.unit.name,
                                contact=await person_name(ctx, contact_id)))
        else:
            lines.append(ctx.tr(_("{unit} 没有登记联系人：请联络员联系该单位，并代为登记进展（/progress {number} <进展>）"
                                  "和办理结果（/close {number} <办理结果>）。"), unit=plan.unit.name, number=item.number))
        if plan.deputy_id is not None and plan.deputy_id not in told:
            await _dm(ctx, station, item, plan.deputy_id, sequence, [
                _("您好！{station} 把事项 #{number} 交 {unit} 办理，请您督办："), None,
                _("办理时限：{days} 个工作日，截止 {due}。"),
                _("督办情况请发送 /progress {number} <进展>；单位办结后，您或联络员可发送 /close {number} <办理结果>。"),
            ], unit=plan.unit.name, days=days, due=due)
            lines.append(ctx.tr(_("已私信通知督办代表 {name}。"), name=plan.deputy_name))
        return lines
    if plan.deputy_id is not None:
        await _dm(ctx, station, item, plan.deputy_id, sequence, [
            _("您好！{station} 把事项 #{number} 分派给您办理："), None,
            _("办理时限：{days} 个工作日，截止 {due}。"),
            _("登记进展请发送 /progress {number} <进展>，办结请发送 /close {number} <办理结果>。"),
        ], days=days, due=due)
        lines.append(ctx.tr(_("已私信通知 {name}。"), name=plan.deputy_name))
    return lines


async def _dm(ctx: Context, station: Station, item: Item, person_id: int, sequence: int, msgids: list[str | None],
              **values: object) -> None:
    """One assignment DM: the msgids in order, None where the item's text goes."""
    person = await ctx.session.get(Person, person_id)
    tr = translator(ctx.language_for(station, person=person))
    lines = [item.text if msgid is None else tr(msgid, station=station.name, number=item.number, **values)
             for msgid in msgids]
    roles = await people_repo.roles_of(session=ctx.session, person_id=person_id)
    if len({role.station_id for role in roles if role.station_id is not None}) > 1:
        lines.append(tr(_("（您在多个联络站任职，私聊时请先发送 /use {code}。）"), code=station.code))
    await outbox.to_person(
        session=ctx.session, key=f"assigned:item:{item.id}:person:{person_id}:{sequence}",
        purpose="assigned", person_id=person_id, text="\n".join(lines), now=ctx.now(),
        station_id=station.id, item_id=item.id,
    )


async def contact_of(ctx: Context, item: Item) -> int | None:
    """The contact person of the item's handling unit, if it has a unit with one."""
    if item.unit_id is None:
        return None
    unit = await ctx.session.get(HandlingUnit, item.unit_id)
    return unit.contact_id if unit is not None and unit.active else None


async def unit_name(ctx: Context, unit_id: int | None) -> str | None:
    if unit_id is None:
        return None
    unit = await ctx.session.get(HandlingUnit, unit_id)
    return unit.name if unit is not None else None


async def item_lines(ctx: Context, item: Item) -> list[str]:
    """/item's lines about the handling unit: its name and contact (or who records for it)."""
    if item.unit_id is None:
        return []
    unit = await ctx.session.get(HandlingUnit, item.unit_id)
    if unit is None:
        return []
    if unit.contact_id is not None:
        return [ctx.tr(_("承办单位：{unit}（联系人 {contact}）"), unit=unit.name,
                       contact=await person_name(ctx, unit.contact_id))]
    return [ctx.tr(_("承办单位：{unit}（未登记联系人，由联络员代为登记）"), unit=unit.name)]


async def items_of_contact(ctx: Context, station: Station, *, exclude: set[int], limit: int) -> list[Item]:
    """The open items of the units whose contact the sender is (for /items mine)."""
    units = await units_repo.units_with_contact(session=ctx.session, station_id=id_of(station),
                                                person_id=id_of(ctx.person))
    found = await units_repo.items_of_units(session=ctx.session, unit_ids=[id_of(unit) for unit in units],
                                            statuses=OPEN_STATUSES, limit=limit + len(exclude))
    return [item for item in found if id_of(item) not in exclude]


# --- /unit and /units ----------------------------------------------------------------------------
def _check_name(ctx: Context, name: str) -> None:
    """A unit's name must not read as anything else /assign takes: a number of days, 督办, a user."""
    if (len(name) > MAX_UNIT_NAME or name[0] in "@#＃/!！" or to_workdays(name) is not None
            or to_id(name) is not None or name.lower() in SUPERVISE_WORDS):
        raise ctx.usage_error(_("「{name}」不能作为承办单位名称：名称最长 {max} 个字，不能是数字、「督办」，"
                                "也不能以 @ 或 # 开头，例如 街道城管科。"), name=name[:60], max=MAX_UNIT_NAME)


async def unit_command(ctx: Context) -> None:
    station = require_station(ctx)
    action = ctx.args[0].lower() if ctx.args else ""
    if action in ADD_WORDS and len(ctx.args) in (2, 3):
        await _add(ctx, station)
    elif action in REMOVE_WORDS and len(ctx.args) == 2:
        await _remove(ctx, station)
    else:
        raise ctx.usage_error()


async def _add(ctx: Context, station: Station) -> None:
    name = ctx.args[1]
    _check_name(ctx, name)
    contact_id = (await resolve_user(ctx, ctx.args[2])).person_id if len(ctx.args) == 3 else None
    existing = await units_repo.get_unit(session=ctx.session, station_id=id_of(station), name=name)
    previous = existing.contact_id if existing is not None and existing.active else None
    if existing is not None and existing.active and previous == contact_id:
        raise ctx.error(_("承办单位「{unit}」已经在本站名单中，没有变化。发送 /units 查看。"), unit=name)
    unit, fresh = await units_repo.save_unit(session=ctx.session, station_id=id_of(station), name=name,
                                             contact_id=contact_id, now=ctx.now())
    if contact_id is not None:
        await people_repo.grant_role(session=ctx.session, person_id=contact_id, station_id=station.id,
                                     role=RoleName.UNIT_CONTACT, now=ctx.now())
    if previous is not None and previous != contact_id:
        await _release_contact(ctx, station, previous)
    contact = await person_name(ctx, contact_id) if contact_id is not None else None
    if not fresh:
        text = (ctx.tr(_("已更新承办单位「{unit}」的联系人：{contact}。"), unit=name, contact=contact) if contact
                else ctx.tr(_("已取消承办单位「{unit}」的联系人：今后由联络员代为登记它的进展和办理结果。"), unit=name))
    elif contact:
        text = ctx.tr(_("已添加承办单位「{unit}」，联系人 {contact}：交该单位办理的事项会私信通知联系人，"
                        "联系人可用 /progress 和 /close 登记进展和办理结果。分派：/assign <编号> {unit} [天数]。"),
                      unit=unit.name, contact=contact)
    else:
        text = ctx.tr(_("已添加承办单位「{unit}」（未登记联系人：交该单位办理的事项，由联络员代为登记进展和办理结果；"
                        "登记联系人：/unit add {unit} <联系人>）。分派：/assign <编号> {unit} [天数]。"), unit=unit.name)
    await ctx.reply(text)


async def _release_contact(ctx: Context, station: Station, person_id: int) -> None:
    """A contact of no unit of the station any more loses the contact role there."""
    if not await units_repo.units_with_contact(session=ctx.session, station_id=id_of(station), person_id=person_id):
        await people_repo.revoke_role(session=ctx.session, person_id=person_id, station_id=station.id,
                                      role=RoleName.UNIT_CONTACT)


async def _remove(ctx: Context, station: Station) -> None:
    name = ctx.args[1]
    unit = await units_repo.get_unit(session=ctx.session, station_id=id_of(station), name=name)
    if unit is None or not unit.active:
        names = "、".join(u.name for u in await units_repo.active_units(session=ctx.session, station_id=id_of(station)))
        raise ctx.error(_("本站没有名为「{unit}」的承办单位。现有承办单位：{names}"), unit=name,
                        names=names or ctx.tr(_("（无）")))
    unit.active = False
    unit.updated_at = ctx.now()
    ctx.session.add(unit)
    await ctx.session.flush()
    if unit.contact_id is not None:
        await _release_contact(ctx, station, unit.contact_id)
    lines = [ctx.tr(_("已把「{unit}」从本站的承办单位中移除（已办事项的记录保留）。"), unit=name)]
    pending = await units_repo.open_items_of_unit(session=ctx.session, unit_id=id_of(unit), statuses=OPEN_STATUSES)
    if pending:
        lines.append(ctx.tr(_("它还有 {count} 件未办结的事项，请重新分派："), count=len(pending)))
        target = ctx.tr(_("代表或承办单位"))
        lines.extend(f"  #{item.number} {rating.short(item.text, 30)}：/assign {item.number} <{target}>" for item in pending)
    await ctx.reply("\n".join(lines))


async def units_command(ctx: Context) -> None:
    station = require_station(ctx)
    if ctx.args:
        raise ctx.usage_error()
    units = await units_repo.active_units(session=ctx.session, station_id=id_of(station))
    if not units:
        await ctx.reply(ctx.tr(_("本站还没有承办单位。用 /unit add <单位名称> [联系人] 添加，例如 /unit add 街道城管科 @wang。")))
        return
    lines = [ctx.tr(_("{station} 的承办单位（{count} 个）："), station=station.name, count=len(units))]
    for unit in units:
        pending = len(await units_repo.open_items_of_unit(session=ctx.session, unit_id=id_of(unit),
                                                          statuses=OPEN_STATUSES))
        contact = (ctx.tr(_("联系人 {name}"), name=await person_name(ctx, unit.contact_id)) if unit.contact_id is not None
                   else ctx.tr(_("未登记联系人（由联络员代为登记）")))
        lines.append(ctx.tr(_("· {unit} — {contact}；未办结 {count} 件"), unit=unit.name, contact=contact, count=pending))
    lines.append(ctx.tr(_("分派：/assign <编号> <承办单位> [天数] [督办 <代表>]")))
    await ctx.reply("\n".join(lines))


FEATURE = Feature(
    name="units",
    commands=[
        Command("unit", unit_command, _("/unit add <单位名称> [联系人] | /unit remove <单位名称>"),
                _("添加或移除承办单位（如 街道城管科、供电所）")),
        Command("units", units_command, _("/units"), _("列出本站的承办单位")),
    ],
)
