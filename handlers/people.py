"""People and roles: /deputy, /deputies, /liaison, /head, /whoami, /start, /use.

Users are named by mention, by platform id (`telegram:123456`, `@li:example.org`, a console
name), or by a username the bot has already seen; roles hang on the person, not the account.
"""

from __future__ import annotations

import re

from handlers import delivery, rating
from handlers import reception_notify as notify
from handlers.context import Context
from handlers.delivery import CHOSEN_STATION_KEY, LINK_CODE_KEY
from handlers.events import UserRef
from handlers.i18n import _, fold_chinese, translator
from handlers.router import ChatScope, Command, Feature
from storage import items as items_repo
from storage import kv
from storage import people as people_repo
from storage import receptions as receptions_repo
from storage import stations as stations_repo
from storage.models import OPEN_STATUSES, Account, CongressLevel, Person, RoleName, Station
from storage.rows import id_of

# What a bare platform id looks like, so an account can be created for someone who has not spoken yet.
USER_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "telegram": re.compile(r"^\d{3,20}$"),
    "matrix": re.compile(r"^@[^:\s]+:\S+$"),
    "console": re.compile(r"^[\w.\-]{1,64}$"),
}
DEFAULT_USER_ID_PATTERN = re.compile(r"^[\w.\-@:]{1,128}$")

CONGRESS_LEVELS: dict[str, CongressLevel] = {
    "national": CongressLevel.NATIONAL, "全国": CongressLevel.NATIONAL, "国家": CongressLevel.NATIONAL,
    "provincial": CongressLevel.PROVINCIAL, "省": CongressLevel.PROVINCIAL, "省级": CongressLevel.PROVINCIAL,
    "city": CongressLevel.CITY, "市": CongressLevel.CITY, "市级": CongressLevel.CITY,
    "county": CongressLevel.COUNTY, "县": CongressLevel.COUNTY, "区": CongressLevel.COUNTY,
    "县级": CongressLevel.COUNTY, "区级": CongressLevel.COUNTY,
    "township": CongressLevel.TOWNSHIP, "乡": CongressLevel.TOWNSHIP, "镇": CongressLevel.TOWNSHIP,
    "乡镇": CongressLevel.TOWNSHIP, "街道": CongressLevel.TOWNSHIP,
}

ROLE_NAMES = {
    RoleName.ADMIN: _("管理员"),
    RoleName.HEAD: _("站长"),
    RoleName.LIAISON: _("联络员"),
    RoleName.DEPUTY: _("代表"),
    RoleName.UNIT_CONTACT: _("承办单位联系人"),
}
LEVEL_NAMES = {
    CongressLevel.NATIONAL: _("全国人大代表"),
    CongressLevel.PROVINCIAL: _("省人大代表"),
    CongressLevel.CITY: _("市人大代表"),
    CongressLevel.COUNTY: _("县（区）人大代表"),
    CongressLevel.TOWNSHIP: _("乡镇（街道）人大代表"),
}


def _matches(ref: UserRef, token: str) -> bool:
    bare = token.lstrip("@")
    candidates = {ref.user_id, ref.user_id.lstrip("@")}
    if ref.username:
        candidates.add(ref.username.lstrip("@"))
    if ref.display_name:
        candidates.add(ref.display_name)
    return token in candidates or bare in candidates


async def resolve_user(ctx: Context, token: str) -> Account:
    """The account a command argument names; a clear error when it names nobody."""
    now = ctx.now()
    for ref in ctx.incoming.mentions:
        if _matches(ref, token):
            return await people_repo.ensure_account(
                session=ctx.session, platform=ref.platform, user_id=ref.user_id,
                display_name=ref.display_name, username=ref.username, now=now, touch=False,
            )
    platform = ctx.incoming.platform
    prefix, sep, rest = token.partition(":")
    if sep and prefix in USER_ID_PATTERNS and rest:
        platform, token = prefix, rest
    # `@li` names the console user `li`; `@li:example.org` is a whole Matrix id.
    candidates = list(dict.fromkeys([token.removeprefix("@"), token]))
    for candidate in candidates:
        existing = await people_repo.get_account(session=ctx.session, platform=platform, user_id=candidate)
        if existing is not None:
            return existing
    by_username = await people_repo.find_accounts_by_username(
        session=ctx.session, platform=platform, username=token.lstrip("@")
    )
    if len(by_username) == 1:
        return by_username[0]
    pattern = USER_ID_PATTERNS.get(platform, DEFAULT_USER_ID_PATTERN)
    for candidate in candidates:
        if pattern.match(candidate):
            return await people_repo.ensure_account(
                session=ctx.session, platform=platform, user_id=candidate, display_name=None, now=now, touch=False
            )
    raise ctx.error(
        _("找不到用户 {user}。请用 @提及 对方、填写平台 ID，或请对方先在群里发一条消息。"), user=token
    )


def require_station(ctx: Context) -> Station:
    if ctx.station is None:
        if ctx.incoming.is_private:
            raise ctx.error(_("请先用 /use <站点代码> 选择要操作的联络站，或在联络站的群里发送此命令。"))
        raise ctx.error(_("这个群还没有绑定联络站。请先发送 /bind <站点代码>。"))
    return ctx.station


