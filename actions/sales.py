"""Buying interest: collect what sales needs (lead_form) and open or update the customer's lead."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.channels import channel_of
from actions.faq import OFFERED
from actions.forms import (
    Hint,
    RelayFormValidation,
    end_of_task,
    finish_cancelled,
    latest_text,
    was_cancelled,
)
from actions.identify import customer_id_of, first_name, verified_customer_of
from actions.runtime import services
from crm_store import audit, conversations, customers, leads

LEAD_SLOTS = ("lead_interest", "company_size", "company", "budget", "timeline")
NO_COMPANY = "no company (individual)"
PLANS = ("free", "pro", "business", "enterprise")
UNDECIDED_BUDGET = "not decided yet"
UNKNOWN = "not sure yet"  # a head count, plan or company the customer cannot give yet
# "a few", "a bunch": no number, but an answer sales can read (kept as said).
_VAGUE_COUNT = re.compile(r"\b(?:a few|a couple|several|a bunch|a handful|some|many|lots|"
                          r"a lot|dozens?|hundreds|thousands|small team|big team|large team)\b",
                          re.IGNORECASE)
_IDK = re.compile(r"\b(?:idk|dunno|not sure|no idea|don'?t know|no clue|can'?t say|unsure|"
                  r"not decided|undecided|tbd)\b|no sé|weiß (?:ich )?nicht|je ne sais pas|"
                  r"não sei|不知道|不确定", re.IGNORECASE)

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12,
}
_COUNT = re.compile(r"(\d[\d,.]*)\s*(k)?\b", re.IGNORECASE)
_AMOUNT = re.compile(
    r"(?P<pre>[$€£])?\s*(?P<num>\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<mult>k|m|thousand|million)?\b\s*"
    r"(?P<cur>usd|eur|gbp|dollars?|euros?|pounds?|\$|€|£)?",
    re.IGNORECASE,
)
_TEAM_WORDS = re.compile(r"\b(team|people|users|seats|employees|staff|colleagues|licen[cs]es)\b")
_CURRENCIES = {"$": "$", "usd": "$", "dollar": "$", "dollars": "$", "€": "€", "eur": "€",
               "euro": "€", "euros": "€", "£": "£", "gbp": "£", "pound": "£", "pounds": "£"}
_UNDECIDED = ("not sure", "no budget", "don't know", "dont know", "no idea", "tbd", "undecided",
              "flexible", "depends", "not yet",
              # the other languages (phrases: matched anywhere in the reply)
              "no sé", "no lo sé", "aún no", "sin presupuesto", "weiß nicht", "noch nicht",
              "kein budget", "je ne sais pas", "pas encore", "pas de budget", "não sei",
              "ainda não", "sem orçamento", "不知道", "还没", "不确定", "没有预算")
_ASAP = ("asap", "as soon as possible", "immediately", "right away", "right now", "today", "now")
_EXPLORING = ("exploring", "no rush", "just looking", "researching", "not sure", "no hurry",
              "undecided", "don't know")
# Start times in the other languages, matched anywhere in the reply (no word boundaries in
# Chinese): the customer's words are kept as the timeline, as sales can read them.
_TIMELINE_PHRASES = {
    "as soon as possible": ("lo antes posible", "cuanto antes", "so schnell wie möglich",
                            "sofort", "dès que possible", "au plus vite", "o quanto antes",
                            "o mais rápido possível", "imediatamente", "尽快", "马上", "立即"),
    "just exploring": ("solo estoy mirando", "sin prisa", "no hay prisa", "nur umschauen",
                       "keine eile", "pas pressé", "je me renseigne", "sem pressa",
                       "só olhando", "不急", "随便看看", "先了解"),
}
_TIMELINE_WORDS = re.compile(
    r"\b(?:mes|meses|semana|semanas|año|trimestre|monat|monate|woche|wochen|jahr|quartal|"
    r"mois|semaine|semaines|année|trimestre|mês|meses|ano|hoje|hoy|heute|aujourd'hui|"
    r"mañana|morgen|demain|amanhã|enero|febrero|marzo|abril|mayo|junio|julio|agosto|"
    r"septiembre|octubre|noviembre|diciembre|januar|februar|märz|mai|juni|juli|august|"
    r"oktober|dezember|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|"
    r"novembre|décembre|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|"
    r"novembro|dezembro)\b|[月周年季]|下周|明天|今天",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(this|next)\s+(week|month|quarter|year)\b|\b(?:in|within)\s+(?:a|an|\d+|a few|a couple of)"
    r"\s+(?:days?|weeks?|months?|years?)\b|\bq[1-4]\b(?:\s+\d{4})?|\b(?:january|february|march|"
    r"april|may|june|july|august|september|october|november|december|spring|summer|autumn|fall|"
    r"winter|end of the year|end of year|soon|later this year|early next year)\b",
    re.IGNORECASE,
)


def interest_from_text(text: str) -> str | None:
    """What the customer wants, naming the plan if they named one ("Business plan (demo)");
    UNKNOWN for "no idea" (stored as the interest before)."""
    cleaned = text.strip().rstrip("?.!")
    if len(cleaned) < 2:
        return None
    if _IDK.search(cleaned) and not any(re.search(rf"\b{p}\b", cleaned.lower()) for p in PLANS):
        return UNKNOWN
    lowered = cleaned.lower()
    plans = [p for p in PLANS if re.search(rf"\b{p}\b", lowered)]
    if not plans:
        return cleaned[:200]
    summary = " / ".join(p.title() for p in plans) + " plan"
    return f"{summary} (demo)" if "demo" in lowered else summary


# A minus sign before a number that is not the dash of a range ("50-100", "5k - 10k"): such a
# number is no head count or budget, whatever its digits say.
_NEGATIVE = re.compile(r"(?<![\dkm])(?<![\dkm] )[-\u2212]\s*\d|\bminus\b", re.IGNORECASE)


def company_size_from_text(text: str) -> str | None:
    """"about 40 people" → "40 people"; "50-100" → "50-100 people"; None without a number."""
    lowered = text.lower()
    if _NEGATIVE.search(lowered):
        return None
    numbers: list[int] = []
    for digits, thousands in _COUNT.findall(lowered):
        value = digits.replace(",", "").replace(".", "")
        if value.isdigit():
            numbers.append(int(value) * (1000 if thousands else 1))
    if not numbers:
        numbers = [n for word, n in _NUMBER_WORDS.items() if re.search(rf"\b{word}\b", lowered)]
    if not numbers and re.search(r"\b(just me|only me|myself|solo)\b", lowered):
        numbers = [1]
    if not numbers or max(numbers) <= 0:
        return None
    if len(numbers) >= 2 and re.search(r"\d\s*(-|\u2013|to)\s*\d", lowered):
        return f"{min(numbers)}-{max(numbers)} people"
    size = max(numbers)
    return "1 person" if size == 1 else f"{size} people"


def budget_from_text(text: str) -> str | None:
    """"5k a year" → "5000 per year", "€500 monthly" → "€500 per month"; None without an amount."""
    lowered = text.lower().strip()
    if any(phrase in lowered for phrase in _UNDECIDED):
        return UNDECIDED_BUDGET
    match = _AMOUNT.search(lowered)
    if match is None or _NEGATIVE.search(lowered):
        return None
    amount = float(re.sub(r"[ ,]", "", match.group("num")))
    multiplier = (match.group("mult") or "").lower()
    if multiplier in ("k", "thousand"):
        amount *= 1_000
    elif multiplier in ("m", "million"):
        amount *= 1_000_000
    symbol = _CURRENCIES.get((match.group("pre") or match.group("cur") or "").lower(), "")
    if not symbol:
        symbol = next((s for word, s in _CURRENCIES.items()
                       if re.search(rf"\b{re.escape(word)}\b", lowered)), "")
    if re.search(r"\b(month|monthly|mo|pm)\b|/\s*mo", lowered):
        period = " per month"
    elif re.search(r"\b(year|yearly|annual|annually|yr|pa)\b|/\s*y", lowered):
        period = " per year"
    else:
        period = ""
    number = f"{amount:.2f}".rstrip("0").rstrip(".")
    return f"{symbol}{number}{period}"


_BUDGET_WORDS = re.compile(r"\b(budget|spend|afford|pay up to|can pay|max(?:imum)?)\b",
                           re.IGNORECASE)
_MONEY = re.compile(r"[$€£]|\b(usd|eur|gbp|dollars?|euros?|pounds?|budget|k|month|year|"
                    r"monthly|yearly|annual)\b")
_CORRECTION_WORDS = re.compile(r"\b(actually|instead|rather|sorry|correction|i meant|not \d+)\b",
                               re.IGNORECASE)
_COMPANY_PREFIX = re.compile(
    r"^(?:(?:we're called|we are called|it's|its|it is|we are|we're|the company is|"
    r"our company is|company:|company is|i work (?:at|for)|from)\s+)?(?:(?:for|at)\s+)?"
    r"(?:(?:my|our|the)\s+"
    r"(?:company|organi[sz]ation|org|ngo|nonprofit|charity|business|firm|startup|team|school|"
    r"agency|studio|shop)(?:\s+(?:called|named))?[,:]?\s+)?", re.IGNORECASE)
_NO_COMPANY = re.compile(r"\b(just me|only me|myself|personal|private|individual|freelanc\w*|"
                         r"no company|none|n/a|self[- ]employed)\b", re.IGNORECASE)


_HEAD_COUNT = re.compile(
    r"\b\d[\d,.]*\s*k?\s*(?:people|persons|users|seats|employees|staff|colleagues|"
    r"licen[cs]es)\b|\bteam of\s+\d", re.IGNORECASE)


def amount_with_currency(text: str) -> str | None:
    """The budget in a reply that names an amount of money ("about 400 dollars", "$500 a
    month"); None for a bare number ("Studio 54", "3M")."""
    match = _AMOUNT.search(text.lower())
    if match is None or not (match.group("pre") or match.group("cur")):
        return None
    return budget_from_text(text)


def company_from_text(text: str) -> str | None:
    """The company's name ("it's Acme Ltd" → "Acme Ltd"); NO_COMPANY for a private buyer.

    Another lead detail given at this prompt (a head count, an amount of money) is no name.
    """
    if _NO_COMPANY.search(text):
        return NO_COMPANY
    if _IDK.search(text):
        return UNKNOWN  # "not sure yet" was stored as the company's name
    if _HEAD_COUNT.search(text) or amount_with_currency(text):
        return None
    name = _COMPANY_PREFIX.sub("", text.strip()).strip().rstrip(".!")
    if not name or len(name) > 100 or name.endswith("?") or len(name.split()) > 8:
        return None
    if not any(ch.isalpha() for ch in name):
        return None
    return name


def corrections(text: str, requested: str | None) -> dict[str, str]:
    """Other lead details the reply gives or corrects ("our budget is about 400 dollars")."""
    found: dict[str, str] = {}
    if requested != "budget" and _BUDGET_WORDS.search(text) and (amount := budget_from_text(text)):
        found["budget"] = amount
    elif requested == "company" and (amount := amount_with_currency(text)):
        found["budget"] = amount  # no company is called "about 400 dollars"
    if (requested != "company_size" and _TEAM_WORDS.search(text.lower())
            and (size := company_size_from_text(text)) is not None):
        found["company_size"] = size
    if requested != "lead_interest" and _CORRECTION_WORDS.search(text):
        lowered = text.lower()
        if any(re.search(rf"\b{plan}\b", lowered) for plan in PLANS):
            found["lead_interest"] = interest_from_text(text) or ""
    return {slot: value for slot, value in found.items() if value}


def timeline_from_text(text: str) -> str | None:
    """A start time in sales' words ("as soon as possible", "Q3", "next month"); None if none."""
    cleaned = text.strip().rstrip(".!")
    lowered = cleaned.lower()
    if any(re.search(rf"\b{re.escape(word)}\b", lowered) for word in _ASAP):
        return "as soon as possible"
    if any(word in lowered for word in _EXPLORING):
        return "just exploring"
    for meaning, phrases in _TIMELINE_PHRASES.items():
        if any(phrase in lowered for phrase in phrases):
            return meaning
    match = _RELATIVE.search(lowered)
    if match is None:
        return cleaned[:100] if _TIMELINE_WORDS.search(lowered) else None
    phrase = match.group(0)
    return phrase.upper() if re.fullmatch(r"q[1-4](\s+\d{4})?", phrase) else phrase


def sales_request_text(tracker: Tracker) -> str | None:
    """The customer's message that led to the lead form, when the form is only just starting:
    their request_sales message, or the question the bot answered with an offer of the sales
    team ("we're a team of 12, thinking about business plan" → "yes"), so what it already
    says (the plan, the head count) is not asked again."""
    if tracker.get_slot("requested_slot") is not None:
        return None
    # The request may be a few turns back when identification came first.
    offered = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == OFFERED and event.get("value") == "sales":
            offered = True
        elif kind == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == "request_sales" or offered:
                return str(event.get("text") or "")
    return None


class ValidateLeadForm(RelayFormValidation):
    """Normalise interest, size, company, budget and timeline; accept corrections any time."""

    # "the Business plan?" is an answer to "which plan?", not a question to look up.
    QUESTIONS_ARE_ANSWERS = ("lead_interest",)
    # "no" to "do you have a budget in mind?" means no budget; to "when?" it means no rush.
    NO_IS_AN_ANSWER = ("budget", "timeline")

    def name(self) -> str:
        return "validate_lead_form"

    async def extract_lead_interest(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A plan or a demo named in the request ("a demo of Business for my team")."""
        text = sales_request_text(tracker)
        if not text or tracker.get_slot("lead_interest"):
            return {}
        lowered = text.lower()
        if any(re.search(rf"\b{plan}\b", lowered) for plan in PLANS):
            return {"lead_interest": interest_from_text(text)}
        return {"lead_interest": "a demo"} if "demo" in lowered else {}

    async def extract_company_size(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A head count given with the request ("pricing for a team of 40")."""
        text = sales_request_text(tracker)
        if not text or tracker.get_slot("company_size") or not _TEAM_WORDS.search(text.lower()):
            return {}
        size = company_size_from_text(text)
        return {"company_size": size} if size else {}

    async def extract_company(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The company the CRM already knows for a verified customer, so it is not asked again
        (asked of everyone else: skipping it would tell that the address has a record)."""
        if (tracker.get_slot("company") or tracker.get_slot("requested_slot") == "company"
                or customer_id_of(tracker) is None):
            return {}
        customer_id = verified_customer_of(tracker)
        if customer_id is None:
            return {}
        with services().sessions() as session:
            customer = customers.get(session=session, customer_id=customer_id)
            known = customer.company if customer is not None else None
        return {"company": known} if known else {}

    def strict_company_size(self, text: str) -> str | None:
        """A head count, whatever the NLU thought of the reply."""
        return company_size_from_text(text) if re.search(r"\d", text) else None

    def strict_budget(self, text: str) -> str | None:
        """An amount with a currency, whatever the NLU thought of the reply."""
        return budget_from_text(text) if _MONEY.search(text.lower()) else None

    def strict_timeline(self, text: str) -> str | None:
        """A time frame, whatever the NLU thought of the reply."""
        return timeline_from_text(text)

    def parse_lead_interest(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """The plan or product."""
        interest = interest_from_text(text)
        return interest, None if interest else Hint("utter_hint_lead_interest")

    def parse_company_size(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """A head count; "a few" as said, "not sure" as UNKNOWN: each is an answer (the same
        hint four times in a row was a trap for "idk maybe a few" and "I don't know!!")."""
        size = company_size_from_text(text)
        if size is None and (vague := _VAGUE_COUNT.search(text)):
            size = f"{vague.group(0).lower()} (no number given)"
        if size is None and _IDK.search(text):
            size = UNKNOWN
        return size, None if size else Hint("utter_hint_company_size")

    def parse_company(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """The company's name."""
        company = company_from_text(text)
        return company, None if company else Hint("utter_hint_company")

    def parse_budget(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """An amount (with currency and period when given) or "not decided yet"."""
        lowered = text.strip().lower()
        if re.fullmatch(r"(?:no|nope|nah|not really|none)[.!]*", lowered):
            return UNDECIDED_BUDGET, None
        budget = budget_from_text(text)
        if budget and _TEAM_WORDS.search(lowered) and not _MONEY.search(lowered):
            budget = None  # "we're 30 people" is a head count, not 30 (of what?)
        return budget, None if budget else Hint("utter_hint_budget")

    def parse_timeline(self, text: str, tracker: Tracker) -> tuple[str | None, Hint | None]:
        """When they want to start."""
        if re.fullmatch(r"(?:no|nope|nah|no rush|not really)[.!]*", text.strip().lower()):
            return "just exploring", None
        timeline = timeline_from_text(text)
        return timeline, None if timeline else Hint("utter_hint_timeline")

    def _validate(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """The slot's own validation, plus any other lead detail the reply gives or corrects."""
        fixes = (corrections(latest_text(tracker), slot)
                 if tracker.get_slot("requested_slot") == slot else {})
        result = self.validated(slot, value, dispatcher, tracker, quiet=bool(fixes))
        if result.get("form_cancelled") or not fixes:
            return result
        for other, new in fixes.items():
            # A detail asked for later, given now ("about €300 a month" at the company's
            # prompt) is said back, so the customer knows where it went.
            if tracker.get_slot(other) is None:
                dispatcher.utter_message(response=f"utter_noted_{other}", value=new)
            elif tracker.get_slot(other) != new:
                dispatcher.utter_message(response=f"utter_changed_{other}", value=new)
        return {**fixes, **result}

    async def validate_lead_interest(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The plan or product."""
        return self._validate("lead_interest", slot_value, dispatcher, tracker)

    async def validate_company_size(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A head count."""
        return self._validate("company_size", slot_value, dispatcher, tracker)

    async def validate_company(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """The company's name."""
        return self._validate("company", slot_value, dispatcher, tracker)

    async def validate_budget(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """An amount or "not decided yet"."""
        return self._validate("budget", slot_value, dispatcher, tracker)

    async def validate_timeline(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """When they want to start."""
        return self._validate("timeline", slot_value, dispatcher, tracker)


def created_here(session: Session, customer_id: int, conversation_id: str) -> bool:
    """True if the customer's record was made during this conversation and has no company yet
    (the visitor typed a new address): filling it in changes nobody else's record."""
    customer = customers.get(session=session, customer_id=customer_id)
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    return (customer is not None and conversation is not None and not customer.company
            and customer.created_at >= conversation.created_at)


class ActionSubmitLead(Action):
    """Open a lead for the customer, or update their open one, and tell them what happens next."""

    def name(self) -> str:
        return "action_submit_lead"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = end_of_task(tracker, LEAD_SLOTS)
        if was_cancelled(tracker):
            return finish_cancelled(dispatcher, tracker, LEAD_SLOTS,
                                    response="utter_lead_cancelled")
        verified = verified_customer_of(tracker)
        customer_id = verified or customer_id_of(tracker)
        if customer_id is None:
            dispatcher.utter_message(response="utter_lost_customer")
            return reset
        details = {slot: tracker.get_slot(slot) for slot in LEAD_SLOTS}
        company = details["company"]
        company = company if company and company != NO_COMPANY else None
        interest = details["lead_interest"]
        channel = channel_of(tracker.sender_id, (tracker.latest_message or {}).get("metadata"))
        with services().sessions.begin() as session:
            # Unverified, an existing record is not changed: the company goes with the lead —
            # unless this conversation created the record (its own, and the company is blank).
            writable = verified is not None or created_here(session, customer_id,
                                                            tracker.sender_id)
            if company and not writable:
                interest = f"{interest or 'unspecified'} (company: {company})"
            lead, created = leads.open_or_update_lead(
                session=session, customer_id=customer_id, interest=interest,
                company_size=details["company_size"], budget=details["budget"],
                timeline=details["timeline"], source_channel=channel, changed_by="relay-bot",
                unverified=verified is None,
            )
            lead_id = lead.id
            if company and writable:
                customers.update(session=session, customer_id=customer_id, company=company,
                                 actor=audit.BOT)
        summary = ", ".join(str(v) for v in details.values() if v)
        dispatcher.utter_message(
            response="utter_lead_opened" if created else "utter_lead_updated",
            name=first_name(tracker), lead_id=lead_id, summary=summary,
        )
        return reset
