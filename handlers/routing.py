"""/route: where a matter goes when it is not the station's own to handle (按属地分流).

`/route <n> township|county|city|petition [note]`. Village and township matters go to the township
government (乡镇人民政府 / 街道办事处); county and city matters go up as a deputy suggestion (代表建议)
to that level's people's congress standing committee, which by law answers within three months
of referral (代表法 §35): the item stays open, tracked like any other, until its reply is recorded
with `/close <n> <reply>`, which goes to the resident to rate. An individual petition case (信访)
is referred, not handled — a station must not become a second petition office: the resident gets
the standard explanation of where and how (the station's `petition_office` setting names the
county's 信访 office), and the referral is final like /reject.
"""

from __future__ import annotations

from datetime import datetime, time

from dateutil.relativedelta import relativedelta

from handlers import deadlines, rating, visits
from handlers.context import Context
from handlers.i18n import Translator, _, fold_chinese, translator
from handlers.items import ROUTE_NAMES, check_transition, load_item, local, parse_number
from handlers.people import require_station
from handlers.router import Command, Feature
from storage import items as items_repo
from storage.models import OPEN_STATUSES, Item, ItemStatus, Person, Station
from storage.rows import id_of

LEVELS = {
    "township": "township", "乡镇": "township", "乡": "township", "镇": "township", "街道": "township",
    "county": "county", "县": "county", "区": "county", "县级": "county", "区级": "county",
    "city": "city", "市": "city", "市级": "city",
    "petition": "petition", "信访": "petition",
}
ROUTE_LABELS = ROUTE_NAMES
SUGGESTION_MONTHS = 3  # 代表法 §35: answered within three months of referral


async def route_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) < 2:
        raise ctx.usage_error()
    number = parse_number(ctx)
    level = LEVELS.get(fold_chinese(ctx.args[1]).lower())
    if level is None:
        raise ctx.usage_error(_("去向应为 township、county、city 或 petition（乡镇、县、市、信访），而不是「{value}」。"),
                              value=ctx.args[1])
    note = ctx.rest(2)
    item = await load_item(ctx, station, number)
    if level == "petition":
        await _to_petition_office(ctx, station, item, note)
    else:
        await _upward(ctx, station, item, level, note)


def petition_explanation(tr: Translator, station: Station, note: str) -> str:
    office = station.petition_office or tr(_("所在县（区）信访局（地址可向本站联络员询问）"))
    text = tr(_("按照《信访工作条例》，个人信访事项由有权处理的机关依法办理，联络站不能代为受理。"
                "请您携带身份证件和相关材料，到{office}反映；也可以通过网上信访平台或拨打 12345 热线反映。"), office=office)
    return text + ("\n" + tr(_("联络员说明：{note}"), note=note) if note else "")


async def _to_petition_office(ctx: Context, station: Station, item: Item, note: str) -> None:
    """A final referral, like /reject: no rating; only staff may /reopen it."""
    check_transition(ctx, item, "reject")
    tr = translator(ctx.language_for(station))
    now = ctx.now()
    item.result = petition_explanation(tr, station, note)
    item.route = "petition"
    item.unit_id = None
    item.resolved_at = item.closed_at = now
    item.rating = None
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.REJECTED, kind="rejected",
                                actor_id=ctx.person.id, now=now,
                                note=ctx.tr(_("个人信访事项，转介信访部门")) + (f"：{note}" if note else ""))
    lines: list[str] = []
    if (visitor := await visits.visitor_of(ctx, item)) is not None:
        lines.append(await visits.callback_task(ctx, item, station, visitor, kind="petition"))
    else:
        posted = await rating.notify_reporter(
            ctx, item, station, key=f"referral:item:{item.id}:{item.reopen_count}", purpose=rating.REFERRAL,
            text=tr(_("{name}，您反映的事项 #{number}「{text}」属于个人信访事项，本站已登记并为您指明反映渠道：\n{result}\n"
                      "如有疑问，请联系本站联络员。"),
                    name=await _reporter_name(ctx, item), number=item.number, text=rating.short(item.text),
                    result=item.result),
        )
        where = _("已回复到居民的原消息下") if posted.in_chat else _("已私信告知居民")
        lines.append(ctx.tr(_("事项 #{number} 已按个人信访事项转介，信访渠道说明{where}（不请居民评价；如需重新办理，请用 /reopen {number}）。"),
                            number=item.number, where=ctx.tr(where)))
    if not station.petition_office:
        lines.append(ctx.tr(_("提示：本站还没有设置信访部门的地址，说明中写的是「所在县（区）信访局」。"
                              "设置：/station set {code} petition_office <地址和接待时间>（管理员）。"), code=station.code))
    await ctx.reply("\n".join(lines), item_id=item.id)


