"""Word lists and generators of made-up personal facts, questions and names, shared by the
benchmarks (no benchmark data set is needed: the proxy only has to see varied, distinct text)."""

from __future__ import annotations

import random
import string
from functools import cache

__all__ = ["FIRST_PERSON", "NOTES", "QUESTIONS", "WORDS", "Distinct", "fill", "made_up_name"]

# Placeholder -> the words it draws from ("-" reads as a space in the filled text).
_WORDS = {
    "city": (
        "Lisbon Porto Madrid Seville Valencia Barcelona Bilbao Paris Lyon Marseille Bordeaux "
        "Nantes Brussels Antwerp Ghent Amsterdam Utrecht Rotterdam Berlin Hamburg Munich Cologne "
        "Leipzig Dresden Vienna Salzburg Zurich Geneva Basel Milan Turin Rome Naples Florence "
        "Venice Bologna Palermo Athens Thessaloniki Istanbul Ankara Izmir Cairo Marrakesh "
        "Casablanca Tunis Nairobi Kampala Accra Lagos Dakar Johannesburg Capetown Durban Windhoek "
        "Tokyo Osaka Kyoto Sapporo Fukuoka Seoul Busan Taipei Kaohsiung Shanghai Beijing Chengdu "
        "Xian Hangzhou Shenzhen Hanoi Saigon Bangkok Chiangmai Manila Cebu Jakarta Bali Singapore "
        "Kuala-Lumpur Penang Mumbai Delhi Bangalore Chennai Kolkata Jaipur Kathmandu Colombo "
        "Dubai Doha Muscat Amman Beirut Tbilisi Yerevan Baku Almaty Tashkent Samarkand Moscow "
        "Kazan Warsaw Krakow Gdansk Prague Brno Bratislava Budapest Ljubljana Zagreb Split "
        "Belgrade Sarajevo Sofia Bucharest Cluj Tallinn Riga Vilnius Helsinki Stockholm "
        "Gothenburg Oslo Bergen Copenhagen Aarhus Reykjavik Dublin Cork Belfast Edinburgh Glasgow "
        "Manchester Liverpool Leeds Bristol London Cardiff Toronto Montreal Vancouver Calgary "
        "Ottawa Quebec Boston Chicago Denver Seattle Portland Austin Dallas Houston Miami Atlanta "
        "Nashville Detroit Phoenix Honolulu Anchorage Mexico-City Oaxaca Guadalajara Havana "
        "Bogota Medellin Quito Lima Cusco La-Paz Santiago Valparaiso Mendoza Buenos-Aires "
        "Montevideo Asuncion Sao-Paulo Rio Salvador Recife Sydney Melbourne Brisbane Perth "
        "Adelaide Hobart Auckland Wellington Christchurch Queenstown"
    ),
    "country": (
        "Portugal Spain France Belgium Germany Austria Switzerland Italy Greece Turkey Egypt "
        "Morocco Kenya Ghana Senegal Namibia Japan Korea Taiwan Vietnam Thailand Indonesia "
        "Malaysia India Nepal Jordan Georgia Armenia Uzbekistan Poland Czechia Hungary Slovenia "
        "Croatia Romania Estonia Finland Sweden Norway Denmark Iceland Ireland Scotland Wales "
        "Canada Mexico Cuba Colombia Peru Bolivia Chile Argentina Uruguay Brazil Australia "
        "Tasmania Fiji Mongolia Oman"
    ),
    "name": (
        "Ana Bruno Carla Diego Elena Felix Greta Hugo Ines Jonas Katya Liam Marta Nils Olga Pablo "
        "Quinn Rosa Stefan Tara Umar Vera Wes Ximena Yusuf Zoe Amir Bea Colin Dana Emil Farah Gil "
        "Hana Ivan Jade Kofi Lena Milo Nora Omar Priya Rafael Sana Tomas Uma Viktor Wanda Yara "
        "Zane Aiko Bilal Chloe Dmitri Esme Femi Gustav Helga Idris Juno Kasia Lucia Mateo Noor "
        "Otto Pia"
    ),
    "relative": (
        "sister brother cousin aunt uncle grandmother grandfather niece nephew mother father "
        "daughter son wife husband partner godmother stepbrother"
    ),
    "job": (
        "nurse architect plumber teacher chemist carpenter pilot librarian journalist baker "
        "electrician dentist translator firefighter accountant gardener paramedic welder "
        "photographer veterinarian lawyer economist surveyor biologist pharmacist sommelier "
        "locksmith cartographer geologist tailor potter brewer"
    ),
    "instrument": (
        "cello violin piano ukulele banjo harp flute oboe clarinet trumpet trombone saxophone "
        "accordion mandolin drums bagpipes harmonica sitar"
    ),
    "food": (
        "ramen paella lasagna risotto goulash pierogi dumplings tacos enchiladas falafel hummus "
        "shakshuka moussaka pad-thai pho bibimbap kimchi sushi tempura biryani dal curry couscous "
        "tagine ceviche empanadas arepas feijoada poutine gnocchi pesto borscht jollof injera "
        "laksa rendang satay gyoza okonomiyaki schnitzel fondue raclette"
    ),
    "side": (
        "garlic-bread pickled-onions fresh-coriander lime-wedges chili-oil toasted-sesame "
        "roasted-peppers sour-cream basmati-rice steamed-greens crusty-sourdough"
    ),
    "animal": (
        "cat dog rabbit parrot hamster tortoise ferret goldfish iguana cockatiel guinea-pig "
        "hedgehog canary gecko chinchilla"
    ),
    "pet": (
        "Biscuit Pepper Mango Noodle Pixel Waffles Ziggy Olive Bean Tofu Luna Milo Pickle Sushi "
        "Rocket Clover Nacho Pumpkin Socks Juniper Kiwi Maple Cinder Fig"
    ),
    "colour": (
        "red blue green yellow orange purple teal grey black white silver golden maroon navy "
        "beige turquoise crimson"
    ),
    "adj": (
        "tiny huge quiet noisy old modern rustic elegant shabby cozy bright dusty colourful "
        "minimalist cluttered sunny drafty charming crooked polished vintage handmade"
    ),
    "object": (
        "lamp bookshelf telescope typewriter rug armchair bicycle kettle guitar camera globe "
        "clock record-player sewing-machine easel aquarium hammock desk piano-stool chessboard"
    ),
    "sport_ing": (
        "swimming cycling climbing running rowing surfing skiing skating hiking kayaking sailing "
        "snowboarding fencing boxing diving"
    ),
    "sport": "football tennis basketball cricket rugby baseball volleyball handball hockey golf",
    "language": (
        "Portuguese Spanish French German Italian Greek Turkish Arabic Swahili Japanese Korean "
        "Mandarin Vietnamese Thai Hindi Tamil Polish Czech Hungarian Finnish Swedish Dutch "
        "Russian"
    ),
    "subject": (
        "physics chemistry history linguistics economics philosophy mathematics geology biology "
        "architecture nursing music law medicine astronomy statistics sociology agronomy"
    ),
    "hobby": (
        "pottery birdwatching knitting chess woodworking calligraphy beekeeping origami baking "
        "photography gardening embroidery astronomy bouldering salsa-dancing stand-up-comedy "
        "rock-climbing fermenting bookbinding glassblowing"
    ),
    "weekday": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "month": (
        "January February March April May June July August September October November December"
    ),
    "place": (
        "harbour lighthouse library market cathedral bakery park museum stadium vineyard "
        "monastery botanical-garden zoo observatory theatre"
    ),
    "bodypart": "wrist ankle arm leg shoulder collarbone finger toe knee elbow",
    "drink": (
        "espresso green-tea black-coffee chamomile-tea oat-latte mate hot-chocolate kombucha "
        "lemonade sparkling-water rooibos chai"
    ),
    "genre": "mystery science-fiction fantasy historical romance horror crime travel poetry",
    "author": (
        "Tolstoy Atwood Murakami Borges Austen Dickens Le-Guin Calvino Morrison Rushdie Ferrante "
        "Saramago Ishiguro Pessoa Tokarczuk Achebe Lem Woolf"
    ),
    "car": "hatchback pickup van convertible sedan estate jeep minivan roadster",
    "season": "spring summer autumn winter",
    "daytime": "morning afternoon evening",
    "event": "wedding conference concert festival hackathon workshop marathon book-fair",
    "prize": "medal trophy ribbon certificate scholarship",
    "distance": "5k 10k half-marathon marathon 50k",
    "collectible": "stamps postcards coins seashells vinyl-records fountain-pens maps keys",
    "room": "study hallway attic kitchen bedroom garage living-room",
    "allergen": "peanuts shellfish sesame gluten walnuts kiwi strawberries penicillin",
}
WORDS: dict[str, list[str]] = {key: text.split() for key, text in _WORDS.items()}
SECOND = {"city2": "city", "drink2": "drink", "language2": "language"}  # another of the same

