"""Which tier a statement belongs to (pure): the standing profile, or the episodes around it.

The profile is what holds until the user changes it, so every request of the user should
consider it whatever the question's wording: how they want answers (language, length, tone,
format, tools and tech stack), who they are (name, how to address them, where they live, time
zone, occupation), what they can't do or eat (diet, allergies, health, accessibility, budget) and
long-running goals. Everything else (what happened, plans with a date, facts about others) is
episodic: found by recency and relevance.

A standing instruction ("always answer in Spanish", "from now on keep it short", "以后请用中文回答")
is a request to the assistant, which the extractor otherwise drops as one-off ("translate this"):
`is_standing_instruction` tells them apart.
"""

from __future__ import annotations

import functools
import re

from proxy.core.records import Tier

__all__ = ["PROFILE_ATTRIBUTES", "is_core", "is_standing_instruction", "tier_of"]

# Single-valued attributes (proxy/memory/extract/attributes.py) that describe the user as they
# are: a statement setting one of these belongs to the profile.
PROFILE_ATTRIBUTES = frozenset(
    {
        "residence",
        "employer",
        "occupation",
        "name",
        "age",
        "relationship",
        "answer_language",
        "answer_length",
        "diet",
        "timezone",
    }
)

_STANDING_EN = re.compile(
    r"(?i)\b(?:always|from\s+now\s+on|going\s+forward|in\s+(?:the\s+)?future|every\s+time"
    r"|each\s+time|whenever\s+(?:you|i)|never\s+(?:again|use|give|answer|reply|respond|write"
    r"|suggest|recommend|mention)|by\s+default|for\s+all\s+(?:future\s+)?(?:answers|replies"
    r"|responses|conversations))\b"
)
_STANDING_ZH = re.compile(r"以后|今后|从现在(?:开始|起)|每次|请一直|一直用|始终|总是|永远|默认")
# What a standing instruction is about: how the assistant should answer.
_ANSWER_EN = re.compile(
    r"(?i)\b(?:answer|answers|respond|responses|reply|replies|write|speak|talk|call\s+me"
    r"|address\s+me|refer\s+to\s+me|use|give|keep|format|explain|suggest|recommend|include"
    r"|mention|avoid|show|assume|remind|treat|be)\b"
)
_ANSWER_ZH = re.compile(
    r"回答|回复|答复|用|叫我|称呼我|给我|别|不要|推荐|解释|格式|简短|详细|提醒|说"
)

# General likes, dislikes, fears and limits ("I prefer", "I avoid", "I can't stand", "I have a
# fear of heights", "I don't consume sugar").
_GENERAL_PREFERENCE = re.compile(
    r"(?i)\b(?:prefer|prefers|like|likes|love|loves|enjoy|enjoys|hate|hates|dislike|dislikes"
    r"|avoid|avoids|can't\s+stand|cannot\s+stand|am\s+(?:a\s+)?(?:big\s+)?fan\s+of|fond\s+of"
    r"|into|favou?rite|go-to|refuse|refuses|won't|will\s+not|never|aversion|averse|phobia"
    r"|fear\s+of|afraid\s+of|scared\s+of|terrified\s+of|not\s+(?:comfortable|interested|a\s+fan)"
    r"|uncomfortable|(?:don't|do\s+not|can't|cannot|can\s+not|won't)\s+(?:like|eat|drink|use|wear"
    r"|want|enjoy|consume|tolerate|handle|stand|do|watch|play|read|stay|go|drive|buy|ride|fly)"
    r"|allergic|allergy|intoleran\w*|strictly|only\s+(?:eat|use|wear|buy|watch|play|read|drink)"
    r"|advocate\s+(?:of|for)|passionate\s+about|committed\s+to|difficult\s+(?:for\s+me\s+)?to"
    r"|vegan|vegetarian|kosher|halal|gluten|lactose|diabetic|celiac|coeliac|sober|budget)\b"
    r"|喜欢|不喜欢|讨厌|偏好|偏爱|更爱|最爱|热爱|受不了|不吃|不喝|只吃|只用|避免|拒绝|过敏|不耐受|害怕|恐高"
)
# Long-running goals and what the user works with.
_GOAL_OR_STACK = re.compile(
    r"(?i)\b(?:my\s+(?:long-term\s+|main\s+|big\s+)?goal\s+is|i(?:'m|\s+am)\s+(?:training\s+for"
    r"|learning|studying|working\s+towards?|saving\s+(?:up\s+)?for)|i\s+(?:use|code\s+in|write"
    r"|program\s+in|work\s+(?:with|in))\s+(?:mostly\s+|mainly\s+)?[A-Z]\w*)"
    r"|我的(?:长期)?目标是|我(?:正在|在)(?:学习?|备考|准备)|我(?:主要)?用\s*[A-Za-z]"
)
# Who the user is ("I'm a nurse", "I'm 34", "I have diabetes", "I use a wheelchair").
_IDENTITY = re.compile(
    r"(?i)\bi(?:'m|\s+am)\s+(?:a|an)\s+[a-z-]+(?:\s+[a-z-]+)?(?:er|or|ist|ian|ant|ent|nurse|chef"
    r"|doctor|teacher|student|engineer|developer|designer|lawyer|parent|mom|mum|dad)\b"
    r"|\bi\s+(?:have|suffer\s+from)\s+(?:type\s+\d\s+)?(?:diabetes|asthma|epilepsy|adhd|autism"
    r"|dyslexia|arthritis|celiac|coeliac|a\s+disability|hearing\s+loss|low\s+vision)\b"
    r"|\bi(?:'m|\s+am)\s+(?:deaf|blind|colou?r-?blind|hard\s+of\s+hearing|pregnant|diabetic)\b"
    r"|\bi\s+(?:use\s+a\s+wheelchair|use\s+a\s+screen\s+reader)\b"
    r"|\bi\s+(?:speak|am\s+fluent\s+in|'m\s+fluent\s+in|am\s+a\s+native\s+\w+\s+speaker)\b"
    r"|\bmy\s+budget\s+is\b|我是一?(?:名|个|位)|我有(?:糖尿病|哮喘|高血压)|我的预算"
)
# A dated or past episode is not standing: "I loved the concert last night".
_EPISODE = re.compile(
    r"(?i)\b(?:yesterday|today|tonight|tomorrow|last\s+(?:night|week|month|year|weekend|time)"
    r"|this\s+(?:morning|afternoon|evening|weekend)|next\s+(?:week|month|year|weekend)|ago"
    r"|just\s+(?:now|got|had|went)|earlier|loved\s+the|liked\s+the|enjoyed\s+the|hated\s+the"
    r"|went|visited|bought|watched|saw|met|had\s+a)\b|昨天|今天|明天|上周|下周|上个?月|刚才|刚刚"
)


