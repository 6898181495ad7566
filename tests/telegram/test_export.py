"""/export on Telegram: the register arrives as a multipart sendDocument upload replying to the command."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from handlers.transport import Attachment, FileKind, Outgoing
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
    assert row[0] == 1 and row[2] == "A****" and row[6] == "东门路灯坏了，请回电 ***"
    await bot.outbox_idle()
    assert not fake.calls_of("sendDocument")[1:], "sent once"


async def test_a_chart_is_a_photo_and_a_long_caption_goes_first_as_text(bot: TelegramBotRunner, world: World) -> None:
    """What the monthly notice and `/stats chart` send: sendPhoto with the figures as the caption;
    figures longer than Telegram's 1,024-character caption go first as a message, the photo after it."""
    fake = world.fake
    assert bot.transport is not None
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    chart = Attachment(kind=FileKind.PHOTO, filename="lx-2026-11.png", mime="image/png", data=png)
    sent = await bot.transport.send(Outgoing(text="【月通报】幸福社区联络站 2026年11月事项统计：…",
                                             chat_id=str(world.staff["id"]), attachment=chart))
    [call] = fake.calls_of("sendPhoto")
    assert call.result is not None and call.result["caption"].startswith("【月通报】")
    assert call.params["photo"]["filename"] == "lx-2026-11.png" and call.params["photo"]["data"] == png
    assert sent.message_id == str(call.result["message_id"])

    long_text = "\n".join(f"· 第{n}个联络室：受理 3，办结 2（按时 2），不予受理 0，办理中 1（超期 0），满意率 100.0%" for n in range(30))
    before = len(fake.sent(world.staff["id"]))
    sent = await bot.transport.send(Outgoing(text=long_text, chat_id=str(world.staff["id"]), attachment=chart))
    [text] = fake.sent(world.staff["id"])[before:]
    assert text["text"] == long_text
    photo = fake.calls_of("sendPhoto")[-1]
    assert photo.result is not None and "caption" not in photo.result
    assert sent.message_id == str(photo.result["message_id"])
