"""End-to-end encrypted rooms and direct chats (issue 15), against the real Synapse with residents,
liaisons and deputies on matrix-nio clients that encrypt as Element does. One module, the session's
one Synapse: an encrypted residents room through the whole item loop, a deputy's encrypted DM with
the 3-day reminder, a member who joins later, a restart, a key that arrives late, a deleted crypto
store, a direct chat a resident opens, and the `verified-only` trust policy."""

from __future__ import annotations

import asyncio
import io
import shutil
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from nio import MemoryDownloadResponse, RoomKeyRequest, RoomSendResponse, ToDeviceMessage
from nio.api import Api
from nio.crypto.attachments import decrypt_attachment
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.cli import main as cli_main
from storage.models import Duty, Item, ItemStatus
from tests.matrix.botrunner import BotRunner
from tests.matrix.conftest import MakeBot
from tests.matrix.residents import Event, MakeUser, Resident
from tests.matrix.test_station_flow import reply_to

MEGOLM = "m.megolm.v1.aes-sha2"
ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}


def wire_type(bot: BotRunner, reader: Resident, room: str, event_id: str) -> str:
    """The event's type as the homeserver stores it: `m.room.encrypted` when it was encrypted."""
    path = f"/_matrix/client/v3/rooms/{room}/event/{event_id}"
    return str(bot.synapse.request("GET", path, token=reader.client.access_token)["type"])


async def say_and_get_reply(user: Resident, room: str, bot: BotRunner, text: str) -> Event:
    sent = await user.say(room, text)
    [answer] = await user.wait_for(reply_to(bot.user_id, sent), room, within=30, what=f"the answer to {text!r}")
    return answer


async def encrypted_room(owner: Resident, bot_id: str, members: list[Resident], name: str) -> str:
    room = await owner.create_room(
        invite=[bot_id, *(m.user_id for m in members)], name=name, initial_state=[ENCRYPTION]
    )
    for member in members:
        await member.wait_for_invite(room)
        await member.join(room)
    await owner.wait_for_join(room, bot_id)
    return room


async def encrypted_station(
    make_bot: MakeBot, matrix_users: MakeUser, **bot_kwargs: Any
) -> tuple[BotRunner, dict[str, Resident], str, str]:
    """Station `lianxi` with an encrypted residents room (admin, liaison zhang, deputy li, resident
    alice) and an encrypted staff room (admin, zhang), everyone on encrypting clients."""
    admin, zhang, li, alice = [await matrix_users(name, encrypted=True) for name in ("admin", "zhang", "li", "alice")]
    bot = await make_bot(admins=frozenset({f"matrix:{admin.user_id}"}), **bot_kwargs)
    room = await encrypted_room(admin, bot.user_id, [zhang, li, alice], "濂溪居民群")
    await say_and_get_reply(admin, room, bot, "!station add lianxi 濂溪社区联络站")
    await say_and_get_reply(admin, room, bot, "!bind lianxi")
    await say_and_get_reply(admin, room, bot, f"!liaison add {zhang.user_id}")
    await say_and_get_reply(admin, room, bot, f"!deputy add {li.user_id}")
    staff = await encrypted_room(admin, bot.user_id, [zhang], "濂溪工作群")
    await say_and_get_reply(admin, staff, bot, "!bind lianxi staff")
    return bot, {"admin": admin, "zhang": zhang, "li": li, "alice": alice}, room, staff


async def items(bot: BotRunner) -> list[Item]:
    assert bot.app is not None
    async with bot.app.sessions() as session:
        return list((await session.exec(select(Item).order_by(col(Item.id)))).all())


