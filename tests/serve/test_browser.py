"""The web app in a real browser: Debian's chromium, headless, driven by Playwright, on tiny runs.

Every request the browser makes is recorded, and none may go to any host but the app's (127.0.0.1). With
GENLAB_SERVE_SCREENSHOTS=FOLDER the tests save their screenshots there (docs/images/serve/ holds the
ones docs/SERVE.md shows). Without chromium these tests fail, saying how to install it: CI installs it
(.ci/run), so a missing browser must not pass as a skip.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHOTS = os.environ.get("GENLAB_SERVE_SCREENSHOTS")


@pytest.fixture
def page(browser, server):
    context, requests = browser
    start = len(requests)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    outside = [u for u in requests[start:] if not u.startswith(server.url) and not u.startswith(("data:", "blob:"))]
    assert not outside, f"requests to other hosts: {outside}"
    assert requests[start:], "the browser made no request at all"
    assert not errors, f"script errors on the page: {errors}"


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def gray(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"))


def test_index_and_sampling_load_only_from_127_0_0_1(page, server):
    page.goto(server.url)
    page.wait_for_selector("table.runs a[href='/run/ddpm']")
    shot(page, "index")
    page.click("a[href='/run/ddpm']")
    page.fill("#sample-form [name=n]", "10")
    page.click("#sample-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#samples figure').length == 10")
    page.wait_for_selector("#sample-panel .msg.ok")
    assert "seed 9" in page.inner_text("#samples")
    shot(page, "sample")


def test_stop_ends_a_long_sampling_job_and_keeps_its_images(page, server):
    page.goto(server.url + "run/ddpm")
    page.fill("#sample-form [name=n]", "64")
    page.select_option("#sample-form [name=sampler]", "ddpm")
    page.click("#sample-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#samples figure').length >= 1")
    page.click("#sample-form button.stop")
    page.wait_for_selector("#sample-panel .msg.ok")
    message = page.inner_text("#sample-panel .msg")
    shown = page.locator("#samples figure").count()
    assert message.startswith("stopped after") and 1 <= shown < 64 and f"after {shown} of 64" in message
    assert page.is_disabled("#sample-form button.stop") and page.is_enabled("#sample-form button[type=submit]")


def test_moving_a_slider_changes_the_image(page, server):
    page.goto(server.url + "run/ae")
    page.wait_for_function("document.querySelector('#latent-image')?.src?.startsWith('data:')")
    before = page.get_attribute("#latent-image", "src")
    slider = page.locator("#latent-panel input[type=range]").first
    slider.focus()
    page.keyboard.press("End")  # as far as the slider goes: +3 standard deviations
    page.wait_for_function("document.querySelector('#latent-image')?.dataset.coords?.startsWith('3,')")
    assert page.get_attribute("#latent-image", "src") != before
    page.fill("#interpolate-form [name=steps]", "6")
    page.click("#interpolate-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#interpolation img').length == 6")
    shot(page, "latent")


def test_a_drawn_stroke_inpainted_keeps_the_unmasked_pixels(page, server):
    page.goto(server.url + "run/ddpm")
    page.wait_for_selector("#canvas-panel .thumbs img")
    page.click("#canvas-panel .thumbs img >> nth=3")  # a test digit into the canvas
    page.wait_for_function("document.querySelector('#draw-image').getContext('2d')"
                           ".getImageData(0, 0, 8, 8).data.some(v => v > 0 && v < 255)")
    box = page.locator("#draw-mask").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    page.fill("#edit-form [data-for=inpaint] [name=steps]", "4")
    page.fill("#edit-form [data-for=inpaint] [name=resample]", "1")
    page.click("#inpaint-button")
    page.wait_for_function("document.querySelector('#edit-result')?.dataset.done === 'inpaint'")
    result = page.get_attribute("#edit-result", "src")
    source = gray(page.get_attribute("#edit-result", "data-input"))
    mask = gray(page.get_attribute("#edit-result", "data-mask")) > 127
    out = gray(result)
    assert 0 < mask.sum() < mask.size
    assert np.array_equal(out[~mask], source[~mask])  # exactly, pixel for pixel
    assert "kept exactly" in page.inner_text("#canvas-panel .msg.ok")
    shot(page, "inpaint")


def test_a_text_prompt_returns_text(page, server):
    page.goto(server.url + "run/gpt")
    page.fill("#text-form textarea", "ROMEO:")
    page.fill("#text-form [name=max_tokens]", "60")
    page.click("#text-form button[type=submit]")
    page.wait_for_selector("#text-output[data-done]")
    text = page.inner_text("#text-output")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 60
    shot(page, "text")


def test_bad_input_shows_a_message_not_a_broken_page(page, server):
    page.goto(server.url + "run/ae")
    page.fill("#sample-form [name=n]", "100000")
    page.click("#sample-form button[type=submit]")
    page.wait_for_selector("#sample-panel .msg.error")
    assert "n must be in [1, 64]" in page.inner_text("#sample-panel .msg.error")
    page.click("#inpaint-button")  # an autoencoder cannot inpaint
    page.wait_for_selector("#canvas-panel .msg.error")
    assert "cannot inpaint; families that can: ddpm" in page.inner_text("#canvas-panel .msg.error")
    shot(page, "errors")
    page.fill("#sample-form [name=n]", "3")  # the page still works
    page.click("#sample-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#samples figure').length == 3")
    page.goto(server.url + "run/gpt")
    page.click("#text-form button[type=submit]")  # an empty prompt
    page.wait_for_selector("#text-panel .msg.error")
    assert "the prompt is empty" in page.inner_text("#text-panel .msg.error")
    page.goto(server.url + "run/nope")
    page.wait_for_selector(".msg.error")
    assert "no run named 'nope'" in page.inner_text(".msg.error")


def test_compare_runs_side_by_side_on_the_same_seeds(page, server):
    page.goto(server.url + "compare?runs=ae,ddpm&seed=3&n=6")
    page.wait_for_function("document.querySelectorAll('table.compare figure').length == 12")
    page.wait_for_function("document.querySelectorAll('table.compare .msg.ok').length == 2")
    captions = page.locator("table.compare tr").nth(1).inner_text()
    assert "seed 3" in captions and "seed 8" in captions
    shot(page, "compare")