# First-person facts, as a user tells them in a chat. None states a single-valued attribute ("I
# live in", "I work as", "my favourite X is"): the proxy would let the newest supersede the others.
FIRST_PERSON = (
    "I visited {city} in {year}.",
    "I visited {city} with my {relative} in {month} {year}.",
    "I travelled to {city} by train in {month} {year} and loved the {place}.",
    "My {relative} {name} lives in {city} and works as a {job}.",
    "I have been learning to play the {instrument} since {year}.",
    "I often order {food} with {side} at a {adj} restaurant in {city}.",
    "I adopted a {colour} {animal} named {pet} in {year}.",
    "I worked as a {job} at a {adj} office in {city} for {age} months.",
    "I am allergic to {allergen}, so I skip {food} at restaurants.",
    "I usually go {sport_ing} on {weekday} mornings with {name}.",
    "I speak {language} at home and I am studying {language2} at night.",
    "My {relative} gave me a {adj} {object} for my birthday in {year}.",
    "I ran a {distance} race in {city} in {month} {year}.",
    "I keep a collection of {collectible} in my {room}.",
    "I graduated in {subject} from a university in {city} in {year}.",
    "I am planning a trip to {country} in {month} to see the {place}.",
    "My car is a {colour} {car} that I bought in {year}.",
    "I read {genre} novels by {author} before bed.",
    "I cook {food} for my {relative} every {weekday}.",
    "I broke my {bodypart} while {sport_ing} in {year}.",
    "I grew up in {city} near a {adj} {place}.",
    "I volunteer at the {place} in {city} every {weekday}.",
    "My friend {name} is a {job} who is really into {hobby}.",
    "I met my friend {name} at a {event} in {city} in {year}.",
    "I drink {drink} every {daytime}, never {drink2}.",
    "I started {hobby} in {year} after a trip to {country}.",
    "I moved from {city} to {city2} in {year} to study {subject}.",
    "My flat in {city} has a {adj} {object} by the window.",
    "I won a {prize} for {hobby} in {year}.",
    "I am saving money for a {adj} {object} next {season}.",
    "I watched a {sport} match in {city} with {name} in {year}.",
    "My {relative} taught me to make {food} when I was {age}.",
    "I have a {colour} tattoo of a {animal} on my {bodypart}.",
    "I spent the {season} of {year} in {country} working as a {job}.",
    "I take {hobby} classes on {weekday} evenings in {city}.",
)
# Short notes in the shape the offline extractor stores.
NOTES = (
    "Likes {food} and {hobby}.",
    "Visited {city} in {year} with their {relative}.",
    "Is allergic to {allergen}.",
    "Wants to learn the {instrument} before {year}.",
    "Works on {subject} projects in {city}.",
    "Prefers {drink} over {drink2} in the {daytime}.",
    "Their {relative} lives in {city}.",
    "Bought a new {object} in {city} last {month}.",
    "Plays {sport} every {weekday} with their {relative}.",
    "Is planning a trip to {country} in {month} for a {event}.",
)
QUESTIONS = (
    "What do I like about {hobby}?",
    "Have I been to {city}?",
    "Who in my family lives in {city}?",
    "Any food I should avoid, like {allergen}?",
    "What did I buy in {city}?",
    "Do I prefer {drink} or {drink2}?",
    "When is my trip to {country}?",
    "What hobbies do I share with my {relative}?",
)
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


