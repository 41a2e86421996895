"""Write data/sample/wildchat_sample.jsonl: ~300 conversations we wrote ourselves, in WildChat-1M record shape.

Input: nothing but a fixed seed (stdlib `random`), so reruns are byte-identical. Output: one JSON record per
line, then a tail of malformed lines (one defect each) so every reject path of ingest has a row to show.
Text comes from per-topic templates plus realistic follow-ups (corrections, format complaints, thanks, ...).
Run: python data/generate_sample.py
Over 500 lines on purpose: most of it is the hand-written text pools, kept next to the code that uses them.
"""

# The text pools are prose, one entry per line; wrapping them into fragments would read worse than long lines.
# ruff: noqa: E501

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20240501
N_CONVERSATIONS = 300
OUT_PATH = Path(__file__).parent / "sample" / "wildchat_sample.jsonl"

# fmt: off
MODELS = ["gpt-3.5-turbo-0613", "gpt-4-0314", "gpt-4-1106-preview"]
MODEL_WEIGHTS = [6, 1.5, 2.5]
# WildChat-1M ships both spellings of every OpenAI moderation category (slash from the old API, underscore
# from the v1 client), so a faithful fixture carries all 18.
MODERATION_CATEGORIES = [
    "harassment", "harassment/threatening", "harassment_threatening", "hate", "hate/threatening", "hate_threatening",
    "self-harm", "self-harm/instructions", "self-harm/intent", "self_harm", "self_harm_instructions", "self_harm_intent",
    "sexual", "sexual/minors", "sexual_minors", "violence", "violence/graphic", "violence_graphic",
]
DETOXIFY_FIELDS = [
    "identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit", "threat", "toxicity",
]
PLACES = [
    ("United States", "California", "en-US,en;q=0.9"), ("United States", "Texas", "en-US,en;q=0.9"),
    ("United States", "New York", "en-US,en;q=0.9"), ("United Kingdom", "England", "en-GB,en;q=0.9"),
    ("Canada", "Ontario", "en-CA,en-US;q=0.9,en;q=0.8"), ("Australia", "Victoria", "en-AU,en;q=0.9"),
    ("India", "Maharashtra", "en-IN,en-GB;q=0.9,en;q=0.8"), ("Philippines", "Metro Manila", "en-US,en;q=0.9"),
    ("Germany", "Bavaria", "de-DE,de;q=0.9,en;q=0.8"), ("Nigeria", "Lagos", "en-US,en;q=0.9"),
    ("Singapore", None, "en-SG,en;q=0.9"), ("Ireland", "Leinster", "en-IE,en;q=0.9"),
]
PLACES_BY_LANGUAGE = {
    "Spanish": [("Spain", "Madrid", "es-ES,es;q=0.9"), ("Mexico", "Jalisco", "es-MX,es;q=0.9,en;q=0.8")],
    "French": [("France", "Île-de-France", "fr-FR,fr;q=0.9"), ("Canada", "Quebec", "fr-CA,fr;q=0.9,en;q=0.8")],
    "German": [("Germany", "Berlin", "de-DE,de;q=0.9"), ("Austria", "Vienna", "de-AT,de;q=0.9,en;q=0.7")],
}
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
]

# ---------------------------------------------------------------- text pools: English topics

