"""The page end to end, in a real headless Chromium driven by Playwright.

Uses the system's Chromium (Debian package ``chromium``; another binary through ``$CHROMIUM``), never
a downloaded browser. Without it the test is skipped, except under CI (``$CI`` set), where it fails.
"""

from __future__ import annotations

import os
import threading
import time
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


def _settled(page, count, quiet_ms: int = 400) -> int:
    """``count()`` once it has not changed for ``quiet_ms`` (requests a debounce still holds back
    have gone out), within the test's timeout."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(50)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms:
            break
    return last


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


def _launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def test_the_producers_tools(base_url: str, tmp_path: Path) -> None:
    """Drag a result out, download a sweep as a zip, the keys, glide and generate, progress."""
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (Python) is not installed")
    import io
    import json
    import time
    import zipfile

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url))
            page.goto(base_url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)
            _wait(page, "() => document.body.dataset.resultKind === 'morph'")
            assert "space" in page.locator("[data-testid=keys]").inner_text()
            limits = page.request.get(base_url + "/api/limits").json()
            assert page.locator("[data-testid=steps]").get_attribute("max") == str(limits["sweep_steps"])

            # drag the result's name out: Chromium's DownloadURL names the file and its URL
            drag = (
                "(id) => { const data = new DataTransfer(); document.getElementById(id).dispatchEvent("
                "new DragEvent('dragstart', {dataTransfer: data, bubbles: true, cancelable: true})); "
                "return data.getData('DownloadURL') }"
            )
            for element in ("result-name", "player"):
                kind, name, url = page.evaluate(drag, element).split(":", 2)
                shown = page.locator("[data-testid=result-name]").inner_text()
                assert kind == "audio/wav" and name == f"{shown}.wav", (kind, name, shown)
                response = page.request.get(url)
                assert response.body()[:4] == b"RIFF"
                assert f'filename="{name}"' in response.headers["content-disposition"]
                link = page.locator("[data-testid=download]").get_attribute("href")
                assert response.body() == page.request.get(base_url + link).body()  # the download's bytes

            # keys: arrows move the ratio (shift: finer), A and B take the highlighted row, R again
            page.locator("[data-testid=alpha]").fill("0.5")
            page.locator("header h1").click()  # focus away from the slider
            page.keyboard.press("ArrowRight")
            _wait(page, "() => document.getElementById('result-name').textContent.endsWith('_a0.55')")
            page.keyboard.press("Shift+ArrowLeft")
            _wait(page, "() => document.getElementById('result-name').textContent.endsWith('_a0.54')")
            assert page.locator("#alpha-out").inner_text() == "0.54"
            page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowDown")
            assert page.evaluate("() => document.body.dataset.highlight") == "2"
            page.keyboard.press("a")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("b")
            assert page.locator("[data-testid=select-a]").input_value() == "2"
            assert page.locator("[data-testid=select-b]").input_value() == "3"
            _wait(
                page,
                "() => /^morph_.*__.*_a0\\.54$/.test(document.getElementById('result-name').textContent)",
            )
            morphs = _settled(page, lambda: sum("/api/morph?" in url for url in asked))
            page.keyboard.press("r")
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while sum("/api/morph?" in url for url in asked) == morphs and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert sum("/api/morph?" in url for url in asked) == morphs + 1
            _wait(page, "() => document.getElementById('player').readyState >= 1")
            for _ in range(2):  # space plays or stops
                paused = page.evaluate("() => document.getElementById('player').paused")
                page.keyboard.press(" ")
                _wait(page, "(was) => document.getElementById('player').paused !== was", paused)

            # the sweep as one zip: its steps' WAVs, the grid picture and the figures
            page.fill("[data-testid=steps]", "3")
            page.click("[data-testid=sweep]")
            page.wait_for_selector("[data-testid=sweep-step-2]", timeout=TIMEOUT_MS)
            steps = [
                page.locator(f"[data-testid=sweep-step-{k}]").get_attribute("title").split(":")[0]
                for k in range(3)
            ]
            with page.expect_download(timeout=TIMEOUT_MS) as caught:
                page.click("[data-testid=sweep-zip]")
            download = caught.value
            assert download.suggested_filename.startswith("sweep_") and download.suggested_filename.endswith(
                ".zip"
            )
            archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
            assert archive.namelist() == [*steps, "grid.png", "quality.json"]
            assert all(archive.read(name)[:4] == b"RIFF" for name in steps)
            assert "intermediateness" in json.loads(archive.read("quality.json"))
            kind, name, _ = page.evaluate(
                "() => { const data = new DataTransfer(); "
                "document.querySelector('[data-testid=sweep-step-1]').dispatchEvent("
                "new DragEvent('dragstart', {dataTransfer: data, bubbles: true})); "
                "return data.getData('DownloadURL') }"
            ).split(":", 2)
            assert name == steps[1]

            # glide (repeats, curve) plays and downloads; a slow render shows its progress
            page.route("**/api/glide?*", lambda route: (time.sleep(0.9), route.continue_()))
            page.fill("[data-testid=repeats]", "2")
            page.select_option("[data-testid=curve]", "smooth")
            shown_before = int(page.evaluate("() => document.body.dataset.progressShown || '0'"))
            page.click("[data-testid=glide]")
            _wait(page, "() => document.body.dataset.resultKind === 'glide'")
            assert int(page.evaluate("() => document.body.dataset.progressShown || '0'")) > shown_before
            _wait(page, "() => document.getElementById('progress').hidden")
            name = page.locator("[data-testid=result-name]").inner_text()
            assert name.startswith("glide_") and name.endswith("_x2_smooth")
            _wait(page, "() => !document.getElementById('player').paused")
            with page.expect_download(timeout=TIMEOUT_MS) as caught:
                page.click("[data-testid=download]")
            assert caught.value.suggested_filename == f"{name}.wav"

            # generate (count, seed): a row of new sounds, each playable and downloadable
            page.fill("[data-testid=count]", "3")
            page.fill("[data-testid=seed]", "11")
            page.click("[data-testid=generate]")
            page.wait_for_selector("[data-testid=generated-2]", timeout=TIMEOUT_MS)
            _wait(page, "() => document.body.dataset.resultKind === 'generate'")
            page.click("[data-testid=generated-2]")
            _wait(page, "() => document.getElementById('result-name').textContent === 'generated_s11_02'")
            _wait(page, "() => !document.getElementById('player').paused")
            with page.expect_download(timeout=TIMEOUT_MS) as caught:
                page.click("[data-testid=download]")
            assert caught.value.suggested_filename == "generated_s11_02.wav"
            assert not errors, errors
        finally:
            browser.close()
