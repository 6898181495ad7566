"""Categories (类别): `/tag <n> <category>` files an item under one of the station's categories,
`/categories [add|remove <category…> | reset]` keeps the list (default: 交通出行, 环境卫生, 物业管理,
社会保障, 教育医疗, 城乡建设, 治安安全, 其他). /stats and the items register count by them.

A category is bookkeeping, not a step of handling: an item of any status may be (re)filed, and
each filing is an event in its history.
"""

from __future__ import annotations

import unicodedata

from handlers.args import to_id
from handlers.context import Context
from handlers.i18n import _, fold_chinese
from handlers.items import load_item, parse_number
from handlers.people import require_station
from handlers.router import Command, Feature
from storage import items as items_repo
from storage.models import DEFAULT_CATEGORIES, Station

MAX_CATEGORY = 20
MAX_CATEGORIES = 30


def categories_of(station: Station) -> list[str]:
    return list(station.categories) if station.categories else list(DEFAULT_CATEGORIES)


def _folded(name: str) -> str:
    return fold_chinese(unicodedata.normalize("NFKC", name)).strip().lower()


def find_category(station: Station, name: str) -> str | None:
    """The station's category `name` means (simplified or traditional, fullwidth or not)."""
    wanted = _folded(name.lstrip("#＃"))
    return next((category for category in categories_of(station) if _folded(category) == wanted), None)


async def tag_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) != 2:
        raise ctx.usage_error()
    number = parse_number(ctx)
    category = find_category(station, ctx.args[1])
    if category is None:
        raise ctx.usage_error(_("「{value}」不是本站的类别。本站的类别：{categories}（联络员可用 /categories add 增加）。"),
                              value=ctx.args[1], categories="、".join(categories_of(station)))
    item = await load_item(ctx, station, number)
    if item.category == category:
        raise ctx.error(_("事项 #{number} 已经归入「{category}」，没有变化。"), number=item.number, category=category)
    previous = item.category
    item.category = category
    item.updated_at = ctx.now()
    ctx.session.add(item)
    items_repo.add_event(session=ctx.session, item=item, actor_id=ctx.person.id, kind="categorized",
                         from_status=item.status, to_status=item.status, note=category, now=ctx.now())
    if previous:
        text = ctx.tr(_("已把事项 #{number} 从「{previous}」改归「{category}」。"), number=item.number,
                      previous=previous, category=category)
    else:
        text = ctx.tr(_("已把事项 #{number} 归入「{category}」。"), number=item.number, category=category)
    await ctx.reply(text, item_id=item.id)


async def categories_command(ctx: Context) -> None:
    station = require_station(ctx)
    current = categories_of(station)
    action = ctx.args[0].lower() if ctx.args else ""
    values = [value.lstrip("#＃") for value in ctx.args[1:]]
    if not ctx.args:
        await ctx.reply(_listing(ctx, current))
        return
    if action in ("add", "添加") and values:
        for value in values:
            _check_name(ctx, value)
        fresh = [value for value in dict.fromkeys(values) if find_category(station, value) is None]
        if not fresh:
            raise ctx.error(_("这些类别本站已经有了，没有变化。"))
        if len(current) + len(fresh) > MAX_CATEGORIES:
            raise ctx.error(_("类别最多 {max} 个。"), max=MAX_CATEGORIES)
        updated = [*current, *fresh]
    elif action in ("remove", "删除") and values:
        unknown = [value for value in values if find_category(station, value) is None]
        if unknown:
            raise ctx.error(_("本站没有类别「{value}」。本站的类别：{categories}"), value="、".join(unknown),
                            categories="、".join(current))
        dropped = {find_category(station, value) for value in values}
        updated = [category for category in current if category not in dropped]
        if not updated:
            raise ctx.error(_("至少要保留一个类别。"))
    elif action in ("reset", "重置") and not values:
        updated = list(DEFAULT_CATEGORIES)
    else:
        raise ctx.usage_error()
    station.categories = None if updated == DEFAULT_CATEGORIES else updated
    ctx.session.add(station)
    lines = [_listing(ctx, updated)]
    if action in ("remove", "删除"):
        lines.append(ctx.tr(_("已归入被删除类别的事项保留原类别，可用 /tag <编号> <类别> 改归。")))
    await ctx.reply("\n".join(lines))


def _listing(ctx: Context, categories: list[str]) -> str:
    return ctx.tr(_("本站的类别：{categories}\n归类：/tag <编号> <类别>"), categories="、".join(categories))


def _check_name(ctx: Context, name: str) -> None:
    if not name or len(name) > MAX_CATEGORY or name[0] in "@/!！" or to_id(name) is not None:
        raise ctx.usage_error(_("「{name}」不能作为类别：类别最长 {max} 个字，不能是数字，也不能以 @ 开头，例如 养老服务。"),
                              name=name[:30], max=MAX_CATEGORY)


FEATURE = Feature(
    name="categories",
    commands=[
        Command("tag", tag_command, _("/tag <编号> <类别>"), _("给事项归类（用于统计和台账）")),
        Command("categories", categories_command, _("/categories [add|remove <类别…> | reset]"),
                _("查看或设置本站的事项类别")),
    ],
)
