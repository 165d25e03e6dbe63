"""The JSON API (docs/SERVE.md) on tiny runs, without a browser: what each endpoint answers, that bad requests
get a 4xx with a one-line message, that sizes are capped, and that concurrent requests to one model are safe."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
from PIL import Image


def wait(client, job: dict, timeout: float = 60.0) -> dict:
    """Poll a job until it finishes; its items gathered from every answer."""
    items, deadline = [], time.monotonic() + timeout
    while True:
        view = client.get(f"/api/jobs/{job['id']}?since={len(items)}").json()
        items += view["items"]
        if view["finished"]:
            return {**view, "items": items}
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


def png(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def pixels(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"))


def refused(response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


def test_runs_and_their_options_come_from_the_models(client):
    runs = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(runs) == {"ae", "ddpm", "gpt"}
    ddpm = runs["ddpm"]
    assert ddpm["conditional"] and len(ddpm["classes"]) == 10
    sample = {o["name"]: o for o in ddpm["sample"]}
    assert sample["sampler"]["choices"] == ["ddpm", "ddim", "dpmpp_2m"] and sample["steps"]["default"] == 2
    assert sample["steps"]["max"] == 1000 and ddpm["inpaint"] and ddpm["denoise"]
    assert runs["ae"]["latent"] and runs["ae"]["inpaint"] is None and runs["ae"]["sample"] == []
    assert runs["gpt"]["text"] == {"prompt": True, "stream": True}
    assert {o["name"] for o in runs["gpt"]["sample"]} == {"max_tokens", "temperature", "top_k", "top_p"}


def test_sampling_draws_image_i_with_seed_plus_i(client):
    job = client.post("/api/runs/ddpm/sample", json={"n": 3, "seed": 5, "options": {"steps": 2}})
    assert job.status_code == 202
    view = wait(client, job.json())
    assert view["error"] is None and [it["seed"] for it in view["items"]] == [5, 6, 7]
    assert view["calls"] >= 2 and view["progress"] == 1.0  # the U-Net's evaluations of the last image: >= steps
    assert [it["label"] for it in view["items"]] == [0, 1, 2]  # every class in turn
    again = wait(client, client.post("/api/runs/ddpm/sample", json={"n": 1, "seed": 6, "label": 1,
                                                                    "options": {"steps": 2}}).json())
    assert again["items"][0]["image"] == view["items"][1]["image"]
    assert pixels(view["items"][0]["image"]).shape == (8, 8)


def test_bad_requests_get_a_4xx_with_one_line(client):
    assert "n must be in [1, 64]" in refused(client.post("/api/runs/ae/sample", json={"n": 100000}))
    assert "unknown option" in refused(client.post("/api/runs/ddpm/sample", json={"options": {"bogus": 1}}))
    assert "steps must be in [1, 1000]" in refused(client.post("/api/runs/ddpm/sample",
                                                               json={"options": {"steps": 10**6}}))
    assert "sampler must be one of" in refused(client.post("/api/runs/ddpm/sample",
                                                           json={"options": {"sampler": "x"}}))
    assert "label must be in [0, 9]" in refused(client.post("/api/runs/ddpm/sample", json={"label": 10}))
    assert "unconditional" in refused(client.post("/api/runs/ae/sample", json={"label": 1}))
    assert "cannot inpaint; families that can: ddpm" in refused(client.post("/api/runs/ae/inpaint", json={}))
    assert "prompt is empty" in refused(client.post("/api/runs/gpt/text", json={"prompt": "  "}))
    assert "at most 1000" in refused(client.post("/api/runs/gpt/text", json={"prompt": "a" * 1001}))
    assert "max_tokens must be in [0, 1000]" in refused(
        client.post("/api/runs/gpt/text", json={"prompt": "R", "options": {"max_tokens": 10**9}}))
    assert "not JSON" in refused(client.post("/api/runs/ae/sample", content=b"{"))
    assert "JSON object" in refused(client.post("/api/runs/ae/sample", json=[1]))
    assert "PNG data URL" in refused(client.post("/api/runs/ddpm/inpaint", json={"image": "x"}))
    wrong = png(np.zeros((9, 9), np.uint8))
    assert "8x8 PNG" in refused(client.post("/api/runs/ddpm/inpaint", json={"image": wrong, "mask": wrong}))
    blank = png(np.zeros((8, 8), np.uint8))
    assert "mask is empty" in refused(client.post("/api/runs/ddpm/inpaint", json={"image": blank, "mask": blank}))
    assert "no run named" in refused(client.get("/api/runs/nope"), 404)
    assert "no job" in refused(client.get("/api/jobs/nope"), 404)
    assert "no API endpoint" in refused(client.get("/api/nothing"), 404)
    assert refused(client.get("/api/runs/ae/sample"), 405)
    assert "larger than" in refused(client.post("/api/runs/ae/sample", content=b" " * (5 << 20)), 413)
    assert "no latent space" in refused(client.get("/api/runs/ddpm/latent"))
    assert "coords must be" in refused(client.post("/api/runs/ae/latent", json={"coords": [99]}))


def test_inpainting_keeps_the_unmasked_pixels_exactly(client):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 3:7] = 255
    job = client.post("/api/runs/ddpm/inpaint", json={"image": png(image), "mask": png(mask), "label": 3,
                                                      "options": {"steps": 3, "resample": 1}})
    assert job.status_code == 202, job.text
    out = pixels(wait(client, job.json())["items"][0]["image"])
    keep = mask == 0
    assert np.array_equal(out[keep], image[keep]) and not np.array_equal(out[~keep], image[~keep])
    den = wait(client, client.post("/api/runs/ddpm/denoise", json={"image": png(image),
                                                                   "options": {"strength": 0.3}}).json())
    assert den["error"] is None and pixels(den["items"][0]["image"]).shape == (8, 8)


def test_latent_sliders_and_interpolation(client):
    space = client.get("/api/runs/ae/latent").json()
    assert 1 <= space["directions"] <= 4 and len(space["gallery"]) == 12
    assert client.get("/api/runs/ae/gallery").json() == space["gallery"]
    a = client.post("/api/runs/ae/latent", json={"coords": [0, 0]}).json()["image"]
    b = client.post("/api/runs/ae/latent", json={"coords": [3, 0]}).json()["image"]
    c = client.post("/api/runs/ae/latent", json={"coords": [], "base": 2}).json()["image"]
    assert len({a, b, c}) == 3
    path = client.post("/api/runs/ae/interpolate", json={"a": 0, "b": 5, "steps": 5, "method": "slerp"}).json()
    assert len(path["images"]) == 5


def test_text_streams_into_the_job(client):
    job = client.post("/api/runs/gpt/text", json={"prompt": "ROMEO:", "seed": 1, "options": {"max_tokens": 20}})
    view = wait(client, job.json())
    assert view["error"] is None and len(view["text"]) == 20


def test_concurrent_requests_to_one_model_are_serialised(client, served):
    """Several jobs at once on one model (and the direct endpoints meanwhile) all finish with the images one
    request alone gives: the model's lock keeps them from interleaving."""
    alone = wait(client, client.post("/api/runs/ddpm/sample", json={"n": 2, "seed": 9}).json())["items"]
    jobs = [client.post("/api/runs/ddpm/sample", json={"n": 2, "seed": 9}).json() for _ in range(4)]
    client.post("/api/runs/ae/latent", json={"coords": [1]})
    for job in jobs:
        assert [it["image"] for it in wait(client, job)["items"]] == [it["image"] for it in alone]


