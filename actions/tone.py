"""How a message is said: frustration, a billing dispute, insistence on a person.

The NLU's `complain` intent catches most complaints; these lexical signals catch the rest
(a question that is also angry: "WHY is sync broken AGAIN??") and say what kind of complaint
it is, so the handoff case carries a reason an agent can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BILLING_DISPUTE = re.compile(
    r"\b(?:charged|billed|debited|paid)\s+(?:me\s+)?(?:twice|two times|double|2x|three times|"
    r"again|wrong(?:ly)?|too much)|\bdouble[- ]?(?:charged|charge|billed|billing)|"
    r"\bover-?charg|\bunauthori[sz]ed (?:charge|payment)|\bmoney back\b|\brefund (?:me|now|it)\b|"
    r"\bi want (?:a|my) refund\b|\bcharge ?back\b|\bstole my money\b",
    re.IGNORECASE,
)
_ANGER = re.compile(
    r"\b(?:useless|ridiculous|unacceptable|terrible|awful|worst|pathetic|rubbish|garbage|scam|"
    r"frustrat\w*|"
    r"fraud|furious|angry|annoyed|fed up|sick of|disgusting|incompetent|waste of (?:time|money)|"
    r"not helping|doesn'?t help|no help|stupid bot|hate (?:this|you)|wtf|ffs|seriously\?)",
    re.IGNORECASE,
)
_INSIST = re.compile(
    r"\b(?:now|right now|immediately|asap|at once|today)\b\s*[!.]*$|\b(?:i demand|i insist|"
    r"i want to speak|let me speak|get me (?:a|your) (?:manager|supervisor|human|person)|"
    r"real person|manager|supervisor)\b",
    re.IGNORECASE,
)
# The same signals in the other languages (relay/languages.py); Chinese words anywhere.
_BILLING_DISPUTE_OTHER = re.compile(
    r"cobrad[oa]s? dos veces|cobraron dos veces|cobro doble|cobraron de más|"
    r"devuelvan mi dinero|doppelt abgebucht|zweimal abgebucht|zu viel berechnet|"
    r"will mein geld zurück|débité deux fois|facturé deux fois|trop facturé|remboursez-moi|"
    r"cobraram duas vezes|cobrado duas vezes|cobraram a mais|quero meu dinheiro de volta|"
    r"扣了两次|重复扣款|多扣|多收|我要退款|把钱退",
    re.IGNORECASE,
)
_ANGER_OTHER = re.compile(
    r"\b(?:inútil|ridículo|inaceptable|pésimo|harto|nutzlos|lächerlich|inakzeptabel|"
    r"frechheit|unverschämt|verärgert|inutile|ridicule|inacceptable|scandaleux|en colère|"
    r"inaceitável|péssimo|absurdo|irritad[oa])\b|没用|离谱|太差|垃圾|气死|失望",
    re.IGNORECASE,
)
# A request for a person inside a longer message ("my files won't sync and I need a person"),
# which the NLU may hear as a question; a person mentioned in a question about the product
# ("share a folder with another person") is not one.
_WANTS_PERSON = re.compile(
    r"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|your\s+|some\s+)?(?:real\s+|live\s+)?"
    r"(?:person|human|agent|someone|somebody|operator|representative)\b|"
    r"\bi\s+(?:need|want)\s+(?:a\s+|an\s+)?(?:real\s+|live\s+)?"
    r"(?:person|human|agent|operator|representative)\b|"
    r"\b(?:connect|put|transfer|pass)\s+me\s+(?:through\s+|over\s+|on\s+)?(?:to|with)\s+"
    r"(?:a\s+|an\s+)?(?:real\s+|live\s+)?(?:person|human|agent|someone|somebody|operator)\b|"
    r"hablar con (?:una persona|un humano|un agente|alguien)|"
    r"mit (?:einem|einer) (?:menschen|mitarbeiter(?:in)?|person) (?:sprechen|reden)|"
    r"parler (?:à|a|avec) (?:une personne|un humain|un agent|quelqu'un)|"
    r"falar com (?:uma pessoa|um humano|um atendente|algu[eé]m)|人工客服|转人工|找人工",
    re.IGNORECASE,
)
_SHOUTED_WORD = re.compile(r"\b[A-Z]{3,}\b")
_ACRONYMS = frozenset({"API", "SSO", "VAT", "PDF", "USD", "EUR", "GBP", "CET", "FAQ", "SLA",
                       "TLS", "AES", "iOS", "RAW", "ZIP", "NAS", "SMS", "URL", "OTP", "CSV"})


@dataclass(frozen=True)
class Tone:
    """What the message's wording says about the customer's mood and what they want."""

    frustrated: bool = False
    billing_dispute: bool = False
    insists: bool = False

    @property
    def upset(self) -> bool:
        """Frustrated or disputing a charge: the reply starts with an apology."""
        return self.frustrated or self.billing_dispute


def shouting(text: str) -> bool:
    """True when a word (not a known acronym) is in capitals: "you charged me TWICE"."""
    return any(word not in _ACRONYMS for word in _SHOUTED_WORD.findall(text))


def tone_of(text: str) -> Tone:
    """The tone of one customer message."""
    shouted = shouting(text)
    exclaimed = "!!" in text or "?!" in text
    dispute = bool(_BILLING_DISPUTE.search(text) or _BILLING_DISPUTE_OTHER.search(text))
    frustrated = (bool(_ANGER.search(text) or _ANGER_OTHER.search(text))
                  or (shouted and exclaimed))
    insists = bool(_INSIST.search(text)) or (shouted and (dispute or frustrated))
    return Tone(frustrated=frustrated, billing_dispute=dispute, insists=insists)


# Before a request for a person, in its clause, these make it no request: a refusal ("I don't
# want to talk to a person", "no need to speak to an agent", _REFUSING), or a question about
# one ("do I need an agent to set up SSO?"; both: _NOT_ASKING).
_REFUSING = re.compile(
    r"(?:\b(?:don['’]?t|do not|doesn['’]?t|didn['’]?t|never|not|no need|without|nicht|kein\w*|"
    r"no|sin|pas|jamais|não|nunca|sem)\b|不|别)[^.?!,;]*$",
    re.IGNORECASE,
)
_NOT_ASKING = re.compile(
    _REFUSING.pattern + r"|\b(?:do|does|did|would|will|should|must)\s*$", re.IGNORECASE)
# "I don't need an agent", which _WANTS_PERSON's "I need an agent" does not cover, and the
# same in the other languages ("ich will keinen Menschen sprechen", "no quiero hablar con nadie").
_REFUSED_PERSON = re.compile(
    r"\b(?:don['’]?t|do not|no)\s+(?:need|want)\s+(?:a\s+|an\s+|any\s+)?(?:real\s+|live\s+)?"
    r"(?:person|human|agent|operator|representative)\b|"
    r"\bno\s+(?:quiero|necesito)\s+(?:hablar\s+con\s+)?(?:una\s+persona|un\s+humano|un\s+agente|"
    r"nadie)\b|"
    r"\bkeine[nr]?\s+(?:menschen|mitarbeiter(?:in)?|person|agenten)\b|"
    r"\bpas\s+(?:besoin\s+d['’]|parler\s+(?:à|a)\s+)(?:une\s+personne|un\s+humain|un\s+agent|"
    r"quelqu['’]un)|\bne\s+veux\s+pas\s+(?:parler\s+(?:à|a|avec)\s+)?(?:une\s+personne|un\s+humain|"
    r"un\s+agent)|"
    r"\bnão\s+(?:quero|preciso)\s+(?:falar\s+com\s+)?(?:uma\s+pessoa|um\s+humano|um\s+atendente|"
    r"ningu[eé]m)|"
    r"(?:不要|不用|不需要)(?:转)?人工",
    re.IGNORECASE,
)


def asks_for_person(text: str) -> bool:
    """True when the message asks for a person in so many words, whatever else it asks; not
    when that is denied or asked about ("I don't want to talk to a person", "do I need an
    agent to…?"). One word one letter off "agent", "human"… counts too ("agnet", "gent")."""
    # _NOT_ASKING reads only the end of what precedes the request: its own clause
    return mistyped_person(text) or any(not _NOT_ASKING.search(text[:match.start()])
                                        for match in _WANTS_PERSON.finditer(text))


ASKED_FOR_PERSON = "the customer asked for a person"  # the handoff's reason
# The one-word requests for a person people type ("agent", "human" are in the NLU's examples);
# a whole message one edit from one of them (a letter dropped, swapped, doubled or wrong) is
# that request mistyped. The NLU reads "gent" or "agnet" as nothing it knows (the randomized
# conversations found it: tests/bot/test_dialogue_fuzz.py).
_PERSON_WORDS = ("agent", "human", "person", "operator", "representative")
_ONE_WORD = re.compile(r"[^\W\d_]{4,20}")


def mistyped_person(text: str) -> bool:
    """True if the whole message is one word one edit away from "agent", "human"…"""
    from editdistpy import damerau_osa

    word = re.sub(r"[\W_]+", "", text.casefold())
    return bool(_ONE_WORD.fullmatch(word)) and word not in _PERSON_WORDS and any(
        0 <= damerau_osa.distance(word, target, 1) <= 1 for target in _PERSON_WORDS)


def declines_person(text: str) -> str | None:
    """When the message mentions a person only to say no to one ("I don't want to talk to a
    person, just the price"): what it says after that, maybe empty; else None."""
    matches = list(_WANTS_PERSON.finditer(text))
    if any(not _REFUSING.search(text[:match.start()]) for match in matches):
        return None  # asked for, or asked about ("do I need an agent to…?")
    refusals = [*matches, *_REFUSED_PERSON.finditer(text)]
    if not refusals:
        return None
    rest = text[max(match.end() for match in refusals):]
    # "…keinen Menschen sprechen, sag mir nur, was Business kostet": the clause's last words go
    end = _CLAUSE_END.search(rest)
    if end is not None and len(rest[:end.start()].split()) <= MAX_CLAUSE_TAIL_WORDS:
        rest = rest[end.end():]
    return _AFTER_REFUSAL.sub("", rest)


_CLAUSE_END = re.compile(r"[,.;:!?，。；！？]")
MAX_CLAUSE_TAIL_WORDS = 3


# What joins a refusal to the rest: "I don't need an agent, just tell me…", "…but how much…".
_AFTER_REFUSAL = re.compile(
    r"^(?:[\s,.;:!，。-]|\b(?:just|only|but|and|please|thanks?|solo|sólo|pero|nur|aber|juste|"
    r"seulement|mais|só|apenas|mas)\b)*", re.IGNORECASE)


def reason_for(tone: Tone, *, complaints: int) -> str:
    """The handoff case's reason, in words an agent can act on."""
    if tone.billing_dispute:
        what = "billing dispute: the customer says they were charged wrongly and wants money back"
    elif complaints >= 2:
        what = "repeated complaints"
    else:
        what = "frustrated customer"
    if tone.insists:
        what += " (insisted on a person)"
    return what
