"""Proxy overhead benchmark (docs/bench.md §2): what the proxy adds to a model call's latency, for
each API it gives memory to: Chat Completions, the Responses API and Anthropic Messages.

The fake upstream and the proxy run as separate processes (so the load generator here shares no
GIL with them); the same chat request is sent straight to the upstream and through the proxy,
interleaved in blocks (direct, proxy, proxy, direct, ...) so machine noise hits both sides
equally, at several concurrency levels, with memory off and with memory on for users holding 1k
and 10k stored memories, non-streaming and streaming.

    python bench/overhead.py            # full run (seeds the memory users once, then cached)
    python bench/overhead.py --quick --skip-10k   # a fast smoke run
    python bench/overhead.py --apis chat,responses,messages --scenarios off,mem-1k --skip-10k

Results: a table on stdout and bench/results/overhead.json. Absolute times depend on the
machine; the ratios between direct and proxied calls in one run are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the repo root: `proxy` and `tests` import from a plain checkout
    sys.path.insert(0, str(ROOT))

from bench.report import run_header  # noqa: E402  (needs the path above)
from tests.processes import free_port, serve_command  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "overhead.json"
DEFAULT_DATA = Path(tempfile.gettempdir()) / "memory-proxy-bench" / "overhead-data"
MODEL = "gpt-4.1-mini"
QUESTION = "Which cities did I visit in 2019?"
SYSTEM = "You are a helpful assistant. Answer briefly."
# The APIs measured: the route, and the same question as each API asks it.
APIS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}
# ~200 characters: the fake upstream splits it into 20 content chunks when streaming.
ANSWER = (
    "You visited several cities that year, according to what you told me earlier; the ones I "
    "remember best are the trips you described in spring and autumn, each with family or friends."
)
USERS = {"bench-1k": 1_000, "bench-10k": 10_000}
SCENARIOS = {"off": None, "mem-1k": "bench-1k", "mem-10k": "bench-10k"}
FACTS_PER_TURN = 10
# None of the templates below states a single-valued attribute ("I live in", "I work as", "my
# favourite X is"): the proxy would let the newest supersede the others.
SEED_CONCURRENCY = 8
PRE_DEDUP = 0.88  # below the proxy's 0.92 write de-duplication, with a margin

# The fake upstream, in its own process; it keeps only the last few requests it recorded.
UPSTREAM_LAUNCHER = """
import sys
from collections import deque
import uvicorn
from tests.fake_upstream import FakeUpstream
answer = sys.argv[2]
fake = FakeUpstream(reply=lambda body: answer, chunks=20)
fake.requests = deque(maxlen=32)
fake.sent_streams = deque(maxlen=32)
uvicorn.run(fake.app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


# --- child processes -------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    started_at: float
    ready_s: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, path: str, deadline_s: float) -> float:
        """Poll `path` until it answers 200; returns seconds from process start to ready."""
        deadline = time.monotonic() + deadline_s
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}{path}").status_code == 200:
                        self.ready_s = time.perf_counter() - self.started_at
                        return self.ready_s
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name} not ready in {deadline_s} s:\n{self.log_tail()}"
                    )
                time.sleep(0.02)  # poll interval, not a wait for readiness

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_upstream(workdir: Path) -> Child:
    port = free_port()
    log_path = workdir / "upstream.log"
    started = time.perf_counter()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", UPSTREAM_LAUNCHER, str(port), ANSWER],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Child("fake upstream", process, f"http://127.0.0.1:{port}", log_path, started)


def start_proxy(
    workdir: Path, upstream: str, data_dir: Path, env: dict[str, str] | None = None
) -> Child:
    port = free_port()
    log_path = workdir / "proxy.log"
    command = serve_command(port, f"{upstream}/v1", data_dir)
    started = time.perf_counter()
    with log_path.open("ab") as log:
        log.write(f"\n--- {datetime.now(UTC).isoformat()} {shlex.join(command)}\n".encode())
        log.flush()
        # The fake upstream answers Anthropic's /v1/messages too, at its root.
        environment = {**os.environ, "MEMORY_PROXY_ANTHROPIC_UPSTREAM_URL": upstream, **(env or {})}
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    return Child("proxy", process, f"http://127.0.0.1:{port}", log_path, started)


def first_requests(proxy_url: str, users: Iterable[str]) -> dict[str, Any]:
    """The first and second memory request of each user: latency and memory status."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=proxy_url, timeout=120, trust_env=False) as client:
        for user in users:
            out[user] = {}
            for attempt in ("first", "second"):
                started = time.perf_counter()
                response = client.post(
                    "/v1/chat/completions",
                    json=chat_body(f"{QUESTION} ({attempt})", stream=False),
                    headers={"X-User-Id": user, "X-Memory-Mode": "read-only"},
                )
                out[user][attempt] = {
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "memory_status": response.headers.get("x-memory-status"),
                    "memory_count": response.headers.get("x-memory-count"),
                }
    print(f"first and second memory request per user: {out}")
    return out


def wait_for_preload(proxy_url: str, users: int, deadline_s: float) -> float:
    """Seconds until the proxy's background preload holds `users` users."""
    started = time.perf_counter()
    with httpx.Client(base_url=proxy_url, timeout=10, trust_env=False) as client:
        while time.perf_counter() - started < deadline_s:
            cache = client.get("/healthz").json()["memory"].get("index_cache", {})
            if cache.get("users", 0) >= users:
                return time.perf_counter() - started
            time.sleep(0.05)
    raise RuntimeError(f"the proxy did not preload {users} users in {deadline_s} s")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) of a live process."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# --- seeding ---------------------------------------------------------------------------------