async def person_name(ctx: Context, person_id: int | None) -> str:
    if person_id is None:
        return ctx.tr(_("（无）"))
    person = await ctx.session.get(Person, person_id)
    return person.display_name if person else str(person_id)


async def _role_command(ctx: Context, role: RoleName) -> None:
    station = require_station(ctx)
    if len(ctx.args) < 2 or ctx.args[0] not in ("add", "remove", "添加", "删除"):
        raise ctx.usage_error()
    adding = ctx.args[0] in ("add", "添加")
    level: CongressLevel | None = None
    if role is RoleName.DEPUTY and adding and len(ctx.args) >= 3:
        level = CONGRESS_LEVELS.get(fold_chinese(ctx.args[2]).lower())
        if level is None:
            raise ctx.usage_error(
                _("不认识的代表层级「{level}」，应为 national/provincial/city/county/township（全国/省/市/县/乡镇）。"),
                level=ctx.args[2],
            )
    if len(ctx.args) > (3 if role is RoleName.DEPUTY else 2):
        raise ctx.usage_error()
    account = await resolve_user(ctx, ctx.args[1])
    name = await person_name(ctx, account.person_id)
    role_name = ctx.tr(ROLE_NAMES[role])
    if adding:
        _row, changed = await people_repo.grant_role(
            session=ctx.session, person_id=account.person_id, station_id=station.id, role=role,
            now=ctx.now(), congress_level=level,
        )
        text = _("已将 {name} 设为 {station} 的{role}。") if changed else _("{name} 已经是 {station} 的{role}。")
    else:
        changed = await people_repo.revoke_role(
            session=ctx.session, person_id=account.person_id, station_id=station.id, role=role
        )
        if not changed:
            raise ctx.error(_("{name} 不是 {station} 的{role}，没有变化。"), name=name, station=station.name,
                            role=role_name)
        text = _("已取消 {name} 在 {station} 的{role}身份。")
        if role is RoleName.DEPUTY:
            handover = await _hand_over(ctx, station, account.person_id, name)
            if handover:
                answer = "\n".join([ctx.tr(text, name=name, station=station.name, role=role_name), *handover])
                await delivery.answer_privately(ctx, answer)
                return
    await ctx.reply(ctx.tr(text, name=name, station=station.name, role=role_name))


async def _hand_over(ctx: Context, station: Station, person_id: int, name: str) -> list[str]:
    """A deputy leaves the station: off the rosters of receptions to come (told if they were told
    of them; residents hear of the new roster as usual), and the staff get the open items and the
    duties with the commands to hand them over."""
    tr = ctx.tr
    lines: list[str] = []
    open_items = await items_repo.list_items(session=ctx.session, station_id=station.id, assignee_id=person_id,
                                             statuses=list(OPEN_STATUSES))
    if open_items:
        lines.append(tr(_("{name} 还有 {count} 件未办结的事项，请重新分派："), name=name, count=len(open_items)))
        for item in open_items:
            due = (tr(_("（截止 {due}）"), due=item.due_at.astimezone(ctx.zone(station)).strftime("%m-%d"))
                   if item.due_at else "")
            lines.append(f"  #{item.number} {rating.short(item.text, 30)}{due}：/assign {item.number} <{tr(_('代表'))}>")
    removed = []
    station_tr = translator(station.language or ctx.config.language)
    for reception in await receptions_repo.upcoming(session=ctx.session, station_id=id_of(station), now=ctx.now()):
        if reception.starts_at <= ctx.now():
            continue  # under way: its sign-in and attendance stay as they are
        duty = await receptions_repo.get_duty(session=ctx.session, reception_id=id_of(reception), person_id=person_id)
        if duty is None or not duty.on_duty:
            continue
        if duty.told:
            await notify.removed(ctx.session, station_tr, station, reception, duty, ctx.now())
        await ctx.session.delete(duty)
        removed.append(reception)
    if removed:
        await ctx.session.flush()
        lines.append(tr(_("已把 {name} 从之后 {count} 场接待日的值班名单中移除（已通知居民的，会发布调整后的名单）："),
                        name=name, count=len(removed)))
        for reception in removed:
            roster = await notify.roster_text(
                ctx.session, tr, await receptions_repo.duties_of(session=ctx.session, reception_id=id_of(reception))
            )
            lines.append("  " + tr(_("#{id} {when}，现在值班：{roster}；可用 /duty {id} +<代表> 补充。"), id=reception.id,
                                   when=notify.fmt_when(tr, reception), roster=roster))
    return lines


async def deputy_command(ctx: Context) -> None:
    await _role_command(ctx, RoleName.DEPUTY)


async def liaison_command(ctx: Context) -> None:
    await _role_command(ctx, RoleName.LIAISON)


