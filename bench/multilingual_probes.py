"""The Chinese and cross-lingual probe set of bench/multilingual.py (written for this project).

Two memory users. `zh` tells everything in Chinese; `mixed` is a developer who mixes Chinese,
English, and English terms inside Chinese ("我开始用 TypeScript 重写前端。"). Each event is one
dated thing that happened or was done, said as one plain first-person sentence, so the offline
extractor keeps it whole as one memory. Profile facts (where the user lives, allergies, standing
preferences) are stored too but never scored: the proxy may inject them on every request.

Every targeted question is a paraphrase that shares no content word with its target events
(`bench/multilingual_text.py` defines content words; tests/test_multilingual_bench.py checks it).
Unrelated questions are asked of every user and should get none of the events.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVENTS", "PROFILE", "QUESTIONS", "UNRELATED", "USERS", "Event", "Profile", "Question"]

USERS = ("zh", "mixed")


@dataclass(frozen=True)
class Event:
    id: str
    user: str
    days_ago: int  # sent as X-Memory-Time: now minus this many days
    text: str

    @property
    def lang(self) -> str:
        return "zh" if any("\u3400" <= c <= "\u9fff" for c in self.text) else "en"


@dataclass(frozen=True)
class Profile:
    id: str
    user: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    lang: str  # the question's language: zh | en
    text: str
    user: str = ""  # "" for unrelated questions: asked of every user
    targets: tuple[str, ...] = ()  # event ids whose text should reach the model


def _events(user: str, rows: list[tuple[str, int, str]]) -> list[Event]:
    return [Event(id, user, days, text) for id, days, text in rows]


EVENTS: tuple[Event, ...] = (
    *_events(
        "zh",
        [
            ("z01", 20, "我女儿在学校的绘画比赛拿了二等奖。"),
            ("z02", 45, "我爸爸做了膝盖手术，恢复得不错。"),
            ("z03", 70, "我们团队的新产品在三月份正式上线了。"),
            ("z04", 95, "我被提拔为部门经理。"),
            ("z05", 12, "我连续加班了两个星期赶项目进度。"),
            ("z06", 33, "我体检查出血压偏高，医生让少吃盐。"),
            ("z07", 8, "我感冒发烧在家躺了三天。"),
            ("z08", 60, "我开始每周去游泳三次。"),
            ("z09", 120, "我和老公去云南大理玩了一周。"),
            ("z10", 150, "我国庆节带孩子在北京看了升旗仪式。"),
            ("z11", 110, "我的航班因为台风取消了，只好改签到第二天。"),
            ("z12", 6, "我的手机上周掉进水里坏了。"),
            ("z13", 40, "我花了八千块买了一台新笔记本电脑。"),
            ("z14", 25, "我给家里换了一台扫地机器人。"),
            ("z15", 50, "我儿子期中考试数学考了满分。"),
            ("z16", 80, "我女儿开始学钢琴，每周六上一节课。"),
            ("z17", 130, "我报名参加了成人英语夜校。"),
            ("z18", 18, "我家的猫咪生了四只小猫。"),
            ("z19", 65, "我带狗狗去宠物医院打了狂犬疫苗。"),
            ("z20", 35, "我上个月跑完了人生第一个半程马拉松。"),
            ("z21", 14, "我学会了做红烧肉，家里人都说好吃。"),
            ("z22", 28, "我在阳台种的番茄结果了。"),
            ("z23", 90, "我婆婆从老家来看我们，住了半个月。"),
            ("z24", 160, "我们结婚十周年，去吃了一顿法国菜庆祝。"),
            ("z25", 22, "我去深圳出差见了三个客户。"),
            ("z26", 100, "我把房贷提前还清了一部分。"),
            ("z27", 75, "我的车在高速上被追尾了，幸好人没事。"),
            ("z28", 10, "我网购的沙发到货了，颜色和图片不一样。"),
            ("z29", 55, "我拔了一颗智齿，肿了好几天。"),
            ("z30", 16, "我儿子被选进了校足球队。"),
            ("z31", 38, "我读完了《三体》三部曲。"),
            ("z32", 180, "我在日本京都看了红叶。"),
        ],
    ),
    *_events(
        "mixed",
        [
            ("m01", 140, "我把公司的后端从 Python 迁移到了 Go。"),
            ("m02", 30, "我开始用 TypeScript 重写前端。"),
            ("m03", 21, "我在 GitHub 上的开源项目拿到了一千颗星。"),
            ("m04", 85, "我参加了上海的一场 AI 黑客马拉松，拿了第三名。"),
            ("m05", 62, "我给老婆买了一台 iPad 当生日礼物。"),
            ("m06", 9, "我的笔记本键盘进了咖啡，送修花了一周。"),
            ("m07", 47, "我第一次在技术大会上做了演讲。"),
            ("m08", 19, "我儿子学会了骑自行车。"),
            ("m09", 115, "我爸妈来杭州过春节，我们一起逛了西湖。"),
            ("m10", 58, "我在体检中发现有轻度脂肪肝。"),
            ("m11", 26, "我换了一把机械键盘，用的是青轴。"),
            ("m12", 72, "我报了一个日语班，每周二晚上上课。"),
            ("m13", 44, "我的猫 Mochi 做了绝育手术。"),
            ("m14", 13, "我把旧的 MacBook 在闲鱼上卖了三千块。"),
            ("e01", 36, "I switched our CI from Jenkins to GitHub Actions."),
            ("e02", 98, "I passed the AWS Solutions Architect exam in March."),
            ("e03", 52, "I ran my first 10k race in under fifty minutes."),
            ("e04", 105, "I adopted a rescue dog named Biscuit."),
            (
                "e05",
                15,
                "I fixed a memory leak in our payment service that had crashed production twice.",
            ),
            ("e06", 125, "I flew to Tokyo for the React conference in May."),
            ("e07", 11, "My daughter lost her first baby tooth."),
            ("e08", 170, "I broke my wrist snowboarding in Hokkaido."),
            ("e09", 88, "I finished reading Clean Architecture over the holidays."),
            ("e10", 24, "My team shipped the new billing dashboard two weeks ahead of schedule."),
            ("e11", 67, "I bought a standing desk and a new monitor for my home office."),
            ("e12", 135, "I got food poisoning after eating street tacos in Mexico City."),
            ("e13", 155, "My wife and I celebrated our fifth anniversary in Bali."),
            ("e14", 42, "I migrated my personal blog from WordPress to Hugo."),
            ("e15", 7, "I lost my wallet on the subway and had to cancel all my cards."),
            ("e16", 31, "I started learning to play the guitar with online lessons."),
        ],
    ),
)

PROFILE: tuple[Profile, ...] = (
    Profile("pz1", "zh", "我住在杭州西湖区。"),
    Profile("pz2", "zh", "我对花生过敏。"),
    Profile("pz3", "zh", "我喜欢喝不加糖的绿茶。"),
    Profile("pm1", "mixed", "我喜欢用 TypeScript 写代码。"),
    Profile("pm2", "mixed", "我对海鲜过敏。"),
    Profile("pm3", "mixed", "I prefer short answers with code examples."),
)


def _asked(user: str, lang: str, rows: list[tuple[str, str, tuple[str, ...]]]) -> list[Question]:
    return [Question(id, lang, text, user, targets) for id, text, targets in rows]


QUESTIONS: tuple[Question, ...] = (
    # Chinese questions about Chinese events.
    *_asked(
        "zh",
        "zh",
        [
            ("qz01", "孩子最近有没有获得什么荣誉？", ("z01",)),
            ("qz02", "我父亲的腿怎样了？", ("z02",)),
            ("qz03", "公司推出的应用什么时候发布的？", ("z03",)),
            ("qz04", "职位方面有变化吗？", ("z04",)),
            ("qz05", "最近工作忙不忙？", ("z05",)),
            ("qz06", "我的健康状况如何？", ("z06",)),
            ("qz07", "前阵子生病了吗？", ("z07",)),
            ("qz08", "平时做哪些运动锻炼？", ("z08",)),
            ("qz09", "上次度假是在哪儿？", ("z09",)),
            ("qz10", "假期有没有领小朋友去首都？", ("z10",)),
            ("qz11", "坐飞机碰上什么意外？", ("z11",)),
            ("qz12", "我的电话出了啥问题？", ("z12",)),
            ("qz13", "清洁方面添了啥帮手？", ("z14",)),
            ("qz14", "孩子报了啥乐器班？", ("z16",)),
            ("qz15", "自己有没有去补习外文？", ("z17",)),
            ("qz16", "宠物那边有啥新情况？", ("z18",)),
            ("qz17", "毛孩子最近接种了吗？", ("z19",)),
            ("qz18", "参加过啥耐力赛事？", ("z20",)),
            ("qz19", "厨艺有啥进步？", ("z21",)),
            ("qz20", "栽培的蔬菜收获了吗？", ("z22",)),
            ("qz21", "丈夫的母亲有没有登门拜访？", ("z23",)),
            ("qz22", "最近有没有外地的商务行程？", ("z25",)),
            ("qz23", "按揭的事有进展吗？", ("z26",)),
            ("qz24", "驾驶途中遭遇过撞击吗？", ("z27",)),
            ("qz25", "新家具送来以后满意吗？", ("z28",)),
            ("qz26", "最近啃下了哪套科幻作品？", ("z31",)),
            ("qz27", "秋季出境旅游去过哪儿？", ("z32",)),
            ("qz28", "娃们近来有啥值得骄傲的表现？", ("z01", "z15", "z30")),
        ],
    ),
    *_asked(
        "mixed",
        "zh",
        [
            ("qm01", "网页界面换成哪种编程语言了？", ("m02",)),
            ("qm02", "编程竞赛取得了啥成绩？", ("m04",)),
            ("qm03", "手提电脑出过啥故障？", ("m06",)),
            ("qm04", "有没有公开发言的经历？", ("m07",)),
            ("qm05", "小家伙掌握了啥新本领？", ("m08",)),
            ("qm06", "父母探亲期间去了哪些景点？", ("m09",)),
            ("qm07", "健康方面查出了啥毛病？", ("m10",)),
            ("qm08", "最近入手了什么外设？", ("m11",)),
            ("qm09", "业余时间进修啥外文？", ("m12",)),
            ("qm10", "二手电脑出手了吗？", ("m14",)),
        ],
    ),
    # English questions about Chinese events.
    *_asked(
        "zh",
        "en",
        [
            ("ez01", "What happened to my phone?", ("z12",)),
            ("ez02", "Did my kid win any prize?", ("z01",)),
            ("ez03", "What did the doctor say about my blood pressure?", ("z06",)),
            ("ez04", "Where did I go on vacation with my husband?", ("z09",)),
            ("ez05", "How did my son do on his math test?", ("z15",)),
            ("ez06", "Did my cat have babies?", ("z18",)),
            ("ez07", "Have I ever done a long-distance running race?", ("z20",)),
            ("ez08", "How did we celebrate our wedding anniversary?", ("z24",)),
            ("ez09", "What did the dentist do to me?", ("z29",)),
            ("ez10", "Was my car damaged in an accident?", ("z27",)),
        ],
    ),
    *_asked(
        "mixed",
        "en",
        [
            ("em01", "Which programming language did we rewrite the backend in?", ("m01",)),
            ("em02", "How many stars did my open-source project get?", ("m03",)),
            ("em03", "What present did I buy my wife for her birthday?", ("m05",)),
            ("em04", "Did my pet have surgery?", ("m13",)),
            ("em05", "How much did I get for my old laptop?", ("m14",)),
        ],
    ),
    # Chinese questions about English events.
    *_asked(
        "mixed",
        "zh",
        [
            ("ze01", "持续集成流水线换成了啥工具？", ("e01",)),
            ("ze02", "云计算认证考过了吗？", ("e02",)),
            ("ze03", "领养的宠物叫啥？", ("e04",)),
            ("ze04", "线上支付系统的崩溃问题解决了吗？", ("e05",)),
            ("ze05", "五月份出国参加了啥技术会议？", ("e06",)),
            ("ze06", "女儿换牙了吗？", ("e07",)),
            ("ze07", "滑雪的时候受过伤吗？", ("e08",)),
            ("ze08", "在墨西哥吃坏肚子了吗？", ("e12",)),
            ("ze09", "结婚纪念日去哪儿度假了？", ("e13",)),
            ("ze10", "钱包丢了之后怎么处理的？", ("e15",)),
            ("ze11", "最近在学哪种乐器？", ("e16",)),
        ],
    ),
    # English questions about English events: the control.
    *_asked(
        "mixed",
        "en",
        [
            ("ee01", "How fast was my last road running event?", ("e03",)),
            ("ee02", "Which software design book did I complete during the break?", ("e09",)),
            ("ee03", "Did my group deliver the invoicing screen early?", ("e10",)),
            ("ee04", "What furniture did I get for remote work?", ("e11",)),
            ("ee05", "What did I move my website onto?", ("e14",)),
        ],
    ),
)

# Asked of every user: none of the events should reach the model.
UNRELATED: tuple[Question, ...] = tuple(
    Question(id, lang, text)
    for id, lang, text in [
        ("uz01", "zh", "今天天气怎么样？"),
        ("uz02", "zh", "帮我写一首关于春天的诗。"),
        ("uz03", "zh", "一公里等于多少米？"),
        ("uz04", "zh", "量子计算机的原理是什么？"),
        ("uz05", "zh", "世界上最高的山是哪座？"),
        ("uz06", "zh", "光速是多少？"),
        ("ue01", "en", "What is the capital of Australia?"),
        ("ue02", "en", "What is the boiling point of water at sea level?"),
        ("ue03", "en", "Write a haiku about the ocean."),
        ("ue04", "en", "Who painted the Mona Lisa?"),
        ("ue05", "en", "Explain how photosynthesis works."),
        ("ue06", "en", "Convert 100 Fahrenheit to Celsius."),
    ]
)