CITIES = (
    "Lisbon Porto Madrid Seville Valencia Barcelona Bilbao Paris Lyon Marseille Bordeaux Nantes "
    "Brussels Antwerp Ghent Amsterdam Utrecht Rotterdam Berlin Hamburg Munich Cologne Leipzig "
    "Dresden Vienna Salzburg Zurich Geneva Basel Milan Turin Rome Naples Florence Venice Bologna "
    "Palermo Athens Thessaloniki Istanbul Ankara Izmir Cairo Marrakesh Casablanca Tunis Nairobi "
    "Kampala Accra Lagos Dakar Johannesburg Capetown Durban Windhoek Tokyo Osaka Kyoto Sapporo "
    "Fukuoka Seoul Busan Taipei Kaohsiung Shanghai Beijing Chengdu Xian Hangzhou Shenzhen Hanoi "
    "Saigon Bangkok Chiangmai Manila Cebu Jakarta Bali Singapore Kuala-Lumpur Penang Mumbai Delhi "
    "Bangalore Chennai Kolkata Jaipur Kathmandu Colombo Dubai Doha Muscat Amman Beirut Tbilisi "
    "Yerevan Baku Almaty Tashkent Samarkand Moscow Kazan Warsaw Krakow Gdansk Prague Brno "
    "Bratislava Budapest Ljubljana Zagreb Split Belgrade Sarajevo Sofia Bucharest Cluj Tallinn "
    "Riga Vilnius Helsinki Stockholm Gothenburg Oslo Bergen Copenhagen Aarhus Reykjavik Dublin "
    "Cork Belfast Edinburgh Glasgow Manchester Liverpool Leeds Bristol London Cardiff Toronto "
    "Montreal Vancouver Calgary Ottawa Quebec Boston Chicago Denver Seattle Portland Austin Dallas "
    "Houston Miami Atlanta Nashville Detroit Phoenix Honolulu Anchorage Mexico-City Oaxaca "
    "Guadalajara Havana Bogota Medellin Quito Lima Cusco La-Paz Santiago Valparaiso Mendoza "
    "Buenos-Aires Montevideo Asuncion Sao-Paulo Rio Salvador Recife Sydney Melbourne Brisbane "
    "Perth Adelaide Hobart Auckland Wellington Christchurch Queenstown"
).split()
COUNTRIES = (
    "Portugal Spain France Belgium Germany Austria Switzerland Italy Greece Turkey Egypt Morocco "
    "Kenya Ghana Senegal Namibia Japan Korea Taiwan Vietnam Thailand Indonesia Malaysia India "
    "Nepal Jordan Georgia Armenia Uzbekistan Poland Czechia Hungary Slovenia Croatia Romania "
    "Estonia Finland Sweden Norway Denmark Iceland Ireland Scotland Wales Canada Mexico Cuba "
    "Colombia Peru Bolivia Chile Argentina Uruguay Brazil Australia Tasmania Fiji Mongolia Oman"
).split()
NAMES = (
    "Ana Bruno Carla Diego Elena Felix Greta Hugo Ines Jonas Katya Liam Marta Nils Olga Pablo "
    "Quinn Rosa Stefan Tara Umar Vera Wes Ximena Yusuf Zoe Amir Bea Colin Dana Emil Farah Gil "
    "Hana Ivan Jade Kofi Lena Milo Nora Omar Priya Rafael Sana Tomas Uma Viktor Wanda Yara Zane "
    "Aiko Bilal Chloe Dmitri Esme Femi Gustav Helga Idris Juno Kasia Lucia Mateo Noor Otto Pia"
).split()
RELATIVES = (
    "sister brother cousin aunt uncle grandmother grandfather niece nephew mother father "
    "daughter son wife husband partner godmother stepbrother"
).split()
JOBS = (
    "nurse architect plumber teacher chemist carpenter pilot librarian journalist baker "
    "electrician dentist translator firefighter accountant gardener paramedic welder "
    "photographer veterinarian lawyer economist surveyor biologist pharmacist sommelier "
    "locksmith cartographer geologist tailor potter brewer"
).split()
INSTRUMENTS = (
    "cello violin piano ukulele banjo harp flute oboe clarinet trumpet trombone saxophone "
    "accordion mandolin drums bagpipes harmonica sitar"
).split()
FOODS = (
    "ramen paella lasagna risotto goulash pierogi dumplings tacos enchiladas falafel hummus "
    "shakshuka moussaka pad-thai pho bibimbap kimchi sushi tempura biryani dal curry couscous "
    "tagine ceviche empanadas arepas feijoada poutine gnocchi pesto borscht jollof injera "
    "laksa rendang satay gyoza okonomiyaki schnitzel fondue raclette"
).split()
SIDES = (
    "garlic bread",
    "pickled onions",
    "fresh coriander",
    "lime wedges",
    "chili oil",
    "toasted sesame",
    "roasted peppers",
    "sour cream",
    "basmati rice",
    "steamed greens",
    "crusty sourdough",
)
ANIMALS = (
    "cat dog rabbit parrot hamster tortoise ferret goldfish iguana cockatiel guinea-pig "
    "hedgehog canary gecko chinchilla"
).split()
PETS = (
    "Biscuit Pepper Mango Noodle Pixel Waffles Ziggy Olive Bean Tofu Luna Milo Pickle Sushi "
    "Rocket Clover Nacho Pumpkin Socks Juniper Kiwi Maple Cinder Fig"
).split()
COLOURS = (
    "red blue green yellow orange purple teal grey black white silver golden maroon navy beige "
    "turquoise crimson"
).split()
ADJS = (
    "tiny huge quiet noisy old modern rustic elegant shabby cozy bright dusty colourful "
    "minimalist cluttered sunny drafty charming crooked polished vintage handmade"
).split()
OBJECTS = (
    "lamp bookshelf telescope typewriter rug armchair bicycle kettle guitar camera globe clock "
    "record-player sewing-machine easel aquarium hammock desk piano-stool chessboard"
).split()
SPORTS_ING = (
    "swimming cycling climbing running rowing surfing skiing skating hiking kayaking sailing "
    "snowboarding fencing boxing diving"
).split()
SPORTS = "football tennis basketball cricket rugby baseball volleyball handball hockey golf".split()
LANGUAGES = (
    "Portuguese Spanish French German Italian Greek Turkish Arabic Swahili Japanese Korean "
    "Mandarin Vietnamese Thai Hindi Tamil Polish Czech Hungarian Finnish Swedish Dutch Russian"
).split()
SUBJECTS = (
    "physics chemistry history linguistics economics philosophy mathematics geology biology "
    "architecture nursing music law medicine astronomy statistics sociology agronomy"
).split()
HOBBIES = (
    "pottery birdwatching knitting chess woodworking calligraphy beekeeping origami baking "
    "photography gardening embroidery astronomy bouldering salsa-dancing stand-up-comedy "
    "rock-climbing fermenting bookbinding glassblowing"
).split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = (
    "January February March April May June July August September October November December"
).split()
YEARS = [str(y) for y in range(1992, 2026)]
PLACES = (
    "harbour lighthouse library market cathedral bakery park museum stadium vineyard "
    "monastery botanical-garden zoo observatory theatre"
).split()
BODYPARTS = "wrist ankle arm leg shoulder collarbone finger toe knee elbow".split()
DRINKS = (
    "espresso green-tea black-coffee chamomile-tea oat-latte mate hot-chocolate kombucha "
    "lemonade sparkling-water rooibos chai"
).split()
GENRES = "mystery science-fiction fantasy historical romance horror crime travel poetry".split()
AUTHORS = (
    "Tolstoy Atwood Murakami Borges Austen Dickens Le-Guin Calvino Morrison Rushdie Ferrante "
    "Saramago Ishiguro Pessoa Tokarczuk Achebe Lem Woolf"
).split()
CARS = "hatchback pickup van convertible sedan estate jeep minivan roadster".split()
SEASONS = "spring summer autumn winter".split()
DAYTIMES = "morning afternoon evening".split()
EVENTS = "wedding conference concert festival hackathon workshop marathon book-fair".split()
PRIZES = "medal trophy ribbon certificate scholarship".split()
DISTANCES = "5k 10k half-marathon marathon 50k".split()
COLLECTIBLES = "stamps postcards coins seashells vinyl-records fountain-pens maps keys".split()
ROOMS = "study hallway attic kitchen bedroom garage living-room".split()
ALLERGENS = "peanuts shellfish sesame gluten walnuts kiwi strawberries penicillin".split()

