"""What the bot says about receptions, written as outbox rows with one key per (purpose, reception, target).

Shared by the commands (moves, cancellations, leave) and the schedules (reminders, absences,
monthly reports). A key carries the reception's revision once it was moved, so the new date
is reminded again while a repeated tick or a restart never sends anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.i18n import Translator, _
from handlers.transport import Button
from storage import kv
from storage import receptions as repo
from storage import stations as stations_repo
from storage.models import (
    DEFAULT_PER_RECEPTION,
    ChatPurpose,
    Duty,
    Outcome,
    Person,
    Reception,
    RoleAssignment,
    RoleName,
    Station,
)
from storage.rows import id_of

WEEKDAY_NAMES = (_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日"))
BUTTON_PREFIX = "rcpt"


def rkey(kind: str, reception: Reception, tail: str) -> str:
    revision = f":rev{reception.revision}" if reception.revision else ""
    return f"{kind}:reception:{reception.id}{revision}:{tail}"


def fmt_date(tr: Translator, day: date) -> str:
    return tr(_("{month}月{day}日（{weekday}）"), month=day.month, day=day.day, weekday=tr(WEEKDAY_NAMES[day.weekday()]))


def fmt_when(tr: Translator, reception: Reception) -> str:
    span = f"{reception.start_time:%H:%M}–{reception.end_time:%H:%M}"
    return f"{fmt_date(tr, reception.local_date)} {span}"


def fmt_place(tr: Translator, reception: Reception) -> str:
    return reception.place or tr(_("地点待定"))


def fmt_topic(tr: Translator, reception: Reception) -> str:
    return tr(_("主题：{topic}。"), topic=reception.topic) if reception.topic else ""


def fmt_rate(numerator: int, denominator: int) -> str:
    return f"{numerator * 100 / denominator:.1f}%" if denominator else "—"


def relative_day(tr: Translator, reception: Reception, now: datetime) -> str:
    """"明天" / "今天" when it is, so a late reminder never says tomorrow about today."""
    today = now.astimezone(ZoneInfo(reception.timezone)).date()
    delta = (reception.local_date - today).days
    return {0: tr(_("今天")), 1: tr(_("明天")), 2: tr(_("后天"))}.get(delta, fmt_date(tr, reception.local_date))


def duty_buttons(tr: Translator, reception: Reception, person_id: int) -> list[Button]:
    base = f"{BUTTON_PREFIX}:{reception.id}:{person_id}"
    return [Button(tr(_("确认参加")), f"{base}:confirm"), Button(tr(_("请假")), f"{base}:leave")]


async def names_of(session: AsyncSession, person_ids: Sequence[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    result = await session.exec(select(Person.id, Person.display_name).where(col(Person.id).in_(list(person_ids))))
    return {person_id: name for person_id, name in result.all() if person_id is not None}


def join_names(tr: Translator, names: Sequence[str]) -> str:
    return "、".join(names) if names else tr(_("（无）"))


async def staff_of(session: AsyncSession, station_id: int, *, heads: bool = True) -> list[int]:
    """The liaisons (and heads), who hear about rosters, leave and attendance."""
    roles = [RoleName.LIAISON, RoleName.HEAD] if heads else [RoleName.LIAISON]
    result = await session.exec(
        select(RoleAssignment.person_id)
        .where(RoleAssignment.station_id == station_id, col(RoleAssignment.role).in_(roles), RoleAssignment.active)
        .order_by(col(RoleAssignment.id))
    )
    return list(dict.fromkeys(result.all()))


async def liaisons_or_heads(session: AsyncSession, station_id: int) -> list[int]:
    liaisons = await staff_of(session, station_id, heads=False)
    return liaisons or await staff_of(session, station_id)


def active_duties(duties: Sequence[Duty]) -> list[Duty]:
    """On the roster and not on leave: the deputies who are expected."""
    return [duty for duty in duties if duty.on_duty and duty.leave_at is None]


async def roster_text(
    session: AsyncSession, tr: Translator, duties: Sequence[Duty], names: dict[int, str] | None = None
) -> str:
    if names is None:
        names = await names_of(session, [duty.person_id for duty in duties])
    parts = []
    for duty in duties:
        if not duty.on_duty:
            continue
        name = names.get(duty.person_id, str(duty.person_id))
        if duty.leave_at is not None:
            parts.append(tr(_("{name}（请假）"), name=name))
        elif duty.checked_in_at is not None:
            parts.append(tr(_("{name}（已签到）"), name=name))
        elif duty.confirmed_at is not None:
            parts.append(tr(_("{name}（已确认）"), name=name))
        else:
            parts.append(tr(_("{name}（待确认）"), name=name))
    return "、".join(parts) if parts else tr(_("尚未排班"))


# ------------------------------------------------------------------------------------------------
# Reminders
# ------------------------------------------------------------------------------------------------


async def remind7(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, now: datetime,
    duties: Sequence[Duty] | None = None, names: dict[int, str] | None = None, wanted: int = DEFAULT_PER_RECEPTION,
) -> None:
    """A week ahead, to the liaisons: the roster, who has not confirmed, and a warning when fewer
    than the station's `wanted` deputies (`/reception set deputies`) are on duty."""
    if duties is None:
        duties = await repo.duties_of(session=session, reception_id=id_of(reception))
    expected = active_duties(duties)
    if names is None:
        names = await names_of(session, [duty.person_id for duty in duties])
    pending = [names.get(duty.person_id, "") for duty in expected if duty.confirmed_at is None]
    text = tr(
        _("【接待日·一周提醒】{station} 的接待日 #{id}：{when}，地点：{place}。\n值班代表：{roster}\n尚未确认：{pending}"),
        station=station.name, id=reception.id, when=fmt_when(tr, reception), place=fmt_place(tr, reception),
        roster=await roster_text(session, tr, duties, names), pending=join_names(tr, pending),
    )
    if len(expected) < wanted:
        text += "\n" + tr(_("值班代表不足 {wanted} 人，请用 /duty {id} <代表…> 或 /duty auto 排班。"), wanted=wanted,
                           id=reception.id)
    for person_id in await liaisons_or_heads(session, id_of(station)):
        await outbox.to_person(
            session=session, key=rkey("remind7", reception, f"person:{person_id}"), purpose="reception_remind7",
            person_id=person_id, text=text, now=now, station_id=station.id,
        )
    reception.liaisons_told = True


