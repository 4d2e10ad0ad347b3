"""A customer waiting for a person says they no longer need one ("never mind", "算了").

While a conversation waits in the queue, Rasa is paused: it logs what the customer says and
answers nothing. So "actually never mind, forget it" used to get silence, and the conversation
stayed in the agents' queue for a request nobody had any more. The gateway reads such a message
itself (bot/channels/inbound.py) and gives the conversation back to the assistant.

The match is strict on purpose: the whole message must be a back-out phrase, after fillers at
either end ("actually", "en fait non", "thanks") and punctuation are set aside. Anything more is
a message for the person who will take the conversation: "cancel my subscription" or "never
mind the invoice, my files are gone" must reach them, not withdraw the request.
"""

from __future__ import annotations

import re
import unicodedata

# Whole messages that withdraw a request for a person, by language (accents are ignored when
# matching, so "olvidalo" and "olvídalo" are one). "ok" and "thanks" alone are not here: they
# are what a customer says to "a person will be with you shortly".
PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("never mind", "nevermind", "nvm", "forget it", "forget about it", "cancel",
           "cancel that", "cancel it", "cancel the request", "cancel my request",
           "no need", "no need anymore", "not needed anymore", "i don't need a person",
           "i don't need a person anymore", "i don't need help anymore", "i found it",
           "i figured it out", "i worked it out", "i solved it", "solved it", "problem solved",
           "all good", "it's fine", "it's ok now", "it's okay now", "it works now",
           "don't bother", "no longer needed", "i'm good"),
    "zh": ("算了", "不用了", "取消", "没事了", "已经解决了", "我自己解决了", "不需要了",
           "解决了", "好了不用了"),
    "es": ("olvídalo", "olvidalo", "déjalo", "cancela", "cancelar", "no hace falta",
           "ya no hace falta", "ya está", "ya lo resolví", "ya lo encontré", "no importa",
           "ya no lo necesito"),
    "de": ("vergiss es", "egal", "abbrechen", "schon gut", "hat sich erledigt",
           "nicht mehr nötig", "ich habe es gefunden", "hat sich geklärt", "passt schon"),
    "fr": ("laisse tomber", "laissez tomber", "annule", "annuler", "c'est bon", "pas besoin",
           "plus besoin", "oublie", "oubliez", "c'est réglé", "j'ai trouvé", "ça marche maintenant",
           "tant pis"),
    "pt": ("deixa pra lá", "deixa para lá", "esquece", "esqueça", "cancela", "cancelar",
           "não precisa", "não precisa mais", "já resolvi", "já achei", "tudo certo"),
}
# Set aside at the start (repeatedly) and at the end of a message before it is compared.
_LEADING = ("actually", "oh", "ah", "ok", "okay", "well", "no", "nah", "sorry", "hmm", "um",
            "en fait", "non", "bon", "bueno", "pues", "ach", "na", "nein", "also", "olha",
            "não", "nao", "那", "哦", "嗯", "好吧", "其实")
_TRAILING = ("thanks", "thank you", "thx", "please", "pls", "anyway", "then", "merci",
             "gracias", "danke", "obrigado", "obrigada", "谢谢", "了", "吧", "then thanks")
_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def _plain(text: str) -> str:
    """Lower case, no accents, no apostrophes ("its fine" is "it's fine"), no punctuation, one
    space between words."""
    text = unicodedata.normalize("NFKD", re.sub("['’]", "", text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


_LANGUAGES: dict[str, set[str]] = {}  # each phrase, as compared, and the languages it is in
for _code, _listed in PHRASES.items():
    for _phrase in _listed:
        _LANGUAGES.setdefault(_plain(_phrase), set()).add(_code)
_KNOWN = frozenset(_LANGUAGES)
_LEAD = sorted({_plain(w) for w in _LEADING}, key=len, reverse=True)
_TRAIL = sorted({_plain(w) for w in _TRAILING}, key=len, reverse=True)
_FILLERS = frozenset(_LEAD) | frozenset(_TRAIL)
_LONGEST = 8  # words: a back-out is short; a longer message is never one


def _shorter(text: str) -> str | None:
    """text with one filler less at its start or end; None if it has none (a filler alone
    stays: it is not a back-out). ASCII fillers end at a space ("no" is not "nothing"'s
    start); Chinese ones need none."""
    for filler in _LEAD:
        for glue in (" ", "") if not filler.isascii() else (" ",):
            if text.startswith(filler + glue) and len(text) > len(filler + glue):
                return text[len(filler + glue):].strip()
    for filler in _TRAIL:
        for glue in (" ", "") if not filler.isascii() else (" ",):
            if text.endswith(glue + filler) and len(text) > len(glue + filler):
                return text[:-len(glue + filler)].strip()
    return None


def _match(plain: str | None) -> str | None:
    """The back-out phrase plain is, once fillers are set aside (None if it is none)."""
    while plain is not None:
        if plain in _KNOWN:
            return plain
        plain = _shorter(plain)
    return None


def _phrases(text: str) -> list[str] | None:
    """The back-out phrases the whole message consists of (besides fillers); None if it says
    anything else."""
    plain = _plain(text)
    if not plain or len(plain.split()) > _LONGEST:
        return None
    if (whole := _match(plain)) is not None:
        return [whole]
    parts = [p for p in (_plain(part) for part in _NOT_WORD.split(text)) if p]
    matched = [_match(p) for p in parts]
    said_more = any(m is None and p not in _FILLERS
                    for p, m in zip(parts, matched, strict=True))
    if len(parts) < 2 or said_more:
        return None
    found = [m for m in matched if m is not None]
    return found or None


def backs_out(text: str) -> bool:
    """Whether the whole message says the customer no longer needs a person: one back-out
    phrase with fillers around it, or several ("never mind, forget it", 算了 then 不用了)."""
    return _phrases(text) is not None


def language(text: str) -> str | None:
    """The language of a back-out message if its phrases are all of one language other than
    English ("olvídalo": es); None otherwise ("cancelar" is es and pt; "cancel" is said in
    many languages' chats, so English is never inferred from it)."""
    found = _phrases(text) or []
    common = set.intersection(*(_LANGUAGES[p] for p in found)) if found else set()
    return next(iter(common)) if len(common) == 1 and common != {"en"} else None