TEMPLATES = (
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


def fill(template: str, rng: random.Random) -> str:
    pick = rng.choice
    city, city2 = rng.sample(CITIES, 2)
    drink, drink2 = rng.sample(DRINKS, 2)
    language, language2 = rng.sample(LANGUAGES, 2)
    text = template.format(
        city=city,
        city2=city2,
        country=pick(COUNTRIES),
        year=pick(YEARS),
        month=pick(MONTHS),
        weekday=pick(WEEKDAYS),
        season=pick(SEASONS),
        daytime=pick(DAYTIMES),
        name=pick(NAMES),
        relative=pick(RELATIVES),
        job=pick(JOBS),
        instrument=pick(INSTRUMENTS),
        food=pick(FOODS),
        side=pick(SIDES),
        colour=pick(COLOURS),
        animal=pick(ANIMALS),
        pet=pick(PETS),
        adj=pick(ADJS),
        object=pick(OBJECTS),
        sport_ing=pick(SPORTS_ING),
        sport=pick(SPORTS),
        language=language,
        language2=language2,
        subject=pick(SUBJECTS),
        hobby=pick(HOBBIES),
        place=pick(PLACES),
        bodypart=pick(BODYPARTS),
        drink=drink,
        drink2=drink2,
        genre=pick(GENRES),
        author=pick(AUTHORS),
        car=pick(CARS),
        event=pick(EVENTS),
        prize=pick(PRIZES),
        distance=pick(DISTANCES),
        collectible=pick(COLLECTIBLES),
        room=pick(ROOMS),
        allergen=pick(ALLERGENS),
        age=rng.randint(6, 30),
    )
    return text.replace("-", " ")


class FactSource:
    """Distinct first-person sentences: each is kept only if its cosine similarity to every
    sentence kept before (and to the user's stored memories) is below PRE_DEDUP, with the same
    embedding model as the proxy, so the proxy's write de-duplication merges none of them."""

    def __init__(self, seed: int, existing: Sequence[str]) -> None:
        self._rng = random.Random(seed)
        self._seen: set[str] = set(existing)
        self._embedder: Any = None
        self._vectors = np.zeros((0, 384), dtype=np.float32)
        self.rejected = 0
        with contextlib.suppress(Exception):  # without the model: exact de-duplication only
            from proxy.memory.embed.minilm import MiniLMEmbedder

            self._embedder = MiniLMEmbedder(threads=2)
        if self._embedder is not None and existing:
            self._vectors = self._embed(list(existing))

    def _embed(self, texts: list[str]) -> np.ndarray:
        chunks = [
            self._embedder.embed(texts[i : i + 256], "passage") for i in range(0, len(texts), 256)
        ]
        return np.concatenate(chunks).astype(np.float32)

    def take(self, count: int) -> list[str]:
        kept: list[str] = []
        while len(kept) < count:
            batch: list[str] = []
            while len(batch) < min(max(64, 2 * (count - len(kept))), 1024):
                text = fill(self._rng.choice(TEMPLATES), self._rng)
                if text not in self._seen:
                    self._seen.add(text)
                    batch.append(text)
            if self._embedder is None:
                kept += batch[: count - len(kept)]
                continue
            vectors = self._embed(batch)
            # Against everything kept so far in one product, then within the batch.
            prior = self._vectors @ vectors.T if len(self._vectors) else None
            accepted: list[int] = []
            for i in range(len(batch)):
                if len(kept) + len(accepted) >= count:
                    break
                close = prior is not None and float(prior[:, i].max()) >= PRE_DEDUP
                if not close and accepted:
                    close = float((vectors[accepted] @ vectors[i]).max()) >= PRE_DEDUP
                if close:
                    self.rejected += 1
                else:
                    accepted.append(i)
            kept += [batch[i] for i in accepted]
            self._vectors = np.concatenate([self._vectors, vectors[accepted]])
        return kept


def chat_body(content: str, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}],
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def api_body(api: str, content: str, *, stream: bool) -> dict[str, Any]:
    """The same call in each API's shape (system prompt, one user turn, streamed or not)."""
    if api == "chat":
        return chat_body(content, stream=stream)
    if api == "responses":
        body: dict[str, Any] = {
            "model": MODEL,
            "instructions": SYSTEM,
            "input": [{"role": "user", "content": content}],
            "temperature": 0,
        }
    else:
        body = {
            "model": MODEL,
            "max_tokens": 256,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
        }
    if stream:
        body["stream"] = True
    return body