def is_standing_instruction(text: str) -> bool:
    """A request about how to answer from now on ("always answer in Spanish", "以后用中文回答"),
    as opposed to a one-off request ("translate this")."""
    text = text.replace("’", "'")
    if _STANDING_EN.search(text):
        return bool(_ANSWER_EN.search(text))
    if _STANDING_ZH.search(text):
        return bool(_ANSWER_ZH.search(text))
    return False


# What the user cannot do or eat, said of themselves ("I'm allergic to peanuts", "I'm vegan", "I
# can't eat gluten", "我对花生过敏"; not "I made vegan ice cream"): it must reach every request,
# however large the profile.
_LIMIT = (
    r"(?:allerg\w*|intoleran\w*|anaphyla\w*|vegan|vegetarian|kosher|halal|gluten|lactose|diabetic"
    r"|diabetes|celiac|coeliac|sober|wheelchair|epilep\w*|pregnant)"
)
_HARD_LIMIT = re.compile(
    rf"(?i)\b(?:i(?:'m|\s+am)|i\s+have|i've\s+been|i\s+was\s+diagnosed|i\s+use|i\s+keep)\b"
    rf"[^.!?]{{0,40}}?(?<!\bnot\s)(?<!n't\s)\b{_LIMIT}\b"  # not "I'm not allergic"
    r"|\bi\s+(?:don't|do\s+not|can't|cannot|never)\s+(?:eat|drink)\b"
    r"|我[^。！？]{0,8}(?:过敏|不耐受|素食|吃素|忌口|清真|糖尿病|怀孕|轮椅)|我(?:不|不能)(?:吃|喝)"
)
# A standing fact is said in a sentence or two, not told as a story.
_CORE_MAX_CHARS = 160


# How to answer, in a standing instruction that is part of the core ("always answer in
# Spanish", "from now on keep it short"; not "we can always be there for each other").
_HOW_TO_ANSWER = re.compile(
    r"(?i)\b(?:answer|answers|respond|responses|reply|replies|speak\s+to\s+me|talk\s+to\s+me"
    r"|call\s+me|address\s+me|refer\s+to\s+me|format|explain|keep\s+(?:it|them|answers"
    r"|responses|replies)|in\s+(?:English|Spanish|French|German|Chinese|Japanese|Portuguese))\b"
    r"|回答|回复|答复|叫我|称呼我|格式|简短|详细"
)


@functools.lru_cache(maxsize=65536)  # asked of every profile item on every request of its user
def is_core(text: str, attribute: str | None) -> bool:
    """The part of a profile that applies to every request whatever it asks: who the user is
    (a single-valued attribute), how to answer them (a standing instruction), what they cannot
    do or eat. A like or a favourite is profile too, but only matters where relevant."""
    text = text.replace("’", "'")
    if len(text) > _CORE_MAX_CHARS or _EPISODE.search(text):
        return False  # "I joined a gym last week" is an event, whatever attribute it set
    if attribute is not None and attribute in PROFILE_ATTRIBUTES:
        return True
    if is_standing_instruction(text) and _HOW_TO_ANSWER.search(text):
        return True
    return bool(_HARD_LIMIT.search(text))


def tier_of(text: str, kind: str, attribute: str | None) -> Tier:
    """The tier of a statement the user made about themselves (kind: preference, fact, plan,
    constraint, event): what it says decides, a time marker makes it an episode."""
    text = text.replace("’", "'")
    if attribute is not None and (
        attribute in PROFILE_ATTRIBUTES or attribute.startswith("favourite:")
    ):
        return "profile"
    if is_standing_instruction(text):
        return "profile"
    if _EPISODE.search(text):
        return "episodic"  # "I loved the concert last night", "next week I have to ..."
    if _GENERAL_PREFERENCE.search(text) or _IDENTITY.search(text) or _GOAL_OR_STACK.search(text):
        return "profile"
    return "profile" if kind == "preference" else "episodic"
