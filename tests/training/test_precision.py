"""precision="auto": which candidates are timed, that timing never touches the run, that the choice is
recorded in config.json and reused on resume, and that bf16 and fp32 agree on a seeded step."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.nn import bf16
from genlab.runs import train
from genlab.training.precision import AUTO_MIN_STEPS, Choice, candidates, fixed, needs_timing, time_candidates
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def config(family: str = "vae", **train_options) -> RunConfig:
    options = {"steps": 2 * AUTO_MIN_STEPS, "batch_size": 8, "threads": 1, "progress": False, **train_options}
    return RunConfig(family, TINY[family], DataConfig("tiny"), TrainConfig(**options))


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU has native bf16, so bf16 candidates are timed on any machine."""
    monkeypatch.setattr(bf16, "cpu_has_fast_bf16", lambda: True)


def test_candidates_follow_the_device_and_the_model(monkeypatch):
    cpu = torch.device("cpu")
    conv = torch.nn.Conv2d(1, 2, 3)
    mlp = torch.nn.Linear(3, 2)
    monkeypatch.setattr(bf16, "cpu_has_fast_bf16", lambda: False)  # an AVX2 CPU: bf16 is emulated
    assert candidates(TrainConfig(), cpu, conv) == [("fp32", False), ("fp32", True)]
    assert candidates(TrainConfig(), cpu, mlp) == [("fp32", False)]
    monkeypatch.setattr(bf16, "cpu_has_fast_bf16", lambda: True)
    assert candidates(TrainConfig(), cpu, mlp) == [("fp32", False), ("bf16", False)]
    assert candidates(TrainConfig(channels_last=True), cpu, conv) == [("fp32", True), ("bf16", True)]


def test_only_auto_on_a_long_enough_run_is_timed():
    assert needs_timing(TrainConfig(precision="fp32", steps=10_000), fitted=False) == "config"
    assert needs_timing(TrainConfig(bf16=True, steps=10_000), fitted=False) == "config"
    assert needs_timing(TrainConfig(steps=AUTO_MIN_STEPS - 1), fitted=False) == "short run"
    assert needs_timing(TrainConfig(steps=10, time_budget=60), fitted=False) is None
    assert needs_timing(TrainConfig(steps=AUTO_MIN_STEPS), fitted=True) == "fitted"
    assert fixed(TrainConfig(bf16=True)) == Choice("bf16", False, "config")
    assert fixed(TrainConfig(precision="bf16", channels_last=True)).label == "bf16 channels-last"


def test_bf16_switch_and_fp32_precision_together_are_an_error():
    with pytest.raises(ValueError, match="train.bf16 asks for bf16 but train.precision is fp32"):
        Trainer(config(precision="fp32", bf16=True), tiny_images())


def test_auto_times_every_candidate_on_copies_and_leaves_the_run_untouched(native_bf16):
    data = tiny_images()
    timed = Trainer(config(), data)
    assert timed.choice.how == "timed"
    assert set(timed.choice.timings_ms) == {"fp32 contiguous", "fp32 channels-last", "bf16 contiguous",
                                           "bf16 channels-last"}
    assert all(v > 0 for v in timed.choice.timings_ms.values())
    # the fastest: the recorded timings are rounded to 0.01 ms, so two candidates can tie there
    assert timed.choice.timings_ms[timed.choice.label] == min(timed.choice.timings_ms.values())
    # the same choice given outright: identical weights, random streams and first step
    given = Trainer(config(), data, choice=Choice(timed.choice.precision, timed.choice.channels_last))
    for a, b in zip(timed.model.state_dict().values(), given.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(timed.generator.get_state(), given.generator.get_state())
    assert torch.equal(timed.train_step()["loss"], given.train_step()["loss"])


def test_the_choice_is_recorded_and_a_resume_reuses_it(tmp_path, native_bf16):
    run = tmp_path / "r"
    infos = []
    train(config(steps=AUTO_MIN_STEPS, checkpoint_every=1, time_budget=0.5), run, data=tiny_images(),
          on_start=infos.append)
    recorded = json.loads((run / "config.json").read_text())["precision_choice"]
    assert recorded["how"] == "timed" and recorded == infos[0]["precision_choice"]
    assert Choice.from_json(recorded).label in recorded["timings_ms"]  # one of the timed candidates
    # pretend the run had chosen another candidate: the resume must train in that one, not re-time
    other = {"precision": "bf16" if recorded["precision"] == "fp32" else "fp32",
             "channels_last": not recorded["channels_last"], "how": "timed", "timings_ms": {}}
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, "precision_choice": other}))
    infos.clear()
    train(config(steps=AUTO_MIN_STEPS, time_budget=0.5), run, data=tiny_images(), resume=True,
          on_start=infos.append)
    assert infos[0]["precision_choice"]["how"] == "resumed"
    assert (infos[0]["precision"] == "bf16 autocast") == (other["precision"] == "bf16")
    assert infos[0]["channels_last"] == other["channels_last"]
    assert json.loads((run / "config.json").read_text())["precision_choice"]["precision"] == other["precision"]


