"""Write data/prompts/everyday_requests.jsonl: everyday requests for `afterword simulate`, with fixed splits.

Input: nothing but a fixed seed (stdlib `random`), so reruns are byte-identical. Output: one JSON object per
line, `{"prompt_id", "split", "category", "text"}`, where split is
- `train`: requests the simulation samples, asks its simulated user about, and trains on;
- `held_out`: requests of the same kinds, never trained on, where satisfaction is measured each round;
- `unrelated`: short factual, arithmetic and word questions of other kinds, where drift (KL to the starting
  model) and correctness are measured: `answers` lists the words a correct reply contains (any one of them,
  case-insensitive, as a whole word); definitions have none and are left out of correctness.
Splits are cut by filler (both phrasings of one filler share a split), so no request appears in two splits. Run: python data/generate_prompts.py
"""

# The text pools are prose, one entry per line.
# ruff: noqa: E501

import hashlib
import json
import random
from pathlib import Path

SEED = 20261130
HELD_OUT_SHARE = 0.2
OUT_PATH = Path(__file__).parent / "prompts" / "everyday_requests.jsonl"

NUMBER_WORDS = {6: "six", 8: "eight", 9: "nine"}
# fmt: off
# (category, phrasings, fillers): every filler makes one request per phrasing, all in the filler's split.
TEMPLATES = [
    ("how-to", ("How do I {}?", "What is the easiest way to {}?"), [
        "boil an egg", "clean a cast iron pan", "get a red wine stain out of a shirt", "fall asleep faster", "start running",
        "keep basil alive indoors", "make my phone battery last longer", "fold a fitted sheet", "remove a splinter",
        "unclog a kitchen sink", "cook rice on the stove", "keep my bread fresh", "stop my glasses from fogging up",
        "sharpen a kitchen knife", "iron a shirt", "tie a tie", "make cold brew coffee", "clean my laptop keyboard",
        "pack a suitcase efficiently", "descale a kettle", "get rid of fruit flies", "make my houseplants grow faster",
        "remember people's names", "save money on groceries", "write a good cover letter", "prepare for a job interview",
        "learn to touch type", "stay focused while working from home", "defrost chicken safely", "hang a picture straight",
    ]),
    ("tip", ("Give me a tip for {}.", "Any advice for {}?"), [
        "sleeping better", "saving money", "studying for exams", "staying hydrated", "cooking pasta", "keeping a tidy desk",
        "running in the cold", "taking better photos with my phone", "learning a new language", "waking up early",
        "public speaking", "reducing screen time", "making new friends", "staying calm in traffic", "reading more books",
        "writing emails", "growing tomatoes", "training a puppy", "packing a lunch", "planning a road trip",
        "keeping my kitchen clean", "meal prepping", "cycling to work", "drinking less coffee", "staying motivated at the gym",
    ]),
    ("suggest", ("Suggest {}.", "Can you think of {}?"), [
        "a name for my new cat", "a name for a goldfish", "a quick breakfast", "a weekend hobby", "a board game for four people",
        "a gift for my dad", "a snack for a long drive", "a title for my travel blog", "a houseplant that is hard to kill",
        "a fun activity for a rainy day", "a dessert that needs no oven", "a name for a bakery", "a warm-up before running",
        "a topic for a short speech", "a theme for a birthday party", "a podcast topic", "a simple dinner for two",
        "a name for a book club", "a healthy afternoon snack", "a way to decorate a small balcony",
        "a good first car for a student", "a song for a road trip", "a game to play with kids", "a cheap date idea",
        "a name for a hiking group",
    ]),
    ("cook", ("What can I cook for dinner with {}?", "Give me a recipe idea using {}."), [
        "eggs and spinach", "rice and beans", "chicken and potatoes", "pasta and tomatoes", "tofu and broccoli",
        "leftover rice", "two eggs and some cheese", "canned tuna", "lentils and carrots", "mushrooms and garlic",
        "ground beef and onions", "sweet potatoes", "zucchini and feta", "salmon and lemon", "chickpeas and coconut milk",
        "noodles and peanut butter", "cabbage and sausage", "bread and tomatoes", "frozen peas and bacon", "corn and black beans",
    ]),
    ("write", ("Write a short message to {}.", "Draft a text to {}."), [
        "thank my neighbour for watering my plants", "tell my boss I will be late today", "invite friends to a barbecue",
        "congratulate a colleague on her promotion", "wish my sister a happy birthday", "cancel a dentist appointment",
        "thank a teacher at the end of the year", "ask my landlord to fix the heating", "apologise for missing a call",
        "welcome a new team member", "remind my team about Friday's meeting", "thank a friend for dinner",
        "ask a neighbour to keep the noise down", "tell a client the order has shipped", "say goodbye to a coworker who is leaving",
        "ask my friend to return my book", "thank my grandmother for a gift", "confirm a restaurant reservation",
        "ask for a day off next week", "wish a friend good luck on an exam",
    ]),
    ("explain", ("Explain {} in simple words.", "Can you tell me {}?"), [
        "what inflation is", "how a refrigerator works", "why the sky is blue", "what a credit score is", "how vaccines work",
        "what compound interest is", "how rainbows form", "why we have seasons", "what a mortgage is", "how a bicycle stays up",
        "what the stock market is", "why bread rises", "how noise-cancelling headphones work", "what a budget is",
        "why leaves change colour in autumn", "how a microwave heats food", "what cloud storage is", "why ice floats",
        "how a thermostat works", "what a password manager does",
    ]),
    ("plan", ("Help me plan {}.", "I need ideas for {}."), [
        "a lazy Sunday", "a picnic in the park", "a weekly workout routine", "a birthday dinner", "a day trip to the beach",
        "a study schedule for one week", "a small garden", "a move to a new flat", "a budget for this month",
        "a movie night with friends", "a morning routine", "a weekend of camping", "a baby shower", "a spring cleaning day",
        "a first visit to a new city", "a bake sale", "a family game night", "a reading challenge", "a dinner party for six",
        "a bike ride of 30 kilometres",
    ]),
    ("choose", ("Should I {}?", "Help me decide: should I {}?"), [
        "buy a laptop or a tablet for school", "get a cat or a dog", "rent or buy a bike", "take the train or drive",
        "learn guitar or piano", "run in the morning or in the evening", "paint my room white or grey", "cook at home or order in tonight",
        "read the book or watch the film first", "buy a real or a fake Christmas tree", "use a paper planner or an app",
        "join a gym or work out at home", "take a gap year", "buy new or used furniture", "drink tea or coffee in the afternoon",
    ]),
    ("describe", ("Describe {} in a few sentences.", "Paint a picture of {} for me."), [
        "a perfect autumn day", "a cosy reading corner", "the smell of fresh bread", "a busy market", "a quiet beach at dawn",
        "a mountain cabin", "a rainy afternoon in the city", "a small corner cafe", "a summer thunderstorm", "a winter morning",
        "a garden in spring", "a crowded train station", "a night sky in the desert", "an old library", "a farmers market",
    ]),
]

