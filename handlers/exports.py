"""/export: the station's registers (台账) as an Excel file in the chat.

`/export [register] [period] [full] [csv]`, in the staff chat or a private chat (never in a
residents group: a register is an office's record). Without a register, one workbook with all
five; a station with stations below it gets theirs too. The file is an outbox row like any
message (a document on Telegram, an `m.file` on Matrix, a file under ./exports/ on the console).
"""

from __future__ import annotations

from handlers.context import Context
from handlers.i18n import _, translator
from handlers.ledgers import ALIASES, LEDGERS, Ledger, Scope, filename, render
from handlers.people import require_station
from handlers.periods import PERIOD_HINT, Period, parse_period
from handlers.reception_parse import ParseError
from handlers.router import Command, Feature
from handlers.transport import Attachment, FileKind
from handlers.workbook import CSV_MIME, XLSX_MIME
from storage import reports as figures_repo

FULL = ("full", "完整", "全部信息")
CSV = ("csv",)
XLSX = ("xlsx", "excel")


def parse_export(ctx: Context, today_period: Period) -> tuple[list[Ledger], Period, bool, bool]:
    """(registers, period, full, csv) from the arguments, in any order."""
    station = require_station(ctx)
    today = ctx.now().astimezone(ctx.zone(station)).date()
    chosen: list[Ledger] = []
    period: Period | None = None
    full = csv = False
    for token in ctx.args:
        folded = token.lower()
        if folded in ALIASES:
            chosen.append(LEDGERS[ALIASES[folded]])
            continue
        if folded in FULL:
            full = True
            continue
        if folded in CSV or folded in XLSX:
            csv = folded in CSV
            continue
        try:
            found = parse_period(token, today)
        except ParseError as error:
            raise ctx.usage_error(error.msgid, **error.values) from None
        if found is None or period is not None:
            raise ctx.usage_error(_("不认识「{value}」。台账可以是 items（意见建议）、receptions（接待）、"
                                    "attendance（考勤）、deputies（履职档案）、summary（汇总）；{hint}"),
                                  value=token, hint=ctx.tr(PERIOD_HINT))
        period = found
    if len(chosen) > 1:
        raise ctx.usage_error(_("一次导出一种台账，或不写台账名导出全部五种。"))
    if csv and not chosen:
        raise ctx.usage_error(_("CSV 只能装一种台账，请写明台账名，例如 /export items csv。"))
    return chosen or list(LEDGERS.values()), period or today_period, full, csv


async def export_command(ctx: Context) -> None:
    station = require_station(ctx)
    if ctx.in_residents_chat:
        raise ctx.error(_("台账含有居民的个人信息，不能发在居民群。请在工作群或私聊机器人发送 /export。"))
    today = ctx.now().astimezone(ctx.zone(station)).date()
    ledgers, period, full, csv = parse_export(ctx, Period.month(today.year, today.month))
    tr = translator(ctx.language_for(station))
    tree = await figures_repo.station_tree(session=ctx.session, root_id=station.id)
    scope = Scope(session=ctx.session, stations=tree, period=period, now=ctx.now(), tr=tr, full=full)
    data, written = await render(ledgers, scope, csv=csv)
    name = filename(ledgers, scope, csv=csv)
    lines = [ctx.tr(_("{station} {period}台账："), station=station.name, period=period.label(ctx.tr))]
    lines += [ctx.tr(_("{title} {count} 行"), title=ctx.tr(ledger.title), count=written[ledger.name])
              for ledger in ledgers]
    if len(tree) > 1:
        lines.append(ctx.tr(_("含下级站点 {count} 个。"), count=len(tree) - 1))
    if any(ledger.name == "items" for ledger in ledgers):
        if full:
            lines.append(ctx.tr(_("这是完整台账，含居民姓名和联系方式，请妥善保管，不要转发到居民群。")))
        else:
            lines.append(ctx.tr(_("提出人只显示姓氏，内容中的电话、证件号等已隐去；完整台账请发送 /export items {period} full。"),
                                period=period.key))
    await ctx.reply("\n".join(lines), purpose="export", attachment=Attachment(
        kind=FileKind.DOCUMENT, filename=name, mime=CSV_MIME if csv else XLSX_MIME, data=data,
    ))


FEATURE = Feature(
    name="exports",
    commands=[
        Command("export", export_command, _("/export [items|receptions|attendance|deputies|summary] [时间] [full] [csv]"),
                _("导出台账（Excel）：意见建议、接待、考勤、履职档案、统计汇总")),
    ],
)