async def remind_deputy(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, duty: Duty, now: datetime,
    *, kind: str, names: dict[int, str] | None = None,
) -> None:
    """`remind3` (details and buttons), `remind1` (the friendly one) or `assigned` (added late)."""
    if names is None:
        names = await names_of(session, [duty.person_id])
    name = names.get(duty.person_id, "")
    values = {
        "name": name, "when": fmt_when(tr, reception), "place": fmt_place(tr, reception), "station": station.name,
        "id": reception.id, "topic": fmt_topic(tr, reception), "day": relative_day(tr, reception, now),
    }
    buttons: list[Button] = []
    if kind == "remind1":
        text = tr(_("【温馨提示】{name}代表您好！{day}（{when}）是您在 {place} 的接待日值班（#{id}），"
                    "请准时到场，到场后发送 /checkin 签到。谢谢！"), **values)
        if duty.confirmed_at is None:
            buttons = duty_buttons(tr, reception, duty.person_id)
        key = rkey("remind1", reception, f"person:{duty.person_id}")
    elif kind == "remind3":
        text = tr(_("【接待日提醒】{name}代表您好！您将于 {when} 在 {place} 参加 {station} 的代表接待日（#{id}）。{topic}"
                    "请点「确认参加」；如不能参加，请点「请假」或发送 /leave {id} <原因>。"), **values)
        buttons = duty_buttons(tr, reception, duty.person_id)
        key = rkey("remind3", reception, f"person:{duty.person_id}")
    else:
        text = tr(_("【值班通知】{name}代表您好！您已被安排在 {when} 于 {place} 参加 {station} 的代表接待日（#{id}）。{topic}"
                    "请点「确认参加」；如不能参加，请点「请假」或发送 /leave {id} <原因>。"), **values)
        buttons = duty_buttons(tr, reception, duty.person_id)
        key = rkey("assigned", reception, f"duty:{duty.id}")
    await outbox.to_person(
        session=session, key=key, purpose=f"reception_{kind}", person_id=duty.person_id, text=text,
        buttons=buttons, now=now, station_id=station.id,
    )
    duty.told = True
    session.add(duty)