UNRELATED = [
    ("arithmetic", "What is {} times {}?", [((a, b), [str(a * b)]) for a, b in [(7, 8), (12, 11), (15, 4), (9, 9), (23, 3), (14, 6), (18, 5), (25, 4)]]),
    ("arithmetic", "What is {} plus {}?", [((a, b), [str(a + b)]) for a, b in [(125, 38), (47, 56), (300, 299), (81, 19), (64, 36), (17, 28)]]),
    ("capital", "What is the capital of {}?", [((c,), [a]) for c, a in [("Peru", "Lima"), ("Kenya", "Nairobi"), ("Norway", "Oslo"), ("Vietnam", "Hanoi"), ("Chile", "Santiago"), ("Portugal", "Lisbon"), ("Egypt", "Cairo"), ("Canada", "Ottawa")]]),
    ("translate", "How do you say '{}' in French?", [((w,), [a]) for w, a in [("good morning", "bonjour"), ("thank you", "merci"), ("see you tomorrow", "demain"), ("the red apple", "pomme"), ("where is the station", "gare")]]),
    ("spell", "How many letters are in the word '{}'?", [((w,), [str(len(w)), NUMBER_WORDS[len(w)]]) for w in ["banana", "elephant", "rhythm", "keyboard", "sunflower"]]),
    ("fact", "Which planet is {}?", [((f,), [a]) for f, a in [("closest to the sun", "Mercury"), ("the largest in the solar system", "Jupiter"), ("known as the red planet", "Mars")]]),
    ("define", "What does the word '{}' mean?", [((w,), []) for w in ["ubiquitous", "ephemeral", "candid", "frugal", "meticulous"]]),
]
# fmt: on


def prompt_id(text: str) -> str:
    """A stable id from the text (the same request always gets the same id)."""
    return "p" + hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def build_prompts(seed: int = SEED, held_out_share: float = HELD_OUT_SHARE) -> list[dict]:
    """Every request with its split: each category's fillers are shuffled and the first share held out."""
    rng = random.Random(seed)
    rows = []
    for category, phrasings, fillers in TEMPLATES:
        order = list(fillers)
        rng.shuffle(order)
        cut = round(len(order) * held_out_share)
        for index, filler in enumerate(order):
            for phrasing in phrasings:
                text = phrasing.format(filler)
                split = "held_out" if index < cut else "train"
                rows.append({"prompt_id": prompt_id(text), "split": split, "category": category, "text": text})
    for category, template, fillers in UNRELATED:
        for filler, answers in fillers:
            text = template.format(*filler)
            rows.append(
                {
                    "prompt_id": prompt_id(text),
                    "split": "unrelated",
                    "category": category,
                    "text": text,
                    "answers": answers,
                }
            )
    texts = [r["text"] for r in rows]
    if len(set(texts)) != len(texts):
        raise ValueError("duplicate request text: every filler must be distinct")
    return rows


def main() -> None:
    rows = build_prompts()
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    OUT_PATH.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    counts = {split: sum(r["split"] == split for r in rows) for split in ("train", "held_out", "unrelated")}
    print(f"wrote {len(rows)} prompts to {OUT_PATH}: {counts}")


if __name__ == "__main__":
    main()
