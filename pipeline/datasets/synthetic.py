"""A deterministic synthetic corpus shaped like Yahoo! Answers.

Ten topics, each with its own vocabulary. Every question draws two key terms from its topic; the
title and content mention them and the best answer repeats them among more words of the topic, so
an answer is lexically (and semantically) close to its own question, less close to another question
of the same topic, and far from other topics. That is what the simulator's quality model and the
scorers need. About a third of the questions have no content, as in the real data.

The stream depends only on the seed: the first N rows of a larger corpus equal a corpus of N rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.datasets.model import TOPICS, Question
from pipeline.datasets.yahoo_csv import write_yahoo_csv

__all__ = ["TOPIC_VOCABULARY", "synthesize", "write_synthetic_csv"]

# One vocabulary per topic, in TOPICS order (space-separated words).
_VOCABULARY_TEXT = (
    (
        "culture tradition religion holiday custom language community festival belief ritual "
        "heritage etiquette ceremony mythology philosophy society generation identity wedding "
        "church temple prayer history ancestor folklore values morality tribe dialect "
        "pilgrimage"
    ),
    (
        "equation gravity molecule algebra calculus planet energy atom theorem physics "
        "chemistry biology velocity fraction geometry electron photon orbit experiment "
        "hypothesis integral derivative telescope evolution cell magnet probability matrix "
        "reaction acceleration"
    ),
    (
        "doctor fever diet vitamin exercise infection allergy medicine symptom headache sleep "
        "protein cholesterol diabetes therapy muscle injury calorie immune dentist skin blood "
        "pressure nutrition cough antibiotic pain stomach weight hydration"
    ),
    (
        "homework essay library dictionary grammar teacher college exam degree scholarship "
        "vocabulary encyclopedia thesis semester lecture tutor spelling citation textbook "
        "university syllabus diploma reading translation definition classroom assignment "
        "research quiz curriculum"
    ),
    (
        "computer laptop software browser virus internet router password email keyboard "
        "printer windows download website server memory processor driver firewall network "
        "program database update monitor wireless backup spyware screen install java"
    ),
    (
        "football basketball soccer coach team league tournament player stadium baseball "
        "hockey tennis golf season championship referee goal score workout marathon olympics "
        "draft pitcher quarterback racket wrestling cycling playoff match fans"
    ),
    (
        "money loan mortgage stock investment credit bank tax salary budget interest "
        "insurance retirement debt savings business market profit invoice accountant dividend "
        "inflation employer resume startup shares income payment lender portfolio"
    ),
    (
        "movie music song album band actor concert guitar singer television episode lyrics "
        "celebrity soundtrack director festival drummer cartoon comedy rapper piano theater "
        "premiere playlist anime radio videogame series rockstar karaoke"
    ),
    (
        "boyfriend girlfriend marriage parents friendship divorce baby sister brother dating "
        "husband wife family trust breakup crush wedding children teenager grandmother cousin "
        "relationship argument jealousy roommate adoption pregnancy romance apology "
        "anniversary"
    ),
    (
        "government election president congress senator law constitution democracy vote "
        "policy military war court citizen immigration candidate campaign parliament taxes "
        "rights embassy governor treaty minister legislation party referendum mayor veteran "
        "diplomacy"
    ),
)
TOPIC_VOCABULARY: tuple[tuple[str, ...], ...] = tuple(
    tuple(text.split()) for text in _VOCABULARY_TEXT
)

_GENERAL_TEXT = (
    "the a it is and to of you that in for with can be your this if on more about really "
    "most some people time usually should would good best better first also just very "
    "because when what then but try make think know find need help way depends always "
    "often never important maybe probably"
)
_GENERAL: tuple[str, ...] = tuple(_GENERAL_TEXT.split())

_TITLES = (
    "How do I choose a {a} for my {b}?",
    "What is the difference between {a} and {b}?",
    "Why does my {a} keep affecting the {b}?",
    "Is it worth learning about {a} before {b}?",
    "Where can I find good advice about {a} and {b}?",
    "Can someone explain {a} and {b} to me?",
    "What should I know about {a} when it comes to {b}?",
    "Does {a} really matter for {b}?",
)
_CONTENTS = (
    "I have been dealing with {a} for {n} {unit} and the {b} still confuses me.",
    "My friend says {a} is useless without {b}, is that true?",
    "I read something about {a} and {b} but could not make sense of it.",
    "Every time I ask about {a} people talk about {b} instead.",
)
_OPENERS = (
    "The short answer is that {a} matters more than {b}.",
    "It depends on your {b}, but {a} is the key.",
    "Think about {a} first and the {b} will follow.",
    "Most people get {a} wrong because they ignore {b}.",
)
_UNITS = ("days", "weeks", "months", "years")


def synthesize(rows: int, seed: int = 0, *, source: str | None = None) -> Iterator[Question]:
    """Yield ``rows`` synthetic questions, deterministically from ``seed``."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = random.Random(seed)
    name = source if source is not None else f"synthetic-{seed}"
    # Word pools per topic: the topic's words weighted 2:1 against the general ones.
    pools = [list(vocab) * 2 + list(_GENERAL) for vocab in TOPIC_VOCABULARY]
    choices, rand = rng.choices, rng.random
    n_topics = len(TOPICS)

    def pick(seq: tuple[str, ...]) -> str:
        return seq[int(rand() * len(seq))]

    for row in range(rows):
        topic_id = int(rand() * n_topics)
        a, b = rng.sample(TOPIC_VOCABULARY[topic_id], 2)
        pool = pools[topic_id]
        title = pick(_TITLES).format(a=a, b=b)
        if rand() < 0.35:
            content = ""
        else:
            content = pick(_CONTENTS).format(a=a, b=b, n=2 + int(rand() * 10), unit=pick(_UNITS))
            if rand() < 0.3:
                content += "\n" + _sentences(
                    choices(pool, k=5 + int(rand() * 7)), a, b, rand, end="?"
                )
        # 15-109 words after the opener: answers of about 20-120 words
        body = _sentences(choices(pool, k=15 + int(rand() * 95)), a, b, rand, end=".")
        sep = "\n" if rand() < 0.2 else " "
        answer = pick(_OPENERS).format(a=a, b=b) + sep + body
        yield Question.create(topic_id, title, content, answer, source=name, row=row)


def _sentences(words: list[str], a: str, b: str, rand: Callable[[], float], *, end: str) -> str:
    """Sentences of 6-14 words with the question's key terms mixed in (about one word in 8 is
    ``a`` and one in 12 is ``b``), each capitalised and closed with ``end``."""
    n = len(words)
    for _ in range(max(1, n // 8)):
        words[int(rand() * n)] = a
    for _ in range(n // 12):
        words[int(rand() * n)] = b
    out = []
    i = 0
    while i < n:
        step = 6 + int(rand() * 9)
        text = " ".join(words[i : i + step])
        out.append(text[0].upper() + text[1:] + end)
        i += step
    return " ".join(out)


def write_synthetic_csv(path: str | Path, rows: int, seed: int = 0) -> int:
    """Write a synthetic corpus in the 4-column Yahoo! Answers CSV format; returns the row count."""
    return write_yahoo_csv(synthesize(rows, seed), path)
