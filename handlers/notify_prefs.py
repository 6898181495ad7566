"""Residents' notifications: a direct message when their item is assigned and when it is overdue.

Per station (`/notify`, staff): on by default for private reports, off for items raised in a
group (a station turns them on when its residents want them). They go to the reporter and to
every supporter, each by direct message, unless that person muted the item (`/mute <n>`; undone
with `/unmute <n>`). Muting stops these notices only: the result (and the rating it asks for) is
the station's answer and always comes. The overdue notice is written by `schedules.resident_notices`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import delivery, masking, outbox, rating
from handlers.args import to_id
from handlers.context import Context
from handlers.i18n import Translator, _, translator
from handlers.people import require_station
from handlers.router import Command, Feature
from storage import items as items_repo
from storage import supporters as supporters_repo
from storage.models import OPEN_STATUSES, Item, Person, ResidentNotify, Station, Supporter
from storage.rows import id_of

ON, OFF = ("on", "开", "开启", "打开"), ("off", "关", "关闭")
SCOPES = {"private": "private", "私信": "private", "group": "group", "群": "group", "群聊": "group", "all": "all",
          "全部": "all"}


def applies(settings: ResidentNotify, item: Item) -> bool:
    return settings.private_items if item.private else settings.group_items


@dataclass(frozen=True)
class Recipient:
    person_id: int
    supporter: bool  # a supporter (their text names the item they support), else the reporter


async def recipients(*, session: AsyncSession, item: Item) -> list[Recipient]:
    """The reporter and the supporters of an item who have not muted it."""
    found = [] if item.muted else [Recipient(item.reporter_id, supporter=False)]
    for row in await supporters_repo.supporters_of(session=session, item_id=id_of(item)):
        if not row.muted:
            found.append(Recipient(row.person_id, supporter=True))
    return found


def item_words(tr: Translator, item: Item, recipient: Recipient) -> dict[str, object]:
    """How a notice names the item: a supporter reads someone else's words, masked."""
    text = masking.mask_text(item.text) if recipient.supporter else item.text
    return {"number": item.number, "text": rating.short(text, 30)}


async def item_assigned(ctx: Context, station: Station, item: Item, handler: str, due: str, sequence: int) -> list[str]:
    """After /assign: the residents who follow the item hear who handles it and by when. Returns
    the line for the staff's answer (none when nobody was told)."""
    settings = await supporters_repo.notify_settings(session=ctx.session, station_id=id_of(station))
    if not applies(settings, item):
        return []
    reporter, supporters = False, 0
    for recipient in await recipients(session=ctx.session, item=item):
        person = await ctx.session.get(Person, recipient.person_id)
        tr = translator(ctx.language_for(station, person=person))
        head = (_("您附议的事项 #{number}「{text}」已交办：由 {handler} 负责办理，办理时限至 {due}。") if recipient.supporter
                else _("您反映的事项 #{number}「{text}」已交办：由 {handler} 负责办理，办理时限至 {due}。"))
        text = "\n".join([tr(head, handler=handler, due=due, **item_words(tr, item, recipient)),
                          tr(_("办结后会把结果告诉您。不想再收到这类通知，请发送 /mute {number}。"), number=item.number)])
        row, _created = await outbox.to_person(
            session=ctx.session, key=f"notify-assigned:item:{item.id}:{sequence}:person:{recipient.person_id}",
            purpose="resident_notice", person_id=recipient.person_id, text=text, now=ctx.now(),
            station_id=station.id, item_id=item.id,
        )
        if row is not None and recipient.supporter:
            supporters += 1
        elif row is not None:
            reporter = True
    if reporter and supporters:
        return [ctx.tr(_("已私信告知提出人和 {count} 位附议人。"), count=supporters)]
    if reporter:
        return [ctx.tr(_("已私信告知提出人。"))]
    if supporters:
        return [ctx.tr(_("已私信告知 {count} 位附议人。"), count=supporters)]
    return []


# --- /notify ------------------------------------------------------------------------------------------
def _state(tr: Translator, value: bool) -> str:
    return tr(_("开")) if value else tr(_("关"))