def memory_count(proxy_url: str, user: str) -> tuple[int, list[str]]:
    """The user's live memories (GET /memories, every page)."""
    texts: list[str] = []
    params: dict[str, str | int] = {"user_id": user, "limit": 1000}
    with httpx.Client(timeout=120, trust_env=False) as client:
        while True:
            response = client.get(f"{proxy_url}/memories", params=params)
            response.raise_for_status()
            page = response.json()
            texts += [m["text"] for m in page["data"]]
            if not page.get("next_cursor"):
                return len(texts), texts
            params["cursor"] = page["next_cursor"]


def flush(proxy_url: str, deadline_s: float) -> float:
    """POST /memories/flush until every accepted write is stored; returns seconds waited."""
    started = time.perf_counter()
    deadline = time.monotonic() + deadline_s
    with httpx.Client(timeout=700, trust_env=False) as client:
        while True:
            response = client.post(f"{proxy_url}/memories/flush", params={"timeout": 600})
            if response.status_code == 200:
                return time.perf_counter() - started
            if response.status_code != 503 or time.monotonic() > deadline:
                raise RuntimeError(f"flush failed: {response.status_code} {response.text}")


async def send_turns(proxy_url: str, user: str, messages: list[str]) -> dict[str, Any]:
    headers = {
        "Authorization": "Bearer sk-bench",
        "X-User-Id": user,
        "X-Memory-Mode": "write-only",
    }
    statuses: Counter[int] = Counter()
    queue = iter(messages)
    limits = httpx.Limits(
        max_connections=SEED_CONCURRENCY, max_keepalive_connections=SEED_CONCURRENCY
    )
    async with httpx.AsyncClient(
        base_url=proxy_url, timeout=120, limits=limits, trust_env=False
    ) as client:

        async def worker() -> None:
            for content in queue:
                response = await client.post(
                    "/v1/chat/completions", json=chat_body(content, stream=False), headers=headers
                )
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(SEED_CONCURRENCY)))
    return {str(k): v for k, v in statuses.items()}


