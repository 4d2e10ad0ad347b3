"""Questions in a conversation: follow-ups that lean on the previous question, and messages
that ask two things at once.

"how many devices on free?" → "what about on pro?": the second message alone is about the Pro
price; with the first one in mind it is about devices. A follow-up is searched with the
query vector pulled towards the previous question's (v = v_message + FOLLOW_UP_WEIGHT ·
v_previous, normalised), and that result is preferred when the message reads as a follow-up
(an anaphor or ellipsis: "it", "that", "and …", "what about …", a very short message) or when
the message alone is only weakly matched while the pair is a clear match. A message that is a
complete question of its own — a sure match by itself — is answered as it stands, so a change
of topic is never pulled back to the old one. Figures: knowledge/eval/followups.yml and
`python -m relay.convbench`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from knowledge.runtime.engine import Decision, FaqEngine

FOLLOW_UP_WEIGHT = 0.8  # how strongly the previous question pulls (0.6 to 1.0 measured, see above)
# ...and for a short message whose object is a pronoun ("how do i change it"), which says
# little by itself: the topic pulls harder (the follow-up set scores 54/56 and the topic
# switches 25/25 at 1.5, 2.0 and 2.5; at 1.5 "how do i change it" after "my invoice shows the
# wrong company name" was still a toss-up between invoices and the payment method).
POINTING_WEIGHT = 2.0
SURE_ALONE = 0.95  # a message matched this surely by itself is a question of its own
# A message matched this well alone keeps its own entry when the context matches less well.
STRONG_ALONE = 0.85
WEAK_ALONE = 0.6  # below this, a message without follow-up cues may still lean on the context
SURE_IN_CONTEXT = 0.9  # ...when the pair is matched at least this surely
# A message unlike every FAQ question (best cosine below this) that has no follow-up cue is not
# about the product at all ("what's a good recipe for banana bread?": 0.18), so the topic must
# not turn it into one (follow-ups without a cue measured 0.30 and up).
MIN_RELATED = 0.25
MAX_CONTEXT_CHARS = 400
MAX_QUESTIONS = 2
# Below this calibrated probability, with a runner-up at least half as likely, the engine is
# torn between two entries: alone, the bot asks which was meant ("i need help with my account":
# 0.29 vs 0.20); as one part of a longer message, that part is not answered.
AMBIGUOUS_BELOW = 0.4

_CUE_START = re.compile(
    r"^(?:and|or|but|so|also|then|ok(?:ay)? so|what about|how about|what if|and if|same|"
    r"¿?y|¿?e|et|und|pero|mais|aber|mas|¿?qué tal|et si|und wenn)\b|^(?:那|还有|另外)",
    re.IGNORECASE,
)
# "is there …" / "are there …" are existential, not a pointer back; "any more" is not "more".
_CUE_WORD = re.compile(
    r"\b(?:it|its|it's|that|this|these|those|them|they|their|one|ones|then|again|either|"
    r"instead|(?<!is )(?<!are )there|(?<!any )more|too)\b",
    re.IGNORECASE,
)
# "and on pro?" after "how many devices on free?": the same question about another member of
# the same family, answered by swapping it into the previous question.
FAMILIES = (
    ("free", "pro", "business", "enterprise"),
    ("windows", "mac", "macos", "linux", "ubuntu", "android", "iphone", "ios", "ipad"),
    ("dropbox", "google drive", "onedrive", "box", "icloud"),
    ("monthly", "yearly", "annually", "per month", "per year", "a month", "a year"),
)
_ELLIPSIS = re.compile(
    r"^(?:and|or|but|what about|how about|same for|and what about|and for|and on|and with)\b"
    r"[\s\w'-]*\??$",
    re.IGNORECASE,
)
# "and" splits only before the opening of a new question ("how much is pro and can I pay by
# invoice?"), not inside one ("the difference between free and pro", "share and edit files",
# "I'm locked out and can't sign in").
_QUESTION_OPENING = (r"(?:can|could|do|does|did|is|are|will|would|should|may|how|what|where|"
                     r"when|why|which|who)(?!n?['’]t)\b")
# The same in the other languages: "¿cuánto cuesta pro y puedo pagar con factura?", "was kostet
# Pro und kann ich per Rechnung zahlen?", "combien coûte pro et est-ce que je peux…", "quanto
# custa o pro e posso pagar com boleto?", "专业版多少钱 还有…".
_OTHER_OPENINGS = {
    "y": r"¿?(?:puedo|podemos|se puede|cómo|cuánto|cuánta|qué|dónde|cuándo|hay|tienen|aceptan|"
         r"es posible)\b",
    "und": r"(?:kann|können|wie|was|wo|wann|warum|gibt|ist|sind|habt|haben|nehmt|akzeptiert)\b",
    "et": r"(?:est-ce|puis-je|je peux|peut-on|on peut|comment|combien|quel|quelle|quels|où|"
          r"quand|pourquoi|y a-t-il|acceptez)\b",
    "e": r"(?:posso|podemos|dá para|como|quanto|quanta|qual|onde|quando|tem|têm|aceitam|"
         r"é possível)\b",
}
_SPLIT = re.compile(r"(?<=[?!.;])\s+|(?<=[？！。；])|\s+(?:and also|also|plus)\s+|"
                    rf",?\s+and\s+(?={_QUESTION_OPENING})|"
                    + "|".join(rf",?\s+{word}\s+(?={opening})"
                               for word, opening in _OTHER_OPENINGS.items())
                    + r"|[，,]\s*(?:还有|另外|以及)", re.IGNORECASE)
_MIN_PART_WORDS = 3


@dataclass(frozen=True)
class Answered:
    """The decision for one question, and the text to remember as the topic afterwards."""

    decision: Decision
    topic: str
    used_context: bool = False


def word_count(text: str) -> int:
    """Words in a text; Chinese writes no spaces between words, so two Han characters count as
    one (the average length of a Chinese word)."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return len(text.split()) + han // 2