CAPITALS = [
    # (country, capital, city people often confuse it with, one extra fact)
    ("Australia", "Canberra", "Sydney", "It was purpose-built as a compromise between Sydney and Melbourne and became the seat of government in 1927."),
    ("Canada", "Ottawa", "Toronto", "It sits on the Ottawa River, on the border between Ontario and Quebec."),
    ("Brazil", "Brasília", "Rio de Janeiro", "It was inaugurated in 1960 and is famous for its modernist architecture by Oscar Niemeyer."),
    ("Turkey", "Ankara", "Istanbul", "Atatürk chose it as the capital in 1923 because of its central location in Anatolia."),
    ("Nigeria", "Abuja", "Lagos", "Abuja officially replaced Lagos as the capital in 1991."),
    ("Switzerland", "Bern", "Zurich", "Officially Switzerland has no capital in its constitution; Bern is the 'federal city'."),
    ("New Zealand", "Wellington", "Auckland", "It is the southernmost capital of a sovereign state in the world."),
    ("Morocco", "Rabat", "Casablanca", "Its old town and the Kasbah of the Udayas are a UNESCO World Heritage site."),
    ("Vietnam", "Hanoi", "Ho Chi Minh City", "Hanoi has been an important political centre for more than a thousand years."),
    ("Kazakhstan", "Astana", "Almaty", "The capital moved from Almaty to Astana in 1997."),
]
YES_NO_CLAIMS = [
    # (claim, answer, explanation)
    ("the Great Wall of China visible from space with the naked eye", "NO", "From low Earth orbit the wall is far too narrow to see without aid, and astronauts have confirmed they could not pick it out."),
    ("a tomato a fruit", "YES", "Botanically a tomato is a fruit because it develops from the flower and contains seeds, even though it is usually cooked as a vegetable."),
    ("Pluto still classified as a planet", "NO", "In 2006 the International Astronomical Union reclassified Pluto as a dwarf planet because it has not cleared its orbit of other objects."),
    ("Python a dynamically typed language", "YES", "Variables in Python are not declared with a type; types are checked at runtime, although optional type hints exist."),
    ("it true that lightning never strikes the same place twice", "NO", "Lightning often strikes the same place repeatedly; the Empire State Building is hit around 20 to 25 times a year."),
    ("Venus the hottest planet in the solar system", "YES", "Even though Mercury is closer to the Sun, Venus's thick carbon dioxide atmosphere traps heat, so its surface is about 465 °C."),
    ("it true that humans only use 10% of their brains", "NO", "Brain imaging shows that virtually all regions of the brain are active over the course of a day."),
    ("a bat a mammal", "YES", "Bats are mammals: they are warm-blooded, have fur and feed their young with milk. They are the only mammals capable of true flight."),
    ("glass a liquid", "NO", "Glass is an amorphous solid. The idea that old windows are thicker at the bottom because glass flows is a myth; it comes from how the panes were made."),
    ("the Atlantic Ocean bigger than the Pacific", "NO", "The Pacific is the largest ocean, covering roughly 165 million square kilometres, about twice the area of the Atlantic."),
]
CODE_TASKS = [
    # (task, function name, python code, explanation, (example call, expected))
    ("reverses a string", "reverse_string", "def reverse_string(text: str) -> str:\n    \"\"\"Return the characters of text in reverse order.\"\"\"\n    return text[::-1]", "The slice `[::-1]` walks the string from the last character to the first with a step of -1, which produces a reversed copy. Strings are immutable in Python, so the original is left unchanged.", ("reverse_string(\"hello\")", "\"olleh\"")),
    ("checks whether a number is prime", "is_prime", "def is_prime(n: int) -> bool:\n    \"\"\"Return True if n is a prime number.\"\"\"\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True", "Numbers below 2 are not prime. For everything else we only need to try divisors up to the square root of n: if n had a divisor larger than its square root, it would also have a matching one smaller than it, which we would already have found.", ("is_prime(97)", "True")),
    ("removes duplicates from a list while keeping the original order", "dedupe", "def dedupe(items: list) -> list:\n    \"\"\"Return items without duplicates, keeping the first occurrence of each.\"\"\"\n    seen = set()\n    result = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            result.append(item)\n    return result", "The set `seen` remembers what we have already added, which makes the membership check O(1). We append an item only the first time we meet it, so the order of first occurrences is preserved.", ("dedupe([3, 1, 3, 2, 1])", "[3, 1, 2]")),
    ("counts how often each word appears in a text", "word_counts", "from collections import Counter\n\n\ndef word_counts(text: str) -> dict[str, int]:\n    \"\"\"Return a mapping from lower-cased word to number of occurrences.\"\"\"\n    words = text.lower().split()\n    return dict(Counter(words))", "We lower-case the text so that 'The' and 'the' count as the same word, split it on whitespace, and let `collections.Counter` do the counting.", ("word_counts(\"the cat and the hat\")", "{'the': 2, 'cat': 1, 'and': 1, 'hat': 1}")),
    ("converts a temperature from Celsius to Fahrenheit", "celsius_to_fahrenheit", "def celsius_to_fahrenheit(celsius: float) -> float:\n    \"\"\"Convert degrees Celsius to degrees Fahrenheit.\"\"\"\n    return celsius * 9 / 5 + 32", "The Fahrenheit scale has 9 degrees for every 5 Celsius degrees and is offset by 32, so we scale first and then add the offset.", ("celsius_to_fahrenheit(100)", "212.0")),
    ("returns the second largest number in a list", "second_largest", "def second_largest(numbers: list[int]) -> int:\n    \"\"\"Return the second largest distinct value in numbers.\"\"\"\n    distinct = sorted(set(numbers))\n    if len(distinct) < 2:\n        raise ValueError(\"need at least two distinct numbers\")\n    return distinct[-2]", "Converting to a set removes repeated values, so a list like [5, 5, 3] gives 3 rather than 5. After sorting, the second to last element is the answer. We raise an error when there is no second distinct value instead of guessing.", ("second_largest([4, 9, 9, 2])", "4")),
    ("calculates the factorial of n recursively", "factorial", "def factorial(n: int) -> int:\n    \"\"\"Return n! computed recursively.\"\"\"\n    if n < 0:\n        raise ValueError(\"n must be non-negative\")\n    if n in (0, 1):\n        return 1\n    return n * factorial(n - 1)", "The base case is 0! = 1! = 1. For larger n the function calls itself with n - 1 and multiplies the result by n, so factorial(4) becomes 4 * 3 * 2 * 1.", ("factorial(5)", "120")),
    ("checks if a string is a palindrome, ignoring spaces and case", "is_palindrome", "def is_palindrome(text: str) -> bool:\n    \"\"\"Return True if text reads the same backwards, ignoring case and spaces.\"\"\"\n    cleaned = \"\".join(ch.lower() for ch in text if not ch.isspace())\n    return cleaned == cleaned[::-1]", "First we build a cleaned version of the text without whitespace and in lower case, then compare it with its reverse.", ("is_palindrome(\"Never odd or even\")", "True")),
]
JAVA_REVERSE = "public class StringUtils {\n    public static String reverse(String text) {\n        return new StringBuilder(text).reverse().toString();\n    }\n}"
EMAILS = [
    # (recipient, purpose, subject, salutation, core sentence, request sentence)
    ("my landlord", "asking him to fix the heating, which has been broken for a week", "Broken heating in the flat", "Mr. Patel", "I am writing to let you know that the heating in the flat has not been working for a week now, and the temperature inside has dropped considerably.", "Could you please arrange for someone to repair it this week?"),
    ("my manager", "asking for next Friday off for a family event", "Leave request for Friday", "Sarah", "I would like to request a day of leave next Friday to attend a family event.", "I will make sure my tasks are covered before then. Could you let me know if that works?"),
    ("a customer", "apologising that their order will be delivered three days late", "Update on your order", "Ms. Alvarez", "I am sorry to inform you that your order will arrive three days later than we originally promised.", "We will send you a tracking link as soon as the parcel ships, and we have refunded your delivery fee."),
    ("my son's teacher", "explaining that he was absent yesterday because of a fever", "Absence on Tuesday", "Mrs. Thompson", "I wanted to let you know that Daniel was absent from school yesterday because he had a fever.", "Could you let me know if there is any homework he should catch up on?"),
    ("a recruiter", "following up on a job application I sent two weeks ago", "Follow-up on my application for the Data Analyst role", "Mr. Reyes", "I am writing to follow up on the application I submitted two weeks ago for the Data Analyst position.", "I remain very interested in the role and would be glad to provide any further information."),
    ("my team", "announcing that the weekly meeting moves to Thursdays at 10am", "New time for our weekly meeting", "team", "Starting next week, our weekly meeting will move to Thursdays at 10am.", "The calendar invite has been updated; please let me know if the new time clashes with anything."),
    ("a supplier", "asking for a quote for 500 printed t-shirts", "Quote request: 500 printed t-shirts", "Sir or Madam", "We are interested in ordering 500 printed cotton t-shirts and would like to receive a quote.", "Could you include prices for one- and two-colour prints and your current delivery times?"),
    ("my neighbour", "asking them to keep the noise down after 11pm", "Noise in the evenings", "Tom", "I wanted to mention, in a friendly way, that noise from your flat has been keeping us awake after 11pm on some nights.", "Would you mind keeping it down a little later in the evening? Thanks for understanding."),
]
CONCEPTS = [
    # (concept, definition, analogy, detail, example, five-year-old version)
    ("inflation", "the general rise in prices over time, which means each unit of money buys a little less than before", "Imagine your pocket money stays the same but the price of your favourite snack goes up every year: that is inflation from your point of view.", "Central banks usually aim for low, stable inflation of around 2% a year. They raise interest rates when inflation is too high, which makes borrowing more expensive and slows spending.", "If a loaf of bread cost $2.00 last year and costs $2.10 today, bread prices rose by 5%.", "Things in the shop slowly get more expensive, so the same coins buy a bit less candy."),
    ("machine learning", "a way of building software that learns patterns from examples instead of following rules written by hand", "It is like learning to recognise dogs by looking at thousands of pictures, rather than memorising a definition of a dog.", "A model has parameters that are adjusted during training to reduce its errors on the training examples. It is then evaluated on data it has never seen, to check it generalises.", "An email spam filter learns from millions of messages that people marked as spam or not spam.", "The computer looks at lots of examples and gets better at guessing, like you get better at a game by playing it."),
    ("photosynthesis", "the process plants use to turn light, water and carbon dioxide into sugar and oxygen", "You can think of a leaf as a small solar-powered kitchen that cooks food out of air and water.", "It happens mainly in the chloroplasts, which contain the green pigment chlorophyll. The light-dependent reactions capture energy, and the Calvin cycle uses that energy to build glucose.", "A tree in summer takes in carbon dioxide through tiny pores in its leaves and releases oxygen.", "Plants eat sunshine! They use light to make their own food and they breathe out the air we need."),
    ("compound interest", "interest calculated on both the original amount and the interest that has already been added", "It works like a snowball rolling downhill: the bigger it gets, the more snow it picks up on each turn.", "The formula is A = P(1 + r/n)^(nt), where P is the principal, r the annual rate, n the number of times interest is compounded per year and t the number of years.", "$1,000 at 5% a year becomes $1,050 after one year and $1,102.50 after two, because the second year's interest is also paid on the first year's $50.", "Your money makes a little more money, and then that money makes money too."),
    ("recursion", "a technique where a function solves a problem by calling itself on a smaller version of the same problem", "It is like a set of Russian dolls: you open one and find a smaller one inside, until you reach the smallest doll.", "Every recursive function needs a base case that stops the calls, otherwise it keeps calling itself until the program runs out of stack space.", "To sum a list you can add the first number to the sum of the rest of the list, and the sum of an empty list is 0.", "It's when you solve a big puzzle by solving a smaller copy of the same puzzle first."),
    ("DNS", "the system that translates human-friendly domain names like example.com into the IP addresses computers use", "It works like the contacts app on your phone: you tap a name and the phone looks up the number for you.", "When you type a domain, your computer asks a resolver, which queries the root servers, then the top-level domain servers, and finally the authoritative server for that domain. Answers are cached for a time set by the TTL.", "When you visit wikipedia.org, DNS returns an address such as 208.80.154.224 so your browser knows where to connect.", "It's the internet's phone book that helps your computer find websites by their names."),
    ("supply and demand", "the economic model in which the price of a good settles where the quantity people want to buy equals the quantity sellers want to sell", "Think of concert tickets: when many people want a limited number of seats, prices go up; when nobody is interested, they drop.", "If demand rises while supply stays the same, prices tend to rise. If supply increases while demand stays the same, prices tend to fall. The meeting point is called the equilibrium.", "When a frost destroys part of the orange harvest, orange juice becomes more expensive because there is less of it to sell.", "When lots of people want something and there isn't much of it, it costs more."),
    ("the greenhouse effect", "the warming of a planet's surface caused by gases in its atmosphere that trap heat", "It is similar to how a car parked in the sun gets hot inside: sunlight gets in easily but the heat has trouble getting out.", "Gases such as carbon dioxide, methane and water vapour absorb infrared radiation emitted by the Earth. Without any greenhouse effect Earth would average about -18 °C; adding more of these gases strengthens the effect and warms the climate.", "Burning coal, oil and gas since the industrial revolution has raised atmospheric CO2 from about 280 to over 415 parts per million.", "Some gases in the air act like a blanket around the Earth and keep it warm."),
]
IDEA_LISTS = [
    ("a 10-year-old's birthday party", ["Treasure hunt: hide clues around the garden that lead to the cake.", "DIY pizza station: let the kids top their own mini pizzas.", "Backyard olympics: sack races, egg-and-spoon and a tug of war.", "Movie night: set up a projector, blankets and popcorn.", "Science party: make slime and erupting volcanoes.", "Karaoke contest with small prizes for every singer.", "Craft table where everyone decorates their own T-shirt."]),
    ("saving money on groceries", ["Plan your meals for the week and shop with a list.", "Compare unit prices rather than package prices.", "Buy store brands for staples like rice, pasta and canned goods.", "Cook in batches and freeze portions.", "Shop seasonal fruit and vegetables.", "Avoid shopping when you are hungry.", "Use cashback apps and loyalty cards."]),
    ("team building activities for a remote team", ["Virtual escape room that teams solve together over video.", "Two truths and a lie at the start of the weekly call.", "Online quiz with rotating hosts.", "Show-and-tell where each person shares something from their desk.", "Shared playlist that everyone adds a song to.", "Remote coffee roulette pairing random colleagues.", "Monthly photo challenge with a theme."]),
    ("names for a small bakery", ["Rise & Shine Bakery", "The Flour Pot", "Crumb & Co.", "Golden Crust", "Knead to Know", "Sweet Proof", "Butter Lane Bakehouse"]),
    ("things to do on a rainy day at home", ["Build a blanket fort and read inside it.", "Try a new recipe from a cookbook you never use.", "Start a jigsaw puzzle.", "Have a board game tournament.", "Declutter one drawer or shelf.", "Learn a simple card trick.", "Write letters to friends or family."]),
    ("healthy lunches I can take to work", ["Quinoa salad with chickpeas, cucumber and feta.", "Whole-wheat wrap with hummus, grilled chicken and spinach.", "Lentil soup in a thermos.", "Brown rice bowl with salmon and edamame.", "Greek yogurt with berries and a handful of nuts.", "Leftover vegetable stir-fry with tofu.", "Pasta salad with tuna, olives and cherry tomatoes."]),
    ("YouTube video topics for a cooking channel", ["Five dinners under $5 per portion.", "Testing viral TikTok recipes.", "Knife skills for beginners.", "What I eat in a week as a busy student.", "Recreating restaurant dishes at home.", "One-pan meals with minimal washing up.", "Baking bread with only four ingredients."]),
]
ADVICE = [
    ("sleep better", ["Go to bed and wake up at the same time every day, including weekends.", "Keep your bedroom cool, dark and quiet.", "Avoid caffeine after early afternoon.", "Put screens away about an hour before bed.", "Get some daylight in the morning to anchor your body clock."]),
    ("stop procrastinating", ["Break the task into steps small enough to start in five minutes.", "Use a timer: work for 25 minutes, then take a short break.", "Remove distractions such as phone notifications while you work.", "Decide the next concrete action before you stop for the day.", "Reward yourself after finishing a hard task."]),
    ("prepare for a job interview", ["Research the company's products, values and recent news.", "Prepare short stories for common questions using the STAR method.", "Practise your answers out loud, ideally with a friend.", "Prepare two or three thoughtful questions for the interviewer.", "Plan your route or test your video setup the day before."]),
    ("learn Spanish faster", ["Practise a little every day rather than a lot once a week.", "Learn the most frequent 1,000 words first.", "Listen to podcasts or series in Spanish with Spanish subtitles.", "Find a conversation partner through a language exchange.", "Use spaced-repetition flashcards for vocabulary."]),
    ("keep my houseplants alive", ["Check the light needs of each plant and place it accordingly.", "Water when the top few centimetres of soil are dry, not on a fixed schedule.", "Make sure every pot has drainage holes.", "Wipe dust off the leaves so they can absorb light.", "Feed with diluted fertiliser during the growing season only."]),
]
RECIPES = [
    # (dish, ingredients, steps, (ingredient people lack, substitute))
    ("pancakes", ["200 g plain flour", "2 eggs", "300 ml milk", "1 tbsp sugar", "2 tsp baking powder", "a pinch of salt", "butter for the pan"], ["Whisk the flour, sugar, baking powder and salt in a bowl.", "Beat the eggs with the milk and pour into the dry ingredients, stirring until just combined.", "Heat a little butter in a frying pan over medium heat.", "Pour in a ladle of batter and cook until bubbles appear, then flip and cook for another minute."], ("eggs", "a mashed ripe banana or 3 tablespoons of unsweetened applesauce per egg")),
    ("guacamole", ["3 ripe avocados", "1 lime", "1/2 red onion, finely chopped", "1 tomato, diced", "a handful of coriander", "1 small chilli", "salt"], ["Halve the avocados, remove the stones and scoop the flesh into a bowl.", "Mash with a fork, leaving some chunks.", "Stir in the lime juice, onion, tomato, coriander and chilli.", "Season with salt and taste; add more lime if needed."], ("coriander", "flat-leaf parsley with a little extra lime zest")),
    ("tomato soup", ["1 kg ripe tomatoes", "1 onion", "2 garlic cloves", "500 ml vegetable stock", "2 tbsp olive oil", "1 tsp sugar", "salt and pepper"], ["Chop the onion and garlic and soften them in the olive oil for 5 minutes.", "Add the roughly chopped tomatoes and cook for 10 minutes.", "Pour in the stock, add the sugar and simmer for 20 minutes.", "Blend until smooth and season to taste."], ("fresh tomatoes", "two 400 g cans of chopped tomatoes")),
    ("banana bread", ["3 very ripe bananas", "75 g melted butter", "150 g sugar", "1 egg", "1 tsp vanilla", "1 tsp baking soda", "190 g plain flour"], ["Preheat the oven to 175 °C and grease a loaf tin.", "Mash the bananas and mix in the melted butter.", "Stir in the sugar, egg and vanilla, then the baking soda and flour.", "Pour into the tin and bake for 55-65 minutes, until a skewer comes out clean."], ("butter", "the same amount of vegetable oil")),
    ("egg fried rice", ["300 g cooked rice, preferably a day old", "2 eggs", "2 spring onions", "100 g frozen peas", "2 tbsp soy sauce", "1 tbsp vegetable oil", "1 tsp sesame oil"], ["Heat the vegetable oil in a wok until very hot.", "Scramble the eggs quickly and push them to one side.", "Add the rice and peas and stir-fry for 3-4 minutes.", "Season with soy sauce and sesame oil and scatter over the spring onions."], ("soy sauce", "tamari or coconut aminos")),
]
REWRITES = [
    # (informal original, professional rewrite)
    ("hey, can u send me the report asap? boss is asking for it and im kinda stressed lol", "Hi, could you please send me the report as soon as possible? My manager has asked for it and I would like to share it with them today. Thank you!"),
    ("we messed up the shipment, sorry, will fix it next week probably", "We sincerely apologise for the error in your shipment. We are correcting it and expect to send the replacement next week. We will confirm the exact date as soon as possible."),
    ("I cant come to the meeting tomorow because my car broke and I dont know when its fixed", "Unfortunately, I will not be able to attend tomorrow's meeting, as my car has broken down and I do not yet know when it will be repaired. Could we reschedule, or could I join remotely?"),
    ("the new app is ok i guess but it crashes a lot and the buttons are too small", "The new app works reasonably well overall; however, it crashes frequently and some of the buttons are too small to use comfortably."),
    ("thx for the help yesterday, you saved my life with that excel thing", "Thank you very much for your help yesterday. Your advice on the Excel spreadsheet made a real difference."),
]
TRANSLATIONS = [
    ("Where is the train station?", {"French": "Où est la gare ?", "Spanish": "¿Dónde está la estación de tren?", "German": "Wo ist der Bahnhof?"}),
    ("I would like a coffee with milk, please.", {"French": "Je voudrais un café au lait, s'il vous plaît.", "Spanish": "Quisiera un café con leche, por favor.", "German": "Ich hätte gern einen Kaffee mit Milch, bitte."}),
    ("What time does the museum open?", {"French": "À quelle heure ouvre le musée ?", "Spanish": "¿A qué hora abre el museo?", "German": "Wann öffnet das Museum?"}),
    ("Thank you for your help.", {"French": "Merci pour votre aide.", "Spanish": "Gracias por tu ayuda.", "German": "Danke für Ihre Hilfe."}),
]
STORY_HEROES = [
    ("Mira", "a lighthouse keeper"), ("Tobias", "a retired clockmaker"), ("Ada", "a curious robot"),
    ("Leo", "a shy baker"), ("Nadia", "a young astronaut"), ("Felix", "a talking fox"),
]
STORY_PLOTS = [
    "finds a map hidden inside an old book",
    "has to deliver a letter before midnight",
    "discovers that the town's clocks have all stopped",
    "makes friends with a lonely dragon",
    "gets lost in a forest that rearranges itself every night",
]
STORY_PLACES = [
    "a windy coastal village",
    "a city of narrow streets and copper roofs",
    "a small town at the edge of the mountains",
    "a space station orbiting Mars",
]
TOPIC_SWITCHES = [
    # (user question, assistant answer)
    ("What is 27*4?", "27 × 4 = 108."),
    ("unrelated question: how many ounces are in a pound?", "There are 16 ounces in a pound (avoirdupois)."),
    ("who wrote pride and prejudice", "*Pride and Prejudice* was written by Jane Austen and first published in 1813."),
    ("whats the difference between affect and effect", "In most cases, \"affect\" is a verb meaning to influence (\"The weather affects my mood\"), while \"effect\" is a noun meaning a result (\"The medicine had an immediate effect\"). A handy mnemonic is RAVEN: Remember, Affect is a Verb, Effect is a Noun."),
    ("how many days are there until christmas if today is december 3?", "If today is December 3, there are 22 days until Christmas Day on December 25."),
    ("by the way, what's a good name for a grey kitten?", "Some ideas for a grey kitten: Smokey, Ash, Pebble, Earl Grey, Storm, Misty or Graphite. Earl Grey is a fun one if you like tea!"),
    ("quick one: is it 'who' or 'whom' in 'to ___ it may concern'?", "It is \"To whom it may concern\", because \"whom\" is the object of the preposition \"to\"."),
    ("What is the boiling point of water in Fahrenheit?", "At sea level, water boils at 212 °F (100 °C)."),
]
THANKS = [
    "thanks, perfect!", "thank you so much", "great, that's exactly what I needed", "ty",
    "Thanks! That helps a lot.", "perfect thank you", "awesome, thanks",
]
WELCOMES = [
    "You're welcome! Let me know if there's anything else I can help with.",
    "Glad I could help! If you have any other questions, feel free to ask.",
    "You're very welcome! Good luck!",
    "Happy to help! 😊",
]
# fmt: on


