"""Whether a message refers back to something said before (pure), so that the recent tier is
worth its tokens: "Hi again, any news on my case?" means nothing without the case, while "Explain
TCP congestion control" needs no recent memory at all (injecting every new memory for days would
be the irrelevant memories users complain about).

Cues, English and Chinese: asking for news or progress, "again", "last time", "as I said", a
definite possessive of something the user has going on ("my case", "my order", "our trip"),
"what did we decide", "remind me".
"""

from __future__ import annotations

import re

__all__ = ["refers_back"]

_THINGS = (
    r"case|order|ticket|request|issue|problem|claim|complaint|booking|reservation|application"
    r"|refund|return|replacement|delivery|package|parcel|appointment|trip|plan|plans|project"
    r"|account|subscription|repair|question|situation|task|deadline"
)
_EN = re.compile(
    r"(?i)\b(?:any\s+(?:news|update|updates|progress|word)|news\s+(?:on|about)|update\s+(?:on|about)"
    r"|follow(?:ing)?[\s-]?up|again|as\s+(?:i|we)\s+(?:said|mentioned|discussed|told\s+you)"
    r"|last\s+time|earlier|previous(?:ly)?|we\s+(?:talked|spoke|discussed|decided|agreed"
    r"|settled|said)|did\s+we\s+(?:decide|agree|say|settle|talk)|where\s+were\s+we|remind\s+me"
    rf"|(?:my|our|the)\s+(?:{_THINGS})|what\s+happened\s+(?:with|to))\b"
)
_ZH = re.compile(
    r"上次|之前|刚才|前面|进展|进度|怎么样了|有消息|有结果|还是|又|再次|继续|提醒我|我们(?:说|定|聊|讨论|商量)"
    r"|(?:我|我们)的(?:订单|问题|申请|预订|预约|案子|事情|计划|行程|快递|包裹|退款|退货|换货|工单|投诉)"
    r"|那件事|那个事"
)


def refers_back(message: str) -> bool:
    """True when the message points at something from earlier conversations."""
    return bool(_EN.search(message) or _ZH.search(message))
