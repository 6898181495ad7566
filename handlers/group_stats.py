"""/stats by unit and by category: the figures of `storage.reports.item_figures` (definitions
unchanged) grouped by the items' handling unit (承办单位) or category (类别) instead of by station."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.categories import categories_of
from handlers.i18n import Translator, _
from handlers.periods import Period
from storage import reports as figures_repo
from storage import units as units_repo
from storage.models import Station
from storage.reports import ItemFigures, Span, StationNode

GROUPS = {
    "unit": "unit", "units": "unit", "单位": "unit", "承办单位": "unit", "按单位": "unit", "按承办单位": "unit",
    "category": "category", "categories": "category", "类别": "category", "按类别": "category",
}


def percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


def group_line(tr: Translator, items: ItemFigures) -> str:
    if not (items.received or items.resolved or items.open or items.rated or items.rejected):
        return tr(_("本期没有事项"))
    return tr(_("受理 {received} 件，办结 {resolved} 件（按时 {on_time} 件），不予受理 {rejected} 件，"
                "办理中 {open} 件（超期 {overdue} 件），满意率 {satisfaction}"),
              received=items.received, resolved=items.resolved, on_time=items.on_time, rejected=items.rejected,
              open=items.open, overdue=items.overdue, satisfaction=percent(items.content, items.rated))


async def group_report(session: AsyncSession, tr: Translator, stations: list[StationNode], period: Period,
                       now: datetime, grouping: str) -> list[str]:
    """One line per unit (every active unit of the stations, and any that had items) or per category
    (the station's list, and any other found), then the items with none."""
    found = await figures_repo.item_figures(session=session, stations=stations, span=Span(period.start, period.end, now),
                                            grouping=grouping)
    per_key: dict[Any, ItemFigures] = {}
    for (_station, key), figures in found.items():
        per_key.setdefault(key, ItemFigures()).add(figures)
    label = period.label(tr)
    root = stations[0]
    if grouping == "unit":
        lines = [tr(_("{station} {period}各承办单位办理情况："), station=root.name, period=label)]
        names: dict[Any, str] = {}
        for node in stations:
            for unit in await units_repo.active_units(session=session, station_id=node.id):
                names[unit.id] = unit.name + (f"（{node.name}）" if len(stations) > 1 else "")
        missing = [key for key in per_key if key is not None and key not in names]
        names.update(await units_repo.unit_names(session=session, unit_ids=missing))
        none_label = tr(_("未交承办单位"))
    else:
        lines = [tr(_("{station} {period}按类别统计："), station=root.name, period=label)]
        station = await session.get(Station, root.id)
        listed = categories_of(station) if station is not None else []
        names = {name: name for name in [*listed, *sorted(key for key in per_key if key is not None and key not in listed)]}
        none_label = tr(_("未归类"))
    for key, name in names.items():
        lines.append(f"· {name}：" + group_line(tr, per_key.get(key, ItemFigures())))
    if None in per_key:
        lines.append(f"· {none_label}：" + group_line(tr, per_key[None]))
    if len(lines) == 1:
        lines.append(tr(_("本期没有事项。")))
    return lines