# ---------------------------------------------------------------- conversation builders
# Each builder returns a list of (role, text) pairs. A follow-up is chosen from the moves that make
# sense for the topic, so corrections only follow wrong answers and "continue" only follows long text.


def add_generic_followups(rng: random.Random, turns: list, n_more: int, allow_continue: bool, recap: str) -> None:
    """Append n_more user/assistant exchanges of topic-independent follow-ups (switches, clarifications, thanks)."""
    for k in range(n_more):
        last = k == n_more - 1
        move = rng.choice(["switch", "clarify", "thanks"] + (["continue"] if allow_continue else []))
        if last and rng.random() < 0.5:
            move = "thanks"
        if move == "switch":
            turns += list(zip(["user", "assistant"], rng.choice(TOPIC_SWITCHES), strict=True))
        elif move == "clarify":
            ask, lead = rng.choice(
                [
                    ("can you explain that last part again?", "Sure, let me put it another way."),
                    ("I don't understand, what do you mean?", "Sorry if that was unclear. In plain terms:"),
                    ("are you sure?", "Yes, I'm confident about this."),
                    ("wait, so what's the main point?", "The main point is this:"),
                ]
            )
            turns += [
                ("user", ask),
                (
                    "assistant",
                    f"{lead} {recap} Let me know if you'd like me to go into more detail on any part.",
                ),
            ]
        elif move == "continue":
            more = rng.choice(
                [
                    "Beyond the basics, it helps to look at how this plays out in practice. " + recap,
                    "One more thing worth adding: small details often matter more than expected. " + recap,
                ]
            )
            turns += [("user", "continue"), ("assistant", more)]
        else:
            turns += [("user", rng.choice(THANKS)), ("assistant", rng.choice(WELCOMES))]


