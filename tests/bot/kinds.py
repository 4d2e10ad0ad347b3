"""The kinds of messages real customers send, as Hypothesis strategies for dialogue fuzzing.

Each kind is a pool of realistic messages; a conversation is 8+ messages drawn from all kinds
with perturbations people make (typos, shouting, fillers, emoji). See test_dialogue_fuzz.py.
"""

from __future__ import annotations

from hypothesis import strategies as st

FAQ = [
    "how much is pro?", "how do I reset my password?", "is there a mobile app?",
    "how do I share a link?", "how many devices on free?", "how do I delete my account?",
    "can I get a refund?", "what payment methods do you accept?", "is my data encrypted?",
    "my files are not syncing", "how do I cancel my subscription?", "do you have an API?",
    "is there a free trial for business?", "where are your servers?", "what are team folders",
    "how do I restore a deleted file", "my storage is full", "do you have student discounts",
    "can I use it offline?", "how do i turn on 2fa", "what plans do you offer?",
]
FOLLOW_UPS = [
    "and per year?", "and on pro?", "what about business?", "can I put a password on it?",
    "what happens to my files then?", "how long does it take?", "does it work on android?",
    "and for 20 people?", "is it immediate?", "why?", "really?", "and on a mac?",
    "does it work on linux? im on ubuntu 22.04", "how much is it?",
]
VALUES = [
    "jo@example.com", "my email is jo@example.com", "grace@example.com", "42", "3", "250 people",
    "Ana Silva", "Li Wei", "José", "tomorrow", "next month", "2027-01-15", "15/01",
    "+44 20 7946 0958",
    "0791 12", "12 Baker Street, London NW1 6XE", "$500 a month", "5k a year", "not sure yet",
    "Acme Ltd", "the business plan", "pro",
]
SMALL_TALK = [
    "how are you?", "lol", "cool", "thanks!", "hello", "good morning", "hi there", "bye",
    "are you a bot?", "you're funny", "ok cool", "nice", "thank you so much",
]
YES_NO = ["yes", "no", "yep", "nope", "ok", "sure", "no thanks", "/affirm", "/deny", "yes please"]
NOISE = [
    "asdfgh", "😀", "🙏🙏", "???", "...", "k", "¯\\_(ツ)_/¯", "<script>alert(1)</script>",
    "SELECT * FROM users;", "%s %d {{7*7}}", "\u202eevil", "a" * 300, "🔥 lol 🔥", "?",
    "/restart", "/back", "/session_start", '/choose_faq{"faq_id": "nope"}',
    '/inform{"detail": "phone"}', "/nonexistent_intent",
]
OTHER_LANGUAGES = [
    "¿cuánto cuesta el plan pro?", "如何重置密码?", "wie setze ich mein passwort zurück?",
    "comment réinitialiser mon mot de passe ?", "quanto custa o plano pro?", "谢谢", "hola",
    "merci beaucoup", "¿hay una aplicación móvil?", "我想和人工客服谈谈",
]
TASKS = [
    "I want to change my address", "update my phone number", "I want a demo for my team of 20",
    "I'd like to report a problem", "what's the status of my cases?", "talk to sales",
    "my address has changed", "open a ticket",
]
STOPS = ["stop", "cancel", "never mind", "forget it", "actually no", "hmm actually no",
         "no thanks, that's all I needed"]
HUMAN = ["agent", "I want to talk to a human", "human please", "can I speak to a person?",
         "connect me to support"]
COMPLAINTS = ["this is useless", "you charged me twice!!", "I'm so frustrated with this",
              "worst service ever", "you're not helping at all"]
OUT_OF_SCOPE = ["what's the weather tomorrow", "tell me a joke", "who won the football game",
                "what is the capital of france"]

# At the code prompt (a customer's cases or details need the code mailed to them): codes as
# people type them, wrong ones (the fuzz never knows the real code), short ones, and asking for
# a new one. Anywhere else they are bare values or requests without a code to resend.
CODES = ["123456", "123 456", "654-321", "my code is 000000", "the code is 482 913", "12345",
         "1234567", "code: 999999"]
RESEND = ["resend", "I didn't get the code", "send it again", "no email yet",
          "can you resend the code?", "nothing came", "send me a new code"]

KINDS: dict[str, list[str]] = {
    "faq": FAQ, "follow_up": FOLLOW_UPS, "value": VALUES, "small_talk": SMALL_TALK,
    "yes_no": YES_NO, "noise": NOISE, "other_language": OTHER_LANGUAGES, "task": TASKS,
    "stop": STOPS, "human": HUMAN, "complaint": COMPLAINTS, "out_of_scope": OUT_OF_SCOPE,
    "code": CODES, "resend": RESEND,
}
# Rough shares in real traffic: mostly questions, follow-ups and values.
WEIGHTS = {"faq": 6, "follow_up": 4, "value": 4, "small_talk": 2, "yes_no": 3, "noise": 2,
           "other_language": 1, "task": 3, "stop": 2, "human": 1, "complaint": 1,
           "out_of_scope": 1, "code": 2, "resend": 1}


def _typo(text: str, position: int) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = letters[position % len(letters)]
    return text[:i] + text[i + 1:]


@st.composite
def message(draw: st.DrawFn) -> tuple[str, str]:
    """(kind, text): one customer message, sometimes perturbed as people type."""
    kind = draw(st.sampled_from([k for k, w in WEIGHTS.items() for _ in range(w)]))
    text = draw(st.sampled_from(KINDS[kind]))
    if text.startswith("/"):
        return kind, text  # a button payload is sent as it is
    how = draw(st.sampled_from(["as is"] * 6 + ["typo", "shout", "filler", "emoji", "lower"]))
    if how == "typo":
        text = _typo(text, draw(st.integers(0, 50)))
    elif how == "shout":
        text = text.upper() + "!!"
    elif how == "filler":
        text = draw(st.sampled_from(["hmm ", "ok so ", "umm, ", "sorry, "])) + text
    elif how == "emoji":
        text = text + " " + draw(st.sampled_from(["🙂", "😡", "🤔", "👍"]))
    elif how == "lower":
        text = text.lower()
    return kind, text


def conversation(
    min_turns: int = 8, max_turns: int = 14
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A conversation: 8 to 14 messages of any kind, in any order."""
    return st.lists(message(), min_size=min_turns, max_size=max_turns)
