"""Events set aside after failing by their own content: stored once per platform event."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import SetAsideEvent


async def add(*, session: AsyncSession, row: SetAsideEvent) -> bool:
    """Store the event unless it was set aside before (a redelivery); True when stored now."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(SetAsideEvent)
        .values(**row.model_dump(exclude={"id"}))
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(col(SetAsideEvent.id))
    )
    new_id = (await session.exec(statement)).scalar_one_or_none()
    if new_id is None:
        return False
    row.id = new_id
    return True


async def all_set_aside(*, session: AsyncSession) -> list[SetAsideEvent]:
    result = await session.exec(select(SetAsideEvent).order_by(col(SetAsideEvent.id)))
    return list(result.all())