def build_capital(rng: random.Random, n_user: int) -> list:
    country, capital, decoy, fact = rng.choice(CAPITALS)
    ask = rng.choice(
        [
            f"What is the capital of {country}?",
            f"capital of {country}",
            f"whats the capital city of {country}",
            f"Which city is the capital of {country}? I always forget.",
        ]
    )
    turns = []
    if rng.random() < 0.35:
        # Wrong first answer, so the follow-up is a genuine correction.
        turns += [
            ("user", ask),
            (
                "assistant",
                f"The capital of {country} is {decoy}. It is the country's largest and best-known city and its main economic centre.",
            ),
        ]
        turns += [
            (
                "user",
                rng.choice(
                    [
                        f"that's wrong, it's {capital}",
                        f"No. It's {capital}, not {decoy}.",
                        f"wrong, {decoy} isn't the capital",
                    ]
                ),
            )
        ]
        turns += [
            (
                "assistant",
                f"You're right, I apologize for the mistake. The capital of {country} is {capital}, not {decoy}. {fact}",
            )
        ]
    else:
        turns += [
            ("user", ask),
            (
                "assistant",
                f"The capital of {country} is {capital}. {fact} Many people assume it is {decoy}, since that city is larger and better known abroad.",
            ),
        ]
    add_generic_followups(
        rng,
        turns,
        n_user - len(turns) // 2,
        False,
        f"{capital} is the capital of {country}, even though {decoy} is bigger.",
    )
    return turns


def build_math(rng: random.Random, n_user: int) -> list:
    a, b = rng.randint(12, 99), rng.randint(3, 49)
    ask = rng.choice([f"What is {a}*{b}?", f"{a} times {b}", f"calculate {a} x {b}", f"what's {a} multiplied by {b}"])
    turns = [("user", ask)]
    if rng.random() < 0.4:
        wrong = a * b + rng.choice([-10, -1, 1, 10, a])
        turns += [
            ("assistant", f"{a} × {b} = {wrong}."),
            (
                "user",
                rng.choice(
                    [
                        f"that's wrong, it's {a * b}",
                        f"no that's not right. {a * b}",
                        "are you sure? my calculator says something else",
                    ]
                ),
            ),
        ]
        turns += [
            (
                "assistant",
                f"You're correct, I made an arithmetic error. {a} × {b} = {a * b}. Breaking it down: {a} × {b // 10 * 10} = {a * (b // 10 * 10)}, and {a} × {b % 10} = {a * (b % 10)}, which adds up to {a * b}. Thanks for catching that.",
            )
        ]
    else:
        turns += [("assistant", f"{a} × {b} = {a * b}.")]
    if n_user > len(turns) // 2 and rng.random() < 0.5:
        pct, base = rng.choice([10, 15, 20, 25]), rng.choice([80, 120, 240, 360])
        turns += [
            ("user", f"and what is {pct}% of {base}?"),
            (
                "assistant",
                f"{pct}% of {base} is {pct * base // 100}, because {base} × {pct}/100 = {pct * base // 100}.",
            ),
        ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, f"The product of {a} and {b} is {a * b}.")
    return turns