async def test_encrypted_residents_room_item_loop(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    """`#建议` → item and an encrypted ack replying to it; `!close` → encrypted feedback replying to
    the resident's event; an encrypted reaction rates it; a text reply rates the next one."""
    bot, people, room, _staff = await encrypted_station(make_bot, matrix_users)
    alice, zhang = people["alice"], people["zhang"]

    report = await alice.say(room, "#建议 小区东门的路灯坏了")
    assert wire_type(bot, alice, room, report) == "m.room.encrypted"
    [ack] = await alice.wait_for(reply_to(bot.user_id, report), room, what="the encrypted ack")
    assert wire_type(bot, alice, room, ack["event_id"]) == "m.room.encrypted"
    assert "#1" in ack["content"]["body"]
    assert alice.user_id in ack["content"]["m.mentions"]["user_ids"]
    [item] = await items(bot)
    assert (item.number, item.text) == (1, "小区东门的路灯坏了")

    await zhang.say(room, "!close 1 路灯已更换")
    [feedback] = await alice.wait_for(
        lambda ev: reply_to(bot.user_id, report)(ev) and "路灯已更换" in ev["content"]["body"], room,
        what="the encrypted feedback",
    )
    assert wire_type(bot, alice, room, feedback["event_id"]) == "m.room.encrypted"
    assert "[满意] [基本满意] [不满意]" in feedback["content"]["body"]
    await alice.wait_for(  # the options appear as reactions under it; she clicks one
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == feedback["event_id"],
        room, count=3, what="the rating reactions",
    )
    press = await alice.react(room, feedback["event_id"], "满意", encrypted=True)
    assert wire_type(bot, alice, room, press) == "m.room.encrypted"
    await until_item(bot, 1, lambda it: it.status == ItemStatus.CLOSED, alice)
    [item] = await items(bot)
    assert item.rating == "satisfied"

    second = await alice.say(room, "#求助 楼道灯也不亮")
    await alice.wait_for(reply_to(bot.user_id, second), room, what="the second ack")
    await zhang.say(room, "!close 2 已安排电工")
    [feedback2] = await alice.wait_for(
        lambda ev: reply_to(bot.user_id, second)(ev) and "已安排电工" in ev["content"]["body"], room,
        what="the second feedback",
    )
    await alice.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == feedback2["event_id"],
        room, count=3, what="the second rating reactions",
    )
    await alice.say(room, "不满意，晚上还是黑的", reply_to=feedback2["event_id"])
    await until_item(bot, 2, lambda it: (it.status, it.rating) == ("reopened", "unsatisfied"), alice)
    bot.check_alive()


async def until_item(bot: BotRunner, number: int, done: Any, reader: Resident) -> None:
    for _attempt in range(150):
        found = [it for it in await items(bot) if it.number == number]
        if found and done(found[0]):
            return
        await reader.sync(timeout_ms=200)
    raise AssertionError(f"item #{number} never got there: {found}")


async def test_deputy_gets_the_3_day_reminder_in_an_encrypted_dm_and_confirms(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, _room, staff = await encrypted_station(make_bot, matrix_users)
    zhang, li = people["zhang"], people["li"]
    when = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)
    added = await say_and_get_reply(zhang, staff, bot, f"!reception add {when:%Y-%m-%d} 09:00-11:30 濂溪社区服务中心")
    assert f"已安排接待日 #1 {when.month}月{when.day}日" in added["content"]["body"]
    await say_and_get_reply(zhang, staff, bot, f"!duty 1 {li.user_id}")
    assert bot.app is not None
    await bot.app.tick()  # the reminders fall due now: two days ahead is inside the 3-day window

    dm = await li.wait_for_invite(within=30)
    await li.join(dm)
    [reminder] = await li.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "濂溪社区服务中心" in ev.get("content", {}).get("body", ""),
        dm, within=30, what="the 3-day reminder",
    )
    assert wire_type(bot, li, dm, reminder["event_id"]) == "m.room.encrypted"
    assert "[确认参加] [请假]" in reminder["content"]["body"]
    await li.wait_for(
        lambda ev: ev.get("type") == "m.reaction" and ev["content"]["m.relates_to"]["event_id"] == reminder["event_id"],
        dm, count=2, what="the reminder's options as reactions",
    )
    await li.react(dm, reminder["event_id"], "确认参加", encrypted=True)
    await li.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "确认" in ev.get("content", {}).get("body", "")
        and ev["event_id"] != reminder["event_id"],
        dm, within=30, what="the confirmation's answer",
    )
    async with bot.app.sessions() as session:
        [duty] = (await session.exec(select(Duty))).all()
    assert duty.confirmed_at is not None
    bot.check_alive()


