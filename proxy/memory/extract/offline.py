"""Rule-based (no LLM) extraction of memory-worthy statements from the user's latest message.

Pure, deterministic regex work. Tuned for recall (the proxy is judged on recall of conversational
evidence): informative declarative sentences are kept in the user's own words and language; only
what is clearly not memory is dropped — questions, chit-chat, reactions, requests to the
assistant, hypotheticals, jokes, role-play, fragments and anything holding a "[REDACTED" marker.

Known limits: English and Chinese rules only (other languages fall back to generic ones); a forget
target runs to the end of its sentence; speaker labels must be Latin-script names; a question
without "?" is caught only by its first words; Chinese names are not recognised, so a Chinese
sentence without first person needs a number, date, Latin name or keyword to be kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from proxy.core.records import Tier
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.extract.tiers import is_standing_instruction, tier_of

__all__ = ["MAX_FACT_CHARS", "Extraction", "Fact", "FactKind", "classified", "extract_offline"]

FactKind = Literal["preference", "fact", "plan", "constraint", "event"]

MAX_FACT_CHARS = 300


@dataclass(frozen=True)
class Fact:
    text: str  # the statement, in the user's own language and words
    kind: FactKind
    # Derived from text and kind by `classified` (so not part of a fact's identity).
    tier: Tier = field(default="episodic", compare=False)
    attribute: str | None = field(default=None, compare=False)  # single-valued attribute set


def classified(text: str, kind: FactKind) -> Fact:
    """A fact with its tier and attribute (the regexes run once per fact, here)."""
    attribute = attribute_of(text)
    return Fact(text, kind, tier_of(text, kind, attribute), attribute)


@dataclass(frozen=True)
class Extraction:
    facts: tuple[Fact, ...]
    forget: tuple[str, ...]  # targets of explicit "forget ..." commands


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_CODE_FENCE_RE = re.compile(r"(?s)```.*?(?:```|\Z)")
# "Clara: ..." / "Dr. Jane Doe: ..." — a capitalised name of 1-3 words, then ": ".
_LABEL_RE = re.compile(r"^[ \t]*([A-Z][\w'’.-]*(?:[ \t][A-Z][\w'’.-]*){0,2}):[ \t]+(?=\S)")
_LABEL_STOP = _words(  # headings that look like labels but name no speaker
    "remember forget note notes ps p.s fyi update edit question q a answer reminder important also"
    " btw todo re hi hello hey dear summary context background tldr status goal task problem"
    " issue error warning example tip step result output input user assistant system name"
)
_BULLET_RE = re.compile(r"^\s*(?:[-*•·–]\s+|\d{1,2}[.)]\s+|\d{1,2}[、．]\s*|[（(]\d{1,2}[)）]\s*)")
# ASCII terminators only split before whitespace/CJK, so "3.5", "example.com" and "v1.2" stay whole.
_BOUNDARY_RE = re.compile(f"[。！？；…]+[”’」』）)\"']*|[.!?]+[\"'”’)\\]]*(?=\\s|$|[{_CJK}])")
_ABBR_NEVER = _words("mr mrs ms dr prof st mt vs e.g i.e fig cf ca")
_ABBR_UNLESS_CAPITAL = _words("etc a.m p.m inc ltd co jr sr u.s u.k no approx")

# Leading interjections carry nothing; stripping them also exposes "Ok, can you ..." as a request.
_LEAD_FILLER_RE = re.compile(
    r"(?i)^(?:(?:(?:hi|hello|hey|dear)(?:\s+[a-z]+)?\s*[,!]+|(?:oh|ah|well|btw|by\s+the\s+way|anyway"
    r"|anyways|also|ok|okay|yeah|yep|yes|no|haha+|wow|um+|uh+|hmm+|thanks|thank\s+you)\s*[,!]+"
    r"|(?:你好|您好|嗨|哈喽|哈哈++|嗯++|哦++|对了|另外|顺便说一下|话说|谢谢(?:你|您)?)[，,！!]*)\s*)+"
)
_ASK = r"(?:(?:can|could|would|will)\s+you\s+|i\s+(?:want|need|'d\s+like)\s+you\s+to\s+)?"
_REMEMBER_EN_RE = re.compile(
    rf"(?is)^{_ASK}(?:please\s+)?(?:remember|note|keep\s+in\s+mind|make\s+a\s+note|take\s+note"
    r"|don't\s+forget|do\s+not\s+forget)\b(?:\s+(?:that|this)(?=[\s:,]))?[\s:,-]*"
    r"(?!(?:to|when|how|what|who|where|why|me|the\s+time)\b)(?P<x>\S.*)$"
)
_FORGET_EN_RE = re.compile(
    rf"(?is)^{_ASK}(?:please\s+)?(?:forget|stop\s+remembering|don't\s+remember|do\s+not\s+remember"
    r"|(?:delete|erase|remove|clear)\s+(?:the\s+|any\s+|your\s+|that\s+|my\s+)?memor(?:y|ies))\b"
    r"(?:\s+(?:what\s+i\s+(?:said|told\s+you)\s+)?(?:that|about|of|regarding|on)(?=[\s:,]))?"
    r"[\s:,-]*(?P<x>\S.*)$"
)
_REMEMBER_ZH_RE = re.compile(
    r"(?s)^(?:(?:请你?|麻烦你?|帮我)?(?:记住|记下来?|记一下|牢记)|(?:请你?|麻烦你?)记得)(?:一下)?"
    r"(?:这个|这件事|这点|这一点|以下)?[：:，,\s]*(?P<x>\S.*)$"
)
_FORGET_ZH_RE = re.compile(  # also the object-first form "请把X忘掉"
    r"^(?:请你?|麻烦你?|帮我)?(?:(?:忘掉|忘记|别再?记得|不要再?记得|别再?记住|不要再?记住|不用记得"
    r"|(?:删掉|删除|清除)(?=.*(?:记忆|记录)))(?:关于)?[：:，,\s]*(?P<x>\S.*)"
    r"|把(?P<y>.+?)给?(?:忘掉|忘记|忘了)(?:吧|了)?[\s。！!~～]*)$"
)
_ZH_TARGET_TAIL_RE = re.compile(
    r"(?:这件事情?|这个事情?|这事|这条|这一点|这点|的事情?|的记忆|的记录|这些)?吧?[\s。！!.～~]*$"
)
_PLEASE_TAIL_RE = re.compile(r"(?i)[\s,]+please(?=[\s.!。！?？]*$)")
# Too vague to match a memory: "forget it" dismisses a topic, "forget everything" is no target.
_VAGUE = _words("it that this me them everything 它 这个") | {"about it", "it all", "what i said"}

_QMARK_END_RE = re.compile(f"[?？][^\\w{_CJK}]*$")
_Q_START_EN_RE = re.compile(
    r"(?i)^(?:(?:what|why|how|when|where|who|whom|whose|which)\b"
    r"|(?:can|could|would|will|should|shall|do|does|did|is|are|am|may|might|isn't|aren't|don't"
    r"|doesn't|didn't|won't|wouldn't|can't|couldn't|shouldn't)\s+(?:you|i|we|it|he|she|they|there"
    r"|this|that|these|those|my|your|his|her|their|our|the|a|an|anyone|anybody|someone|somebody|u)\b"
    r"|(?:have|has|had|was|were)\s+(?:you|i|we|it|he|she|they|there|this|that|anyone|anybody)\b"
    r"|(?:any|anyone|anybody|wondering|curious)\b)"
)
# "When I was 10, I lived in Ohio." / "What I love most is hiking." are statements.
_WH_DECL_RE = re.compile(
    r"(?i)^(?:(?:when|where|what|how|while|whenever)\s+(?:i|we|my|our)\b[^?]*(?:,|\b(?:is|was|are|were)\b)"
    r"|which\s+(?:is|was)\s+why\b)"
)
# Sentences with any of these are never memories: requests to the assistant and pleasantries
# (anchored at the start), hypotheticals, jokes and role-play (anywhere).
_NOT_MEMORY_RE = re.compile(
    r"(?i)^(?:(?:please|pls|plz|kindly|let\s+me|let's|lets|let\s+us)\b"
    r"|i\s+(?:want|need|would\s+like|'d\s+like)\s+you\s+to\b|i\s+(?:was\s+)?wonder(?:ing)?\b"
    r"|i'm\s+wondering\b|i\s+(?:want|would\s+like|'d\s+like)\s+to\s+know\b"
    r"|(?:write|translate|summari[sz]e|explain|tell|show|give|list|make|create|generate|draft"
    r"|compose|rewrite|rephrase|fix|debug|help|find|search|look\s+up|calculate|compute|convert"
    r"|check|review|edit|correct|proofread|suggest|recommend|describe|compare|analy[sz]e|outline"
    r"|implement|send|answer|continue|define|teach|brainstorm|keep|use|be|add|remove|delete"
    r"|change|update|format|try|provide|draw|sing|say|pick|choose|rate|act|go\s+ahead)\b(?!\s*[:-])"
    r"|i\s+(?:hope|trust|bet)\s+(?:you|your|u)\b|(?:have|enjoy)\s+a\s+(?:nice|good|great)\b"
    r"|(?:nice|good|great|pleased)\s+to\s+(?:meet|see|hear)\b"
    r"|imagine|suppose|supposing|assuming|assume|picture\s+this|lol|lmao|lmfao|rofl)\b"
    r"|\b(?:if\s+(?:i|we)\s+(?:were|was|had|could|won|became)|what\s+if|hypothetically|let'?s\s+say"
    r"|in\s+a\s+(?:parallel|alternate|hypothetical)|just\s+kidding|jk|j/k|kidding|only\s+joking"
    r"|(?:i'm|i\s+am|just)\s+joking|role-?play\w*|make-believe|pretend\w*|act\s+as|you\s+are\s+now"
    r"|let's\s+play)\b"
    r"|^(?:请|麻烦|帮我|帮忙|给我|替我|你(?:能|可以|帮|给|来|再|先)|能不能|可不可以|可以帮|能否"
    r"|写(?:一|个|首|篇|段|封)|翻译|总结|解释|生成|列出|推荐|介绍一下|告诉我|说说|讲讲|分析"
    r"|比较一下|改写|润色|查一下|搜一下|计算|我(?:想|要|需要|希望)(?:让|请)?你)"
    r"|假如|假设|如果我是|要是我是|如果我有|要是我有|想象一下|设想|假使|倘若"
    r"|开玩笑|开个玩笑|逗你的|逗你玩|骗你的|角色扮演|扮演|假装|玩个游戏"
)
_JOKE_MARK_RE = re.compile(
    r"(?i)just\s+kidding|jk|j/k|kidding|joking|开玩笑的?|开个玩笑|逗你玩?的?|骗你的"
)
_NONWORD_KEEP_APOS_RE = re.compile(r"[^\w']+")
_RETRACT_REST_RE = re.compile(r"(?:\s|i'?m\b|i\s+am\b|just\b|only\b|lol\b|haha+\b|[哈啦的])*")
_ZH_Q_END_RE = re.compile(r"(?:吗|嘛|(?<![什这那怎多])么|呢|[你您].*吧)[\s。！!～~…]*$")
_ZH_QWORD_RE = re.compile(
    r"什么|怎么|为什么|为何|哪|谁|几点|是否|是不是|有没有|能不能|可不可以|会不会|要不要|好不好|对不对|行不行"
)
# Indefinite uses of question words: "我什么都吃", "不知道为什么", "看书什么的".
_ZH_NONQ_RE = re.compile(
    r"什么(?:都|也|的)|怎么(?:也|都)|谁(?:都|也)|哪(?:儿|里)?都|哪怕|不知(?:道)?为什么|这就是为什么"
    r"|没什么|不怎么|(?:无论|不管)[^，,。]{0,4}?(?:什么|怎么|哪|谁)"
)
_NONWORD_RE = re.compile(r"[\W_]+")
# Whole-sentence chit-chat and reactions ("好的谢谢", "太棒了", "我也这么觉得"). Used with
# fullmatch, so no repeated group may match the same text two ways (exponential backtracking).
_CHITCHAT_ZH_RE = re.compile(
    r"(?:你好|您好|嗨|哈喽|谢谢(?:你|您)?(?:的帮助)?|多谢|感谢(?:你|您)?|好的?|行|可以|没问题|晚安"
    r"|早上好|早安|午安|下午好|晚上好|再见|拜拜|收到|明白|知道了|了解|不客气|对|是的|没错"
    r"|[嗯哦噢啊哈呵嘿哇呀啦了呢吧])+"
    r"|(?:这|那|这个|那个|这样|那样)?(?:真的?|也|都|确实|实在)?是?(?:哇塞?|天哪|天啊|太|好|非常|特别"
    r"|超级?|挺|很|真)*(?:棒|好|厉害|酷|赞|牛|帅|美|有意思|有趣|可爱|开心|好玩|不错|漂亮|完美|对|搞笑"
    r"|感人|好笑|神奇|离谱)[了啊呀哦耶的吧呢啦哈]*"
    r"|我(?:也|都|真的?|非常|很|太|完全)*(?:是|同意|明白|知道|理解|懂|一样)?(?:这么|那么|这样)?"
    r"(?:想|觉得|认为)?(?:了|的|啊|呀|你|吧)*"
)

_FIRST_PERSON_RE = re.compile(r"(?i)\b(?:i|me|my|mine|myself|we|us|our|ours|ourselves)\b|[我咱俺]")
_SECOND_PERSON_START_RE = re.compile(r"(?i)^(?:(?:you|your|yours|you're|u|ur)\b|[你您])")
_PROPER_NOUN_RE = re.compile(r"(?<=[\s,;(\"'])(?:[A-Z][a-z]+|[A-Z]{2,})\b")
# A name used to address someone ("That's amazing, Clara!") says nothing about anyone.
_VOCATIVE_RE = re.compile(r"^[A-Z][a-z]+,\s+|,\s*[A-Z][a-z]+\s*[!.~]*$")
_LATIN_NAME_RE = re.compile(r"[A-Z][a-z]+")  # inside Chinese text any capitalised word is a name
_CONCRETE_RE = re.compile(
    r"(?i)\d|\b(?:jan(?:uary)?|feb(?:ruary)?|march|april|june|july|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|\w+day|today|tonight|tomorrow|yesterday|weekend"
    r"|ago)\b|[一二三四五六七八九十两]+(?:月|日|号|年|点|岁|个|次|天|周)|星期|周[一二三四五六日末]"
    r"|今天|明天|昨天|后天|前天|今年|明年|去年|下周|上周|下个月|上个月"
)
# Without first person, only these make a sentence about someone worth keeping.
_STRONG_EN_RE = re.compile(
    r"(?i)\b(?:lives?|living|works?\s+(?:at|for|as|in)|born|moved|moving|visited|went|started|married"
    r"|graduated|allergic|vegetarian|vegan|likes|loves|hates|prefers|enjoys|favou?rite|plans?"
    r"|planning|birthday|anniversary|name\s+is|called)\b"
)
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LATIN_WORD_RE = re.compile(r"[A-Za-z0-9]+")
# Words that carry no memory on their own: function words, chit-chat, reactions.
_NO_CONTENT = _words(
    "a an the and or but so to of in on at for with about as by from up down out over just really"
    " very too also still even then than that this these those it its it's is am are was were be"
    " been being do does did done have has had will would can could should shall may might must i"
    " i'm i've i'd i'll me my mine myself we we're we've we'd we'll us our you your you're he she"
    " they them their his her him there here what which who when where why how not no yes don't"
    " didn't doesn't can't won't isn't wasn't aren't all some any much many more most lot lots"
    " thing things something anything everything nothing actually literally like love hate think"
    " know see mean guess feel felt agree understand get got go going say said tell want well oh"
    " yeah yep yup nope nah ok okay sure lol lmao haha hehe one way kind sort now hope hear heard"
    " that's thats what's it'd let if thanks thank thx ty please wait hi hello hey yo bye goodbye"
    " cheers np welcome morning afternoon evening night later ya omg gosh wow ah um uh hmm same"
    " awesome great cool amazing nice good bad best wonderful fantastic terrible awful perfect"
    " lovely beautiful incredible interesting funny crazy wild sweet fun happy glad sorry excited"
    " proud right true correct wrong exactly totally absolutely definitely indeed agreed alright"
    " fine sounds looks seems idea brilliant impressive fair point hilarious cute insane super neat"
    " few bit little stuff quick question questions"
)

# Kind rules, checked in order: a constraint or plan outranks the verbs it contains
# ("I will never eat meat" is a constraint, "I'm going to start a job" a plan).
_PERIOD = r"(?:week|month|year|weekend|time|night|summer|winter|spring|fall|autumn|semester|\w+day)"
_CONSTRAINT_RE = re.compile(
    r"(?i)\b(?:allerg\w*|intoleran\w*|cannot|can\s+not|unable\s+to|can't(?!\s+(?:wait|believe"
    r"|stop|help|remember|imagine|stand|complain|decide))|(?:don't|do\s+not|doesn't"
    r"|does\s+not|never)\s+(?:eat|drink|smoke)|never(?!\s+(?:been|seen|heard|tried|thought"
    r"|mind|knew|had|met|done|really|ever))|must|have\s+to|has\s+to|not\s+allowed|vegetarian"
    r"|vegan|kosher|halal|gluten|lactose|diabetic|celiac|coeliac|avoid\w*|budget|deadline"
    r"|sober)\b|过敏|不耐受|不能|不可以|不吃|不喝|忌口|必须|素食|吃素|不允许|禁止|一定要|绝不"
    r"|从不|从来不|戒了|戒烟|戒酒|预算"
)
_PLAN_RE = re.compile(
    r"(?i)\b(?:(?:am|'m|are|'re|is|'s|was|were)\s+going\s+to(?!\s+(?:the|a|an|my|our|his|her"
    r"|their|school|church|work|bed|be\s+honest)\b)|gonna|plan|plans|planning|planned\s+to"
    r"|intend\w*|will|shall|'ll|would\s+like\s+to|'d\s+like\s+to|want\s+to|wanna|hope\s+to"
    rf"|hoping\s+to|aim\w*\s+to|thinking\s+(?:about|of)|schedul\w*|tomorrow|tonight|next\s+{_PERIOD}"
    r"|this\s+(?:weekend|coming)|upcoming|soon|later\s+(?:today|this)"
    r"|in\s+\d+\s+(?:days?|weeks?|months?|years?))\b|打算|计划|准备|下周|下个?月|下个?星期"
    r"|明天|明年|后天|今晚|这周末|周末要|将要|将会|要去|想去|想要|下次|以后要|希望能|即将|马上要"
    r"|快要|会去"
)
_EVENT_RE = re.compile(
    r"(?i)\b(?:went|visited|started|began|moved|(?<!'ve\s)(?<!have\s)got(?!\s+to\b)|bought"
    r"|finished|graduated|married|divorced|met|attended|joined|quit|lost|won|adopted"
    r"|travell?ed|arrived|returned|launched|completed|passed|celebrated|retired|hired|fired"
    rf"|gave\s+birth|yesterday|last\s+{_PERIOD}|ago|earlier\s+today|this\s+morning|recently)\b"
    r"|去了|搬到|搬去|搬家了|开始|昨天|上周|上个?月|上个?星期|去年|前天|刚刚|刚才|参加了|买了"
    r"|换了|结婚了|毕业了|生了|认识了|辞职了|入职了|领养了|旅行了|回来了|完成了|学会了"
)
_PREFERENCE_RE = re.compile(
    r"(?i)\b(?:likes?|liked|loves?|loved|loving|prefers?|preferred|hates?|hated|enjoys?|enjoyed"
    r"|favou?rite|fond\s+of|fan\s+of|adore\w*|dislike\w*|can't\s+stand|rather|fancy"
    r"|obsessed\s+with|passionate\s+about|go-to|(?:i'm|i\s+am|really|so|big)\s+into)\b"
    r"|喜欢|(?<!可)爱(?!人)|讨厌|偏好|最爱|喜爱|热爱|宁愿|宁可|受不了|钟爱|迷上|着迷|偏爱"
)
_KIND_RULES: tuple[tuple[FactKind, re.Pattern[str]], ...] = (
    ("constraint", _CONSTRAINT_RE),
    ("plan", _PLAN_RE),
    ("event", _EVENT_RE),
    ("preference", _PREFERENCE_RE),
)


# A sentence opening with an anaphor continues the previous one ("It was...", "She said...").
_CONTINUATION_RE = re.compile(
    r"(?:(?:it|it's|that|that's|this|these|those|they|they're|he|she|his|her|their|there|so|"
    r"and|but|also|plus|which)\b)|(?:它|这|那|他|她|他们|她们|所以|而且|但是|不过|也)",
    re.IGNORECASE,
)


def extract_offline(user_text: str) -> Extraction:
    """Facts worth remembering and explicit forget targets from one user message."""
    text = _CODE_FENCE_RE.sub("\n", user_text or "")  # pasted code is not about the user
    label, text = _split_label(text)
    facts: list[Fact] = []
    forget: list[str] = []
    previous_kept = False  # whether the last sentence became a fact (a retraction removes it)
    for line in text.splitlines():
        if label:  # a transcript: later lines may name another speaker
            label, line = _split_label(line, label)
        if line.lstrip().startswith(">"):  # quoted text is someone else's words
            continue
        for sentence in _split_sentences(_BULLET_RE.sub("", line, count=1)):
            if _is_retraction(sentence) and previous_kept:  # "I'm the Queen. Just kidding!"
                facts.pop()
            follows_fact, previous_kept = previous_kept, False
            found = _analyse(sentence)
            if isinstance(found, str):
                if found not in forget:
                    forget.append(found)
            elif found is not None:
                room = MAX_FACT_CHARS - (len(label) + 2 if label else 0)
                if follows_fact and _CONTINUATION_RE.match(found.text):
                    # "It was so powerful." means nothing alone: keep it with what "it" is.
                    merged = f"{facts[-1].text} {found.text}"
                    if len(merged) <= MAX_FACT_CHARS:
                        facts[-1] = Fact(merged, facts[-1].kind)
                        previous_kept = True
                        continue
                body = _cap(found.text, room)
                fact = Fact(f"{label}: {body}" if label else body, found.kind)
                if all(f.text != fact.text for f in facts):
                    facts.append(fact)
                    previous_kept = True
    return Extraction(tuple(classified(f.text, f.kind) for f in facts), tuple(forget))


def _split_label(text: str, current: str = "") -> tuple[str, str]:
    m = _LABEL_RE.match(text)
    if not m or m.group(1).split()[0].lower().rstrip(".") in _LABEL_STOP:
        return current, text
    return m.group(1), text[m.end() :]


def _split_sentences(line: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _BOUNDARY_RE.finditer(line):
        if m.group() == "." and _is_abbreviation(line, m.start(), m.end()):
            continue
        out.append(line[start : m.end()])
        start = m.end()
    out.append(line[start:])
    return [s.strip() for s in out if s.strip()]


def _is_abbreviation(line: str, dot: int, end: int) -> bool:
    begin = dot
    while begin > 0 and not line[begin - 1].isspace():
        begin -= 1
    raw = line[begin:dot].lstrip("(\"'“‘")
    token = raw.lower()
    if token in _ABBR_NEVER or (len(raw) == 1 and raw.isupper() and raw not in "IA"):  # "J. K."
        return True
    if token in _ABBR_UNLESS_CAPITAL:  # "etc. Then" ends a sentence, "etc. and" does not
        rest = line[end:].lstrip()
        return not (rest and (rest[0].isupper() or _CJK_RE.match(rest[0])))
    return False


def _is_retraction(sentence: str) -> bool:
    """A sentence that only says the previous one was a joke ("Just kidding!", "开玩笑的")."""
    low = sentence.replace("’", "'").lower()
    rest = _JOKE_MARK_RE.sub(" ", low, count=1)
    return rest != low and bool(_RETRACT_REST_RE.fullmatch(_NONWORD_KEEP_APOS_RE.sub(" ", rest)))


def _analyse(sentence: str) -> Fact | str | None:
    """A fact (without speaker label), a forget target, or None when nothing is worth keeping."""
    if "[REDACTED" in sentence.upper():  # never store anything near a secret
        return None
    s = _LEAD_FILLER_RE.sub("", sentence).strip()
    norm = s.replace("’", "'")  # same length as s, so match spans index into s
    zh_question = bool(_ZH_Q_END_RE.search(norm))
    m = _FORGET_EN_RE.match(norm) or _FORGET_ZH_RE.match(norm)
    if m and not zh_question:
        target = _clean_target(s[slice(*m.span("x" if m.group("x") else "y"))])
        if target and target.lower() not in _VAGUE and not target.lower().startswith("to "):
            return _cap(target, MAX_FACT_CHARS)
    m = _REMEMBER_EN_RE.match(norm) or _REMEMBER_ZH_RE.match(norm)
    if m and not zh_question:  # explicit: bypasses the worthiness filters below
        stated = _PLEASE_TAIL_RE.sub("", s[m.start("x") :].strip()).rstrip("?？ ")
        if len(stated) >= 2 and stated.lower().strip(" .!。！") not in _VAGUE:
            return Fact(stated, _kind(stated.replace("’", "'")))
    if s and _is_standing_request(norm, zh_question):
        # "Always answer me in Spanish from now on": a request, but one that holds until the
        # user changes it, so it is a preference (a one-off "translate this" is still dropped).
        return Fact(s, "preference")
    if not s or zh_question or not _worth_keeping(s, norm):
        return None
    return Fact(s, _kind(norm))


_POLITE_ASK_RE = re.compile(r"(?i)^(?:can|could|would|will)\s+you\b")


def _is_standing_request(norm: str, zh_question: bool) -> bool:
    if not is_standing_instruction(norm):
        return False
    if _QMARK_END_RE.search(norm) or zh_question:  # "Could you always ...?" asks for it too
        return bool(_POLITE_ASK_RE.match(norm)) or norm.startswith(("你能", "你可以", "能不能"))
    return True


def _worth_keeping(s: str, norm: str) -> bool:
    if _QMARK_END_RE.search(norm) or _NOT_MEMORY_RE.search(norm):
        return False
    if _Q_START_EN_RE.match(norm) and not _WH_DECL_RE.match(norm):
        return False
    if _ZH_QWORD_RE.search(_ZH_NONQ_RE.sub("", norm)):
        return False
    cjk = len(_CJK_RE.findall(s))
    words = len(_LATIN_WORD_RE.findall(s))  # "I'm" counts as two words, like "I am"
    if cjk >= 2:
        if _CHITCHAT_ZH_RE.fullmatch(_NONWORD_RE.sub("", s)):
            return False
        if cjk + 2 * words < 4:  # short: only a first-person statement of who the user is
            return bool(_FIRST_PERSON_RE.search(norm)) and (
                attribute_of(norm) is not None or _CONSTRAINT_RE.search(norm) is not None
            )
        if _FIRST_PERSON_RE.search(norm):
            return True
        if _SECOND_PERSON_START_RE.match(norm):
            return False
        return bool(
            _CONCRETE_RE.search(norm)
            or _LATIN_NAME_RE.search(s)
            or any(rx.search(norm) for _, rx in _KIND_RULES)
        )
    if words < 3:
        return False
    core = _VOCATIVE_RE.sub("", norm)
    tokens = (t.removesuffix("'s") for t in _TOKEN_RE.findall(core.lower()))
    content = [t for t in tokens if t not in _NO_CONTENT and (len(t) > 1 or t.isdigit())]
    if _FIRST_PERSON_RE.search(core):
        return bool(content)
    if _SECOND_PERSON_START_RE.match(core):
        return False
    # No first person: keep concrete statements ("The conference is on May 3 in Lisbon.").
    concrete = (
        _PROPER_NOUN_RE.search(core) or _CONCRETE_RE.search(core) or _STRONG_EN_RE.search(core)
    )
    return (bool(concrete) and len(content) >= 1) or len(content) >= 4


def _kind(norm: str) -> FactKind:
    for kind, rx in _KIND_RULES:
        if rx.search(norm):
            return kind
    return "fact"


def _clean_target(target: str) -> str:
    target = target.strip()
    if _CJK_RE.search(target):
        return _ZH_TARGET_TAIL_RE.sub("", target.removeprefix("关于")).strip()
    return _PLEASE_TAIL_RE.sub("", target).rstrip(" .!?。！？")


def _cap(text: str, limit: int) -> str:
    """Trim to at most `limit` characters, at a word boundary when one is reasonably close."""
    limit = max(limit, 100)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-，、") + "…"
