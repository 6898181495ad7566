"""Private reports: `#建议 …` sent to the bot in a direct message.

The item is private (`Item.private`): it is never shown in any group, not even masked — its
acknowledgement, result, referral and notices go to the reporter by direct message, `/publish`
leaves it out, the public form of the items register hides its text, and item commands about it
are refused in a residents group. Intake itself is `handlers.intake`; this module finds the station
when a direct message does not tell it: the station chosen with /use, else the one whose residents
group the person writes in, else it asks, with a button per station (or a code to reply with when
there are too many), and the report waits, stored, for the answer.
"""

from __future__ import annotations

import re

from handlers import intake, outbox
from handlers.context import Context
from handlers.delivery import CHOSEN_STATION_KEY
from handlers.events import EventKind
from handlers.i18n import _
from handlers.router import Feature
from handlers.transport import Button
from storage import items as items_repo
from storage import kv
from storage import messages as messages_repo
from storage import stations as stations_repo
from storage.models import DEFAULT_TAGS, Account, Message, Station
from storage.rows import id_of

PICK_PREFIX = "pick"
PICK_RE = re.compile(r"^pick:(\d{1,9}):(\d{1,9})$", re.ASCII)
CODE_RE = re.compile(r"^[/!]?(?:use\s+)?(?P<code>[A-Za-z0-9_.-]{1,64})$")
STATION_QUESTION = "station_question"
MAX_BUTTONS = 8  # more stations than this: the resident replies with the station's code


async def on_message(ctx: Context) -> bool:
    """A tagged direct message whose station nothing tells: the station of the person's residents
    group, else a question; a reply to that question naming a station's code answers it."""
    if not ctx.incoming.is_private or ctx.message is None:
        return False
    if await _code_reply(ctx):
        return True
    if ctx.station is not None:
        return False
    tagged = intake.parse_intake(ctx, ctx.incoming.text)
    if tagged is None:
        return False
    if not tagged.text:
        return False  # intake answers what is missing
    stations = await messages_repo.stations_posted_in(session=ctx.session, person_id=id_of(ctx.person))
    if len(stations) == 1:
        ctx.station = await ctx.session.get(Station, stations[0])
        await intake.create_from_message(ctx, tagged)
        return True
    await _ask(ctx, stations)
    return True


async def _ask(ctx: Context, group_stations: list[int]) -> None:
    """Which station: buttons for the stations of the person's groups (or every station, when
    there are few), else the code."""
    await ctx.session.flush()  # the report's own row: the buttons name it
    every = await stations_repo.list_stations(session=ctx.session)
    if group_stations:
        choices = [station for station in every if station.id in group_stations]
    else:
        choices = every if len(every) <= MAX_BUTTONS else []
    message_id = id_of(ctx.message)
    buttons = [Button(station.name, f"{PICK_PREFIX}:{message_id}:{station.id}") for station in choices[:MAX_BUTTONS]]
    if buttons:
        text = ctx.tr(_("已收到您的反映。请问您要向哪个联络站反映？请点击下方按钮选择（也可以回复本消息，写上联络站代码）。"
                        "选好后即为您登记，您的反映只有工作人员能看到，不会出现在任何群里。"))
    else:
        text = ctx.tr(_("已收到您的反映。请问您要向哪个联络站反映？请回复本消息，写上联络站代码（可向社区工作人员询问，"
                        "例如 {code}）。选好后即为您登记，您的反映只有工作人员能看到，不会出现在任何群里。"),
                      code=every[0].code if every else "lianxi")
    await ctx.reply(text, buttons=buttons, purpose=STATION_QUESTION)


async def _code_reply(ctx: Context) -> bool:
    """A reply to the station question: a station's code takes the waiting report there."""
    incoming = ctx.incoming
    replied = await outbox.replied_post(ctx.session, incoming)
    if replied is None:
        return False
    _target, post = replied
    if post.purpose != STATION_QUESTION or post.reply_to is None:
        return False
    report = await messages_repo.get_message(
        session=ctx.session, platform=incoming.platform, chat_id=incoming.chat_id, message_id=post.reply_to
    )
    match = CODE_RE.match(incoming.text.strip())
    if report is None or match is None:
        return False  # not a code: a new report, or chatter, goes on as usual
    code = match.group("code")
    station = await stations_repo.get_station_by_code(session=ctx.session, code=code)
    if station is None:
        raise ctx.error(_("没有代码为「{code}」的联络站。请回复正确的联络站代码，或点击上面的按钮选择。"), code=code)
    await _take(ctx, report, station)
    return True


async def on_pick_button(ctx: Context) -> None:
    """The resident picked the station for their waiting report."""
    match = PICK_RE.match(ctx.incoming.button_data or "")
    carried = {button.get("data") for button in ctx.message.buttons} if ctx.message is not None else set()
    if match is None or ctx.incoming.button_data not in carried:
        raise ctx.error(_("这个按钮已失效。"))
    report = await ctx.session.get(Message, int(match.group(1)))
    station = await ctx.session.get(Station, int(match.group(2)))
    if report is None or station is None:
        raise ctx.error(_("这个按钮已失效。"))
    await _take(ctx, report, station)


async def _take(ctx: Context, report: Message, station: Station) -> None:
    """Make the waiting report an item of `station` (once: a second answer names the item made),
    acknowledge it as a reply to the report, and remember the station for the person's DMs."""
    sender = await ctx.session.get(Account, report.sender_account_id) if report.sender_account_id else None
    if sender is None or sender.person_id != ctx.person.id:
        raise ctx.error(_("只有发送这条反映的居民本人可以选择联络站。"))
    existing = await items_repo.get_item_by_source(session=ctx.session, source_message_id=id_of(report))
    if existing is not None:
        done = await ctx.session.get(Station, existing.station_id)
        raise ctx.error(_("这条反映已经登记为 {station} 的事项 #{number}，无需重复选择。"),
                        station=done.name if done else "", number=existing.number)
    tagged = intake.find_tag(report.text, list(station.tags or DEFAULT_TAGS)) or intake.find_tag(report.text,
                                                                                                  DEFAULT_TAGS)
    text = tagged.text if tagged is not None else intake.clean_text(report.text)
    item = items_repo.create_item(
        session=ctx.session, station=station, tag=tagged.tag if tagged is not None else "", text=text,
        reporter_id=id_of(ctx.person), source_message=report, now=ctx.now(), private=True,
    )
    await kv.set_value(session=ctx.session, key=CHOSEN_STATION_KEY.format(person_id=id_of(ctx.person)),
                       value=station.code, now=ctx.now())
    await ctx.session.flush()
    ack = "\n".join([ctx.tr(intake.PRIVATE_ACK, number=item.number),
                     ctx.tr(_("（已交给 {station}；以后私信反映的问题也交给该站，如需更改请发送 /use <站点代码>。）"),
                            station=station.name)])
    await outbox.to_chat(
        session=ctx.session, key=f"ack:item:{station.id}:{item.number}", purpose="ack", platform=report.platform,
        chat_id=report.chat_id, reply_to=report.message_id, thread_id=report.thread_id, text=ack, now=ctx.now(),
        station_id=station.id, item_id=item.id, follow_moves=False, private=True,
    )
    if ctx.incoming.kind is EventKind.BUTTON:
        await ctx.answer(ctx.tr(_("已登记为 {station} 的事项 #{number}。"), station=station.name, number=item.number))


FEATURE = Feature(
    name="private_reports",
    on_message=on_message,
    on_button={PICK_PREFIX: on_pick_button},
)
