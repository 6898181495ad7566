"""The privacy rule and the rating rule on Telegram, end to end against the fake Bot API: what the
residents group sees is masked, answers about one's own items go privately (and a resident who never
pressed Start is told how, in the group, without the content), and a reply rates only when meant."""

from __future__ import annotations

from storage.models import Item, ItemStatus
from tests.peers.fake_telegram import JSON
from tests.telegram.conftest import World
from tests.telegram.harness import TelegramBotRunner
from tests.telegram.test_items import resolve_item
from tests.telegram.test_setup import set_up_station

PHONE = "139-1234-5678"
WECHAT = "zhangjg1980"
REPORT = f"#求助 家里水管爆了，电话 {PHONE}，微信号 {WECHAT}"


async def only_item(bot: TelegramBotRunner) -> Item:
    [item] = await bot.rows(Item)
    return item


def has_buttons(message: JSON) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def test_the_group_sees_masked_text_and_answers_about_own_items_go_privately(
    bot: TelegramBotRunner, world: World
) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, REPORT)
    await bot.reply_to(posted)
    feedback = await resolve_item(bot, world)
    assert "水管爆了" in feedback["text"] and PHONE not in feedback["text"] and WECHAT not in feedback["text"]
    assignment = await bot.sent_matching(world.deputy["id"], lambda m: "#1" in m["text"])
    assert PHONE in assignment["text"] and WECHAT in assignment["text"], "the assignee may call back"
    details = await bot.reply_to(fake.text(world.staff, world.admin, "/item 1"))
    assert PHONE in details["text"], "the staff chat is a private place"

    # Alice never pressed Start: the direct answer gets a 403, and the group is told what to do.
    asked = fake.text(world.residents, world.alice, "/my")
    told = await bot.reply_to(asked)
    assert "无法私信您" in told["text"] and f"https://t.me/{fake.username}?start=" in told["text"]
    assert "/my" in told["text"] and "水管" not in told["text"] and "#1" not in told["text"]
    assert any(c.error_code == 403 for c in fake.calls_of("sendMessage"))

    # She opens the bot and presses Start; the next /my is answered privately, with a pointer in the group.
    fake.start_private(world.alice)
    await bot.reply_to(fake.text(fake.private(world.alice), world.alice, "/start"))
    asked = fake.text(world.residents, world.alice, "/my")
    pointer = await bot.reply_to(asked)
    assert "已私信回复您" in pointer["text"] and "水管" not in pointer["text"]
    answer = await bot.sent_matching(world.alice["id"], lambda m: "您提出的事项" in m["text"])
    assert "#1" in answer["text"] and "家里水管爆了" in answer["text"]
    for message in fake.sent(world.residents["id"]):
        assert PHONE not in message["text"] and WECHAT not in message["text"], message["text"]


async def test_a_reply_rates_only_when_it_is_a_label(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    await bot.reply_to(fake.text(world.residents, world.alice, "#投诉 楼下广场舞噪音太大"))
    feedback = await resolve_item(bot, world)

    unclear = fake.text(world.residents, world.alice, "满意？根本没修好", reply_to=feedback)
    question = await bot.reply_to(unclear)
    assert "是否满意" in question["text"] and has_buttons(question) == ["满意", "基本满意", "不满意"]
    item = await only_item(bot)
    assert (item.status, item.rating) == (ItemStatus.RESOLVED, None), "an unclear reply records nothing"

    meant = fake.text(world.residents, world.alice, "不满意，晚上还是很吵", reply_to=feedback)
    thanks = await bot.reply_to(meant)
    assert "不满意" in thanks["text"] and "重新交办" in thanks["text"]
    item = await only_item(bot)
    assert (item.status, item.rating) == (ItemStatus.REOPENED, "unsatisfied")
    notice = await bot.sent_matching(world.staff["id"], lambda m: "不满意" in m["text"])
    assert "晚上还是很吵" in notice["text"]


async def test_a_referral_has_no_buttons_and_a_reply_changes_nothing(bot: TelegramBotRunner, world: World) -> None:
    fake = world.fake
    await set_up_station(bot, world)
    posted = fake.text(world.residents, world.alice, "#投诉 邻居占了我的车位")
    await bot.reply_to(posted)
    rejected = fake.text(world.staff, world.admin, "/reject 1 属于邻里民事纠纷，可向社区人民调解委员会申请调解")
    await bot.reply_to(rejected)
    referral = await bot.sent_matching(world.residents["id"], lambda m: "不予受理" in m["text"])
    assert has_buttons(referral) == [] and "人民调解委员会" in referral["text"]
    explained = await bot.reply_to(fake.text(world.residents, world.alice, "不满意", reply_to=referral))
    assert "不需要评价" in explained["text"]
    item = await only_item(bot)
    assert (item.status, item.rating, item.reopen_count) == (ItemStatus.REJECTED, None, 0)