async def notice3(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, now: datetime,
    duties: Sequence[Duty] | None = None, names: dict[int, str] | None = None,
) -> None:
    """Published to the residents three days ahead: date, place and the deputies' names."""
    if duties is None:
        duties = await repo.duties_of(session=session, reception_id=id_of(reception))
    duties = active_duties(duties)
    if names is None:
        names = await names_of(session, [duty.person_id for duty in duties])
    deputies = "、".join(names[duty.person_id] for duty in duties if duty.person_id in names) or tr(_("待定"))
    text = tr(
        _("【代表接待日预告】{when}，{station} 将在 {place} 举行代表接待日，接待代表：{deputies}。{topic}"
          "欢迎居民朋友前来反映意见和建议。"),
        when=fmt_when(tr, reception), station=station.name, place=fmt_place(tr, reception), deputies=deputies,
        topic=fmt_topic(tr, reception),
    )
    for binding in await stations_repo.bindings_of(
        session=session, station_id=id_of(station), purpose=ChatPurpose.RESIDENTS
    ):
        await outbox.to_chat(
            session=session, key=rkey("notice3", reception, f"chat:{binding.id}"), purpose="reception_notice3",
            platform=binding.platform, chat_id=binding.chat_id, text=text, now=now, station_id=station.id,
            private=False,
        )
    reception.residents_told = True
    await kv.set_value(session=session, key=PUBLISHED_ROSTER_KEY.format(reception_id=reception.id),
                       value=roster_signature(duties), now=now)


PUBLISHED_ROSTER_KEY = "published-roster:reception:{reception_id}"


def roster_signature(duties: Sequence[Duty]) -> str:
    """The on-duty deputies as published, so a later change of the roster can be noticed."""
    return ",".join(str(person_id) for person_id in sorted({duty.person_id for duty in active_duties(duties)}))


def roster_changed(published: str | None, duties: Sequence[Duty]) -> bool:
    """Whether the roster differs from the one the residents were told (`published`: the stored
    "signature#n", the roster they last saw and how many updates they have had)."""
    return published is not None and published.partition("#")[0] != roster_signature(duties)


async def roster_update(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, now: datetime,
    *, duties: Sequence[Duty], published: str | None,
) -> bool:
    """Residents were told who receives them; when the roster changed since, tell them the new names.
    `duties` and `published` (the stored value of `PUBLISHED_ROSTER_KEY`) are read by the caller,
    for all the receptions it looks at in a few queries."""
    if published is None or not roster_changed(published, duties):
        return False
    key = PUBLISHED_ROSTER_KEY.format(reception_id=reception.id)
    signature = roster_signature(duties)
    # Each update has a key of its own, so going back to an earlier roster is announced too.
    updates = int(published.partition("#")[2] or 0) + 1
    active = active_duties(duties)
    names = await names_of(session, [duty.person_id for duty in active])
    deputies = "、".join(names[duty.person_id] for duty in active if duty.person_id in names) or tr(_("待定"))
    text = tr(_("【接待代表调整】{when} 在 {place} 的代表接待日，接待代表调整为：{deputies}。"),
              when=fmt_when(tr, reception), place=fmt_place(tr, reception), deputies=deputies)
    for binding in await stations_repo.bindings_of(
        session=session, station_id=id_of(station), purpose=ChatPurpose.RESIDENTS
    ):
        await outbox.to_chat(
            session=session, key=rkey("roster", reception, f"n{updates}:chat:{binding.id}"),
            purpose="reception_roster", platform=binding.platform, chat_id=binding.chat_id, text=text, now=now,
            station_id=station.id, private=False,
        )
    await kv.set_value(session=session, key=key, value=f"{signature}#{updates}", now=now)
    return True


# ------------------------------------------------------------------------------------------------
# Changes: moved, cancelled, removed from the roster, leave
# ------------------------------------------------------------------------------------------------


