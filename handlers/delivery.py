"""Rules about reaching people: which station a DM acts on, and what happens when a message can't be delivered."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import outbox
from handlers.context import CoreConfig
from handlers.i18n import _, translator
from storage import kv
from storage import stations as stations_repo
from storage.models import Account, ChatPurpose, Outbox, Person, RoleAssignment, Station

CHOSEN_STATION_KEY = "dm-station:{person_id}"
LINK_CODE_KEY = "link-code:{code}"


async def station_for_private_chat(
    *, session: AsyncSession, person_id: int, roles: list[RoleAssignment]
) -> Station | None:
    """In a DM: the station chosen with /use, else the only station the person works for, else the only station."""
    chosen = await kv.get_value(session=session, key=CHOSEN_STATION_KEY.format(person_id=person_id))
    if chosen:
        station = await stations_repo.get_station_by_code(session=session, code=chosen)
        if station is not None:
            return station
    station_ids = {role.station_id for role in roles if role.station_id is not None}
    if len(station_ids) == 1:
        return await session.get(Station, station_ids.pop())
    if not station_ids:
        result = await session.exec(select(Station).order_by(col(Station.id)).limit(2))
        stations = list(result.all())
        if len(stations) == 1:
            return stations[0]
    return None


async def on_undeliverable(
    *, session: AsyncSession, row: Outbox, code: str, now: datetime, config: CoreConfig
) -> None:
    """A message could not be delivered: remember a blocked DM and tell the station's staff chats."""
    if row.account_id is None or row.station_id is None:
        return
    account = await session.get(Account, row.account_id)
    station = await session.get(Station, row.station_id)
    if account is None or station is None:
        return
    if code == "dm_blocked":
        account.dm_blocked = True
        session.add(account)
    person = await session.get(Person, account.person_id)
    name = person.display_name if person else account.user_id
    tr = translator(station.language or config.language)
    link_maker = config.dm_invite_links.get(account.platform)
    if code == "dm_blocked" and link_maker is not None:
        link = link_maker(await link_code_for(session=session, person_id=account.person_id, now=now))
        text = tr(
            _(
                "无法私信 {name}：对方还没有与机器人开始私聊。"
                "请让 {name} 打开 {link} 并点「开始」，之后的提醒就能送达。"
            ),
            name=name, link=link,
        )
    else:
        text = tr(_("无法把消息送达 {name}（{reason}）。原文：{text}"), name=name, reason=code, text=row.text)
    staff_chats = await stations_repo.bindings_of(
        session=session, station_id=station.id or 0, purpose=ChatPurpose.STAFF
    )
    for binding in staff_chats:
        await outbox.to_chat(
            session=session, key=f"undeliverable:{row.id}:chat:{binding.id}", purpose="undeliverable",
            platform=binding.platform, chat_id=binding.chat_id, text=text, now=now, station_id=station.id,
            private=True,
        )


async def link_code_for(*, session: AsyncSession, person_id: int, now: datetime) -> str:
    """A stable code that links a platform account to this person (`/start CODE`)."""
    key = f"person-link:{person_id}"
    code = await kv.get_value(session=session, key=key)
    if code is None:
        code = secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")
        await kv.set_value(session=session, key=key, value=code, now=now)
        await kv.set_value(session=session, key=LINK_CODE_KEY.format(code=code), value=str(person_id), now=now)
    return code
