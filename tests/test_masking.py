"""The masking function against a corpus of real-looking resident messages, both directions:
what identifies a person must be hidden, and what is clearly not personal must stay as written."""

from __future__ import annotations

import re

import pytest

from handlers.i18n import translator
from handlers.masking import MASK, Kind, describe_hidden, mask, safe_cut

# (message, the secret that must disappear, what it is)
MUST_MASK: list[tuple[str, str, Kind]] = [
    ("电话 139-1234-5678 请回电", "139-1234-5678", Kind.PHONE),
    ("我的手机13912345678，晚上打", "13912345678", Kind.PHONE),
    ("联系我 139 1234 5678", "139 1234 5678", Kind.PHONE),
    ("请拨+86 139 1234 5678找王师傅", "139 1234 5678", Kind.PHONE),
    ("号码是+8613912345678", "13912345678", Kind.PHONE),
    ("86-13912345678 张阿姨", "13912345678", Kind.PHONE),
    ("0086 13912345678", "13912345678", Kind.PHONE),
    ("(+86)13912345678", "13912345678", Kind.PHONE),
    ("手机：１３９１２３４５６７８", "１３９１２３４５６７８", Kind.PHONE),
    ("电话１３９－１２３４－５６７８有事找我", "１３９－１２３４－５６７８", Kind.PHONE),
    ("有事打158.0123.4567", "158.0123.4567", Kind.PHONE),
    ("我儿子的号 17700001111 也可以", "17700001111", Kind.PHONE),
    ("联系人李女士18600001234", "18600001234", Kind.PHONE),
    ("回电191 0000 2222，谢谢", "191 0000 2222", Kind.PHONE),
    ("电话13912345678、13812345678都行", "13812345678", Kind.PHONE),
    ("物业办公室座机0791-88123456一直没人接", "0791-88123456", Kind.PHONE),
    ("打(010)12345678找居委会", "(010)12345678", Kind.PHONE),
    ("（010）12345678", "12345678", Kind.PHONE),
    ("电话010-62345678转802", "010-62345678", Kind.PHONE),
    ("020 87654321是我家电话", "020 87654321", Kind.PHONE),
    ("座机 88123456", "88123456", Kind.PHONE),
    ("联系电话：8812 3456", "8812 3456", Kind.PHONE),
    ("Tel: 6623-4567", "6623-4567", Kind.PHONE),
    ("身份证号360102198001011234，房产证办不下来", "360102198001011234", Kind.ID_NUMBER),
    ("身份证 36010219800101123X", "36010219800101123X", Kind.ID_NUMBER),
    ("我的证件号是11010519491231002x", "11010519491231002x", Kind.ID_NUMBER),
    ("老人身份证360102800101123还是老的", "360102800101123", Kind.ID_NUMBER),
    ("身份证：３６０１０２１９８００１０１１２３４", "３６０１０２１９８００１０１１２３４", Kind.ID_NUMBER),
    ("护照号 E12345678", "E12345678", Kind.ID_NUMBER),
    ("补贴打到卡号6222021234567890123里没到账", "6222021234567890123", Kind.BANK_CARD),
    ("银行卡 6217 0000 1234 5678 901", "6217 0000 1234 5678 901", Kind.BANK_CARD),
    ("工资卡6228480402564890018没收到钱", "6228480402564890018", Kind.BANK_CARD),
    ("卡号6222-0212-3456-7890", "6222-0212-3456-7890", Kind.BANK_CARD),
    ("信用卡4392250012345678被盗刷", "4392250012345678", Kind.BANK_CARD),
    ("邮箱 zhangjg1980@163.com 可以发材料", "zhangjg1980@163.com", Kind.EMAIL),
    ("请发到 li.ming+juwei@qq.com", "li.ming+juwei@qq.com", Kind.EMAIL),
    ("Email: wang_fang@example.com.cn", "wang_fang@example.com.cn", Kind.EMAIL),
    ("微信号 zhangjg1980", "zhangjg1980", Kind.ACCOUNT),
    ("加我微信zhangjg_1980详聊", "zhangjg_1980", Kind.ACCOUNT),
    ("微信：wxid-abc123", "wxid-abc123", Kind.ACCOUNT),
    ("vx: liming-88", "liming-88", Kind.ACCOUNT),
    ("VX liming88 拉群", "liming88", Kind.ACCOUNT),
    ("我QQ是123456789", "123456789", Kind.ACCOUNT),
    ("qq号 1234567", "1234567", Kind.ACCOUNT),
    ("QQ：2876543210 有照片", "2876543210", Kind.ACCOUNT),
    ("wx:zhangsan_01", "zhangsan_01", Kind.ACCOUNT),
    ("WeChat id wangfang2024", "wangfang2024", Kind.ACCOUNT),
    ("扣扣 987654321", "987654321", Kind.ACCOUNT),
    ("微信同手机13912345678", "13912345678", Kind.PHONE),
    ("#建议 三栋楼道灯坏了，我是302的，电话13912345678", "13912345678", Kind.PHONE),
]

