"""Overdue items are chased on a ladder: assignee, then head and staff chat, then admins; once each."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.app import App
from storage import items as items_repo
from storage.models import Account, Item, ItemStatus, Station
from tests.harness import ChatDriver


async def make_overdue_item(chat: ChatDriver, app: App) -> Item:
    for line in ("/station add lianxi 濂溪社区联络站", ):
        await chat.say("admin", "dm:admin", line)
    await chat.say("admin", "lianxi", "/bind lianxi")
    await chat.say("admin", "gongzuo", "/bind lianxi staff")
    await chat.say("admin", "lianxi", "/deputy add li")
    await chat.say("admin", "lianxi", "/head set wang")
    await chat.say("wang", "dm:wang", "/start")
    await chat.say("li", "dm:li", "/start")
    await chat.say("admin", "dm:admin", "/start")
    async with app.sessions() as session:
        station = (await session.exec(select(Station))).one()
        li = (await session.exec(select(Account).where(Account.user_id == "li"))).one()
        item = items_repo.create_item(
            session=session, station=station, tag="建议", text="路灯坏了", reporter_id=li.person_id,
            source_message=None, now=app.clock.now(),
        )
        item.status = ItemStatus.ASSIGNED
        item.assignee_id = li.person_id
        item.due_at = app.clock.now() + timedelta(days=1)
        session.add(item)
        await session.commit()
        return item


async def test_ladder_runs_once_per_step(chat: ChatDriver, app: App) -> None:
    item = await make_overdue_item(chat, app)
    start = app.clock.now()
    assert await chat.advance(start + timedelta(hours=23)) == []
    first = await chat.advance(start + timedelta(days=1))
    assert [(d.chat, "催办" in d.text) for d in first] == [("dm:li", True)]
    assert "#1" in first[0].text and "/close 1" in first[0].text
    second = await chat.advance(start + timedelta(days=3))
    assert sorted(d.chat for d in second) == ["dm:wang", "gongzuo"]
    third = await chat.advance(start + timedelta(days=6))
    assert [d.chat for d in third] == ["dm:admin"]
    assert await chat.advance(start + timedelta(days=30)) == []
    assert item.id is not None


async def test_closed_items_are_not_chased(chat: ChatDriver, app: App) -> None:
    item = await make_overdue_item(chat, app)
    async with app.sessions() as session:
        row = await session.get(Item, item.id)
        assert row is not None
        row.status = ItemStatus.RESOLVED
        session.add(row)
        await session.commit()
    assert await chat.advance(app.clock.now() + timedelta(days=10)) == []