def test_too_many_waiting_jobs_get_429(client, monkeypatch):
    from genlab.serve import jobs

    monkeypatch.setattr(jobs, "MAX_ACTIVE", 0)
    assert "still running" in refused(client.post("/api/runs/ae/sample", json={"n": 1}), 429)


def test_pages_are_local_only(client):
    page = client.get("/run/ae")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/run/nope").status_code == 404
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400  # no DNS rebinding
    for asset in ("/static/app.js", "/static/app.css", "/"):
        text = client.get(asset).text
        assert "http://" not in text and "https://" not in text and "//" + "fonts" not in text


def test_a_cancelled_job_stops_early_and_keeps_what_it_made(client):
    job = client.post("/api/runs/ddpm/sample", json={"n": 64, "seed": 0, "options": {"sampler": "ddpm"}}).json()
    answer = client.delete(f"/api/jobs/{job['id']}")
    assert answer.status_code == 200 and answer.json()["id"] == job["id"]
    view = wait(client, job)
    assert view["cancelled"] and view["error"] is None and view["finished"]
    assert len(view["items"]) < 64 and [it["seed"] for it in view["items"]] == list(range(len(view["items"])))
    after = wait(client, client.post("/api/runs/ddpm/sample", json={"n": 1, "seed": 3}).json())
    assert not after["cancelled"] and len(after["items"]) == 1  # the model is free again
    assert client.delete(f"/api/jobs/{after['id']}").json()["cancelled"] is False  # a finished job stays as it is
    assert "no job" in refused(client.delete("/api/jobs/nope"), 404)


def test_a_text_to_image_run_takes_a_prompt_and_other_runs_refuse_one(client, tmp_path):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train
    from genlab.serve.app import make_app
    from genlab.serve.server import Background, load_runs
    from tests.conftest import TINY, TINY_CLIP
    from tests.models.tiny_families import tiny_image_text
    from tests.serve.conftest import Client

    data, tc = tiny_image_text(32), TrainConfig(steps=2, batch_size=8, progress=False, device="cpu")
    train(RunConfig("clip", TINY_CLIP, DataConfig("tiny"), tc), tmp_path / "clip", data=data)
    options = {k: v for k, v in TINY["t2i"].items() if k != "text_encoder_config"}
    train(RunConfig("t2i", {**options, "text_encoder": str(tmp_path / "clip")}, DataConfig("tiny"), tc),
          tmp_path / "t2i", data=data)
    bg = Background(make_app(load_runs([tmp_path / "t2i"])))
    try:
        t2i = Client(bg.url)
        assert t2i.get("/api/runs/t2i").json()["prompt_images"] is True
        body = {"n": 2, "seed": 4, "prompt": "Bright  top left"}
        view = wait(t2i, t2i.post("/api/runs/t2i/sample", json=body).json())
        assert view["error"] is None and [it["seed"] for it in view["items"]] == [4, 5]
        assert pixels(view["items"][0]["image"]).shape == (8, 8)
        assert "the prompt is empty" in refused(t2i.post("/api/runs/t2i/sample", json={"n": 1, "prompt": " "}))
    finally:
        bg.stop()
    assert client.get("/api/runs/ae").json()["prompt_images"] is False
    assert "takes no prompt" in refused(client.post("/api/runs/ae/sample", json={"n": 1, "prompt": "a seven"}))
