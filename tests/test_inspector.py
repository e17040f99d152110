"""The inspector page at /ui in a real headless Chromium (Debian's, driven by Playwright; nothing
is downloaded): key entered once, a user's memory stored through a chat found, edited, another
deleted, the injection log of a call opened, everything erased; each effect checked through the
API. Screenshots of the main views go to the test's tmp dir (INSPECTOR_SCREENSHOTS=dir keeps
them elsewhere).

Skipped only off CI where Chromium or Playwright is missing; with CI=true it must run.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.http.ui import CONTENT_SECURITY_POLICY
from tests.conftest import Proxy, ProxyFactory

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes say: without the background-networking flags Chromium keeps trying
# hosts this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "k-inspector-test-1"
USER = "ines"
TOLD = ["I live in Lisbon.", "I'm allergic to peanuts.", "我喜欢喝乌龙茶。"]


def _playwright() -> Any:
    """The sync Playwright API, or a skip (a failure on CI) where the browser test cannot run."""
    on_ci = os.environ.get("CI") == "true"
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem = f"playwright is not installed ({exc})"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    if problem is not None:
        if on_ci:
            pytest.fail(f"the browser test must run on CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _playwright()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("INSPECTOR_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def admin(proxy: Proxy) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30)


def test_the_inspector_shows_edits_and_erases_what_a_chat_stored(
    make_proxy: ProxyFactory, browser: Any, shots: Path, request: pytest.FixtureRequest
) -> None:
    from playwright.sync_api import expect

    proxy = make_proxy(admin_key=KEY)
    api = admin(proxy)
    request.addfinalizer(api.close)
    chat = proxy.client(USER)
    for text in TOLD:
        chat.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": text}])
    assert api.post("/memories/flush").status_code == 200
    asked = chat.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "Where do I live?"}]
    )
    request_id = asked.headers["x-memory-request-id"]
    assert asked.headers["x-memory-status"] == "injected"
    stored = {m["text"]: m for m in api.get("/memories", params={"user_id": USER}).json()["data"]}
    lisbon, peanuts = stored[TOLD[0]], stored[TOLD[1]]

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: _console(m, problems))
    page.goto(f"{proxy.url}/ui")

    # Without the key the page is refused what the API refuses.
    expect(page.locator("#notice")).to_contain_text("admin key is missing or not valid")
    page.fill("#key", KEY)
    page.click("#key-save")
    page.click(f'.user-item[data-user="{USER}"]')
    row = page.locator(f'#memories tbody tr[data-id="{lisbon["id"]}"]')
    expect(row).to_contain_text("Lisbon")
    expect(page.locator("#memories tbody tr")).to_have_count(len(TOLD))
    expect(page.locator("#memories tbody")).to_contain_text("乌龙茶")
    page.screenshot(path=shots / "memories.png")

    # The profile as it would be injected, as GET /memories/profile says.
    profile = api.get("/memories/profile", params={"user_id": USER}).json()
    assert profile["injected"]
    page.click("#tab-profile")
    expect(page.locator("#profile-block")).to_have_text(profile["block"])
    expect(page.locator("#profile-items li")).to_have_count(len(profile["data"]))
    page.screenshot(path=shots / "profile.png")
    page.click("#tab-memories")

    # Full-text filter, then semantic search.
    page.fill("#memory-filter", "lisbon")
    expect(page.locator("#memories tbody tr")).to_have_count(1)
    page.fill("#memory-filter", "")
    query = "Am I allergic to peanuts?"
    found = api.post("/memories/search", json={"user_id": USER, "query": query, "k": 50})
    ranked = [hit["id"] for hit in found.json()["data"]]
    assert ranked and ranked[0] == peanuts["id"]
    page.fill("#search-query", query)
    page.click("#search-form button[type=submit]")
    rows = page.locator("#memories tbody tr")
    expect(rows).to_have_count(len(ranked))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == ranked  # as the API ranks
    page.click("#search-clear")
    expect(rows).to_have_count(len(TOLD))

    # Edit: the API has the new text, and history the change.
    row.locator("button.edit").click()
    row.locator("textarea.edit-text").fill("I live in Porto now.")
    row.locator("button.save").click()
    expect(row).to_contain_text("Porto")
    assert api.get(f"/memories/{lisbon['id']}").json()["text"] == "I live in Porto now."
    events = api.get(f"/memories/{lisbon['id']}/history").json()["data"]
    assert (events[-1]["event"], events[-1]["old_text"]) == ("UPDATE", TOLD[0])
    row.locator("td.text").click()
    detail = page.locator("#memory-detail")
    expect(detail.locator(".history li")).to_have_count(len(events))
    calls = api.get(f"/memories/{lisbon['id']}/injections").json()["data"]
    assert request_id in {c["request_id"] for c in calls}  # the question it answered, at least
    expect(detail.locator(".memory-calls li")).to_have_count(len(calls))
    page.screenshot(path=shots / "memory-detail.png", full_page=True)

    # Delete another, confirmed in the dialog: gone from the API.
    doomed = page.locator(f'#memories tbody tr[data-id="{peanuts["id"]}"]')
    doomed.locator("button.delete").click()
    page.click("#confirm-ok")
    expect(doomed).to_have_count(0)
    assert api.get(f"/memories/{peanuts['id']}").status_code == 404

    # The injection log of the call: the memories the model saw, by the request id it got.
    page.click("#tab-injections")
    page.locator(f'#injections tbody tr[data-request-id="{request_id}"]').click()
    shown = page.locator("#injection-detail li[data-id]")
    logged = api.get(f"/memories/injections/{request_id}").json()
    expect(shown).to_have_count(logged["count"])
    ids = shown.evaluate_all("items => items.map(item => item.dataset.id)")
    by_tier = [memory_id for tier in logged["injected"].values() for memory_id in tier]
    assert ids == by_tier and lisbon["id"] in ids
    # It saw the text as it was then; the page says what it is now.
    seen = page.locator(f'#injection-detail li[data-id="{lisbon["id"]}"]')
    expect(seen).to_contain_text(TOLD[0])
    expect(seen.locator(".edited-since")).to_contain_text("Porto")
    if peanuts["id"] in ids:  # deleted since: its history still says what the model saw
        gone = page.locator(f'#injection-detail li[data-id="{peanuts["id"]}"]')
        expect(gone).to_contain_text(TOLD[1])
        expect(gone).to_contain_text("deleted or expired since")
    page.screenshot(path=shots / "injection-log.png", full_page=True)

    # Chinese renders with real glyphs: two different characters, drawn in the same spot, do
    # not come out as the same missing-glyph box.
    page.evaluate(
        """() => { const s = document.createElement("span"); s.id = "glyph";
            s.style.cssText = "position:fixed;top:0;left:0;font-size:48px;background:#fff";
            document.body.append(s); }"""
    )
    drawn = []
    for character in ("乌", "龙"):
        page.evaluate("c => { document.getElementById('glyph').textContent = c; }", character)
        drawn.append(page.locator("#glyph").screenshot())
    assert drawn[0] != drawn[1], "Chinese text renders as boxes: no CJK font in the stack"
    page.evaluate("document.getElementById('glyph').remove()")

    # A phone-sized screen: one column, one card per memory.
    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.goto(f"{proxy.url}/ui")
    phone.fill("#key", KEY)  # sessionStorage is per tab
    phone.click("#key-save")
    phone.click(f'.user-item[data-user="{USER}"]')
    expect(phone.locator("#memories tbody tr")).to_have_count(len(TOLD) - 1)
    phone.screenshot(path=shots / "phone.png", full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    phone.screenshot(path=shots / "phone.png", full_page=True)
    phone.close()

    # Export downloads the user's JSONL; import reads a file back in.
    with page.expect_download() as download:
        page.click("#export")
    exported = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert {m["user_id"] for m in exported} == {USER} and len(exported) == len(TOLD) - 1
    line = {**exported[0], "id": "imported-1", "user_id": "ines-copy", "text": "I paint."}
    upload = shots / "import.jsonl"
    upload.write_text(json.dumps(line) + "\n")
    page.set_input_files("#import-file", str(upload))
    expect(page.locator("#notice")).to_contain_text("Imported 1 lines: 1 added")
    copied = api.get("/memories", params={"user_id": "ines-copy"}).json()["data"]
    assert [m["text"] for m in copied] == ["I paint."]
    expect(page.locator('.user-item[data-user="ines-copy"]')).to_have_count(1)

    # The key lives in this tab's sessionStorage only, never in a URL.
    assert page.evaluate("sessionStorage.getItem('memory-proxy-admin-key')") == KEY
    assert page.evaluate("localStorage.length") == 0 and KEY not in page.url

    # Delete all, after typing the user id: memories and injection log gone from the API.
    page.click("#tab-memories")
    page.click("#delete-all")
    expect(page.locator("#confirm-ok")).to_be_disabled()
    page.fill("#confirm-input", USER)
    page.click("#confirm-ok")
    expect(page.locator("#notice")).to_contain_text(f"of {USER}")
    assert api.get("/memories", params={"user_id": USER}).json()["data"] == []
    assert api.get("/memories/injections", params={"user_id": USER}).json()["data"] == []
    expect(page.locator("#memories tbody tr")).to_have_count(0)
    assert problems == []
    page.close()


def _console(message: Any, problems: list[str]) -> None:
    """Errors in the page's console, a CSP refusal among them; a refused API call (401, or 404
    for the profile route of a server without one) is the API speaking, not a fault."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console: {message.text}")


def test_the_page_is_served_with_a_strict_policy(proxy: Proxy) -> None:
    page = proxy.http.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (
        "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    )
    assert page.headers["x-frame-options"] == "DENY"
    # No inline script or handler, no resource from another origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert not re.search(r"\son[a-z]+\s*=", page.text)
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = proxy.http.get(f"/ui/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "innerHTML" not in asset.text and "http://" not in asset.text
    for bad in ("/ui/../settings.py", "/ui/__init__.py", "/ui/%2e%2e%2fapp.py", "/ui/nope.js"):
        assert proxy.http.get(bad).status_code == 404, bad


def test_every_inspector_file_ships_in_the_package() -> None:
    """pyproject's package data names each file of proxy/ui (a wheel without them serves 404)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["proxy.ui"]
    files = [p.name for p in (ROOT / "proxy" / "ui").iterdir() if p.is_file() and p.suffix != ".py"]
    assert files and all(any(fnmatch(name, pattern) for pattern in patterns) for name in files)
