"""The simulator's quality model: answers whose closeness to the reference follows two knobs.

Each answer draws a closeness ``c ~ clip(normal(mean, spread), 0, 1)``. Word ``i`` of the answer is
word ``i`` of the reference with probability ``c``, else a distractor word from a fixed vocabulary.
A lexical (bag-of-words / TF-IDF cosine) score therefore rises monotonically with ``c``, and an
embedding score follows it too, so the scorer's accept/regenerate behaviour is driven by ``mean``
(how good the model is) and ``spread`` (how uneven).
"""

from __future__ import annotations

import random

from pipeline.llm.sim.profiles import Quality

# Plausible filler with little overlap with typical answers.
DISTRACTORS: tuple[str, ...] = tuple(
    ["meanwhile", "consider", "perhaps", "notably", "tangential", "anecdote", "weather", "lighthouse", "umbrella", "violin", "harbor", "pebble", "orchard", "lantern", "meadow", "compass", "quilt", "saddle", "tinsel", "walrus", "yonder", "zephyr", "marmalade", "kettle", "porcelain", "velvet", "granite", "bramble", "cobble", "drizzle", "ember", "fable", "gadget", "hammock", "igloo", "jigsaw", "kayak", "lilac", "mosaic", "nectar", "oyster", "parsley", "quartz", "ribbon", "sapphire", "thimble", "uplands", "vortex", "wicker", "yodel", "zigzag", "almanac", "banjo", "cactus", "dumpling", "easel", "falcon", "gondola", "hazelnut", "inkwell", "jasmine", "kiwi", "lagoon", "mango", "nutmeg", "olive", "pelican", "quince", "raccoon", "scarecrow", "tugboat", "unicycle", "vanilla", "waffle", "xylophone", "yarn", "zucchini", "acorn", "bagpipe", "canopy", "dandelion", "eggplant", "fiddle", "gazebo", "hickory", "iris", "juniper", "kumquat", "ladle", "magpie", "noodle", "otter", "paprika", "puffin", "radish", "sequin", "tamarind", "turnip", "urchin", "vinyl", "willow", "wombat", "apricot", "biscuit", "chestnut", "driftwood", "elderberry", "flamingo", "gingham", "harmonica", "icicle", "jellybean", "kaleidoscope", "limestone", "marigold", "nightingale", "origami", "peppermint", "quicksand", "rosemary", "sundial", "trombone"]
)


def draw_closeness(quality: Quality, rng: random.Random) -> float:
    if quality.spread == 0:
        return quality.mean
    return min(1.0, max(0.0, rng.gauss(quality.mean, quality.spread)))


def compose_answer(
    reference: str | None, closeness: float, quality: Quality, rng: random.Random
) -> list[str]:
    """The answer's words. Without a reference, all distractors (closeness is moot)."""
    ref_words = reference.split() if reference else []
    if ref_words:
        n = min(quality.max_words, max(quality.min_words, len(ref_words)))
    else:
        n = rng.randint(quality.min_words, quality.max_words)
    words: list[str] = []
    append = words.append
    pick = rng.random
    n_ref = len(ref_words)
    n_dis = len(DISTRACTORS)
    for i in range(n):
        if n_ref and pick() < closeness:
            append(ref_words[i % n_ref])
        else:
            append(DISTRACTORS[int(pick() * n_dis)])
    return words


def words_to_tokens(n_words: int) -> int:
    """About 4/3 tokens per English word."""
    return (n_words * 4 + 2) // 3
