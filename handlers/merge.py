"""Duplicates (/merge): the same matter raised twice is handled as one item.

`/merge <n> <into>` (staff) makes item n a duplicate of `into` (status merged): n's reporter, and
n's own supporters, become supporters of `into` and get its result; n's reporter is told where
the matter is handled, n's assignee that they need not handle it. The figures count one item
(`storage.reports`: a merged item is not received), with its supporters. The feature also carries
the supporters' hooks (`handlers.supporters`): "+1" replies and their ratings.
"""

from __future__ import annotations

from handlers import masking, outbox, rating, supporters
from handlers.context import Context
from handlers.i18n import _, translator
from handlers.items import check_transition, load_item, parse_number, status_label
from handlers.people import person_name, require_station
from handlers.router import Command, Feature
from storage import items as items_repo
from storage import supporters as supporters_repo
from storage.models import OPEN_STATUSES, Item, ItemStatus, Person, Station
from storage.rows import id_of


async def merge_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) != 2:
        raise ctx.usage_error()
    number, into_number = parse_number(ctx, 0), parse_number(ctx, 1)
    if number == into_number:
        raise ctx.usage_error(_("不能把事项 #{number} 并入它自己。请写明重复的事项和要并入的事项，例如 /merge 5 3。"),
                              number=number)
    duplicate = await load_item(ctx, station, number)
    into = await load_item(ctx, station, into_number)
    _check_target(ctx, into)
    if duplicate.status == ItemStatus.MERGED:
        raise ctx.error(_("事项 #{number} 已并入事项 #{into}，不能再合并。"), number=duplicate.number,
                        into=await _number_of(ctx, duplicate.merged_into_id))
    check_transition(ctx, duplicate, "merge")
    now = ctx.now()
    reporter = await person_name(ctx, duplicate.reporter_id)
    duplicate.merged_into_id = into.id
    await items_repo.transition(session=ctx.session, item=duplicate, to_status=ItemStatus.MERGED, kind="merged",
                                actor_id=ctx.person.id, note=f"#{into.number}", now=now)
    items_repo.add_event(session=ctx.session, item=into, actor_id=ctx.person.id, kind="merged_in",
                         from_status=into.status, to_status=into.status,
                         note=ctx.tr(_("#{number}（提出人 {name}）"), number=duplicate.number, name=reporter), now=now)
    await ctx.session.flush()
    moved = await supporters_repo.move_supporters(session=ctx.session, source=duplicate, target=into)
    added = await supporters_repo.add_supporter(
        session=ctx.session, item=into, person_id=duplicate.reporter_id, source_message_id=duplicate.source_message_id,
        merged_item_id=id_of(duplicate), now=now,
    )
    await ctx.session.flush()
    count = len(await supporters_repo.supporters_of(session=ctx.session, item_id=id_of(into)))
    await _tell_reporter(ctx, station, duplicate, into)
    told_assignee = await _tell_assignee(ctx, station, duplicate, into)
    lines = [ctx.tr(_("已将事项 #{number} 并入事项 #{into}，今后按一件事项办理。"), number=duplicate.number,
                    into=into.number)]
    if added is not None:
        lines.append(ctx.tr(_("#{number} 的提出人 {name} 已记为 #{into} 的附议人，并已告知。"),
                            number=duplicate.number, name=reporter, into=into.number))
    else:
        lines.append(ctx.tr(_("#{number} 的提出人 {name} 已是 #{into} 的提出人或附议人，已告知。"),
                            number=duplicate.number, name=reporter, into=into.number))
    if moved:
        lines.append(ctx.tr(_("#{number} 原有的 {count} 位附议人一并转入。"), number=duplicate.number, count=moved))
    if told_assignee:
        lines.append(ctx.tr(_("已私信告知 #{number} 的承办代表 {name}，无需再单独办理。"), number=duplicate.number,
                            name=told_assignee))
    lines.append(ctx.tr(_("事项 #{into} 现有附议 {count} 人；办结时，结果会一并告知提出人和每位附议人。"),
                        into=into.number, count=count))
    await ctx.reply("\n".join(lines), item_id=into.id)


def _check_target(ctx: Context, into: Item) -> None:
    """Only an item still being handled can take a duplicate: its result is still to come."""
    if into.status in OPEN_STATUSES:
        return
    if into.status == ItemStatus.MERGED:
        raise ctx.error(_("事项 #{into} 本身已并入其他事项，不能再并入。请并入它所并入的那件事项（/item {into} 可查看）。"),
                        into=into.number)
    raise ctx.error(_("事项 #{into} 当前状态为「{status}」，已不再办理，不能并入。"
                      "如果是同一问题，请直接用 /close 答复或 /reject 说明。"),
                    into=into.number, status=status_label(ctx.tr, into.status))


async def _number_of(ctx: Context, item_id: int | None) -> int | str:
    item = await items_repo.get_item_by_id(session=ctx.session, item_id=item_id) if item_id else None
    return item.number if item is not None else "?"


async def _tell_reporter(ctx: Context, station: Station, duplicate: Item, into: Item) -> None:
    """The duplicate's reporter learns where their matter is handled, where they raised it. A
    private report is never named in a group, so a group hears only that it was merged."""
    tr = translator(ctx.language_for(station))
    reporter = await ctx.session.get(Person, duplicate.reporter_id)
    values = {"name": reporter.display_name if reporter else "", "number": duplicate.number,
              "text": rating.short(duplicate.text), "into": into.number,
              "into_text": rating.short(masking.mask_text(into.text))}
    source_public = not duplicate.private
    if into.private and source_public:
        text = tr(_("{name}，您反映的事项 #{number}「{text}」与本站正在办理的另一件事项是同一问题，已合并办理，"
                    "您已记为附议人。办结后会在此回复您。"), **values)
    else:
        text = tr(_("{name}，您反映的事项 #{number}「{text}」与事项 #{into}「{into_text}」是同一问题，已合并办理，"
                    "您已记为附议人。办结后会把结果告诉您。"), **values)
    await rating.to_author(ctx, person_id=duplicate.reporter_id, source_message_id=duplicate.source_message_id,
                           station=station, key=f"merged:item:{duplicate.id}", purpose="merged", text=text,
                           buttons=[], item_id=id_of(duplicate))


async def _tell_assignee(ctx: Context, station: Station, duplicate: Item, into: Item) -> str | None:
    if duplicate.assignee_id is None or duplicate.assignee_id in (ctx.person.id, into.assignee_id):
        return None
    assignee = await ctx.session.get(Person, duplicate.assignee_id)
    tr = translator(ctx.language_for(station, person=assignee))
    await outbox.to_person(
        session=ctx.session, key=f"merged:item:{duplicate.id}:person:{duplicate.assignee_id}", purpose="merged",
        person_id=duplicate.assignee_id, now=ctx.now(), station_id=station.id, item_id=duplicate.id,
        text=tr(_("{station} 已把您承办的事项 #{number}「{text}」并入事项 #{into}，按一件事项办理，您无需再单独办理 #{number}。"),
                station=station.name, number=duplicate.number, text=rating.short(duplicate.text), into=into.number),
    )
    return assignee.display_name if assignee else None


FEATURE = Feature(
    name="merge",
    commands=[
        Command("merge", merge_command, _("/merge <编号> <并入编号>"), _("把重复的事项并入另一件，按一件办理")),
    ],
    on_message=supporters.on_any_message,
    on_button={supporters.SUPPORT_RATE_PREFIX: supporters.on_rate_button},
)