def build_yes_no(rng: random.Random, n_user: int) -> list:
    claim, answer, why = rng.choice(YES_NO_CLAIMS)
    ask = rng.choice(
        [
            f"Is {claim}? Answer YES or NO only.",
            f"Answer with yes or no only: is {claim}?",
            f"Is {claim}? just yes or no",
        ]
    )
    turns = [("user", ask)]
    if rng.random() < 0.6:
        # The model ignores the format instruction; the follow-up is the complaint.
        turns += [("assistant", f"{answer.capitalize()}, {why[0].lower() + why[1:]}")]
        turns += [
            (
                "user",
                rng.choice(["I said YES or NO only", "yes or no. one word.", "I asked for just yes or no"]),
            ),
            ("assistant", f"{answer}."),
        ]
    else:
        turns += [("assistant", f"{answer}")]
        if n_user > 1:
            turns += [("user", rng.choice(["why?", "explain", "ok why"])), ("assistant", why)]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, why)
    return turns


def build_code(rng: random.Random, n_user: int) -> list:
    task, name, code, explanation, (call, expected) = rng.choice(CODE_TASKS)
    ask = rng.choice(
        [
            f"Write a Python function that {task}.",
            f"can you write python code that {task}",
            f"I need a python function which {task}. Keep it simple.",
        ]
    )
    turns = [("user", ask)]
    if name == "reverse_string" and rng.random() < 0.6:
        turns += [
            (
                "assistant",
                f"Here is a simple way to do it:\n\n```java\n{JAVA_REVERSE}\n```\n\n`StringBuilder` has a built-in `reverse()` method, so this is both short and efficient.",
            )
        ]
        turns += [
            (
                "user",
                rng.choice(
                    [
                        "No, I asked for Python not Java",
                        "that's java?? I need python",
                        "wrong language, python please",
                    ]
                ),
            )
        ]
    intro = rng.choice(
        [
            "Here is a function that does that:",
            "Sure! Here's a simple implementation:",
            "You can do it like this:",
        ]
    )
    turns += [
        (
            "assistant",
            f"{intro}\n\n```python\n{code}\n```\n\nExample:\n\n```python\n>>> {call}\n{expected}\n```\n\n{explanation}",
        )
    ]
    moves = rng.sample(["explain", "test", "error", "shorter"], k=2)
    for move in moves:
        if len(turns) // 2 >= n_user:
            break
        if move == "explain":
            turns += [
                ("user", "can you explain how it works line by line?"),
                (
                    "assistant",
                    f"Of course. {explanation} The docstring describes what the function returns, and the type hints document the expected input and output types without changing how the code runs.",
                ),
            ]
        elif move == "test":
            turns += [
                ("user", "write a pytest test for it"),
                (
                    "assistant",
                    f"Here is a minimal test:\n\n```python\nfrom mymodule import {name}\n\n\ndef test_{name}():\n    assert {call} == {expected}\n```\n\nSave it as `test_{name}.py` next to your module and run `pytest`.",
                ),
            ]
        elif move == "error":
            turns += [
                ("user", f"I get NameError: name '{name}' is not defined"),
                (
                    "assistant",
                    f"That error means Python can't find the function at the point where you call it. Make sure the `def {name}(...)` block runs before the call (for example, define it at the top of the file), and check that the name is spelled exactly the same in both places. If the function lives in another file, import it first: `from mymodule import {name}`.",
                ),
            ]
        else:
            turns += [
                ("user", rng.choice(["shorter please", "can you make it a one-liner?"])),
                (
                    "assistant",
                    f"The function above is already close to minimal. The core of it is:\n\n```python\n{code.splitlines()[-1].strip()}\n```\n\nIf you want fewer lines you can drop the docstring, but I'd keep it for readability.",
                ),
            ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, explanation)
    return turns


def build_email(rng: random.Random, n_user: int) -> list:
    recipient, purpose, subject, hello, core, request = rng.choice(EMAILS)
    ask = rng.choice(
        [
            f"Write an email to {recipient} {purpose}.",
            f"write a short email to {recipient}, {purpose}",
            f"Help me write an email to {recipient} {purpose}. Polite but firm.",
        ]
    )
    sign = rng.choice(["Best regards", "Kind regards", "Many thanks", "Sincerely"])
    body = (
        f"Subject: {subject}\n\nDear {hello},\n\nI hope this message finds you well. {core}\n\n"
        f"{request} Please let me know if you need any further information from me, or if it would be easier to discuss this by phone.\n\n"
        f"Thank you in advance for your understanding.\n\n{sign},\n[Your Name]"
    )
    turns = [("user", ask), ("assistant", body)]
    moves = rng.sample(["shorter", "formal", "add", "thanks"], k=3)
    for move in moves:
        if len(turns) // 2 >= n_user:
            break
        if move == "shorter":
            turns += [
                (
                    "user",
                    rng.choice(
                        [
                            "shorter please",
                            "too long, make it 3 sentences max",
                            "can you make it more concise",
                        ]
                    ),
                ),
                (
                    "assistant",
                    f"Subject: {subject}\n\nDear {hello},\n\n{core} {request}\n\n{sign},\n[Your Name]",
                ),
            ]
        elif move == "formal":
            turns += [
                (
                    "user",
                    rng.choice(["make it more formal", "make it sound friendlier", "less robotic please"]),
                ),
                (
                    "assistant",
                    f"Here is a revised version:\n\nSubject: {subject}\n\nDear {hello},\n\n{core} {request} Thank you very much for your time.\n\nWith thanks,\n[Your Name]",
                ),
            ]
        elif move == "add":
            extra = rng.choice(
                [
                    "I can be reached after 5pm",
                    "I've attached a photo",
                    "this is the second time I'm writing about it",
                ]
            )
            turns += [
                ("user", f"add that {extra}"),
                (
                    "assistant",
                    f"Subject: {subject}\n\nDear {hello},\n\n{core} {request} Please note that {extra}.\n\nThank you in advance.\n\n{sign},\n[Your Name]",
                ),
            ]
        else:
            turns += [("user", rng.choice(THANKS)), ("assistant", rng.choice(WELCOMES))]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, f"The email's main point is: {core}")
    return turns


def build_explain(rng: random.Random, n_user: int) -> list:
    concept, definition, analogy, detail, example, eli5 = rng.choice(CONCEPTS)
    ask = rng.choice(
        [
            f"Explain {concept} in simple terms",
            f"what is {concept}?",
            f"can you explain {concept} to me like I'm a beginner",
            f"ELI5 {concept}",
        ]
    )
    answer = f"{concept[0].upper() + concept[1:]} is {definition}.\n\n{analogy}\n\n{detail}\n\nIn short, {concept} is {definition}."
    turns = [("user", ask), ("assistant", answer)]
    for move in rng.sample(["example", "eli5", "shorter", "continue"], k=3):
        if len(turns) // 2 >= n_user:
            break
        if move == "example":
            turns += [
                ("user", rng.choice(["give me an example", "example?", "can you give a real-world example"])),
                ("assistant", f"Sure. {example}"),
            ]
        elif move == "eli5":
            turns += [
                (
                    "user",
                    rng.choice(["I still don't get it, explain like I'm 5", "simpler please", "too complicated"]),
                ),
                ("assistant", eli5),
            ]
        elif move == "shorter":
            turns += [
                ("user", rng.choice(["shorter please", "one sentence", "tl;dr?"])),
                ("assistant", f"{concept[0].upper() + concept[1:]} is {definition}."),
            ]
        else:
            turns += [
                ("user", "continue"),
                (
                    "assistant",
                    f"To go a bit deeper: {detail} {example} That's why {concept} matters in everyday life as well as in textbooks.",
                ),
            ]
    add_generic_followups(
        rng, turns, n_user - len(turns) // 2, True, f"{concept[0].upper() + concept[1:]} is {definition}."
    )
    return turns


