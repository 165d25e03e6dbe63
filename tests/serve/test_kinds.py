"""The web app's requests for runs of the image-pair and image-text kinds (docs/SERVE.md), over HTTP on tiny
runs: translating a test source or an upload (sr, cyclegan), searching the test images by text and
classifying one zero-shot (clip), the test images of a text-to-image run; bad requests get a 4xx and one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.cli.conftest import cli
from tests.serve.test_api import pixels, png, refused, wait


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """sr on sr2:digits, cyclegan on thin|thick digits, clip and t2i on tiny captions (whose test split, named
    "tiny", is tiny data with the quadrants as class names), served on a free port."""
    import genlab.runs
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.serve.app import make_app
    from genlab.serve.server import Background, load_runs
    from tests.conftest import TINY, TINY_CLIP
    from tests.models.tiny_families import QUADRANTS, tiny_image_text
    from tests.serve.conftest import Client

    root = tmp_path_factory.mktemp("kinds")
    cli("train", "sr", "--data", "sr2:digits", "--width", "4", "--blocks", "1", "--train.steps", "3",
        "--train.no-progress", "--runs-dir", str(root), "--name", "sr")
    cli("train", "cyclegan", "--data", "thin:digits", "--data-b", "thick:digits", "--channels", "4", "8",
        "--d-channels", "4", "--train.steps", "2", "--train.no-progress", "--runs-dir", str(root), "--name", "cyclegan")
    tc = TrainConfig(steps=2, batch_size=8, progress=False, device="cpu")
    train_data, test = tiny_image_text(32), dataclasses.replace(tiny_image_text(40, seed=1), classes=QUADRANTS)
    genlab.runs.train(RunConfig("clip", TINY_CLIP, DataConfig("tiny"), tc), root / "clip", data=train_data)
    options = {k: v for k, v in TINY["t2i"].items() if k != "text_encoder_config"}
    genlab.runs.train(RunConfig("t2i", {**options, "text_encoder": str(root / "clip")}, DataConfig("tiny"), tc),
                      root / "t2i", data=train_data)
    load = genlab.runs.load_training_data
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(genlab.runs, "load_training_data",
                   lambda data, split="train": test if data.name == "tiny" else load(data, split=split))
        bg = Background(make_app(load_runs([root / name for name in ("sr", "cyclegan", "clip", "t2i")])))
        yield Client(bg.url), test
        bg.stop()


def test_each_kind_says_what_its_page_offers(kinds):
    client, _ = kinds
    runs = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["sr"]["translate"] == {"source_shape": [1, 4, 4], "directions": None, "paired": True}
    assert runs["cyclegan"]["translate"] == {"source_shape": [1, 8, 8], "directions": ["ab", "ba"], "paired": False}
    assert runs["sr"]["sample"] is None and runs["sr"]["embed"] is None  # it translates; it draws nothing
    assert runs["clip"]["embed"] == {"zero_shot": True} and runs["clip"]["translate"] is None
    assert runs["t2i"]["prompt_images"] and runs["t2i"]["embed"] is None and runs["t2i"]["translate"] is None
    assert "translates images rather than drawing them" in refused(client.post("/api/runs/sr/sample", json={"n": 1}))


def test_a_test_pair_is_translated_beside_its_source_and_target(kinds):
    from genlab.data import load_data

    client, _ = kinds
    test = load_data("sr2:digits", split="test")
    gallery = client.get("/api/runs/sr/gallery").json()
    assert len(gallery) == 12 and np.array_equal(pixels(gallery[3]["image"]), test.source[3, 0].numpy())
    assert np.array_equal(pixels(gallery[3]["target"]), test.target[3, 0].numpy())
    r = client.post("/api/runs/sr/translate", json={"index": 3}).json()
    assert np.array_equal(pixels(r["input"]), test.source[3, 0].numpy())  # 4x4: the source as the model takes it
    assert np.array_equal(pixels(r["target"]), test.target[3, 0].numpy())  # 8x8, unchanged
    out = pixels(r["output"])
    assert out.shape == (8, 8) and out.std() > 0 and r["back"] is None and r["direction"] is None
    mse = ((out / 255.0 - test.target[3, 0].numpy() / 255.0) ** 2).mean()
    assert r["psnr"] == pytest.approx(-10 * np.log10(mse), abs=0.05)  # of the float output, before 8 bits


def test_an_uploaded_image_is_translated_and_bad_requests_say_why(kinds):
    client, _ = kinds
    rng = np.random.default_rng(0)
    r = client.post("/api/runs/sr/translate", json={"image": png(rng.integers(0, 255, (4, 4), dtype=np.uint8))})
    assert r.status_code == 200 and pixels(r.json()["output"]).shape == (8, 8) and r.json()["target"] is None
    big = png(np.zeros((8, 8), np.uint8))
    assert "must be a 4x4 PNG" in refused(client.post("/api/runs/sr/translate", json={"image": big}))
    assert "index must be in [0, " in refused(client.post("/api/runs/sr/translate", json={"index": 10**6}))
    assert "not both" in refused(client.post("/api/runs/sr/translate", json={"index": 0, "image": big}))
    assert "translates one way only" in refused(client.post("/api/runs/sr/translate", json={"direction": "ba"}))
    assert "train one of: cyclegan, pix2pix, sr, srgan" in refused(client.post("/api/runs/clip/translate", json={}))


def test_two_unpaired_domains_translate_both_ways_and_back(kinds):
    from genlab.data import load_data

    client, _ = kinds
    a, b = load_data("thin:digits", split="test").x[0::2], load_data("thick:digits", split="test").x[1::2]
    ab = client.post("/api/runs/cyclegan/translate", json={"index": 2}).json()
    assert ab["direction"] == "ab" and ab["target"] is None and ab["psnr"] is None  # unpaired: no truth
    assert np.array_equal(pixels(ab["input"]), a[2, 0].numpy())
    ba = client.post("/api/runs/cyclegan/translate", json={"index": 2, "direction": "ba"}).json()
    assert np.array_equal(pixels(ba["input"]), b[2, 0].numpy())  # B -> A starts from domain B's test image
    for r in (ab, ba):
        assert pixels(r["output"]).shape == pixels(r["back"]).shape == (8, 8) and pixels(r["output"]).std() > 0
    gallery = client.get("/api/runs/cyclegan/gallery").json()
    assert np.array_equal(pixels(gallery[2]["target"]), b[2, 0].numpy())  # what the page offers for B -> A
    assert "direction must be one of ['ab', 'ba']" in refused(
        client.post("/api/runs/cyclegan/translate", json={"direction": "up"}))


def test_a_text_finds_the_nearest_test_images(kinds):
    client, test = kinds
    r = client.post("/api/runs/clip/retrieve", json={"text": "  Bright top   left", "k": 5}).json()
    assert r["text"] == "Bright top left" and r["searched"] == 40 and len(r["results"]) == 5
    scores = [it["score"] for it in r["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= c <= 1 for c in scores)
    for it in r["results"]:  # each answer is that test image, unchanged, with its label
        assert np.array_equal(pixels(it["image"]), test.x[it["index"], 0].numpy())
        assert it["label"] == int(test.y[it["index"]])
    assert "text must be a non-empty text" in refused(client.post("/api/runs/clip/retrieve", json={"text": " "}))
    assert "k must be in [1, 32]" in refused(client.post("/api/runs/clip/retrieve", json={"text": "a", "k": 99}))
    assert "at most 1000" in refused(client.post("/api/runs/clip/retrieve", json={"text": "a" * 1001}))
    assert "families that can: clip" in refused(client.post("/api/runs/t2i/retrieve", json={"text": "a"}))


def test_an_image_is_classified_zero_shot_from_prompts(kinds):
    client, test = kinds
    r = client.post("/api/runs/clip/classify", json={"index": 5}).json()
    assert r["classes"] == ["top left", "top right", "bottom left", "bottom right"] and len(r["scores"]) == 4
    assert r["best"] == int(np.argmax(r["scores"])) and r["label"] == int(test.y[5])
    assert np.array_equal(pixels(r["image"]), test.x[5, 0].numpy())
    own = client.post("/api/runs/clip/classify", json={"index": 5, "classes": ["bright top left", "a bottom blob"]})
    assert own.json()["classes"] == ["bright top left", "a bottom blob"] and own.json()["label"] is None
    assert "characters ['d', 'k'] are not in the vocabulary" in refused(  # the tiny captions' vocabulary has no unk
        client.post("/api/runs/clip/classify", json={"classes": ["a top blob", "a dark blob"]}))
    drawn = client.post("/api/runs/clip/classify", json={"image": png(np.full((8, 8), 200, np.uint8))})
    assert drawn.status_code == 200 and len(drawn.json()["scores"]) == 4
    assert "a list of 2 to 50 texts" in refused(client.post("/api/runs/clip/classify", json={"classes": ["one"]}))
    assert "each class must be a non-empty text" in refused(
        client.post("/api/runs/clip/classify", json={"classes": ["a", 5]}))
    assert "cannot classify images from prompts" in refused(client.post("/api/runs/sr/classify", json={}))
    assert refused(client.post("/api/runs/nope/classify", json={}), 404)


def test_a_text_to_image_run_draws_from_a_prompt_and_offers_its_test_images(kinds):
    client, test = kinds
    gallery = client.get("/api/runs/t2i/gallery").json()
    assert len(gallery) == 12 and np.array_equal(pixels(gallery[0]["image"]), test.x[0, 0].numpy())
    job = client.post("/api/runs/t2i/sample", json={"n": 2, "seed": 1, "prompt": "bright top left"})
    view = wait(client, job.json())
    assert view["error"] is None and all(pixels(it["image"]).std() > 0 for it in view["items"])
    mask = np.zeros((8, 8), np.uint8)
    mask[:4] = 255
    job = client.post("/api/runs/t2i/inpaint", json={"image": gallery[0]["image"], "mask": png(mask),
                                                     "options": {"steps": 2, "resample": 1}})
    view = wait(client, job.json())
    assert view["error"] is None
    out = pixels(view["items"][0]["image"])
    assert np.array_equal(out[4:], test.x[0, 0, 4:].numpy())  # the unmasked half is kept exactly


def test_in_the_browser_a_clicked_test_image_is_translated_and_a_text_finds_images(kinds, browser):
    """The translate and search pages in headless chromium: every request stays on 127.0.0.1."""
    from tests.serve.test_browser import shot

    client, _ = kinds
    context, requests = browser
    start, errors = len(requests), []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(client.url + "/run/sr")
        page.wait_for_selector("#translate-panel .thumbs img")
        page.locator("#translate-panel .thumbs img").nth(3).click()
        page.wait_for_function("document.querySelector('#translation')?.dataset.done === '1'")
        assert page.locator("#translation figure").count() == 3  # input, output, target
        assert "PSNR" in page.inner_text("#translate-panel .msg")
        shot(page, "translate")
        page.goto(client.url + "/run/clip")
        page.fill("#retrieve-form [name=text]", "top left")
        page.fill("#retrieve-form [name=k]", "5")
        page.click("#retrieve-form button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#retrieved figure').length == 5")
        page.fill("#retrieve-form [name=text]", "")
        page.click("#retrieve-form button[type=submit]")  # an empty text: a message, the page still works
        page.wait_for_function("document.querySelector('#retrieve-panel .msg.error')")
    finally:
        page.close()
    outside = [u for u in requests[start:] if not u.startswith(client.url) and not u.startswith(("data:", "blob:"))]
    assert not outside and requests[start:] and not errors, (outside, errors)