async def head_command(ctx: Context) -> None:
    station = require_station(ctx)
    if len(ctx.args) != 2 or ctx.args[0] not in ("set", "设置"):
        raise ctx.usage_error()
    account = await resolve_user(ctx, ctx.args[1])
    for previous in await people_repo.people_with_role(session=ctx.session, station_id=id_of(station),
                                                       role=RoleName.HEAD):
        if previous.id != account.person_id:
            await people_repo.revoke_role(session=ctx.session, person_id=id_of(previous),
                                          station_id=station.id, role=RoleName.HEAD)
    await people_repo.grant_role(session=ctx.session, person_id=account.person_id, station_id=station.id,
                                 role=RoleName.HEAD, now=ctx.now())
    name = await person_name(ctx, account.person_id)
    await ctx.reply(ctx.tr(_("已将 {name} 设为 {station} 的站长。"), name=name, station=station.name))


async def deputies_command(ctx: Context) -> None:
    station = require_station(ctx)
    lines = [ctx.tr(_("{station} 的代表和工作人员："), station=station.name)]
    for role in (RoleName.HEAD, RoleName.LIAISON, RoleName.DEPUTY):
        people = await people_repo.people_with_role(session=ctx.session, station_id=id_of(station), role=role)
        names = "、".join(person.display_name for person in people) or ctx.tr(_("（无）"))
        lines.append(f"{ctx.tr(ROLE_NAMES[role])}：{names}")
    await ctx.reply("\n".join(lines))


async def whoami_command(ctx: Context) -> None:
    lines = [ctx.tr(_("您是 {name}（{account}）。"), name=ctx.person.display_name,
                    account=f"{ctx.account.platform}:{ctx.account.user_id}")]
    if ctx.is_admin:
        lines.append(ctx.tr(_("您是管理员。")))
    for role in ctx.roles:
        if role.station_id is None:
            continue
        station = await ctx.session.get(Station, role.station_id)
        label = ctx.tr(ROLE_NAMES[RoleName(role.role)])
        if role.congress_level:
            label += f"（{ctx.tr(LEVEL_NAMES[CongressLevel(role.congress_level)])}）"
        lines.append(f"{station.name if station else role.station_id}（{station.code if station else ''}）：{label}")
    if len(lines) == 1 and not ctx.is_admin:
        lines.append(ctx.tr(_("您在联络站没有职务。在居民群里发送 #建议 加内容即可提出意见建议。")))
    if ctx.station is not None:
        lines.append(ctx.tr(_("当前联络站：{station}（{code}）"), station=ctx.station.name, code=ctx.station.code))
    await ctx.reply("\n".join(lines))


async def start_command(ctx: Context) -> None:
    """`/start` greets; `/start CODE` (a Telegram deep link) links this account to a known person."""
    if ctx.args:
        person_id = await kv.get_value(session=ctx.session, key=LINK_CODE_KEY.format(code=ctx.args[0]))
        if person_id is None:
            raise ctx.error(_("这个链接无效或已过期。请向联络员索取新的链接。"))
        target = await ctx.session.get(Person, int(person_id))
        if target is None:
            raise ctx.error(_("这个链接无效或已过期。请向联络员索取新的链接。"))
        ctx.account.person_id = id_of(target)
        ctx.account.dm_blocked = False
        ctx.session.add(ctx.account)
        await ctx.reply(ctx.tr(_("您好，{name}！您的账号已关联，今后的提醒会发到这里。"), name=target.display_name))
        return
    if ctx.account.dm_blocked:
        ctx.account.dm_blocked = False
        ctx.session.add(ctx.account)
    await ctx.reply(ctx.tr(_(
        "您好！我是人大代表联络站的助手。\n"
        "居民：在居民群里发送「#建议 内容」（也可用 #意见 #求助 #反映 #投诉）即可提出意见建议，我会登记编号并在办结后回复您。\n"
        "发送 /help 查看您可以使用的命令。"
    )))


async def use_command(ctx: Context) -> None:
    if len(ctx.args) != 1:
        raise ctx.usage_error()
    station = await stations_repo.get_station_by_code(session=ctx.session, code=ctx.args[0])
    if station is None:
        raise ctx.error(_("没有代码为 {code} 的联络站。"), code=ctx.args[0])
    await kv.set_value(session=ctx.session, key=CHOSEN_STATION_KEY.format(person_id=ctx.person.id),
                       value=station.code, now=ctx.now())
    await ctx.reply(ctx.tr(_("私聊中的命令今后作用于 {station}（{code}）。"), station=station.name, code=station.code))


FEATURE = Feature(
    name="people",
    commands=[
        Command("deputy", deputy_command, _("/deputy add|remove <用户> [层级]"), _("添加或移除本站代表")),
        Command("deputies", deputies_command, _("/deputies"), _("列出本站代表和工作人员")),
        Command("liaison", liaison_command, _("/liaison add|remove <用户>"), _("添加或移除联络员")),
        Command("head", head_command, _("/head set <用户>"), _("设置站长")),
        Command("whoami", whoami_command, _("/whoami"), _("查看我的身份和职务")),
        Command("start", start_command, _("/start"), _("开始使用"), scope=ChatScope.PRIVATE),
        Command("use", use_command, _("/use <站点代码>"), _("选择私聊中操作的联络站"), scope=ChatScope.PRIVATE),
    ],
)