# A pronoun as the message's last word is its object: "how do i change it", "can I put a
# password on it?". A pronoun subject ("does it work on linux?") names its own topic after it.
_PRONOUN_OBJECT = re.compile(
    r"\b(?:it|that|this|them|those|these|one)(?:\s+(?:then|now|please|too|again))?\W*$",
    re.IGNORECASE,
)
SHORT_MESSAGE_WORDS = 6


def points_back(text: str) -> bool:
    """True for a short message whose object is a pronoun: "how do i change it"."""
    return len(text.split()) <= SHORT_MESSAGE_WORDS and bool(_PRONOUN_OBJECT.search(text))


def looks_like_follow_up(text: str) -> bool:
    """True if the message points back at something said before ("and on pro?", "is it …")."""
    stripped = text.strip()
    return bool(
        _CUE_START.search(stripped) or _CUE_WORD.search(stripped)
        # "per year?", "why?" — but not a bare "Dana", "acme" or "next month" (a value)
        # (French puts a space before "?": "et par an ?" is three words too)
        or (word_count(stripped.rstrip("?？ ")) <= 3 and stripped.endswith(("?", "？")))
    )


def _member(text: str, family: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    return next((m for m in family if re.search(rf"\b{re.escape(m)}\b", lowered)), None)


def swapped(text: str, previous: str) -> str | None:
    """The previous question with the follow-up's family member swapped in, if it is one."""
    if not _ELLIPSIS.match(text.strip()) or len(text.split()) > 6:
        return None
    for family in FAMILIES:
        new, old = _member(text, family), _member(previous, family)
        if new and old and new != old:
            return re.sub(rf"\b{re.escape(old)}\b", new, previous, flags=re.IGNORECASE)
    return None


def _in_context(engine: FaqEngine, text: str, previous: str) -> Decision:
    if (rewritten := swapped(text, previous)) is not None:
        decision = engine.decide(rewritten)
        if decision.kind == "answer":
            return decision
    weight = POINTING_WEIGHT if points_back(text) else FOLLOW_UP_WEIGHT
    vector = engine.encode(engine.corrected(text)) + weight * engine.encode(previous)
    vector = vector / max(float(np.linalg.norm(vector)), 1e-9)
    decision = engine.decide_hits(engine.search_vector(vector.astype(np.float32), k=5))
    if decision.kind != "answer" and word_count(text.rstrip("?？ ")) <= ASPECT_WORDS:
        # A short follow-up about an aspect ("and for a year?" in Chinese, after the Pro
        # price) asked with the question as one text: the multilingual encoder reads the two
        # as the Pro price (0.62), while the sum of their vectors found nothing above 0.35.
        joined = engine.decide(f"{previous} {text}")
        if joined.kind == "answer":
            return joined
    return decision


ASPECT_WORDS = 3  # at most this long, a follow-up may be read as one text with its question


# Between the topics of a turn that answered two questions (one slot holds them: `topics`).
TOPIC_SEPARATOR = "\n"


def joined_topics(answered: list[Answered]) -> str:
    """What to remember after a turn: its topic, or the topics of its answers, one per line."""
    return TOPIC_SEPARATOR.join(" ".join(a.topic.split()) for a in answered)


def decide_in_context(engine: FaqEngine, text: str, previous: str | None) -> Answered:
    """The decision for `text` given the previous question of the conversation (if any).

    After a turn that answered two questions, a follow-up goes with the one it fits best: "and
    per year?" after "how much is pro and can I pay by invoice?" asks about Pro's price.
    """
    topics = previous.split(TOPIC_SEPARATOR) if previous else []
    if len(topics) > 1:
        return max((_decide_in_context(engine, text, topic) for topic in topics),
                   key=lambda a: (a.decision.kind == "answer",
                                  a.decision.hits[0].score if a.decision.hits else 0.0))
    return _decide_in_context(engine, text, previous)


def _decide_in_context(engine: FaqEngine, text: str, previous: str | None) -> Answered:
    alone = engine.decide(text)
    # "how do i change it" is matched surely alone (to the card) but says nothing by itself:
    # a short message that points back never takes that shortcut.
    sure = (alone.kind == "answer" and alone.hits[0].score >= SURE_ALONE
            and not points_back(text))
    if not previous or sure:
        return Answered(alone, topic=text)
    cue = looks_like_follow_up(text)
    related = bool(alone.hits) and (alone.hits[0].similarity or 0.0) >= MIN_RELATED
    if not cue and not related:
        return Answered(alone, topic=text)
    paired = _in_context(engine, text, previous)
    if paired.kind == "decline":
        return Answered(alone, topic=text)
    if (alone.kind == "answer" and alone.hits[0].score >= STRONG_ALONE and not points_back(text)
            and alone.hits[0].score > paired.hits[0].score):
        # "what about on mobile?" after the Pro price: the mobile apps (0.91 alone), not a
        # sentence of the price (0.76 with it).
        return Answered(alone, topic=text)
    if not cue:
        weak = alone.kind != "answer" or alone.hits[0].score < WEAK_ALONE
        if not (weak and paired.kind == "answer" and paired.hits[0].score >= SURE_IN_CONTEXT):
            return Answered(alone, topic=text)
    topic = f"{previous} {text}"[-MAX_CONTEXT_CHARS:]
    return Answered(paired, topic=topic, used_context=True)


def split_questions(text: str) -> list[str]:
    """The separate questions in a message ("how much is pro? and can I pay by paypal?")."""
    parts = [p.strip() for p in _SPLIT.split(text.strip()) if p and p.strip()]
    questions = [p for p in parts if word_count(p) >= _MIN_PART_WORDS]
    return questions if len(questions) >= 2 else [text.strip()]


def torn(decision: Decision) -> bool:
    """An answer that is a guess between two entries (see AMBIGUOUS_BELOW)."""
    hits = decision.hits
    return (decision.kind == "answer" and len(hits) > 1 and hits[0].score < AMBIGUOUS_BELOW
            and hits[1].score >= hits[0].score / 2)


def answer_message(engine: FaqEngine, text: str, previous: str | None) -> list[Answered]:
    """One or two answers: each question of the message, in context, distinct entries only.

    Only parts the engine answers, and not torn between two entries, are kept when there are
    several ("…the sync kept failing on my laptop, I lost an afternoon of work. Anyway, how do I
    restore a previous version?": the venting matched bandwidth limits at 0.24, sync problems at
    0.21, so only the version question is answered); with a single question the one decision
    (answer, clarify or decline) is returned.
    """
    parts = split_questions(text)
    if len(parts) == 1:
        return [decide_in_context(engine, text, previous)]
    answered: list[Answered] = []
    seen: set[str] = set()
    topic = previous
    for part in parts:
        result = decide_in_context(engine, part, topic)
        topic = result.topic
        if (result.decision.kind != "answer" or torn(result.decision)
                or result.decision.hits[0].entry_id in seen):
            continue
        seen.add(result.decision.hits[0].entry_id)
        answered.append(result)
        if len(answered) == MAX_QUESTIONS:
            break
    return answered or [decide_in_context(engine, text, previous)]


# Sentence ends: Latin punctuation followed by a space, or CJK full stops (no space follows).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    """The answer's sentences, stripped, in order ("$8 per month. Prices exclude VAT." → 2)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def relevant_part(engine: FaqEngine, answer: str, question: str) -> str:
    """The sentence of an answer already given that speaks to a follow-up about it ("and per
    year?" after the Pro price: the sentence with the yearly price), so the follow-up is
    answered with that part instead of the same text again. A one-sentence answer is whole."""
    parts = sentences(answer)
    if len(parts) <= 1:
        return answer.strip()
    vectors = engine.encoder.encode(parts)
    # The sentence's own words count too: "and per year?" after the Business price is closest,
    # by meaning alone, to "20 users therefore cost $300 a month"; "per year" is in the other.
    asked = _content_words(question)
    shared = np.array([len(asked & _content_words(part)) for part in parts], dtype=np.float32)
    best = int(np.argmax(vectors @ engine.encode(question)[0] + SHARED_WORD_WEIGHT * shared))
    return parts[best]


SHARED_WORD_WEIGHT = 0.1  # per word of the follow-up a sentence has (cosines differ by ~0.05)
_FUNCTION_WORDS = frozenset({
    "and", "the", "what", "about", "how", "for", "with", "but", "also", "then", "can", "does",
    "this", "that", "you", "your", "are", "und", "was", "wie", "für", "mit", "aber", "auch",
    "que", "qué", "para", "con", "pero", "también", "quoi", "pour", "avec", "mais", "aussi",
    "com", "mas", "também"})


def _content_words(text: str) -> set[str]:
    """The words of three letters or more that say something ("per", "year"; not "and")."""
    return {w for w in re.findall(r"\w{3,}", text.lower()) if w not in _FUNCTION_WORDS}