async def _reporter_name(ctx: Context, item: Item) -> str:
    reporter = await ctx.session.get(Person, item.reporter_id)
    return reporter.display_name if reporter else ""


def _suggestion_deadline(ctx: Context, station: Station) -> datetime:
    """Three months from referral, the end of that local day, as aware UTC."""
    zone = ctx.zone(station)
    day = ctx.now().astimezone(zone).date() + relativedelta(months=SUGGESTION_MONTHS)
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(ctx.now().tzinfo)


async def _upward(ctx: Context, station: Station, item: Item, level: str, note: str) -> None:
    """Township: the township government handles it; county, city: a deputy suggestion to that level."""
    check_transition(ctx, item, "assign")
    if item.route == level and item.status in OPEN_STATUSES:
        raise ctx.error(_("事项 #{number} 已经是「{route}」，没有变化。"), number=item.number,
                        route=ctx.tr(ROUTE_LABELS[level]))
    tr = translator(ctx.language_for(station))
    what = {
        "township": _("转交乡镇人民政府（街道办事处）办理"),
        "county": _("整理为代表建议，报送县（区）人大常委会交有关部门办理"),
        "city": _("整理为代表建议，经市人大代表报送市人大常委会交有关部门办理"),
    }[level]
    item.route = level
    item.unit_id = None  # the township or the congress handles it now; a deputy who follows it up stays
    notice: list[str] = []
    days = await deadlines.default_days(session=ctx.session, station=station, tag=item.tag)
    if level == "township":
        due_by = await deadlines.compute(ctx, station, days)
        deadlines.apply(item, due_by, ctx.now())
        notice = due_by.notice
    else:
        item.due_at, item.due_set_at = _suggestion_deadline(ctx, station), ctx.now()
    due = local(ctx, station, item.due_at, "%Y-%m-%d")
    await items_repo.transition(session=ctx.session, item=item, to_status=ItemStatus.ASSIGNED, kind="routed",
                                actor_id=ctx.person.id, now=ctx.now(),
                                note=ctx.tr(what) + (f"：{note}" if note else ""))
    sequence = await items_repo.count_events(session=ctx.session, item_id=id_of(item), kind="routed")
    basis = (ctx.tr(_("{days} 个工作日"), days=days) if level == "township"
             else ctx.tr(_("自交办之日起三个月")))
    lines = [ctx.tr(_("事项 #{number} 已{what}，答复期限 {due}（{basis}）。收到答复后请用 /close {number} <答复内容> 登记，"
                      "答复会转告居民并请其评价。"), number=item.number, what=ctx.tr(what), due=due, basis=basis), *notice]
    if await visits.visitor_of(ctx, item) is None:
        await rating.notify_reporter(
            ctx, item, station, key=f"routed:item:{item.id}:{sequence}", purpose="routed",
            text=tr(_("{name}，您反映的事项 #{number}「{text}」已{what}。收到答复后会告诉您。"),
                    name=await _reporter_name(ctx, item), number=item.number, text=rating.short(item.text),
                    what=tr(what)),
        )
        lines.append(ctx.tr(_("已告知居民。")))
    await ctx.reply("\n".join(lines), item_id=item.id)


FEATURE = Feature(
    name="routing",
    commands=[
        Command("route", route_command, _("/route <编号> township|county|city|petition [说明]"),
                _("按属地分流：转乡镇、报县或市作为代表建议、个人信访转介信访部门")),
    ],
)
