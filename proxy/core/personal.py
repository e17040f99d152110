"""Whether a message asks about the user's own life, or about the world (pure).

"孩子最近有没有获得什么荣誉？" and "What happened to my phone?" can only be answered from what
the user said before; "光速是多少？", "Who painted the Mona Lisa?" and "Write a haiku about the
ocean" cannot. The multilingual model's similarities alone do not tell the two apart (an
unrelated question stands out from a user's memories about as often as a related one), so its
relevance gate is stricter for a message that asks about the world.
"""

from __future__ import annotations

import re

__all__ = ["about_the_user"]

_PERSONAL_EN = re.compile(r"(?i)\b(?:i|me|my|mine|myself|we|us|our|ours|i'm|i've|i'd|i'll)\b")
_PERSONAL_ZH = re.compile(
    r"我|咱|俺|(?:孩子|娃|女儿|儿子|小朋友|小家伙|父亲|母亲|爸|妈|丈夫|妻子|老公|老婆|婆婆|公公|岳父|岳母"
    r"|父母|家人|家里|亲戚|宠物|毛孩子|猫|狗|公司|同事|老板|领导|团队|项目|工作|职位|上班|房子|家具|车"
    r"|最近|近来|前阵子|上次|之前|以前|去年|上周|上个月|平时|自己|有没有|有啥|出过|去过|做过)"
)
# Asking for content or for knowledge about the world.
_WORLD_EN = re.compile(
    r"(?i)^(?:write|compose|draft|translate|summari[sz]e|explain|define|convert|calculate|compute"
    r"|list|generate|tell\s+me\s+a\s+(?:joke|story)|who\s+(?:painted|wrote|invented|discovered"
    r"|was|is)|what\s+is\s+(?:the|a)\b)"
)
_WORLD_ZH = re.compile(
    r"^(?:帮我)?(?:写|翻译|总结|解释|计算|换算|列出|生成|讲个)|是什么[？?]?$|多少[？?]?$|哪座|原理"
)
# A Chinese question often leaves its subject out ("参加过啥比赛？"): asking what happened (the
# aspect markers 了 / 过 in a question) is asking about the user's life.
_EVENT_ZH = re.compile(
    r"[了过](?:吗|没|啥|什么|哪|几|多久)|过\S{0,8}吗|了[？?]\s*$|了之后|怎么处理的|进展|业余"
    r"|碰上|遇到|遇上|遭遇"
)


def about_the_user(message: str) -> bool:
    """True when the message is about the user's own life (so a memory may answer it)."""
    text = message.strip()
    if _WORLD_EN.search(text) and not re.search(r"(?i)\bmy\b", text):
        return False
    if _WORLD_ZH.search(text) and "我的" not in text:
        return False
    return bool(_PERSONAL_EN.search(text) or _PERSONAL_ZH.search(text) or _EVENT_ZH.search(text))