async def notify_command(ctx: Context) -> None:
    """`/notify` shows the station's setting; `/notify [group|private|all] on|off` changes it."""
    station = require_station(ctx)
    args = [arg.lower() for arg in ctx.args]
    if len(args) > 2:
        raise ctx.usage_error()
    if args:
        scope = SCOPES.get(args[0]) if len(args) == 2 else "group"
        switch = args[-1]
        if scope is None:
            raise ctx.usage_error(_("不认识「{value}」，可选 group（群里反映的事项）、private（私信反映的事项）或 all。"),
                                  value=ctx.args[0])
        if switch not in ON + OFF:
            raise ctx.usage_error(_("请写 on（开）或 off（关），而不是「{value}」。"), value=ctx.args[-1])
        value = switch in ON
        await supporters_repo.set_notify(
            session=ctx.session, station_id=id_of(station), now=ctx.now(),
            group_items=value if scope in ("group", "all") else None,
            private_items=value if scope in ("private", "all") else None,
        )
        await ctx.session.flush()
    settings = await supporters_repo.notify_settings(session=ctx.session, station_id=id_of(station))
    await ctx.reply("\n".join([
        ctx.tr(_("{station} 给居民的私信通知（事项分派时、超期时）："), station=station.name),
        ctx.tr(_("群里反映的事项：{state}；私信反映的事项：{private}。"), state=_state(ctx.tr, settings.group_items),
               private=_state(ctx.tr, settings.private_items)),
        ctx.tr(_("修改：/notify on|off（群里反映的事项），/notify private on|off，/notify all on|off。"
                 "居民可用 /mute <编号> 关闭某件事项的通知；办理结果总会告诉居民。")),
    ]))


# --- /mute, /unmute -------------------------------------------------------------------------------------
async def _followed(ctx: Context) -> tuple[Item, Supporter | None]:
    """The item the sender follows (as its reporter or a supporter), by its number: in the
    station of the chat, else among the sender's own items."""
    if len(ctx.args) != 1:
        raise ctx.usage_error()
    number = to_id(ctx.args[0])
    if number is None:
        raise ctx.usage_error(_("「{value}」不是事项编号，编号应为正整数，例如 12。"), value=ctx.args[0])
    me = id_of(ctx.person)
    candidates = [*await items_repo.items_reported_by(session=ctx.session, person_id=me, limit=500),
                  *await supporters_repo.supported_by(session=ctx.session, person_id=me, limit=500)]
    found = [item for item in candidates if item.number == number
             and (ctx.station is None or item.station_id == ctx.station.id)]
    if len({id_of(item) for item in found}) > 1:
        require_station(ctx)
    if not found:
        raise ctx.error(_("您没有提出或附议编号为 #{number} 的事项，无法设置它的通知。发送 /my 查看您的事项。"), number=number)
    item = found[0]
    if item.status not in OPEN_STATUSES:
        raise ctx.error(_("事项 #{number} 已经办结或不再办理，不会再有分派、超期通知。"), number=item.number)
    supporter = None if item.reporter_id == me else await supporters_repo.get_supporter(
        session=ctx.session, item_id=id_of(item), person_id=me)
    return item, supporter


async def _set_muted(ctx: Context, muted: bool) -> None:
    item, supporter = await _followed(ctx)
    if supporter is not None:
        supporter.muted = muted
        ctx.session.add(supporter)
    else:
        item.muted = muted
        ctx.session.add(item)
    text = (_("好的，事项 #{number} 的分派、超期等通知不再发给您；办结时仍会把结果告诉您。恢复请发送 /unmute {number}。")
            if muted else _("好的，事项 #{number} 的分派、超期等通知会继续发给您。"))
    await delivery.answer_privately(ctx, ctx.tr(text, number=item.number), item_id=item.id)


async def mute_command(ctx: Context) -> None:
    await _set_muted(ctx, True)


async def unmute_command(ctx: Context) -> None:
    await _set_muted(ctx, False)


FEATURE = Feature(
    name="notify",
    commands=[
        Command("notify", notify_command, _("/notify [group|private|all] [on|off]"),
                _("设置是否私信通知居民事项的分派和超期")),
        Command("mute", mute_command, _("/mute <编号>"), _("不再接收某件事项的分派、超期通知")),
        Command("unmute", unmute_command, _("/unmute <编号>"), _("恢复接收某件事项的通知")),
    ],
)