async def test_a_member_who_joins_later_reads_the_next_message_and_a_restart_loses_nothing(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, room, _staff = await encrypted_station(make_bot, matrix_users)
    admin, alice = people["admin"], people["alice"]
    first = await alice.say(room, "#建议 垃圾桶满了")
    await alice.wait_for(reply_to(bot.user_id, first), room, what="the first ack")

    await bot.stop()  # a restart between two messages: the crypto store reloads
    second = await alice.say(room, "#建议 健身器材坏了")
    bob = await make_user_in(matrix_users, admin, room)
    await bot.start()
    [ack] = await alice.wait_for(reply_to(bot.user_id, second), room, within=30, what="the ack after the restart")
    assert "#2" in ack["content"]["body"]
    # Bob joined after the bot's last message: the bot's next one is readable for him.
    third = await alice.say(room, "#建议 路面有坑")
    [seen_by_bob] = await bob.wait_for(reply_to(bot.user_id, third), room, within=30, what="bob reading the ack")
    assert "#3" in seen_by_bob["content"]["body"]
    assert [it.text for it in await items(bot)] == ["垃圾桶满了", "健身器材坏了", "路面有坑"]
    assert len(alice.find(room, reply_to(bot.user_id, first))) == 1  # nothing answered twice
    bot.check_alive()


async def make_user_in(matrix_users: MakeUser, inviter: Resident, room: str) -> Resident:
    bob = await matrix_users("bob", encrypted=True)
    await inviter.invite(room, bob.user_id)
    await bob.wait_for_invite(room)
    await bob.join(room)
    return bob


async def test_a_message_whose_key_arrives_late_is_handled_when_it_arrives(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    """The resident's client posts before it sends the room key (to-device messages that lag
    behind the timeline): the bot keeps the event and asks the sender's devices for the key; when
    the `m.room_key` arrives, the report is decrypted and handled."""
    bot, people, room, _staff = await encrypted_station(make_bot, matrix_users)
    alice = people["alice"]
    assert bot.transport is not None
    await alice.say(room, "大家好")  # her client knows the bot's device and has an Olm session with it
    olm = alice.client.olm
    assert olm is not None
    olm.create_outbound_group_session(room)  # a new room key, not sent to anyone yet
    session = olm.outbound_group_sessions[room]
    room_key = {"algorithm": MEGOLM, "room_id": room, "session_id": session.id, "session_key": session.session_key}
    session.shared = True  # what nio notes once the key went out; here it goes out later
    _type, payload = alice.client.encrypt(room, "m.room.message", {"msgtype": "m.text", "body": "#建议 水管漏水"})
    method, path, data = Api.room_send(alice.client.access_token, room, "m.room.encrypted", payload, uuid4())
    report = (await alice.client._send(RoomSendResponse, method, path, data, (room,))).event_id

    for _attempt in range(150):  # the bot asks her devices for the key it lacks
        if any(isinstance(ev, RoomKeyRequest) and ev.sender == bot.user_id for ev in alice.to_device):
            break
        await alice.sync(timeout_ms=200)
    assert report in bot.transport.unreadable
    assert not alice.find(room, reply_to(bot.user_id, report))

    device = alice.client.device_store[bot.user_id][bot.transport.client.device_id]
    olm_session = olm.session_store.get(device.curve25519)
    sealed = olm._olm_encrypt(olm_session, device, "m.room_key", room_key)
    await alice.client.to_device(ToDeviceMessage("m.room.encrypted", bot.user_id, device.id, sealed))

    [ack] = await alice.wait_for(reply_to(bot.user_id, report), room, within=30, what="the late ack")
    assert "#1" in ack["content"]["body"]
    assert [it.text for it in await items(bot)] == ["水管漏水"]
    assert report not in bot.transport.unreadable
    bot.check_alive()


async def test_a_deleted_crypto_store_means_a_new_device_and_unreadable_history_reported(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, room, staff = await encrypted_station(make_bot, matrix_users, report_unreadable_after=1.0)
    alice, zhang = people["alice"], people["zhang"]
    assert bot.transport is not None and bot.store_path is not None
    old_device = bot.transport.client.device_id
    first = await alice.say(room, "#建议 路灯坏了")
    await alice.wait_for(reply_to(bot.user_id, first), room, what="the first ack")

    await bot.stop()
    shutil.rmtree(bot.store_path)
    lost = await alice.say(room, "#建议 停电了")  # encrypted for the old device only
    await bot.start()
    assert bot.transport.client.device_id != old_device
    devices = bot.synapse.request(
        "GET", f"/_synapse/admin/v2/users/{bot.user_id}/devices", token=bot.synapse.admin_token()
    )
    listed = {d["device_id"] for d in devices["devices"]}  # type: ignore[index]
    assert bot.transport.client.device_id in listed
    assert old_device not in listed  # deleted: nobody keeps encrypting for a device whose keys are gone

    [told] = await zhang.wait_for(
        lambda ev: ev.get("sender") == bot.user_id and "无法读取" in ev.get("content", {}).get("body", ""),
        staff, within=30, what="the staff told about the unreadable message",
    )
    assert alice.user_id in told["content"]["body"]
    assert "濂溪居民群" in told["content"]["body"]
    assert not alice.find(room, reply_to(bot.user_id, lost))
    # New sessions: once alice's client has synced and learnt the new device, her next report is read.
    await alice.sync()
    third = await alice.say(room, "#建议 电梯坏了")
    [ack] = await alice.wait_for(reply_to(bot.user_id, third), room, within=30, what="the ack with new sessions")
    assert "#2" in ack["content"]["body"]
    await asyncio.sleep(1.5)  # another report round: the staff are told once
    await zhang.sync()
    assert len(zhang.find(staff, lambda ev: "无法读取" in ev.get("content", {}).get("body", ""))) == 1
    bot.check_alive()


async def test_a_resident_opens_an_encrypted_direct_chat(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room, _staff = await encrypted_station(make_bot, matrix_users)
    alice = people["alice"]
    known = await alice.say(room, "#建议 先在群里说一句")
    await alice.wait_for(reply_to(bot.user_id, known), room, what="the ack in the group")
    dm = await alice.create_room(invite=[bot.user_id], is_direct=True, initial_state=[ENCRYPTION])
    await alice.wait_for_join(dm, bot.user_id)
    private = await alice.say(dm, "#建议 私下反映：噪音扰民")
    [ack] = await alice.wait_for(reply_to(bot.user_id, private), dm, within=30, what="the ack in the DM")
    assert wire_type(bot, alice, dm, ack["event_id"]) == "m.room.encrypted"
    assert "#2" in ack["content"]["body"]
    bot.check_alive()


async def test_verified_only_shares_room_keys_with_verified_devices_only(
    make_bot: MakeBot, matrix_users: MakeUser, monkeypatch: Any
) -> None:
    """Set up on trust on first use, restarted with `verified-only`: the members' devices get no
    room keys until an admin verifies one (`liaison-bot matrix verify`), which then reads the next."""
    bot, people, room, _staff = await encrypted_station(make_bot, matrix_users)
    alice = people["alice"]
    await bot.stop()
    bot.trust = "verified-only"
    await bot.start()

    report = await alice.say(room, "#建议 井盖松动")
    await alice.wait_for(
        lambda ev: ev.get("type") == "m.room.encrypted" and ev.get("sender") == bot.user_id, room,
        within=30, what="the bot's answer, which her unverified device cannot read",
    )
    assert not alice.find(room, reply_to(bot.user_id, report))
    [item] = await items(bot)
    assert item.text == "井盖松动"  # read and handled all the same: trust is about whom the bot tells

    olm = alice.client.olm
    assert olm is not None
    monkeypatch.setenv("LIAISON_DATABASE_URL", bot.db_url)
    monkeypatch.setenv("LIAISON_MATRIX_USER", bot.user_id)
    verify = ["matrix", "verify", alice.user_id, alice.client.device_id, olm.account.identity_keys["ed25519"]]
    assert await asyncio.to_thread(cli_main, verify) == 0
    assert bot.transport is not None
    device = bot.transport.client.device_store[alice.user_id][alice.client.device_id]
    for _attempt in range(100):  # applied at the bot's next sync
        if device.verified:
            break
        await asyncio.sleep(0.1)
    assert device.verified
    second = await alice.say(room, "#建议 井盖松动，请尽快处理")
    [ack] = await alice.wait_for(reply_to(bot.user_id, second), room, within=30, what="an answer she may read")
    assert "#2" in ack["content"]["body"]
    bot.check_alive()


async def test_a_register_exported_in_an_encrypted_staff_room_is_an_encrypted_file(
    make_bot: MakeBot, matrix_users: MakeUser
) -> None:
    bot, people, room, staff = await encrypted_station(make_bot, matrix_users)
    alice, zhang = people["alice"], people["zhang"]
    report = await alice.say(room, "#建议 东门路灯坏了")
    await alice.wait_for(reply_to(bot.user_id, report), room, what="the ack")
    asked = await zhang.say(staff, "!export items")
    [event] = await zhang.wait_for(reply_to(bot.user_id, asked), staff, within=30, what="the register")
    assert wire_type(bot, zhang, staff, event["event_id"]) == "m.room.encrypted"
    content = event["content"]
    assert content["msgtype"] == "m.file" and "url" not in content  # only the encrypted file's address
    downloaded = await zhang.client.download(mxc=content["file"]["url"])
    assert isinstance(downloaded, MemoryDownloadResponse), downloaded
    plain = decrypt_attachment(
        downloaded.body, content["file"]["key"]["k"], content["file"]["hashes"]["sha256"], content["file"]["iv"]
    )
    rows = list(load_workbook(io.BytesIO(plain)).worksheets[0].iter_rows(values_only=True))
    assert rows[1][6] == "东门路灯坏了"
    bot.check_alive()