async def changed(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, now: datetime, *,
    kind: str, old_when: str | None = None, reason: str | None = None,
) -> None:
    """Tell everyone already told that the reception moved (`moved`) or was cancelled (`cancelled`)."""
    values = {
        "station": station.name, "id": reception.id, "when": fmt_when(tr, reception), "old": old_when or "",
        "place": fmt_place(tr, reception), "reason": tr(_("原因：{reason}。"), reason=reason) if reason else "",
    }
    if kind == "moved":
        personal = tr(_("【接待日改期】{station} 的接待日 #{id} 由 {old} 改为 {when}，地点：{place}。{reason}"
                        "请重新确认能否参加。"), **values)
        public = tr(_("【接待日改期】原定 {old} 的代表接待日改为 {when}，地点：{place}。{reason}"), **values)
    else:
        personal = tr(_("【接待日取消】{station} 原定 {when} 的代表接待日（#{id}）已取消。{reason}"), **values)
        public = tr(_("【接待日取消】原定 {when} 在 {place} 的代表接待日已取消。{reason}"), **values)
    duties = await repo.duties_of(session=session, reception_id=id_of(reception))
    told_people = {duty.person_id for duty in duties if duty.told}
    if reception.liaisons_told:
        told_people |= set(await liaisons_or_heads(session, id_of(station)))
    on_duty = {duty.person_id for duty in active_duties(duties)}
    for person_id in sorted(told_people):
        buttons = duty_buttons(tr, reception, person_id) if kind == "moved" and person_id in on_duty else []
        await outbox.to_person(
            session=session, key=rkey(kind, reception, f"person:{person_id}"), purpose=f"reception_{kind}",
            person_id=person_id, text=personal, buttons=buttons, now=now, station_id=station.id,
        )
    if reception.residents_told:
        for binding in await stations_repo.bindings_of(
            session=session, station_id=id_of(station), purpose=ChatPurpose.RESIDENTS
        ):
            await outbox.to_chat(
                session=session, key=rkey(kind, reception, f"chat:{binding.id}"), purpose=f"reception_{kind}",
                platform=binding.platform, chat_id=binding.chat_id, text=public, now=now, station_id=station.id,
                private=False,
            )


async def removed(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, duty: Duty, now: datetime
) -> None:
    name = (await names_of(session, [duty.person_id])).get(duty.person_id, "")
    text = tr(_("【值班变更】{name}代表您好，您已不在 {when} 接待日（#{id}）的值班名单中，无需到场。"),
              name=name, when=fmt_when(tr, reception), id=reception.id)
    await outbox.to_person(
        session=session, key=rkey("unassigned", reception, f"duty:{duty.id}"), purpose="reception_unassigned",
        person_id=duty.person_id, text=text, now=now, station_id=station.id,
    )


async def suggest_substitute(session: AsyncSession, reception: Reception, duties: Sequence[Duty]) -> int | None:
    """The station's deputy with the fewest duties in the past year who is not on this reception."""
    candidates = await repo.deputy_ids(session=session, station_id=reception.station_id)
    counts = await repo.duty_counts(
        session=session, station_ids=[reception.station_id], since=reception.starts_at - timedelta(days=365)
    )
    per_person = {person: value for (_station, person), value in counts.items()}
    chosen = repo.pick_substitutes(
        candidates=candidates, exclude={duty.person_id for duty in duties}, counts=per_person, need=1
    )
    return chosen[0] if chosen else None


@dataclass(frozen=True)
class Told:
    """Who heard of a leave request: people by name, and staff chats."""

    people: list[str]
    chats: int


