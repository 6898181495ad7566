"""Stations and chats: /station, /stations, /bind, /unbind, /tags, /language, and chat life events."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from handlers import deadlines, outbox
from handlers.args import to_int
from handlers.context import CommandError, Context
from handlers.events import EventKind
from handlers.i18n import LANGUAGES, _, fold_chinese, translator
from handlers.people import require_station
from handlers.router import ChatScope, Command, Feature
from storage import stations as stations_repo
from storage.models import DEFAULT_TAGS, ChatPurpose, Station, StationLevel
from storage.rows import id_of

LEVELS: dict[str, StationLevel] = {
    "home": StationLevel.HOME, "家": StationLevel.HOME, "代表之家": StationLevel.HOME,
    "station": StationLevel.STATION, "站": StationLevel.STATION, "联络站": StationLevel.STATION,
    "room": StationLevel.ROOM, "室": StationLevel.ROOM, "联络室": StationLevel.ROOM,
    "professional": StationLevel.PROFESSIONAL, "专业": StationLevel.PROFESSIONAL,
    "专业站": StationLevel.PROFESSIONAL,
}
LEVEL_LABELS = {
    StationLevel.HOME: _("代表之家"),
    StationLevel.STATION: _("代表联络站"),
    StationLevel.ROOM: _("代表联络室"),
    StationLevel.PROFESSIONAL: _("专业代表工作站"),
}
PURPOSES: dict[str, ChatPurpose] = {
    "residents": ChatPurpose.RESIDENTS, "居民": ChatPurpose.RESIDENTS, "群众": ChatPurpose.RESIDENTS,
    "staff": ChatPurpose.STAFF, "工作": ChatPurpose.STAFF, "工作群": ChatPurpose.STAFF,
}
PURPOSE_LABELS = {ChatPurpose.RESIDENTS: _("居民群"), ChatPurpose.STAFF: _("工作群")}
CONFIRM_WORDS = ("confirm", "确认")
CODE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def parse_level(token: str) -> tuple[StationLevel, str | None] | None:
    """`station`, `室`, or `professional:卫生` / `专业:法律` (a professional station's field)."""
    head, _sep, specialty = token.partition(":")
    level = LEVELS.get(fold_chinese(head).lower())
    if level is None:
        return None
    if specialty and level is not StationLevel.PROFESSIONAL:
        return None
    return level, specialty or None


async def station_command(ctx: Context) -> None:
    sub = ctx.args[0] if ctx.args else ""
    if sub in ("add", "添加"):
        await _station_add(ctx)
    elif sub in ("list", "列表"):
        await stations_command(ctx)
    elif sub in ("set", "设置"):
        await _station_set(ctx)
    else:
        raise ctx.usage_error()


async def _station_add(ctx: Context) -> None:
    if not 3 <= len(ctx.args) <= 5:
        raise ctx.usage_error()
    code, name = ctx.args[1], ctx.args[2]
    if not set(code) <= CODE_CHARS or len(code) > 64:
        raise ctx.usage_error(_("站点代码「{code}」只能由字母、数字、- 和 _ 组成。"), code=code)
    level, specialty = StationLevel.STATION, None
    if len(ctx.args) >= 4:
        parsed = parse_level(ctx.args[3])
        if parsed is None:
            raise ctx.usage_error(
                _("不认识的站点层级「{level}」，应为 家/站/室/专业:领域（home/station/room/professional:field）。"),
                level=ctx.args[3],
            )
        level, specialty = parsed
    parent: Station | None = None
    if len(ctx.args) == 5:
        parent = await stations_repo.get_station_by_code(session=ctx.session, code=ctx.args[4])
        if parent is None:
            raise ctx.error(_("没有代码为 {code} 的上级联络站。"), code=ctx.args[4])
    if await stations_repo.get_station_by_code(session=ctx.session, code=code) is not None:
        raise ctx.error(_("代码 {code} 已被使用，请换一个。"), code=code)
    station = await stations_repo.create_station(
        session=ctx.session,
        station=Station(
            code=code, name=name, level=level, specialty=specialty,
            parent_id=parent.id if parent else None, timezone=ctx.config.timezone,
            tags=list(DEFAULT_TAGS), created_at=ctx.now(),
        ),
    )
    await ctx.reply(ctx.tr(
        _("已创建{level}「{name}」（代码 {code}）。在群里发送 /bind {code} 把群绑定到本站。"),
        level=ctx.tr(LEVEL_LABELS[StationLevel(station.level)]), name=name, code=code,
    ))


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA zone name the bot can load. Looked up in the list, never opened by name: an
    over-long or odd value would make `ZoneInfo` fail with an OSError from the file system."""
    return name in _time_zones()


PETITION_OFFICE_KEYS = ("petition_office", "信访地址")


async def _station_set(ctx: Context) -> None:
    free_text = len(ctx.args) > 4 and ctx.args[2] in PETITION_OFFICE_KEYS  # an address has spaces
    if len(ctx.args) != 4 and not free_text:
        raise ctx.usage_error()
    station = await stations_repo.get_station_by_code(session=ctx.session, code=ctx.args[1])
    if station is None:
        raise ctx.error(_("没有代码为 {code} 的联络站。"), code=ctx.args[1])
    key, value = ctx.args[2], ctx.rest(3) if free_text else ctx.args[3]
    if key in ("timezone", "时区"):
        if not is_time_zone(value):
            raise ctx.usage_error(_("「{zone}」不是时区名称，例如 Asia/Shanghai。"), zone=value)
        station.timezone = value
    elif key in ("name", "名称"):
        station.name = value
    elif key in ("language", "语言"):
        station.language = _parse_language(ctx, value)
    elif key in ("flood", "限流"):
        limit = to_int(value, low=0, high=100)
        if limit is None:
            raise ctx.usage_error(_("「{value}」不对：每人每分钟逐条答复的条数应为 0 到 100（0 为不限）。"), value=value)
        station.acks_per_minute = limit
    elif key in PETITION_OFFICE_KEYS:
        if len(value) > 300:
            raise ctx.usage_error(_("信访部门的地址最长 300 个字。"))
        station.petition_office = value
    else:
        raise ctx.usage_error(_("可设置的项目：timezone、name、language、flood、petition_office（信访部门地址）。"))
    ctx.session.add(station)
    await ctx.reply(ctx.tr(_("已更新 {code} 的设置：{key} = {value}。"), code=station.code, key=key, value=value))


async def stations_command(ctx: Context) -> None:
    stations = await stations_repo.list_stations(session=ctx.session)
    if not stations:
        await ctx.reply(ctx.tr(_("还没有联络站。管理员可用 /station add <代码> <名称> 创建。")))
        return
    lines = [ctx.tr(_("联络站："))]
    for station in stations:
        label = ctx.tr(LEVEL_LABELS[StationLevel(station.level)])
        if station.specialty:
            label += f"·{station.specialty}"
        lines.append(f"{station.code}  {station.name}（{label}）")
    await ctx.reply("\n".join(lines))


async def bind_command(ctx: Context) -> None:
    if not 1 <= len(ctx.args) <= 3:
        raise ctx.usage_error()
    station = ctx.station
    assert station is not None  # resolved from the code argument by the router
    purpose = ChatPurpose.RESIDENTS
    if len(ctx.args) >= 2:
        parsed = PURPOSES.get(fold_chinese(ctx.args[1]).lower())
        if parsed is None:
            raise ctx.usage_error(_("群的用途应为 residents（居民群）或 staff（工作群），而不是「{value}」。"),
                                  value=ctx.args[1])
        purpose = parsed
    confirmed = len(ctx.args) == 3
    if confirmed and ctx.args[2].lower() not in CONFIRM_WORDS:
        raise ctx.usage_error(_("第三个参数只能是 confirm（确认），而不是「{value}」。"), value=ctx.args[2])
    current = ctx.binding
    if (purpose is ChatPurpose.STAFF and not confirmed and current is not None and current.active
            and current.purpose == ChatPurpose.RESIDENTS):
        # A staff chat sees names, phone numbers and chasers: never made of a residents group by a slip.
        bound = await ctx.session.get(Station, current.station_id)
        what = (ctx.tr(_("本群目前是本站的居民群，没有改动。改为工作群后，")) if current.station_id == station.id
                else ctx.tr(_("本群目前是「{current}」的居民群，没有改动。改为「{station}」的工作群后，"),
                            current=bound.name if bound else current.station_id, station=station.name))
        raise CommandError(what + ctx.tr(_("催办、请假、出勤等工作消息会发到本群，居民的姓名、电话、证件号等个人信息在本群不再隐去，"
                                           "居民在本群发的 #建议 也不再登记为事项。如确认本群只有工作人员，请发送 /bind {code} staff confirm。"),
                                         code=station.code))
    binding = await stations_repo.bind_chat(
        session=ctx.session, platform=ctx.incoming.platform, chat_id=ctx.incoming.chat_id,
        station_id=id_of(station), purpose=purpose, title=ctx.incoming.chat_title, now=ctx.now(),
    )
    ctx.binding = binding
    tr = translator(ctx.language_for(station))
    lines = [tr(_("本群已绑定到「{station}」，用途：{purpose}。"), station=station.name,
                purpose=tr(PURPOSE_LABELS[purpose]))]
    if purpose is ChatPurpose.RESIDENTS:
        tags = " ".join(f"#{tag}" for tag in station.tags[:5])
        lines.append(tr(_("居民发送带标签的消息（{tags}）即可提出意见建议，我会登记编号并跟踪办理。"), tags=tags))
        if ctx.incoming.platform_notes.get("privacy_mode") == "on":
            lines.append(tr(_(
                "注意：我现在看不到群里的普通消息（隐私模式已开启），只能收到命令。"
                "请在 BotFather 中发送 /setprivacy 选择本机器人并设为 Disable，然后把我移出群再重新加入；"
                "或者把我设为本群管理员。"
            )))
    await ctx.reply("\n".join(lines))


async def unbind_command(ctx: Context) -> None:
    if ctx.args:
        raise ctx.usage_error()
    binding = ctx.binding
    if binding is None or not binding.active:
        raise ctx.error(_("这个群没有绑定联络站，无需解绑。"))
    station = require_station(ctx)
    binding.active = False
    binding.updated_at = ctx.now()
    ctx.session.add(binding)
    await ctx.reply(ctx.tr(_("本群已与「{station}」解除绑定。已登记的事项不受影响。"), station=station.name))


async def tags_command(ctx: Context) -> None:
    station = require_station(ctx)
    if not ctx.args:
        await ctx.reply(ctx.tr(_("本站的标签：{tags}"), tags=" ".join(f"#{tag}" for tag in station.tags)))
        return
    action, values = ctx.args[0], [value.lstrip("#＃") for value in ctx.args[1:]]
    if action in ("add", "添加") and values:
        station.tags = list(dict.fromkeys([*station.tags, *values]))
    elif action in ("remove", "删除") and values:
        remaining = [tag for tag in station.tags if tag not in values]
        if not remaining:
            raise ctx.error(_("至少要保留一个标签。"))
        station.tags = remaining
    elif action in ("reset", "重置") and not values:
        station.tags = list(DEFAULT_TAGS)
    elif action in ("days", "时限"):
        await deadlines.tags_days(ctx, station, values)
        return
    else:
        raise ctx.usage_error()
    ctx.session.add(station)
    await ctx.reply(ctx.tr(_("本站的标签：{tags}"), tags=" ".join(f"#{tag}" for tag in station.tags)))


def _parse_language(ctx: Context, value: str) -> str:
    normalized = value.replace("-", "_").lower()
    aliases = {"zh": "zh_CN", "zh_cn": "zh_CN", "zh_hans": "zh_CN", "简体": "zh_CN", "zh_tw": "zh_TW",
               "zh_hant": "zh_TW", "繁體": "zh_TW", "繁体": "zh_TW", "en": "en", "english": "en"}
    language = aliases.get(normalized)
    if language not in LANGUAGES:
        raise ctx.usage_error(_("不支持的语言「{value}」，可选 zh_CN、zh_TW、en。"), value=value)
    return language


async def language_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) != 1:
        raise ctx.usage_error()
    station.language = _parse_language(ctx, ctx.args[0])
    ctx.session.add(station)
    await ctx.reply(translator(station.language)(_("本站的语言已设为简体中文。")))


async def on_chat_event(ctx: Context) -> bool:
    """The bot removed from a chat, or a chat that moved to a new id (supergroup, room upgrade)."""
    incoming = ctx.incoming
    if incoming.kind is EventKind.CHAT_MIGRATED and incoming.new_chat_id:
        await stations_repo.move_chat(
            session=ctx.session, platform=incoming.platform, old_chat_id=incoming.chat_id,
            new_chat_id=incoming.new_chat_id, now=ctx.now(),
        )
        return True
    if incoming.kind is EventKind.BOT_ADDED:
        if incoming.is_private or (ctx.binding is not None and ctx.binding.active):
            return True
        await ctx.reply(ctx.tr(_(
            "您好！我是人大代表联络站的助手。请管理员或联络员在本群发送 /bind <站点代码> 把本群绑定到联络站"
            "（工作群发送 /bind <站点代码> staff）。绑定后，居民发送「#建议 内容」即可提出意见建议。"
        )), purpose="welcome")
        return True
    if incoming.kind is EventKind.BOT_REMOVED:
        binding = ctx.binding
        if binding is None or not binding.active:
            return True
        binding.active = False
        binding.updated_at = ctx.now()
        ctx.session.add(binding)
        station = await ctx.session.get(Station, binding.station_id)
        if station is None:
            return True
        tr = translator(ctx.language_for(station))
        text = tr(_("机器人已被移出「{title}」（{purpose}），该群的绑定已停用。如需恢复，请把机器人加回群里并重新发送 /bind {code}。"),
                  title=binding.title or binding.chat_id, purpose=tr(PURPOSE_LABELS[ChatPurpose(binding.purpose)]),
                  code=station.code)
        for staff in await stations_repo.bindings_of(session=ctx.session, station_id=id_of(station),
                                                     purpose=ChatPurpose.STAFF):
            await outbox.to_chat(
                session=ctx.session, key=f"removed:{binding.id}:{int(ctx.now().timestamp())}:chat:{staff.id}",
                purpose="bot_removed", platform=staff.platform, chat_id=staff.chat_id, text=text, now=ctx.now(),
                station_id=station.id, private=True,
            )
        return True
    return False


FEATURE = Feature(
    name="stations",
    commands=[
        Command("station", station_command, _("/station add <代码> <名称> [家|站|室|专业:领域] [上级代码] | /station list | "
                                              "/station set <代码> timezone|name|language|flood|petition_office <值>"), _("创建和设置联络站")),
        Command("stations", stations_command, _("/stations"), _("列出所有联络站")),
        Command("bind", bind_command, _("/bind <站点代码> [residents|staff] [confirm]"), _("把本群绑定到联络站"), station_arg=0,
                scope=ChatScope.GROUP),
        Command("unbind", unbind_command, _("/unbind"), _("解除本群的绑定"), scope=ChatScope.GROUP),
        Command("tags", tags_command, _("/tags [add|remove <标签…> | reset | days [<标签> <天数>]]"),
                _("查看或设置本站的标签和各标签的默认办理时限")),
        Command("language", language_command, _("/language zh_CN|zh_TW|en"), _("设置本站的语言")),
    ],
    on_chat_event=on_chat_event,
)
