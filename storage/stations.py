"""Stations and the chats bound to them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import kv
from storage.models import ChatBinding, ChatPurpose, Station


async def get_station_by_code(*, session: AsyncSession, code: str) -> Station | None:
    result = await session.exec(select(Station).where(Station.code == code))
    return result.first()


async def list_stations(*, session: AsyncSession) -> list[Station]:
    result = await session.exec(select(Station).order_by(col(Station.code)))
    return list(result.all())


async def create_station(*, session: AsyncSession, station: Station) -> Station:
    session.add(station)
    await session.flush()
    return station


async def get_binding(*, session: AsyncSession, platform: str, chat_id: str) -> ChatBinding | None:
    result = await session.exec(
        select(ChatBinding).where(ChatBinding.platform == platform, ChatBinding.chat_id == chat_id)
    )
    return result.first()


async def binding_with_station(
    *, session: AsyncSession, platform: str, chat_id: str
) -> tuple[ChatBinding | None, Station | None]:
    """A chat's binding (active or not) and its station, in one query."""
    result = await session.exec(
        select(ChatBinding, Station)
        .join(Station, col(Station.id) == col(ChatBinding.station_id))
        .where(ChatBinding.platform == platform, ChatBinding.chat_id == chat_id)
    )
    found = result.first()
    return (found[0], found[1]) if found is not None else (None, None)


# Built once, with parameters (a statement of the per-event path: see storage.people).
BINDINGS_WITH_STATIONS = (
    select(ChatBinding, Station)
    .join(Station, col(Station.id) == col(ChatBinding.station_id))
    .where(col(ChatBinding.platform) == bindparam("platform"),
           col(ChatBinding.chat_id).in_(bindparam("chat_ids", expanding=True)))
)


async def bindings_with_stations(
    *, session: AsyncSession, platform: str, chat_ids: Collection[str]
) -> dict[str, tuple[ChatBinding, Station]]:
    """`binding_with_station` for many chats of one platform, in one query; unbound chats are absent."""
    if not chat_ids:
        return {}
    result = await session.exec(BINDINGS_WITH_STATIONS, params={"platform": platform, "chat_ids": list(chat_ids)})
    return {binding.chat_id: (binding, station) for binding, station in result.all()}


async def bind_chat(
    *,
    session: AsyncSession,
    platform: str,
    chat_id: str,
    station_id: int,
    purpose: ChatPurpose,
    title: str | None,
    now: datetime,
) -> ChatBinding:
    binding = await get_binding(session=session, platform=platform, chat_id=chat_id)
    if binding is None:
        binding = ChatBinding(platform=platform, chat_id=chat_id, station_id=station_id, created_at=now)
    binding.station_id = station_id
    binding.purpose = purpose
    binding.active = True
    binding.title = title or binding.title
    binding.updated_at = now
    session.add(binding)
    await session.flush()
    return binding


async def bindings_of(
    *, session: AsyncSession, station_id: int, purpose: ChatPurpose | None = None
) -> list[ChatBinding]:
    query = select(ChatBinding).where(ChatBinding.station_id == station_id, ChatBinding.active)
    if purpose is not None:
        query = query.where(ChatBinding.purpose == purpose)
    result = await session.exec(query.order_by(col(ChatBinding.id)))
    return list(result.all())


MOVED_KEY = "chat-moved:{platform}:{chat_id}"


async def move_chat(*, session: AsyncSession, platform: str, old_chat_id: str, new_chat_id: str, now: datetime) -> bool:
    """A chat got a new id (supergroup upgrade, room upgrade): its binding follows, and so does
    everything later sent to the old id. Old messages keep their old chat id: the new chat numbers
    its messages afresh, so renaming them would confuse old and new message ids."""
    if old_chat_id == new_chat_id:
        return False
    await kv.set_value(session=session, key=MOVED_KEY.format(platform=platform, chat_id=old_chat_id),
                       value=new_chat_id, now=now)
    binding = await get_binding(session=session, platform=platform, chat_id=old_chat_id)
    if binding is None:
        return False
    target = await get_binding(session=session, platform=platform, chat_id=new_chat_id)
    if target is not None:
        target.station_id, target.purpose, target.active = binding.station_id, binding.purpose, binding.active
        target.updated_at = now
        binding.active = False
        session.add(target)
    else:
        binding.chat_id = new_chat_id
    binding.updated_at = now
    session.add(binding)
    return True


async def current_chat_id(*, session: AsyncSession, platform: str, chat_id: str) -> str:
    """Where a chat lives now, following its moves (at most a few hops, never in a loop)."""
    seen = {chat_id}
    while (moved := await kv.get_value(session=session, key=MOVED_KEY.format(platform=platform, chat_id=chat_id))):
        if moved in seen:
            break
        seen.add(moved)
        chat_id = moved
    return chat_id