# Messages in which nothing is personal: they must come back exactly as written.
MUST_KEEP: list[str] = [
    "3栋502室门口的路灯坏了",
    "12-3-502 楼上漏水",
    "5号楼1单元302的下水道堵了",
    "2026-12-01 上午停水",
    "2026年12月15日的接待日几点开始？",
    "12月15日 09:00-11:30 在社区服务中心",
    "20261201 之后一直没修",
    "物业费一年涨了1500元",
    "维修基金还剩3000000元，够用吗",
    "补贴￥12,000.50 什么时候发",
    "拨打12345政务热线没人管",
    "电话 12345 反映过了",
    "110 来了也没用",
    "请问#12 的进展",
    "小区有1200户，只有2部电梯",
    "邮编330000",
    "车牌赣A12345的车一直占消防通道",
    "快递单号SF1234567890123丢了",
    "面积120平方米，公摊太多",
    "已经等了30天",
    "2026年第3季度的账目没公示",
    "第1、2、3期工程",
    "营业执照 91360100MA35XXXXXX 挂在门口",
    "门禁密码 2580 被人改了",
    "楼道里堆了50袋垃圾",
    "凌晨2点还在施工，噪音超过70分贝",
    "公交23路和K101路都不停靠了",
    "老年卡 60 岁以上免费吗",
    "东门到西门 800 米没有路灯",
    "微信群里说要涨价",
    "大家都在微信上反映过",
    "QQ群里有通知",
    "手机信号很差",
    "电话打不通",
    "身份证丢了怎么补办",
    "3号楼2203和2204之间的墙裂了",
    "共计 4,500,000 元的改造资金",
    "No.1 幼儿园门口拥堵",
    "温度 -5 度，暖气不热",
    "版本 1.2.3 的小程序打不开",
]


@pytest.mark.parametrize(("text", "secret", "kind"), MUST_MASK)
def test_personal_data_is_masked(text: str, secret: str, kind: Kind) -> None:
    masked = mask(text)
    assert secret not in masked.text
    digits = re.sub(r"\D", "", secret.translate({c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)}))
    if len(digits) >= 7:
        assert digits not in re.sub(r"\D", "", masked.text), "no run of the secret's digits may survive"
    assert MASK in masked.text
    assert masked.hidden[kind] >= 1, masked.hidden


@pytest.mark.parametrize("text", MUST_KEEP)
def test_what_is_not_personal_stays(text: str) -> None:
    masked = mask(text)
    assert masked.text == text
    assert not masked and not masked.hidden


def test_corpus_is_large_enough() -> None:
    assert len(MUST_MASK) + len(MUST_KEEP) >= 80


def test_only_the_value_after_a_word_is_hidden() -> None:
    assert mask("微信号 zhangjg1980，QQ 123456789").text == "微信号 ***，QQ ***"
    assert mask("电话 139-1234-5678 请回电").text == "电话 *** 请回电"


def test_masking_is_idempotent_and_counts_by_kind() -> None:
    once = mask("电话13912345678，身份证360102198001011234，邮箱a@b.cn")
    assert once.text == "电话***，身份证***，邮箱***"
    assert dict(once.hidden) == {Kind.PHONE: 1, Kind.ID_NUMBER: 1, Kind.EMAIL: 1}
    twice = mask(once.text)
    assert twice.text == once.text and not twice


def test_names_given_are_hidden_too() -> None:
    masked = mask("王建国反映：王建国家门口的灯坏了", names=["王建国", "x"])
    assert masked.text == "***反映：***家门口的灯坏了"
    assert masked.hidden[Kind.NAME] == 2
    assert mask("Li asked for light", names=["li"]).text == "*** asked for light"


def test_a_cut_never_halves_personal_data() -> None:
    text = "东门路灯坏了好几天了，晚上很黑，请联系我 139 1234 5678"
    cut = safe_cut(text, 25)
    assert text[:cut] == "东门路灯坏了好几天了，晚上很黑，请联系我 "
    assert safe_cut("短", 25) == 1


def test_describe_hidden_names_what_was_hidden() -> None:
    hidden = mask("13912345678 和 13812345678，身份证360102198001011234").hidden
    assert describe_hidden(translator("zh_CN"), hidden) == "电话号码 2 处、证件号 1 处"
    assert describe_hidden(translator("en"), hidden).count("2") == 1