@cache
def _fields(template: str) -> tuple[str, ...]:
    return tuple(field for _, field, _, _ in string.Formatter().parse(template) if field)


def fill(template: str, rng: random.Random) -> str:
    """The template with a random word in each placeholder (`year` 1992-2025, `age` 6-30)."""
    values: dict[str, object] = {}
    for field in _fields(template):
        if field == "year":
            values[field] = rng.randrange(1992, 2026)
        elif field == "age":
            values[field] = rng.randint(6, 30)
        elif field in SECOND:  # differs from the first of its kind
            choices = [w for w in WORDS[SECOND[field]] if w != values.get(SECOND[field])]
            values[field] = rng.choice(choices)
        else:
            values[field] = rng.choice(WORDS[field])
    return template.format(**values).replace("-", " ")


def made_up_name(rng: random.Random, syllables: int = 5) -> str:
    """A capitalised word of no language ("Kapebomiru"): a fact about it is matched by no other."""
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


class Distinct:
    """Texts from `templates` that never repeat (a repeated query would hit the proxy's
    query-embedding cache)."""

    def __init__(self, templates: tuple[str, ...], seed: int) -> None:
        self._templates = templates
        self._rng = random.Random(seed)
        self._seen: set[str] = set()

    def next(self) -> str:
        while True:
            text = fill(self._rng.choice(self._templates), self._rng)
            if text in self._seen:
                text = f"{text} ({self._rng.randrange(10**6)})"
            if text not in self._seen:
                self._seen.add(text)
                return text
