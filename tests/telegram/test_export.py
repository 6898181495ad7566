"""/export on Telegram: the register arrives as a multipart sendDocument upload replying to the command."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.peers.fake_telegram import JSON
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_setup import set_up_station


async def test_export_sends_the_register_as_a_document(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#建议 东门路灯坏了，请回电 13912345678")
    await bot.reply_to(posted)
    command = fake.text(world.staff, world.admin, "/export items")

    def uploaded() -> JSON | None:
        done = [call for call in fake.calls_of("sendDocument") if call.ok and call.result is not None]
        return done[0].result if done else None

    message = await fake.wait_for(uploaded)
    assert message["chat"]["id"] == world.staff["id"]
    assert message["reply_to_message"]["message_id"] == command["message"]["message_id"]
    assert message["document"]["file_name"].startswith("lx-意见建议登记簿-")
    assert message["document"]["mime_type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert message["caption"].startswith("幸福社区联络站 ") and "意见建议登记簿 1 行" in message["caption"]
    [upload] = fake.files
    assert upload["filename"] == message["document"]["file_name"], "a multipart file part, not a URL or file_id"
    sheet = load_workbook(io.BytesIO(upload["data"])).worksheets[0]
    [header, row] = list(sheet.iter_rows(values_only=True))
    assert header[:3] == ("编号", "受理日期", "提出人")
    assert row[0] == 1 and row[2] == "A****" and row[4] == "东门路灯坏了，请回电 ***"
    await bot.outbox_idle()
    assert not fake.calls_of("sendDocument")[1:], "sent once"
