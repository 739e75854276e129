"""The page end to end, in a real headless Chromium driven by Playwright.

Uses the system's Chromium (Debian package ``chromium``; another binary through ``$CHROMIUM``), never
a downloaded browser. Without it the test is skipped, except under CI (``$CI`` set), where it fails.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from soundmorph import audio
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.web import server as web

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 30_000


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser test must run; install the Debian package chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def base_url(tiny_model) -> Iterator[str]:
    """The app on a free loopback port, served by uvicorn in a background thread."""
    import uvicorn

    app = web.create_app(tiny_model.folder, device="cpu", allowed_hosts=["127.0.0.1"])
    sock = web._bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def _wait(page, script: str, arg: object = None) -> None:
    page.wait_for_function(script, arg=arg, timeout=TIMEOUT_MS)


def test_page_end_to_end(base_url: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (Python) is not installed")
    loop = tmp_path / "my_loop.wav"
    spec = synth.library_specs(9, seed=4)[-1]
    audio.write(loop, audio.fit_length(synth.render(spec), round(1.5 * SAMPLE_RATE)), sample_rate=SAMPLE_RATE)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            errors: list[str] = []
            foreign: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on(
                "request",
                lambda r: None if r.url.startswith((base_url, "data:", "blob:")) else foreign.append(r.url),
            )
            page.goto(base_url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)
            assert page.locator("#library li").count() >= 6
            _wait(page, "() => document.getElementById('spectrogram').naturalWidth > 0")  # the first result

            # the library: click to play an original
            page.click("[data-testid=play-2]")
            _wait(page, "() => document.getElementById('player').src.endsWith('/api/sounds/2/original.wav')")

            # A/B: pick two sounds, move the slider; a new audio source and its spectrogram arrive
            page.select_option("[data-testid=select-a]", "1")
            page.select_option("[data-testid=select-b]", "3")
            _wait(page, "() => document.body.dataset.resultKind === 'morph'")
            before = page.evaluate("() => document.getElementById('player').src")
            page.locator("[data-testid=alpha]").fill("0.8")
            new_audio = (
                "(old) => { const p = document.getElementById('player'); "
                "return p.src !== old && p.src.includes('/api/render/') && p.readyState >= 1 }"
            )
            _wait(page, new_audio, before)
            key = page.evaluate("() => document.body.dataset.resultKey")
            picture = (
                "(key) => { const img = document.getElementById('spectrogram'); "
                "return img.complete && img.naturalWidth > 0 && img.src.includes(key) }"
            )
            _wait(page, picture, key)
            assert page.locator("[data-testid=result-name]").inner_text().endswith("_a0.80")
            download = page.locator("[data-testid=download]")
            assert download.get_attribute("download", timeout=TIMEOUT_MS).endswith("_a0.80.wav")

            # the phase method: another choice renders the same morph again, under its own key
            assert "gl" in page.locator("[data-testid=phase] option").all_inner_texts()
            page.select_option("[data-testid=phase]", "gl")
            _wait(page, "(old) => document.body.dataset.resultKey !== old", key)
            assert page.locator("[data-testid=result-name]").inner_text().endswith("_a0.80")

            # the pad: drag the point towards the top-right corner
            box = page.locator("[data-testid=pad]").bounding_box()
            assert box is not None
            before = page.evaluate("() => document.getElementById('player').src")
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.2, steps=8)
            page.mouse.up()
            blended = (
                "(old) => document.body.dataset.resultKind === 'blend' && "
                "document.getElementById('player').src !== old"
            )
            _wait(page, blended, before)
            assert page.locator("#weight-1").inner_text() == "68%"  # x 0.85, y 0.2: top-right weighs 0.68

            # the sweep: N playable steps with morph-quality figures
            page.fill("[data-testid=steps]", "5")
            page.click("[data-testid=sweep]")
            page.wait_for_selector("[data-testid=sweep-step-4]", timeout=TIMEOUT_MS)
            page.click("[data-testid=sweep-step-2]")
            _wait(page, "() => document.body.dataset.resultKind === 'sweep'")

            # surprise me
            page.click("[data-testid=surprise]")
            _wait(page, "() => document.body.dataset.resultKind === 'surprise'")

            # drop your own audio: it joins the list and becomes B
            page.set_input_files("[data-testid=upload-input]", str(loop))
            page.wait_for_selector("[data-testid=sound-u1]", timeout=TIMEOUT_MS)
            _wait(
                page, "() => (document.getElementById('result-name').textContent || '').includes('my_loop')"
            )
            assert page.locator("[data-testid=select-b]").input_value() == "u1"

            # a bad upload is reported on the page, and the page goes on working
            bad = tmp_path / "notes.txt"
            bad.write_text("not audio")
            page.set_input_files("[data-testid=upload-input]", str(bad))
            _wait(page, "() => document.getElementById('status').dataset.kind === 'error'")
            assert "not an audio file type" in page.locator("[data-testid=status]").inner_text()
            page.locator("[data-testid=alpha]").fill("0.3")
            _wait(page, "() => document.getElementById('result-name').textContent.endsWith('_a0.30')")
            _wait(
                page,
                "() => document.getElementById('spectrogram').src.includes(document.body.dataset.resultKey)",
            )
            _wait(page, "() => document.getElementById('spectrogram').naturalWidth > 0")

            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert not foreign, foreign  # nothing but the server itself was asked for anything
            assert not [e for e in errors if "not an audio file type" not in e and "415" not in e], errors
        finally:
            browser.close()
