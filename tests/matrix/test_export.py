"""/export and /stats chart on Matrix: the file is uploaded to Synapse's media repository, then posted
as an `m.file` (a register) or `m.image` (a chart) event replying to the command; a liaison
downloads it and opens it."""

from __future__ import annotations

import io

from nio import MemoryDownloadResponse
from openpyxl import load_workbook

from tests.matrix.conftest import MakeBot
from tests.matrix.residents import MakeUser
from tests.matrix.test_station_flow import command, reply_to, station_with_rooms


async def test_export_posts_an_m_file(make_bot: MakeBot, matrix_users: MakeUser) -> None:
    bot, people, room = await station_with_rooms(make_bot, matrix_users)
    alice, zhang = people["alice"], people["zhang"]
    await command(alice, room, bot, "#建议 东门路灯坏了，电话 13912345678")
    staff = await zhang.create_room(invite=[bot.user_id], name="工作群")
    await zhang.wait_for_join(staff, bot.user_id)
    await command(zhang, staff, bot, "!bind lianxi staff")

    asked = await zhang.say(staff, "!export items")
    [event] = await zhang.wait_for(reply_to(bot.user_id, asked), staff, what="the register")
    content = event["content"]
    assert content["msgtype"] == "m.file"
    assert content["filename"].startswith("lianxi-意见建议登记簿-") and content["filename"].endswith(".xlsx")
    assert content["info"]["mimetype"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert content["body"].startswith("濂溪社区联络站 ") and "意见建议登记簿 1 行" in content["body"]
    assert content["url"].startswith("mxc://")

    downloaded = await zhang.client.download(mxc=content["url"])
    assert isinstance(downloaded, MemoryDownloadResponse), downloaded
    assert len(downloaded.body) == content["info"]["size"]
    rows = list(load_workbook(io.BytesIO(downloaded.body)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "受理日期", "提出人")
    assert rows[1][6] == "东门路灯坏了，电话 ***"

    charted = await zhang.say(staff, "!stats chart")
    [image] = await zhang.wait_for(reply_to(bot.user_id, charted), staff, what="the chart")
    assert image["content"]["msgtype"] == "m.image" and image["content"]["info"]["mimetype"] == "image/png"
    assert image["content"]["filename"].startswith("lianxi-") and image["content"]["body"].startswith("濂溪社区联络站 ")
    picture = await zhang.client.download(mxc=image["content"]["url"])
    assert isinstance(picture, MemoryDownloadResponse) and picture.body.startswith(b"\x89PNG")
    bot.check_alive()