def seed_user(
    proxy_url: str, user: str, target: int, run: Callable[[Awaitable[Any]], Any]
) -> dict[str, Any]:
    count, texts = memory_count(proxy_url, user)
    report: dict[str, Any] = {"user": user, "target": target, "before": count, "rounds": []}
    if count >= target:
        report.update(after=count, cached=True)
        print(f"  {user}: {count} memories already stored (cached), no seeding")
        return report
    source = FactSource(seed=hash((user, count, time.time_ns())) & 0xFFFFFFFF, existing=texts)
    for _ in range(6):
        need = target - count
        if need <= 0:
            break
        generated_at = time.perf_counter()
        facts = source.take(need)
        generate_s = time.perf_counter() - generated_at
        messages = [
            " ".join(facts[i : i + FACTS_PER_TURN]) for i in range(0, len(facts), FACTS_PER_TURN)
        ]
        started = time.perf_counter()
        statuses = run(send_turns(proxy_url, user, messages))
        sent_s = time.perf_counter() - started
        flush_s = flush(proxy_url, 3600)
        total_s = time.perf_counter() - started
        before, (count, _) = count, memory_count(proxy_url, user)
        stored = count - before
        round_report = {
            "facts_sent": len(facts),
            "turns_sent": len(messages),
            "statuses": statuses,
            "generate_s": round(generate_s, 2),
            "send_s": round(sent_s, 2),
            "flush_wait_s": round(flush_s, 2),
            "total_s": round(total_s, 2),
            "stored": stored,
            "memories_per_s": round(stored / total_s, 1) if total_s > 0 else None,
            "turns_per_s_accepted": round(len(messages) / sent_s, 1) if sent_s > 0 else None,
        }
        report["rounds"].append(round_report)
        print(
            f"  {user}: sent {len(facts)} facts in {len(messages)} turns; stored {stored} in "
            f"{total_s:.1f} s ({round_report['memories_per_s']} memories/s); now {count}"
        )
    report.update(after=count, cached=False, pre_dedup_rejected=source.rejected)
    with httpx.Client(timeout=30, trust_env=False) as client:
        report["healthz_after"] = client.get(f"{proxy_url}/healthz").json()
    rounds = report["rounds"]
    stored_total = sum(r["stored"] for r in rounds)
    seconds = sum(r["total_s"] for r in rounds)
    report["memories_per_s"] = round(stored_total / seconds, 1) if seconds else None
    return report


# --- load ------------------------------------------------------------------------------------


@dataclass
class Sample:
    total: float  # seconds
    ttfb: float | None  # seconds to the first body byte (streams)
    status: int
    memory: str | None  # X-Memory-Status of proxied calls


@dataclass
class Side:
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the proxy process's CPU during this side's blocks


async def one_request(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], stream: bool
) -> Sample:
    started = time.perf_counter()
    ttfb: float | None = None
    async with client.post(url, data=body, headers=headers) as response:
        if stream:
            async for _chunk in response.content.iter_any():
                if ttfb is None:
                    ttfb = time.perf_counter() - started
        else:
            await response.read()
        total = time.perf_counter() - started
    return Sample(total, ttfb, response.status, response.headers.get("x-memory-status"))