def test_a_run_without_a_recorded_choice_resumes_in_its_config_precision(tmp_path):
    run = tmp_path / "r"
    train(config(steps=3, checkpoint_every=1), run, data=tiny_images())
    saved = json.loads((run / "config.json").read_text())
    assert saved["precision_choice"]["how"] == "short run"
    del saved["precision_choice"]  # as genlab before precision auto wrote it
    (run / "config.json").write_text(json.dumps(saved))
    infos = []
    train(config(steps=5), run, data=tiny_images(), resume=True, on_start=infos.append)
    assert infos[0]["precision"] == "fp32" and infos[0]["precision_choice"]["how"] == "resumed"


@pytest.mark.parametrize("family", ["vae", "ddpm"])
def test_bf16_and_fp32_agree_on_a_seeded_step(family):
    data = tiny_images()
    losses = {}
    for p in ("fp32", "bf16"):
        t = Trainer(config(family, precision=p), data)
        assert t.choice.how == "config" and t.bf16 == (p == "bf16")
        losses[p] = float(t.train_step()["loss"])
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=3e-2)


def test_every_candidate_gets_a_fresh_copy_set_up_once():
    """Each candidate's copy is set up (a GAN's clusters, its optimizers) exactly once, however Python reuses the
    ids of freed copies: set-up keyed by id(copy) once skipped a new copy and trained it unprepared (a bench
    run of dcgan and stylegan failed on "clusters ... not fitted yet")."""
    model = torch.nn.Linear(3, 2)
    set_up, stepped = [], []

    def stepper(copy):
        set_up.append(copy)
        copy.ready = True

        def step(batch, bf16):
            assert copy.ready
            stepped.append((copy, bf16))
            copy(batch).sum().backward()
        return step

    cands = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    out = time_candidates(model, lambda cl: torch.ones(4, 3), stepper, cands, torch.device("cpu"), steps=2)
    assert set(out) == set(cands) and all(t > 0 for t in out.values())
    assert len(set_up) == 4 and all(c is not model for c in set_up)  # once per candidate, never the model
    assert not hasattr(model, "ready")  # the model itself is never touched
    assert [s[1] for s in stepped[::len(stepped) // 4]] == [False, False, True, True]


def test_a_resume_in_the_other_layout_gives_adams_moments_the_parameters_layout():
    # fused Adam on CUDA refuses moments whose strides differ from their parameter's (seen on an H200)
    from genlab.training.trainer import match_layouts

    conv = torch.nn.Conv2d(2, 4, 3)
    opt = torch.optim.Adam(conv.parameters())
    conv(torch.randn(1, 2, 5, 5)).sum().backward()
    opt.step()
    before = {n: v.clone() for n, v in opt.state[conv.weight].items()}
    conv.to(memory_format=torch.channels_last)  # the resumed run's layout; the loaded moments stay contiguous
    assert opt.state[conv.weight]["exp_avg"].stride() != conv.weight.stride()
    match_layouts(opt)
    for name, v in opt.state[conv.weight].items():
        assert torch.equal(v, before[name])
        if v.shape == conv.weight.shape:
            assert v.stride() == conv.weight.stride()
    opt.step()  # and Adam still steps