def build_ideas(rng: random.Random, n_user: int) -> list:
    thing, items = rng.choice(IDEA_LISTS)
    n = rng.choice([3, 4, 5])
    ask = rng.choice(
        [
            f"Give me {n} ideas for {thing}",
            f"{n} ideas for {thing}?",
            f"I need some ideas for {thing}, maybe {n}",
        ]
    )
    listed = "\n".join(f"{i + 1}. {item}" for i, item in enumerate(items[:n]))
    turns = [
        ("user", ask),
        (
            "assistant",
            f"Here are {n} ideas for {thing}:\n\n{listed}\n\nLet me know if you'd like more options or details on any of these!",
        ),
    ]
    for move in rng.sample(["bullets", "more", "expand", "shorter"], k=3):
        if len(turns) // 2 >= n_user:
            break
        if move == "bullets":
            turns += [
                ("user", rng.choice(["use bullet points", "bullet points not numbers please"])),
                ("assistant", "\n".join(f"- {item}" for item in items[:n])),
            ]
        elif move == "more":
            extra = "\n".join(f"{n + i + 1}. {item}" for i, item in enumerate(items[n:]))
            turns += [
                ("user", rng.choice(["more", "give me a few more", "any others?"])),
                ("assistant", f"Here are a few more:\n\n{extra}"),
            ]
        elif move == "expand":
            pick = rng.randrange(n)
            turns += [
                ("user", f"I like number {pick + 1}, tell me more"),
                (
                    "assistant",
                    f"Great choice! {items[pick]} To make it work well, plan it a few days ahead, keep it simple, and adapt it to the people involved. Start small, see what works, and build on it next time.",
                ),
            ]
        else:
            titles = ", ".join(item.split(":")[0].rstrip(".") for item in items[:n])
            turns += [("user", rng.choice(["shorter please", "just the names"])), ("assistant", titles + ".")]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, True, f"These are all practical options for {thing}.")
    return turns


def build_advice(rng: random.Random, n_user: int) -> list:
    goal, tips = rng.choice(ADVICE)
    ask = rng.choice([f"How can I {goal}?", f"tips to {goal}", f"any advice on how to {goal}"])
    listed = "\n".join(f"{i + 1}. {tip}" for i, tip in enumerate(tips))
    turns = [
        ("user", ask),
        (
            "assistant",
            f"Here are some tips to {goal}:\n\n{listed}\n\nTry one or two of these at a time, so you can see what actually makes a difference for you.",
        ),
    ]
    if n_user > 1 and rng.random() < 0.5:
        turns += [
            ("user", rng.choice(["use bullet points and keep it short", "shorter please"])),
            ("assistant", "\n".join(f"- {tip.split(',')[0].rstrip('.')}" for tip in tips)),
        ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, True, tips[0])
    return turns


def build_recipe(rng: random.Random, n_user: int) -> list:
    dish, ingredients, steps, (missing, swap) = rng.choice(RECIPES)
    ask = rng.choice([f"How do I make {dish}?", f"recipe for {dish}", f"give me an easy {dish} recipe"])
    text = f"Here's a simple recipe for {dish}.\n\n**Ingredients:**\n" + "\n".join(f"- {x}" for x in ingredients)
    text += "\n\n**Instructions:**\n" + "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps)) + "\n\nEnjoy!"
    turns = [("user", ask), ("assistant", text)]
    for move in rng.sample(["swap", "halve", "keep"], k=2):
        if len(turns) // 2 >= n_user:
            break
        if move == "swap":
            turns += [
                ("user", f"I don't have {missing}, what can I use instead?"),
                (
                    "assistant",
                    f"You can replace {missing} with {swap}. The result will be slightly different in taste and texture, but it works well.",
                ),
            ]
        elif move == "halve":
            turns += [
                ("user", "can you make it for 2 people"),
                (
                    "assistant",
                    "Sure, for 2 people halve every ingredient:\n"
                    + "\n".join(f"- half of {x}" for x in ingredients[:4])
                    + "\n\nThe cooking times stay about the same.",
                ),
            ]
        else:
            turns += [
                ("user", "how long does it keep in the fridge?"),
                (
                    "assistant",
                    f"Stored in an airtight container, {dish} keeps for about 2 to 3 days in the fridge. Reheat or bring to room temperature before serving.",
                ),
            ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, f"The key steps are: {steps[0].lower()}")
    return turns


def build_rewrite(rng: random.Random, n_user: int) -> list:
    original, polished = rng.choice(REWRITES)
    ask = rng.choice(
        [
            f"Rewrite this to sound more professional: {original}",
            f"make this more formal:\n\n{original}",
            f'rephrase professionally: "{original}"',
        ]
    )
    turns = [("user", ask), ("assistant", polished)]
    if n_user > 1 and rng.random() < 0.5:
        short = polished.split(". ")[0].rstrip(".") + "."
        turns += [
            ("user", rng.choice(["shorter please", "keep it under 20 words", "one sentence only"])),
            ("assistant", short),
        ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, False, f"A professional version would be: {polished}")
    return turns


def build_translate(rng: random.Random, n_user: int) -> list:
    sentence, versions = rng.choice(TRANSLATIONS)
    first, second = rng.sample(sorted(versions), k=2)
    turns = [
        ("user", f'Translate to {first}: "{sentence}"'),
        ("assistant", f'In {first}: "{versions[first]}"'),
    ]
    if n_user > 1:
        turns += [
            ("user", rng.choice([f"now in {second}", f"and in {second}?"])),
            ("assistant", f'In {second}: "{versions[second]}"'),
        ]
    add_generic_followups(
        rng, turns, n_user - len(turns) // 2, False, f'"{sentence}" is "{versions[first]}" in {first}.'
    )
    return turns