async def leave_requested(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, duty: Duty, now: datetime
) -> Told:
    """At once to the head and the liaisons, with a suggested substitute and a button to apply it;
    to the staff chats when the station has neither (so a leave request is never heard by nobody
    without the deputy being told so)."""
    duties = await repo.duties_of(session=session, reception_id=id_of(reception))
    substitute = await suggest_substitute(session, reception, duties)
    names = await names_of(session, [duty.person_id] + ([substitute] if substitute else []))
    values = {
        "name": names.get(duty.person_id, ""), "when": fmt_when(tr, reception), "id": reception.id,
        "reason": duty.leave_reason or tr(_("未填写")),
    }
    text = tr(_("【请假】{name} 请假，不能参加 {when} 的接待日（#{id}）。原因：{reason}"), **values)
    buttons: list[Button] = []
    if substitute is not None:
        count = len([d for d in active_duties(duties) if d.person_id != duty.person_id])
        text += "\n" + tr(_("建议由 {substitute} 替换（近一年值班最少）。点下方按钮即可安排，或用 /duty {id} 调整。"
                            "目前仍在岗 {count} 人。"), substitute=names.get(substitute, ""), id=reception.id,
                          count=count)
        buttons = [Button(tr(_("改由{name}值班"), name=names.get(substitute, "")),
                          f"{BUTTON_PREFIX}:{reception.id}:{duty.person_id}:sub:{substitute}")]
    else:
        text += "\n" + tr(_("本站没有可替换的代表，请用 /duty {id} 调整。"), id=reception.id)
    told: list[int] = []
    for person_id in await staff_of(session, id_of(station)):
        if person_id == duty.person_id:
            continue
        row, _created = await outbox.to_person(
            session=session, key=rkey("leave", reception, f"duty:{duty.id}:n{duty.leave_count}:person:{person_id}"),
            purpose="reception_leave", person_id=person_id, text=text, buttons=buttons, now=now,
            station_id=station.id,
        )
        if row is not None:
            told.append(person_id)
    chats = 0
    if not told:
        for binding in await stations_repo.bindings_of(
            session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF
        ):
            await outbox.to_chat(
                session=session, key=rkey("leave", reception, f"duty:{duty.id}:n{duty.leave_count}:chat:{binding.id}"),
                purpose="reception_leave", platform=binding.platform, chat_id=binding.chat_id, text=text,
                buttons=buttons, now=now, station_id=station.id, private=True,
            )
            chats += 1
    told_names = await names_of(session, told)
    return Told([told_names[person_id] for person_id in told if person_id in told_names], chats)


# ------------------------------------------------------------------------------------------------
# After the reception, and monthly
# ------------------------------------------------------------------------------------------------


async def attendance_lines(session: AsyncSession, tr: Translator, duties: Sequence[Duty]) -> tuple[list[str], str]:
    """The lines of an attendance summary, and the reception's rate (present / on duty)."""
    names = await names_of(session, [duty.person_id for duty in duties])
    by_outcome: dict[str, list[str]] = {outcome: [] for outcome in Outcome}
    for duty in duties:
        name = names.get(duty.person_id, str(duty.person_id))
        if duty.outcome == Outcome.LEAVE and duty.leave_reason:
            name = f"{name}（{duty.leave_reason}）"
        by_outcome.setdefault(duty.outcome or "", []).append(name)
    on_duty = [duty for duty in duties if duty.on_duty]
    present = [duty for duty in on_duty if duty.outcome == Outcome.PRESENT]
    lines = [
        tr(_("到场：{names}"), names=join_names(tr, by_outcome[Outcome.PRESENT])),
        tr(_("请假：{names}"), names=join_names(tr, by_outcome[Outcome.LEAVE])),
        tr(_("缺勤：{names}"), names=join_names(tr, by_outcome[Outcome.ABSENT])),
    ]
    if by_outcome[Outcome.WALK_IN]:
        lines.append(tr(_("主动到站：{names}"), names=join_names(tr, by_outcome[Outcome.WALK_IN])))
    return lines, fmt_rate(len(present), len(on_duty))


async def summary(
    session: AsyncSession, tr: Translator, station: Station, reception: Reception, now: datetime
) -> None:
    """After the end: the attendance of this reception, to the staff chats (or the liaisons directly)."""
    duties = await repo.duties_of(session=session, reception_id=id_of(reception))
    lines, rate = await attendance_lines(session, tr, duties)
    text = "\n".join([
        tr(_("【接待日出勤】#{id} {when} {place} 已结束。"), id=reception.id, when=fmt_when(tr, reception),
           place=fmt_place(tr, reception)),
        *lines,
        tr(_("本次出勤率：{rate}"), rate=rate),
    ])
    chats = await stations_repo.bindings_of(session=session, station_id=id_of(station), purpose=ChatPurpose.STAFF)
    for binding in chats:
        await outbox.to_chat(
            session=session, key=rkey("absent-summary", reception, f"chat:{binding.id}"),
            purpose="reception_summary", platform=binding.platform, chat_id=binding.chat_id, text=text, now=now,
            station_id=station.id, private=True,
        )
    if not chats:
        for person_id in await liaisons_or_heads(session, id_of(station)):
            await outbox.to_person(
                session=session, key=rkey("absent-summary", reception, f"person:{person_id}"),
                purpose="reception_summary", person_id=person_id, text=text, now=now, station_id=station.id,
            )