async def run_block(
    client: aiohttp.ClientSession,
    url: str,
    bodies: Callable[[int], bytes],
    headers: dict[str, str],
    stream: bool,
    count: int,
    concurrency: int,
    side: Side | None,
) -> None:
    """`count` requests with `concurrency` in flight; recorded into `side` (None: warm-up)."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            try:
                sample = await one_request(client, url, bodies(index), headers, stream)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if side is not None:
                    side.errors += 1
                    side.error_kinds[type(exc).__name__] += 1
                continue
            if side is not None:
                if sample.status == 200:
                    side.samples.append(sample)
                else:
                    side.errors += 1
                    side.error_kinds[f"HTTP {sample.status}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    if side is not None:
        side.wall_s += time.perf_counter() - started


@dataclass
class Cell:
    api: str  # chat | responses | messages
    scenario: str
    mode: str  # json | stream
    concurrency: int
    requests: int  # per side
    block: int
    direct: Side
    proxy: Side


async def run_cell(
    direct_base: str,
    proxy_base: str,
    proxy_pid: int,
    api: str,
    scenario: str,
    stream: bool,
    concurrency: int,
    requests: int,
    block: int,
    distinct_queries: bool,
) -> Cell:
    user = SCENARIOS[scenario]
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    if api == "messages":
        headers = {"x-api-key": "sk-bench", "anthropic-version": "2023-06-01"} | headers
        del headers["Authorization"]
    if user is not None:
        headers |= {"X-User-Id": user, "X-Memory-Mode": "read-only"}
    direct_url, proxy_url = direct_base + APIS[api], proxy_base + APIS[api]
    fixed = json.dumps(api_body(api, QUESTION, stream=stream)).encode()
    salt = random.randrange(1 << 30)

    def bodies(index: int) -> bytes:
        if not distinct_queries:
            return fixed
        question = f"{QUESTION} (ref {salt}-{index})"  # defeats the proxy's query-vector cache
        return json.dumps(api_body(api, question, stream=stream)).encode()

    cell = Cell(
        api, scenario, "stream" if stream else "json", concurrency, requests, block, Side(), Side()
    )

    # aiohttp, not httpx, drives the load: httpx's pool costs ~0.5 ms of CPU per request and
    # became the bottleneck at c=64 on 2 cores (the direct side fell to ~200 req/s).
    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=120),
            skip_auto_headers=("User-Agent",),
        )

    async with session() as direct, session() as proxy:
        warm = max(2 * concurrency, 20)  # opens the connections, loads the user's index
        await run_block(direct, direct_url, bodies, headers, stream, warm, concurrency, None)
        await run_block(proxy, proxy_url, bodies, headers, stream, warm, concurrency, None)
        blocks = max(1, round(requests / block))
        sizes = [requests // blocks + (1 if i < requests % blocks else 0) for i in range(blocks)]
        gc.collect()
        gc.disable()
        try:
            for i, size in enumerate(sizes):
                order = ("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")  # ABBA
                for target in order:
                    if target == "direct":
                        await run_block(
                            direct,
                            direct_url,
                            bodies,
                            headers,
                            stream,
                            size,
                            concurrency,
                            cell.direct,
                        )
                    else:
                        cpu = proc_cpu_s(proxy_pid)
                        await run_block(
                            proxy, proxy_url, bodies, headers, stream, size, concurrency, cell.proxy
                        )
                        cell.proxy.cpu_s += proc_cpu_s(proxy_pid) - cpu
        finally:
            gc.enable()
    return cell


def pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) * 1000 if values else None


def summarise(cell: Cell) -> dict[str, Any]:
    out: dict[str, Any] = {
        "api": cell.api,
        "scenario": cell.scenario,
        "user": SCENARIOS[cell.scenario],
        "stored_memories": None,
        "mode": cell.mode,
        "concurrency": cell.concurrency,
        "requests_per_side": cell.requests,
        "block": cell.block,
    }
    for name, side in (("direct", cell.direct), ("proxy", cell.proxy)):
        totals = [s.total for s in side.samples]
        ttfbs = [s.ttfb for s in side.samples if s.ttfb is not None]
        out[name] = {
            "ok": len(side.samples),
            "errors": side.errors,
            "error_kinds": dict(side.error_kinds),
            "latency_ms": {f"p{q}": _r(pct(totals, q)) for q in (50, 95, 99)}
            | {"mean": _r(float(np.mean(totals)) * 1000 if totals else None)},
            "ttfb_ms": {f"p{q}": _r(pct(ttfbs, q)) for q in (50, 95, 99)} if ttfbs else None,
            "rps": round(len(side.samples) / side.wall_s, 1) if side.wall_s else None,
        }
    direct, proxy = out["direct"], out["proxy"]
    out["added_ms"] = {
        key: _r(proxy["latency_ms"][key] - direct["latency_ms"][key])
        if proxy["latency_ms"][key] is not None and direct["latency_ms"][key] is not None
        else None
        for key in ("p50", "p95", "p99", "mean")
    }
    if direct["ttfb_ms"] and proxy["ttfb_ms"]:
        out["added_ttfb_ms"] = {
            key: _r(proxy["ttfb_ms"][key] - direct["ttfb_ms"][key]) for key in ("p50", "p95", "p99")
        }
    out["memory_status"] = dict(Counter(s.memory or "-" for s in cell.proxy.samples))
    out["proxy_cpu_ms_per_request"] = (
        round(cell.proxy.cpu_s * 1000 / len(cell.proxy.samples), 3) if cell.proxy.samples else None
    )
    return out


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --- report ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[dict[str, Any]], *, header: bool = True, ttfb: bool = True) -> None:
    head = (
        f"{'api':<9} {'scenario':<8} {'mode':<6} {'c':>3} {'n':>5} | "
        f"{'direct p50/p95/p99 ms':>22} | {'proxy p50/p95/p99 ms':>22} | "
        f"{'added p50/p95/p99 ms':>22} | {'rps dir':>7} {'rps prx':>7} | "
        f"{'cpu ms':>6} | memory status"
    )
    if header:
        print(head)
        print("-" * len(head))
    for row in rows:
        d, p, a = row["direct"]["latency_ms"], row["proxy"]["latency_ms"], row["added_ms"]
        trio = lambda x: f"{fmt(x['p50'])}/{fmt(x['p95'])}/{fmt(x['p99'])}"  # noqa: E731
        errors = row["direct"]["errors"] + row["proxy"]["errors"]
        status = ",".join(f"{k}:{v}" for k, v in row["memory_status"].items())
        if errors:
            status += f" ERRORS:{errors}"
        print(
            f"{row.get('api', 'chat'):<9} {row['scenario']:<8} {row['mode']:<6} "
            f"{row['concurrency']:>3} "
            f"{row['requests_per_side']:>5} | {trio(d):>22} | {trio(p):>22} | {trio(a):>22} | "
            f"{fmt(row['direct']['rps'], 0):>7} {fmt(row['proxy']['rps'], 0):>7} | "
            f"{fmt(row['proxy_cpu_ms_per_request']):>6} | {status}"
        )
    streams = [r for r in rows if r["mode"] == "stream"]
    if streams and ttfb:
        print()
        head = (
            f"{'api':<9} {'scenario':<8} {'c':>3} | {'TTFB direct p50/p95/p99 ms':>26} | "
            f"{'TTFB proxy p50/p95/p99 ms':>26} | {'added TTFB p50/p95/p99 ms':>26}"
        )
        print(head)
        print("-" * len(head))
        for row in streams:
            d, p = row["direct"]["ttfb_ms"], row["proxy"]["ttfb_ms"]
            a = row.get("added_ttfb_ms")
            trio = lambda x: "-" if not x else f"{fmt(x['p50'])}/{fmt(x['p95'])}/{fmt(x['p99'])}"  # noqa: E731
            print(
                f"{row.get('api', 'chat'):<9} {row['scenario']:<8} {row['concurrency']:>3} | "
                f"{trio(d):>26} | {trio(p):>26} | "
                f"{trio(a):>26}"
            )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few requests per cell (smoke run)")
    parser.add_argument("--skip-10k", action="store_true", help="no 10k-memory user (no seeding)")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated levels")
    parser.add_argument("--scenarios", default="off,mem-1k,mem-10k", help="off,mem-1k,mem-10k")
    parser.add_argument("--modes", default="json,stream", help="json,stream")
    parser.add_argument("--apis", default="chat,responses,messages", help="chat,responses,messages")
    parser.add_argument("--requests-c1", type=int, help="requests per side at c=1 (default 400)")
    parser.add_argument("--requests", type=int, help="requests per side at c>1 (default 2000)")
    parser.add_argument("--block", type=int, help="requests per interleaved block (default auto)")
    parser.add_argument(
        "--distinct-queries",
        action="store_true",
        help="a different question per request (no query-embedding cache hits in the proxy)",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="proxy data (cache)")
    parser.add_argument("--fresh", action="store_true", help="wipe --data-dir and seed again")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the proxy with py-spy (raw format) during the memory-on 10k cells",
    )
    return parser.parse_args(argv)


def requests_for(args: argparse.Namespace, concurrency: int) -> int:
    if concurrency == 1:
        return args.requests_c1 or (60 if args.quick else 400)
    return args.requests or (300 if args.quick else 2000)


def block_for(args: argparse.Namespace, concurrency: int, requests: int) -> int:
    if args.block:
        return args.block
    return max(1, min(max(25, 8 * concurrency), requests // 4))


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    if output is None:
        yield
        return
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [
        binary,
        "record",
        "--format",
        "raw",
        "--rate",
        "200",
        "-o",
        str(output),
        "-p",
        str(pid),
    ]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            _, err = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, err = recorder.communicate()
        print(f"py-spy: {err.decode(errors='replace').strip().splitlines()[-1:]}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    scenarios = [s for s in args.scenarios.split(",") if not (args.skip_10k and s == "mem-10k")]
    modes = args.modes.split(",")
    apis = args.apis.split(",")
    unknown = (
        set(scenarios) - set(SCENARIOS) | set(modes) - {"json", "stream"} | set(apis) - set(APIS)
    )
    if unknown:
        raise SystemExit(f"unknown scenario, mode or api: {sorted(unknown)}")
    users = {u: n for u, n in USERS.items() if any(SCENARIOS[s] == u for s in scenarios)}
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="overhead-"))
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None

    result: dict[str, Any] = {
        **run_header("proxy overhead (docs/bench.md §2)"),
        "parameters": {
            "concurrency": concurrencies,
            "scenarios": scenarios,
            "modes": modes,
            "apis": apis,
            "requests": {c: requests_for(args, c) for c in concurrencies},
            "distinct_queries": args.distinct_queries,
            "question": QUESTION,
            "model": MODEL,
            "answer_chars": len(ANSWER),
            "stream_chunks": 20,
            "interleave": "blocks per side in ABBA order after a warm-up of max(2c, 20) per side",
            "client": f"aiohttp {aiohttp.__version__}, HTTP/1.1 keep-alive, one session per side",
            "data_dir": str(args.data_dir),
            "users": users,
        },
        "seeding": {},
        "processes": {},
        "cells": [],
    }
    upstream: Child | None = None
    proxy: Child | None = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            upstream = start_upstream(workdir)
            upstream.wait_ready("/v1/models", 60)
            result["processes"]["upstream_start_to_ready_s"] = round(upstream.ready_s, 3)
            print(f"fake upstream ready in {upstream.ready_s:.2f} s (pid {upstream.pid})")

            # Phase 1: seed (or find cached) memories, then restart the proxy for a clean process.
            if users:
                proxy = start_proxy(workdir, upstream.url, args.data_dir)
                proxy.wait_ready("/healthz", 300)
                print(f"proxy (seeding) ready in {proxy.ready_s:.2f} s (pid {proxy.pid})")
                for user, target in users.items():
                    result["seeding"][user] = seed_user(proxy.url, user, target, runner.run)
                result["processes"]["seeding_proxy_peak_rss_mib"] = mib(
                    proc_status(proxy.pid).get("VmHWM")
                )
                proxy.stop()
                proxy = None

            # Phase 2: a fresh process without the start-up preload: idle RSS with no user
            # loaded, and what the first request of each user costs when its index is cold.
            proxy = start_proxy(
                workdir, upstream.url, args.data_dir, {"MEMORY_PROXY_RETRIEVAL__PRELOAD_USERS": "0"}
            )
            proxy.wait_ready("/healthz", 300)
            settle_until = time.monotonic() + 2.0  # let start-up allocations settle
            while time.monotonic() < settle_until:
                time.sleep(0.1)
            idle = proc_status(proxy.pid)
            result["processes"] |= {
                "proxy_command": shlex.join(serve_command(0, f"{upstream.url}/v1", args.data_dir)),
                "proxy_start_to_healthy_s": round(proxy.ready_s, 3),
                "proxy_idle_rss_mib": mib(idle.get("VmRSS")),
            }
            print(
                f"proxy ready in {proxy.ready_s:.2f} s (pid {proxy.pid}), idle RSS "
                f"{mib(idle.get('VmRSS'))} MiB"
            )
            result["processes"]["cold_requests"] = first_requests(proxy.url, users)
            result["processes"]["proxy_rss_after_user_load_mib"] = mib(
                proc_status(proxy.pid).get("VmRSS")
            )
            proxy.stop()

            # Phase 3: the proxy as it normally starts: it loads the recently active users in
            # the background once healthy; the load runs on this process.
            proxy = start_proxy(workdir, upstream.url, args.data_dir)
            proxy.wait_ready("/healthz", 300)
            if users:
                preload_s = wait_for_preload(proxy.url, len(users), 300)
                result["processes"] |= {
                    "preload_s_after_healthy": round(preload_s, 2),
                    "proxy_rss_after_preload_mib": mib(proc_status(proxy.pid).get("VmRSS")),
                    "requests_after_preload": first_requests(proxy.url, users),
                }
            cold = result["processes"]["cold_requests"]
            for user in users:
                count, _ = memory_count(proxy.url, user)
                result["seeding"].setdefault(user, {})["stored_for_load"] = count
                cold[user]["stored_memories"] = count

            for scenario in scenarios:
                for mode in modes:
                    profiling = args.profile if scenario == "mem-10k" else None
                    if profiling is not None and mode == "stream":
                        profiling = profiling.with_name(
                            profiling.stem + "-stream" + profiling.suffix
                        )
                    with py_spy(proxy.pid, profiling):
                        for concurrency, api in itertools.product(concurrencies, apis):
                            requests = requests_for(args, concurrency)
                            block = block_for(args, concurrency, requests)
                            cell = runner.run(
                                run_cell(
                                    upstream.url,
                                    proxy.url,
                                    proxy.pid,
                                    api,
                                    scenario,
                                    mode == "stream",
                                    concurrency,
                                    requests,
                                    block,
                                    args.distinct_queries,
                                )
                            )
                            row = summarise(cell)
                            user = SCENARIOS[scenario]
                            if user is not None:
                                row["stored_memories"] = result["seeding"][user]["stored_for_load"]
                            result["cells"].append(row)
                            print_table([row], header=not result["cells"][:-1], ttfb=False)
            status = proc_status(proxy.pid)
            result["processes"] |= {
                "proxy_peak_rss_mib": mib(status.get("VmHWM")),
                "proxy_final_rss_mib": mib(status.get("VmRSS")),
                "upstream_peak_rss_mib": mib(proc_status(upstream.pid).get("VmHWM")),
            }
        finally:
            for child in (proxy, upstream):
                if child is not None:
                    child.stop()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print_table(result["cells"])
    processes = result["processes"]
    print(
        f"\nproxy: start to healthy {processes.get('proxy_start_to_healthy_s')} s, "
        f"idle RSS {processes.get('proxy_idle_rss_mib')} MiB, "
        f"peak RSS {processes.get('proxy_peak_rss_mib')} MiB "
        f"(phase-1 process, seeding or cache check: "
        f"{processes.get('seeding_proxy_peak_rss_mib')} MiB); "
        f"upstream peak RSS {processes.get('upstream_peak_rss_mib')} MiB"
    )
    for user, seeding in result["seeding"].items():
        print(
            f"seeding {user}: {seeding.get('after')} stored, "
            f"{seeding.get('memories_per_s', 'cached')} memories/s"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    print(f"wrote {args.output}")
    shutil.rmtree(workdir, ignore_errors=True)


def _json_default(value: object) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