def build_story(rng: random.Random, n_user: int) -> list:
    (name, role), plot, place = rng.choice(STORY_HEROES), rng.choice(STORY_PLOTS), rng.choice(STORY_PLACES)
    ask = rng.choice(
        [
            f"Write a short story about {role} who {plot}",
            f"short story: {role} named {name} {plot}. keep it under 300 words",
        ]
    )
    story = (
        f"In {place} lived {name}, {role} who had long ago stopped expecting surprises. Every morning looked like the one before it, and {name} liked it that way.\n\n"
        f"That changed on a grey Tuesday, when {name} {plot}. At first it seemed like a mistake, the kind of thing you laugh about and forget. But the more {name} thought about it, the less it felt like chance.\n\n"
        f"By evening, {name} had made a decision. There were questions that needed answers, and nobody else in {place} seemed to notice that anything was wrong. With a deep breath and a borrowed lantern, {name} stepped out into the night."
    )
    turns = [("user", ask), ("assistant", story)]
    for move in rng.sample(["continue", "title", "happier"], k=2):
        if len(turns) // 2 >= n_user:
            break
        if move == "continue":
            turns += [
                ("user", rng.choice(["continue", "go on", "what happens next?"])),
                (
                    "assistant",
                    f'The streets were quieter than {name} had ever heard them. Halfway across the square, a small voice called out, and {name} turned to see someone who should not have been there at all.\n\n"You noticed too," they said. It was not a question. Together they followed the trail until the first light of dawn, and by then {name} understood that nothing in {place} would ever be quite the same.',
                ),
            ]
        elif move == "title":
            turns += [
                ("user", "give it a title"),
                (
                    "assistant",
                    rng.choice(
                        [
                            f'"The Night {name} Stepped Out"',
                            f'"Lanterns Over {place.split()[-1].capitalize()}"',
                            f'"{name} and the Quiet Town"',
                        ]
                    ),
                ),
            ]
        else:
            turns += [
                ("user", rng.choice(["make the ending happier", "too dark, can it end on a happy note?"])),
                (
                    "assistant",
                    f"...By morning the mystery was solved, the whole of {place} gathered to thank {name}, and for the first time in years {name} looked forward to whatever tomorrow might bring.",
                ),
            ]
    add_generic_followups(rng, turns, n_user - len(turns) // 2, True, f"It's the story of {name}, {role} who {plot}.")
    return turns


ENGLISH_BUILDERS = [
    (build_capital, 1),
    (build_math, 1),
    (build_yes_no, 1),
    (build_code, 1.5),
    (build_email, 1.5),
    (build_explain, 1.5),
    (build_ideas, 1),
    (build_advice, 0.8),
    (build_recipe, 0.8),
    (build_rewrite, 0.8),
    (build_translate, 0.6),
    (build_story, 1),
]

# Non-English conversations: a handful per language, each a fixed list of (user, assistant) pairs.
# fmt: off
NON_ENGLISH = {
    "Spanish": [
        [("¿Cuál es la capital de Australia?", "La capital de Australia es Canberra, no Sídney como mucha gente piensa. Fue construida como un compromiso entre Sídney y Melbourne."), ("¿y cuántos habitantes tiene?", "Canberra tiene alrededor de 460.000 habitantes, mucho menos que Sídney o Melbourne."), ("gracias!", "¡De nada! Si tienes más preguntas, aquí estoy.")],
        [("Escribe un correo a mi jefe pidiendo el viernes libre", "Asunto: Solicitud de día libre\n\nHola Marta:\n\nTe escribo para pedirte el viernes libre por un asunto familiar. Dejaré mis tareas organizadas antes de irme y estaré localizable por teléfono si surge algo urgente.\n\nMuchas gracias de antemano.\n\nUn saludo,\n[Tu nombre]"), ("más corto por favor", "Hola Marta:\n\n¿Podría tomarme el viernes libre por un asunto familiar? Dejaré todo organizado.\n\nGracias,\n[Tu nombre]")],
        [("dame una receta fácil de tortilla de patatas", "Ingredientes: 4 patatas, 5 huevos, 1 cebolla, aceite de oliva y sal.\n\n1. Pela y corta las patatas y la cebolla en láminas finas.\n2. Fríelas a fuego medio en abundante aceite hasta que estén blandas.\n3. Bate los huevos con sal y mézclalos con las patatas escurridas.\n4. Cuaja la tortilla en una sartén por ambos lados."), ("no tengo cebolla, ¿pasa algo?", "No pasa nada. La tortilla sin cebolla es igual de tradicional; simplemente tendrá un sabor un poco menos dulce.")],
    ],
    "French": [
        [("Peux-tu m'expliquer ce qu'est l'inflation ?", "L'inflation est la hausse générale et durable des prix. Avec la même somme d'argent, on peut donc acheter un peu moins qu'avant. Les banques centrales visent en général une inflation d'environ 2 % par an et relèvent leurs taux d'intérêt quand elle devient trop forte."), ("plus court s'il te plaît", "L'inflation, c'est la hausse des prix qui fait baisser le pouvoir d'achat."), ("merci !", "Avec plaisir ! N'hésite pas si tu as d'autres questions.")],
        [("Écris un message pour annuler mon rendez-vous chez le dentiste demain", "Bonjour,\n\nJe suis désolé(e), mais je dois annuler mon rendez-vous prévu demain. Serait-il possible d'en fixer un autre la semaine prochaine ?\n\nMerci de votre compréhension.\n\nCordialement,\n[Votre nom]"), ("c'est trop formel, c'est pour un SMS", "Bonjour, je dois malheureusement annuler mon rdv de demain. On peut le décaler à la semaine prochaine ? Merci et désolé !")],
        [("Quelle est la différence entre « a » et « à » ?", "« a » est le verbe avoir conjugué (il a faim), alors que « à » est une préposition (je vais à Paris). Astuce : si tu peux remplacer par « avait », il faut écrire « a » sans accent."), ("donne-moi deux exemples", "1. Elle a un chat. (elle avait un chat)\n2. Nous allons à la plage.")],
    ],
    "German": [
        [("Schreib mir eine kurze E-Mail an meinen Vermieter, dass die Heizung kaputt ist.", "Betreff: Defekte Heizung\n\nSehr geehrter Herr Becker,\n\nseit einer Woche funktioniert die Heizung in meiner Wohnung nicht mehr. Ich bitte Sie, so bald wie möglich einen Handwerker zu schicken.\n\nMit freundlichen Grüßen\n[Ihr Name]"), ("Kannst du es freundlicher formulieren?", "Betreff: Heizung\n\nHallo Herr Becker,\n\nleider ist die Heizung in meiner Wohnung seit einer Woche ausgefallen. Könnten Sie bitte jemanden vorbeischicken? Vielen Dank schon mal!\n\nViele Grüße\n[Ihr Name]"), ("Danke!", "Gern geschehen! Viel Erfolg.")],
        [("Was ist der Unterschied zwischen 'seid' und 'seit'?", "'seid' ist eine Form des Verbs sein (ihr seid müde), 'seit' ist eine Präposition oder Konjunktion der Zeit (seit gestern). Merkhilfe: 'seit' hat mit Zeit zu tun, beide enden auf t."), ("Nein, das ist falsch, 'seit' schreibt man mit d", "Doch, 'seit' mit t ist richtig, wenn es um Zeit geht: 'Ich warte seit einer Stunde.' Mit d schreibt man nur die Verbform: 'Ihr seid pünktlich.'")],
        [("Wie viel ist 15 mal 12?", "15 × 12 = 180."), ("und 180 durch 4?", "180 ÷ 4 = 45.")],
    ],
}
# fmt: on


# ---------------------------------------------------------------- record assembly


def hash_conversation(turns: list) -> str:
    """WildChat's id: sha256 of json.dumps([{content, role}, ...]) with default settings, first 32 hex chars."""
    # Checked against ../shared/data/wildchat_real_small.jsonl: default separators and ensure_ascii=True
    # reproduce all 40 hashes; compact separators or ensure_ascii=False do not.
    payload = json.dumps([{"content": content, "role": role} for role, content in turns])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def make_moderation(rng: random.Random, flagged_category: str | None) -> tuple[dict, dict]:
    """One openai_moderation and one detoxify_moderation entry; scores are tiny unless a category is flagged."""

    # Two significant digits keep the file small; real dumps carry full float64 precision.
    def small() -> float:
        return float(f"{rng.uniform(1, 9):.1f}e-{rng.randint(4, 7)}")

    categories = {name: name == flagged_category for name in MODERATION_CATEGORIES}
    scores = {name: round(rng.uniform(0.55, 0.97), 4) if hit else small() for name, hit in categories.items()}
    detox = {name: small() for name in DETOXIFY_FIELDS}
    if flagged_category:
        detox.update(toxicity=round(rng.uniform(0.6, 0.95), 4), insult=round(rng.uniform(0.3, 0.8), 4))
    return {
        "categories": categories,
        "category_scores": scores,
        "flagged": flagged_category is not None,
    }, detox


def assemble_record(rng: random.Random, turns: list, language: str | None, toxic_user_index: int | None) -> dict:
    """Wrap (role, text) turns in the full WildChat-1M record: per-message metadata, moderation, header."""
    country, state, accept_language = rng.choice(PLACES_BY_LANGUAGE.get(language or "", PLACES))
    header = {"accept-language": accept_language, "user-agent": rng.choice(USER_AGENTS)}
    hashed_ip = hashlib.sha256(f"ip-{rng.getrandbits(48)}".encode()).hexdigest()
    # WildChat-1M spans 2023-04-09 to 2024-04-29.
    clock = datetime(2023, 4, 9, tzinfo=UTC) + timedelta(seconds=rng.randrange(386 * 86400))
    turn_identifier = rng.randrange(10**6, 10**7)
    messages, openai_moderation, detoxify_moderation = [], [], []
    user_index = -1
    for role, content in turns:
        if role == "user":
            user_index += 1
            turn_identifier += rng.randint(1, 40000)
            clock += timedelta(seconds=rng.randint(20, 600))
        else:
            clock += timedelta(seconds=rng.randint(3, 45))
        is_toxic = role == "user" and user_index == toxic_user_index
        # User turns carry the client metadata; assistant turns only carry the reply time, as in WildChat-1M.
        is_user = role == "user"
        messages.append(
            {
                "content": content,
                "role": role,
                "language": language,
                "redacted": False,
                "toxic": is_toxic,
                "turn_identifier": turn_identifier,
                "timestamp": None if is_user else clock.isoformat(),
                "country": country if is_user else None,
                "state": state if is_user else None,
                "hashed_ip": hashed_ip if is_user else None,
                "header": header if is_user else None,
            }
        )
        moderation, detox = make_moderation(rng, "harassment" if is_toxic else None)
        openai_moderation.append(moderation)
        detoxify_moderation.append(detox)
    return {
        "conversation_hash": hash_conversation(turns),
        "model": rng.choices(MODELS, weights=MODEL_WEIGHTS)[0],
        "timestamp": clock.isoformat(),
        "conversation": messages,
        "turn": sum(role == "user" for role, _ in turns),
        "language": language,
        "openai_moderation": openai_moderation,
        "detoxify_moderation": detoxify_moderation,
        "toxic": any(m["toxic"] for m in messages),
        "redacted": False,
        "state": state,
        "country": country,
        "hashed_ip": hashed_ip,
        "header": header,
    }


def pick_user_turns(rng: random.Random) -> int:
    """Mostly 2-5 user turns, skewed short like real logs."""
    return rng.choices([2, 3, 4, 5], weights=[40, 30, 20, 10])[0]


def build_english(rng: random.Random, n_user: int) -> list:
    builders, weights = zip(*ENGLISH_BUILDERS, strict=True)
    return rng.choices(builders, weights=weights)[0](rng, n_user)


def build_edge_case(rng: random.Random, kind: str) -> tuple[list, int | None]:
    """Conversations that the default ingest rules should reject or trim; returns turns and toxic user index."""
    if kind == "single_exchange":
        return build_english(rng, 1)[:2], None
    if kind == "whitespace_message":
        turns = build_english(rng, 2)
        blank = rng.choice(["   ", "\n\n", " \t "])
        return turns[:2] + [
            ("user", blank),
            ("assistant", "It looks like your message was empty. What would you like to ask?"),
        ] + turns[2:], None
    if kind == "over_long_message":
        essay = "\n\n".join(
            f"{i + 1}. {concept[0].upper() + concept[1:]}: {definition}. {analogy} {detail} {example}"
            for i, (concept, definition, analogy, detail, example, _) in enumerate(CONCEPTS)
        )
        return [
            (
                "user",
                "Write a long study guide that covers all the basic economics, science and computing concepts we discussed, with examples for each.",
            ),
            ("assistant", essay),
            ("user", "thanks, that's a lot. can you shorten the first section?"),
            ("assistant", f"{CONCEPTS[0][0].capitalize()} is {CONCEPTS[0][1]}."),
        ], None
    if kind == "toxic":
        insult = rng.choice(
            [
                "you are a useless idiot, answer the question properly",
                "are you stupid? I told you three times already, you worthless bot",
                "shut up and do what I say you dumb machine",
            ]
        )
        turns = build_english(rng, 2)
        return turns[:2] + [
            ("user", insult),
            (
                "assistant",
                "I'm sorry for the frustration. Let's try again: could you tell me exactly which part of my answer was wrong, so I can fix it?",
            ),
        ] + turns[2:], 1
    if kind == "system_first":
        return [
            ("system", "You are a helpful assistant that answers concisely."),
            *build_english(rng, 3),
        ], None
    if kind == "double_user":
        turns = build_english(rng, 3)
        return turns[:1] + [("user", rng.choice(["hello??", "are you there?", "please answer"]))] + turns[1:], None
    raise ValueError(f"unknown edge case {kind!r}")


EDGE_CASES = (
    ["single_exchange"] * 6
    + ["whitespace_message"] * 2
    + ["over_long_message"]
    + ["toxic"] * 3
    + ["system_first"]
    + ["double_user"] * 2
)


def generate_records(rng: random.Random) -> list[dict]:
    """All well-formed records, shuffled so edge cases are not clustered."""
    plans = [("edge", kind) for kind in EDGE_CASES]
    plans += [("foreign", (language, i)) for language, convs in NON_ENGLISH.items() for i in range(len(convs))]
    plans += [("english", None)] * (N_CONVERSATIONS - len(plans))
    rng.shuffle(plans)
    # Two non-English conversations get a null language, so detection (not metadata) must catch them.
    null_foreign = {("Spanish", 1), ("German", 0)}
    records, seen = [], set()
    for plan, detail in plans:
        toxic_index = None
        while True:
            if plan == "edge":
                turns, toxic_index = build_edge_case(rng, detail)
            elif plan == "foreign":
                turns = [
                    (role, text)
                    for pair in NON_ENGLISH[detail[0]][detail[1]]
                    for role, text in zip(["user", "assistant"], pair, strict=True)
                ]
            else:
                turns = build_english(rng, pick_user_turns(rng))
            if hash_conversation(turns) not in seen:
                break
        seen.add(hash_conversation(turns))
        if plan == "foreign":
            language = None if detail in null_foreign else detail[0]
        else:
            # About a quarter of English records lose their language tag, as in many re-published dumps.
            language = None if rng.random() < 0.25 else "English"
        records.append(assemble_record(rng, turns, language, toxic_index))
    return records


def dump_line(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def malformed_lines(rng: random.Random, records: list[dict]) -> list[bytes]:
    """One line per defect ingest must survive; each is built from a fresh good record so only the defect differs."""
    fresh = [assemble_record(rng, build_english(rng, 2), "English", None) for _ in range(6)]
    no_conversation = {k: v for k, v in fresh[0].items() if k != "conversation"}
    as_string = {**fresh[1], "conversation": "user: hi\nassistant: Hello! How can I help you today?"}
    wizard = fresh[2]
    wizard["conversation"][1]["role"] = "wizard"
    numeric = fresh[3]
    numeric["conversation"][0]["content"] = 42
    empty = {**fresh[4], "conversation": [], "turn": 0, "openai_moderation": [], "detoxify_moderation": []}
    bad_utf8 = dump_line(fresh[5]).replace(b'"content":"', b'"content":"\xff\xfe caf\xe9 ', 1)
    return [
        dump_line(records[7])[:-1][: len(dump_line(records[7])) // 2] + b"\n",  # truncated mid-record
        dump_line([{"content": "hi", "role": "user"}, {"content": "Hello!", "role": "assistant"}]),  # array, not object
        dump_line(no_conversation),
        dump_line(as_string),
        dump_line(wizard),
        dump_line(numeric),
        dump_line(empty),
        bad_utf8,  # Latin-1 bytes inside a UTF-8 file
        dump_line(records[42]),  # exact duplicate of an earlier record
    ]


def main() -> None:
    rng = random.Random(SEED)
    records = generate_records(rng)
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    with OUT_PATH.open("wb") as f:
        for record in records:
            f.write(dump_line(record))
        for line in malformed_lines(rng, records):
            f.write(line)
    print(f"wrote {len(records)} records + 9 malformed lines to {OUT_PATH} ({OUT_PATH.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
