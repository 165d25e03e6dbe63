"""`genlab bench`: train every chosen family on the same data for the same CPU-time budget, evaluate all
under one protocol, and write a leaderboard (markdown + JSON), a contact sheet and a quality-vs-time plot.

Families are handled only through the family contract and their capabilities: each trains with its
own default options (and its own optimizer settings, when it declares them), samples with its default
sampler, and gets reconstruction / likelihood columns only when it has those capabilities. A family
whose run fails gets a row saying why; the others go on. Every family with a likelihood also lands in
one likelihood table: the same first test images for all, in the units of its data, exact or a bound
(`genlab.eval.likelihood.likelihood_table`, docs/LIKELIHOOD.md).

Training time is process CPU time (`budget_clock="cpu"`), which other work on a busy machine does not
eat into. The budget is split into `curve_points` equal segments (the run is resumed between them, which
continues it exactly), and a quick FID is taken after each for the quality-vs-time plot.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from genlab.config import bounded, validate

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_budget(text: str | float) -> float:
    """'10m' -> 600.0, '90s' / '90' -> 90.0, '1.5h' -> 5400.0."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h)?\s*", str(text))
        if not m:
            raise ValueError(f"budget must look like 90s, 10m or 1h (CPU time), got {text!r}")
        value = float(m.group(1)) * _UNITS[m.group(2) or ""]
    if value <= 0:
        raise ValueError(f"budget must be > 0, got {text!r}")
    return value


def resolve_families(families: str | Sequence[str], kind: str = "image") -> list[str]:
    """'all' (every family genlab has now that samples data of `kind`) or a comma-separated list, checked
    against FAMILIES."""
    from genlab.models import FAMILIES
    from genlab.models.base import capabilities

    names = [f.strip() for f in (families.split(",") if isinstance(families, str) else families) if f.strip()]
    if not names or names == ["all"]:
        return [f for f, cls in FAMILIES.items() if kind in cls.data_kinds and "sample" in capabilities(cls)]
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; valid: {', '.join(FAMILIES)} "
                         "(or all)")
    return list(dict.fromkeys(names))


@dataclass
class BenchConfig:
    """What `genlab bench` runs.

    Args:
        data: dataset name.
        families: "all" or a comma-separated list.
        budget: CPU seconds of training per family and seed.
        seeds: training seeds (sampling uses the same seed).
        n: generated samples for the final evaluation; n_real: real reference images (test split).
        n_curve: generated samples at each point of the quality-vs-time curve.
        curve_points: segments the budget is split into (1 = no curve, only the final point).
        features: "classifier" or "inception".
        out: output folder (runs under out/runs/).
        threads: CPU threads for training and evaluation (in all: each of `jobs` processes gets its share).
        jobs: families trained and evaluated at once, each in its own process (1 = one after another).
            Budgets are each process's own CPU time, so a family gets the same budget either way.
        batch_size: training batch size (0 = each family's from the preset, else 128).
        preset: where each family's default options come from: "cpu" (the recipes that work on a CPU in
            minutes, genlab/models/recipes.py) or "paper" (the papers' settings); model_options and
            train_options change them.
        sample_cap: CPU-agnostic cap (wall seconds) on drawing the n final samples: slower families are
            evaluated on fewer samples (never below 500), and the row says so.
        data_dir: where the dataset's files are.
        model_options: family -> model options replacing its defaults (e.g. {"dcgan": {"channels": [32, 64]}}).
        train_options: family -> TrainConfig fields replacing the bench's (e.g. {"dcgan": {"ema_decay": 0.999}}).
    """

    data: str = "mnist"
    families: str = "all"
    budget: float = bounded(600.0, gt=0)
    seeds: tuple[int, ...] = bounded((0,), ge=0)
    n: int = bounded(10000, ge=2)
    n_real: int = bounded(10000, ge=2)
    n_curve: int = bounded(2000, ge=2)
    curve_points: int = bounded(4, ge=1)
    features: Literal["classifier", "inception"] = "classifier"
    out: str = "runs/bench-mnist"
    threads: int = bounded(2, ge=0)
    jobs: int = bounded(1, ge=1)
    batch_size: int = bounded(0, ge=0)
    preset: Literal["cpu", "paper"] = "cpu"
    sample_cap: float = bounded(600.0, gt=0)
    data_dir: str | None = None
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    family_names: list[str] = field(default_factory=list)


def parse_family_options(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """["dcgan.channels=[32,64]", "vae.latent_dim=32"] -> {"dcgan": {"channels": [32, 64]}, "vae": {...}}."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        family, dot, name = key.partition(".")
        if not sep or not dot or not family or not name:
            raise ValueError(f"family options look like FAMILY.KEY=VALUE (e.g. dcgan.channels=[32,64]), got {pair!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(family, {})[name.replace("-", "_")] = parsed
    return out


def family_options(family: str, cfg: BenchConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model options, TrainConfig fields) a family trains with: its preset's, then those given for it
    (--batch-size, --option, --train-option)."""
    from genlab.models.recipes import recipe

    r = recipe(family, cfg.preset, cfg.data)
    train = {**r.train, **({"batch_size": cfg.batch_size} if cfg.batch_size else {}),
             **cfg.train_options.get(family, {})}
    return {**r.model, **cfg.model_options.get(family, {})}, train


def _train_config(family: str, seed: int, cfg: BenchConfig, points: int):
    import dataclasses

    from genlab.config import TrainConfig

    tc = TrainConfig(steps=10 ** 9, batch_size=128, seed=seed, device="cpu", threads=cfg.threads,
                     time_budget=cfg.budget / points, budget_clock="cpu", progress=False, log_every=100,
                     keep_checkpoints=1)
    extra = family_options(family, cfg)[1]
    fixed = {"time_budget", "budget_clock", "seed", "steps"} & set(extra)
    if fixed:
        raise ValueError(f"the bench sets {sorted(fixed)} itself; choose --budget and --seeds instead")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(extra) - names)
    if unknown:
        raise ValueError(f"TrainConfig has no option(s) {unknown}; valid: {sorted(names)}")
    return dataclasses.replace(tc, **{k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()})


def _train_segments(family: str, seed: int, cfg: BenchConfig, run_dir: Path, data: Any, extractor: Any,
                    log, options: dict[str, Any] | None = None) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """Train in `curve_points` resumed segments; returns (model, curve points, training summary)."""
    from genlab.config import DataConfig, RunConfig
    from genlab.eval.protocol import evaluate_samples
    from genlab.eval.report import draw_samples
    from genlab.runs import train

    points = max(1, cfg.curve_points)
    tc = _train_config(family, seed, cfg, points)
    model, _ = family_options(family, cfg)
    model_options = {**model, **(options or {}), **cfg.model_options.get(family, {})}  # given options beat ldm's
    config = RunConfig(family, model_options, DataConfig(cfg.data, cfg.data_dir), tc)
    curve, cpu_total, wall_total, result, per_image = [], 0.0, 0.0, None, None
    for p in range(points):
        c0, w0 = time.process_time(), time.perf_counter()
        result = train(config, run_dir, data=data, resume=p > 0, overwrite=p == 0)
        cpu_total += time.process_time() - c0
        wall_total += time.perf_counter() - w0
        if result.stopped == "interrupted":
            raise KeyboardInterrupt
        model = result.model.eval()
        if points > 1 and cfg.n_curve >= 2:
            if per_image is None:
                per_image = sample_seconds_per_image(model)
            n_c, _ = affordable_n(cfg.n_curve, per_image, cfg.sample_cap / 4, 200)
            x, labels = draw_samples(model, n_c, seed=seed)
            r = evaluate_samples(x, cfg.data, labels=labels, n_real=cfg.n_real, data_dir=cfg.data_dir,
                                 extractor=extractor, seed=seed, kid_subsets=20)
            curve.append({"train_cpu_s": round(cpu_total, 1), "step": result.step, "fid": r["fid"], "kid": r["kid"],
                          "n": n_c})
            log(f"  {family} seed {seed}: {cpu_total:.0f} CPU-s, step {result.step}, FID {r['fid']:.2f}")
    last = result.history[-1] if result.history else {}
    if per_image is None:
        per_image = sample_seconds_per_image(result.model.eval())
    summary = {"steps": result.step, "train_cpu_s": round(cpu_total, 1), "train_wall_s": round(wall_total, 1),
               "img_per_s": last.get("img_per_s"), "sample_s_per_image": per_image}
    return result.model.eval(), curve, summary


def sample_seconds_per_image(model: Any, probes: tuple[int, int] = (8, 40), batch: int = 500) -> float:
    """Wall seconds per sample when drawn in batches of `batch` (draw_samples'), from two small draws (a slow
    sampler costs little here); see per_image_at_batch."""
    from genlab.eval.report import draw_samples

    seconds = []
    for k in probes:
        t0 = time.perf_counter()
        draw_samples(model, k, seed=12345)
        seconds.append(time.perf_counter() - t0)
    return per_image_at_batch(probes, (seconds[0], seconds[1]), batch)


def per_image_at_batch(sizes: tuple[int, int], seconds: tuple[float, float], batch: int) -> float:
    """Seconds per image in calls of `batch` images, from two calls of sizes[i] images taking seconds[i]: a call
    costs a fixed part (an autoregressive sampler's 784 steps, whatever the batch) plus a part per image. A
    single small draw would charge the fixed part to a few images and overstate a PixelCNN's cost several times.
    Noise that makes the larger draw the faster one reads as all fixed cost."""
    (n1, n2), (t1, t2) = sizes, seconds
    per = max((t2 - t1) / (n2 - n1), 0.0)
    fixed = max(t1 - per * n1, 0.0)
    return per + fixed / batch


def likelihood_seconds_per_image(model: Any, cfg: BenchConfig, probe: int = 8) -> float:
    """Wall seconds per test image of the model's likelihood bound, from `probe` images."""
    from genlab.data import load_data
    from genlab.eval.likelihood import evaluate_likelihood

    test = load_data(cfg.data, split="test", data_dir=cfg.data_dir)
    t0 = time.perf_counter()
    evaluate_likelihood(model, test.images(slice(0, probe)), None,  # the marginal, as the column
                        generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - t0) / probe


def affordable_n(n: int, per_image: float, cap: float, floor: int) -> tuple[int, str]:
    """How many of n samples fit `cap` seconds at `per_image` seconds each (never below `floor`)."""
    if per_image * n <= cap or n <= floor:
        return n, ""
    m = max(floor, int(cap / per_image) // 100 * 100)
    if m >= n:
        return n, ""
    return m, f"n={m} (sampling ~{per_image * 1000:.1f} s per 1k images; cap {cap:.0f} s)"


N_LIKELIHOOD = 1000  # test images for the likelihood column (fewer when the bound is slow; the row says so)
AUTOENCODERS = ("vae", "ae", "dae")  # the bench's runs an ldm may diffuse in, in order of preference


def latent_source(cfg: BenchConfig, seed: int) -> tuple[dict[str, Any], str]:
    """Options and a note for an ldm without --autoencoder: the latent space of this bench's own vae (or ae,
    dae) run of the same seed. Raises ValueError naming the fix when the bench trains none of them."""
    for name in AUTOENCODERS:
        run = Path(cfg.out) / "runs" / f"{name}-s{seed}"
        if name in cfg.family_names and (run / "config.json").exists():
            return {"autoencoder": str(run)}, (f"latent space of this bench's {name} run (its {cfg.budget:.0f} CPU-s "
                                               "of training not counted here)")
    raise ValueError("ldm needs an autoencoder: add vae (or ae, dae) to --families before ldm, or pass "
                     "--option ldm.autoencoder=RUN")


def model_size(model: Any) -> tuple[int, str]:
    """(count, what it counts) for the likelihood table: the free parameters a family states (the table:
    2^D - 1), else its trainable parameters, else (a fitted family) the numbers its buffers hold."""
    described = model.describe()
    if "free_parameters" in described:
        return int(described["free_parameters"]), "free"
    if described["parameters"]:
        return int(described["parameters"]), "trainable"
    return int(described["buffers"]), "fitted"


def keep_likelihood(row: dict[str, Any], nats: list[float], extra: dict[str, Any], size: tuple[int, str]) -> None:
    """Keep one seed's per-image test nats (and what they are) in row["_likelihood"] for the likelihood
    table (`genlab.eval.likelihood.likelihood_table`); "_" keys stay out of leaderboard.json."""
    entry = row.setdefault("_likelihood", {"family": row["family"], "nats": [], "dims": extra["likelihood_dims"],
                                           "data": extra["likelihood_data"], "note": extra["likelihood_note"],
                                           "claim": extra["likelihood_claim"], "label": extra["likelihood_label"],
                                           "parameters": size[0], "parameters_of": size[1]})
    entry["nats"].append(nats)


def bench_family(family: str, cfg: BenchConfig, data: Any, extractor: Any, log) -> dict[str, Any]:
    """Train and evaluate one family over the seeds; a failure becomes a row with the reason."""
    from genlab.eval.protocol import summarize
    from genlab.eval.report import draw_samples, evaluate_model
    from genlab.models import FAMILIES
    from genlab.models.base import capabilities

    cls = FAMILIES[family]
    row: dict[str, Any] = {"family": family, "capabilities": sorted(capabilities(cls)), "status": "ok", "seeds": [],
                           "runs": [], "curve": {}, "notes": []}
    per_seed_metrics = []
    for seed in cfg.seeds:
        run_dir = Path(cfg.out) / "runs" / f"{family}-s{seed}"
        try:
            options: dict[str, Any] = {}
            if family == "ldm" and not cfg.model_options.get(family, {}).get("autoencoder"):
                options, note = latent_source(cfg, seed)
                if note not in row["notes"]:
                    row["notes"].append(note)
            log(f"{family} seed {seed}: training for {cfg.budget:.0f} CPU-s")
            model, curve, summary = _train_segments(family, seed, cfg, run_dir, data, extractor, log, options)
            n, note = affordable_n(cfg.n, summary["sample_s_per_image"], cfg.sample_cap, 500)
            if note:
                row["notes"].append(note)
            n_lik = N_LIKELIHOOD
            if "likelihood" in capabilities(cls):  # a diffusion bound costs ~100 network calls per image
                n_lik, note = affordable_n(N_LIKELIHOOD, likelihood_seconds_per_image(model, cfg), cfg.sample_cap / 2,
                                           100)
                if note:
                    row["notes"].append("likelihood on " + note.replace("sampling", "the bound").replace(" images", ""))
            metrics, proto = evaluate_model(model, cfg.data, data_dir=cfg.data_dir, n=n, n_real=cfg.n_real,
                                            seeds=(seed,), extractor=extractor, n_likelihood=n_lik,
                                            likelihood_per_example=True)
            row["parameters"] = sum(p.numel() for p in model.parameters())
            described = model.describe()
            if "free_parameters" in described:  # what a family counts itself (the table: 2^D - 1)
                row["free_parameters"] = described["free_parameters"]
            cells = model.likelihood_shape
            if cells is not None and tuple(cells) != tuple(model.shape):  # the table: cells, not pixels
                note = (f"samples are its {'x'.join(map(str, cells))} binary cells blown up to "
                        f"{'x'.join(map(str, model.shape))} pixels: it draws no finer (docs/LIKELIHOOD.md)")
                if note not in row["notes"]:
                    row["notes"].append(note)
            row["conditional"] = bool(model.conditional)
            if "likelihood_label" in proto.extra:
                row["likelihood_label"] = proto.extra["likelihood_label"]
                keep_likelihood(row, proto.extra.pop("likelihood_nats"), proto.extra, model_size(model))
            row["protocol"] = proto.to_json()
            per_seed_metrics.append({k: v["mean"] for k, v in metrics.items()})
            row["seeds"].append(seed)
            row["runs"].append({"seed": seed, "run": str(run_dir), "n_fake": n, **summary})
            model_used, train_used = family_options(family, cfg)
            row["options"] = {"preset": cfg.preset, "model": model_used, "train": train_used}
            if cfg.model_options.get(family) or cfg.train_options.get(family):
                row["given_options"] = {"model": cfg.model_options.get(family, {}),
                                        "train": cfg.train_options.get(family, {})}
            row["curve"][str(seed)] = curve
            if seed == cfg.seeds[0]:
                x, _ = draw_samples(model, 16, seed=seed)
                row["_sheet"] = x
            log(f"{family} seed {seed}: FID {metrics['fid']['mean']:.2f} after {summary['steps']} steps")
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 -- one family's failure must not stop the benchmark
            msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            row["notes"].append(f"seed {seed} failed: {msg}")
            row["traceback"] = traceback.format_exc(limit=6)
            log(f"{family} seed {seed}: FAILED {msg}")
    if not per_seed_metrics:
        row["status"] = "failed"
    row["metrics"] = summarize(per_seed_metrics)
    return row


def _family_in_process(family: str, cfg: BenchConfig) -> dict[str, Any]:
    """bench_family in a worker process of `bench_in_processes` (its own data, features and threads)."""
    from genlab.data import load_data
    from genlab.eval.features import get_extractor

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    data = load_data(cfg.data, split="train", data_dir=cfg.data_dir)
    extractor = get_extractor(cfg.features, cfg.data, data_dir=cfg.data_dir)
    return bench_family(family, cfg, data, extractor, lambda msg: print(msg, flush=True))


def bench_in_processes(families: list[str], cfg: BenchConfig, log) -> list[dict[str, Any]]:
    """The families' rows (in bench order), `cfg.jobs` at a time in worker processes with cfg.threads // jobs
    threads each; an ldm without --autoencoder starts once the autoencoder run it uses has finished."""
    import dataclasses
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    per = dataclasses.replace(cfg, threads=max(1, cfg.threads // cfg.jobs) if cfg.threads else 0)
    later = [f for f in families if f == "ldm" and not cfg.model_options.get(f, {}).get("autoencoder")]
    futures: dict[str, Any] = {}
    log(f"bench: {cfg.jobs} families at a time, {per.threads or 'all'} thread(s) each")
    with ProcessPoolExecutor(cfg.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            for f in families:
                if f not in later:
                    futures[f] = pool.submit(_family_in_process, f, per)
            if later:
                wait([futures[a] for a in AUTOENCODERS if a in futures])
                for f in later:
                    futures[f] = pool.submit(_family_in_process, f, per)
            rows = []
            for f in families:
                try:
                    rows.append(futures[f].result())
                except Exception as e:  # noqa: BLE001 -- a worker that died (memory, a signal) fails its row only
                    rows.append({"family": f, "capabilities": [], "status": "failed", "seeds": [], "runs": [],
                                 "curve": {}, "notes": [f"worker process failed: {type(e).__name__}: {e}"[:300]],
                                 "metrics": {}})
            return rows
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def reference_row(cfg: BenchConfig, data: Any, extractor: Any) -> dict[str, Any]:
    """Real training images scored like a model: the best a model can expect under this protocol."""
    from genlab.eval.features import real_subset
    from genlab.eval.protocol import evaluate_samples, summarize

    idx = real_subset(len(data), cfg.n, 0)
    x = data.images(idx)
    r = evaluate_samples(x, cfg.data, labels=data.labels(idx), n_real=cfg.n_real, data_dir=cfg.data_dir,
                         extractor=extractor)
    r.pop("protocol")
    return {"family": "real data (train split)", "capabilities": [], "status": "reference", "seeds": [0],
            "metrics": summarize([r]), "notes": [f"{len(idx)} training images instead of samples"],
            "_sheet": data.images(idx[:16])}


def run_bench(cfg: BenchConfig, *, log=print, command: str | None = None) -> dict[str, Any]:
    """Run the benchmark and write the leaderboard into cfg.out; returns the leaderboard dict."""
    from genlab.data import load_data
    from genlab.eval.features import describe, get_extractor
    from genlab.eval.leaderboard import write_leaderboard
    from genlab.eval.likelihood import likelihood_table
    from genlab.eval.metrics import ssim_note
    from genlab.eval.protocol import base_protocol

    validate(cfg, "--")  # every option checked before any folder is made or any work starts
    if not cfg.seeds:
        raise ValueError("--seeds needs at least one seed")
    families = resolve_families(cfg.families)
    cfg.family_names = families
    stray = sorted((set(cfg.model_options) | set(cfg.train_options)) - set(families))
    if stray:
        raise ValueError(f"options given for famil{'y' if len(stray) == 1 else 'ies'} {stray} not in this bench "
                         f"({', '.join(families)})")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(cfg.data, split="train", data_dir=cfg.data_dir)
    extractor = get_extractor(cfg.features, cfg.data, data_dir=cfg.data_dir)
    log(f"bench: {len(families)} families on {cfg.data}, {cfg.budget:.0f} CPU-s each, seeds {list(cfg.seeds)}; "
        f"features {extractor.name}")
    rows = [reference_row(cfg, data, extractor)]
    if cfg.jobs > 1 and len(families) > 1:
        rows += bench_in_processes(families, cfg, log)
    else:
        for family in families:
            rows.append(bench_family(family, cfg, data, extractor, log))
    d = describe(extractor)
    proto = base_protocol(dataset=cfg.data, split="test", n_real=min(cfg.n_real, 10 ** 9), n_fake=cfg.n,
                          features=d["name"], feature_hash=d["hash"], feature_weights_hash=d["weights_hash"],
                          feature_dim=d.get("dim", 0),
                          resize=d["resize"], seeds=list(cfg.seeds), kid_subsets=100, device="cpu",
                          wall_time_s=round(time.perf_counter() - t0, 1))
    for r in rows:
        if r.get("protocol"):
            proto.n_real, proto.kid_subset_size = r["protocol"]["n_real"], r["protocol"]["kid_subset_size"]
            proto.real_subset, proto.judge = r["protocol"]["real_subset"], r["protocol"]["judge"]
            break
    proto.extra = {"budget_cpu_s": cfg.budget, "budget_clock": "cpu", "config": {k: v for k, v in asdict(cfg).items()},
                   "feature_test_accuracy": d.get("test_accuracy"), "ssim_window": ssim_note(*data.shape[1:])}
    checked = next((r["protocol"]["extra"] for r in rows if "fid_check" in r.get("protocol", {}).get("extra", {})), {})
    proto.extra.update({k: checked[k] for k in ("fid_reliable", "fid_check") if k in checked})
    board = {"protocol": proto.to_json(), "rows": rows, "command": command,
             "likelihood": likelihood_table([r["_likelihood"] for r in rows if r.get("_likelihood")])}
    paths = write_leaderboard(board, out, command)
    log(f"leaderboard: {', '.join(str(p) for p in paths)}")
    return board


__all__ = ["BenchConfig", "bench_family", "parse_budget", "parse_family_options", "resolve_families", "run_bench"]


def likelihood_images(model: Any, n: int, floor: int = 100) -> int:
    """Test images for `genlab eval`'s likelihood of `model`: n, or for a conditional model, whose marginal -log p(x)
    costs one likelihood per class (docs/LIKELIHOOD.md), n / classes (at least `floor`, at most n), so that it costs
    about what an unconditional model's n do; the result's likelihood_n says how many were scored."""
    if not getattr(model, "conditional", False) or n <= 0:
        return n
    return min(n, max(floor, n // int(model.num_classes)))


def evaluate_run(run: str | Path, *, features: str = "classifier", n: int = 10000, n_real: int = 10000,
                 split: str = "test", seeds: Sequence[int] = (0,), iw_k: int = 1, n_recon: int = 1000,
                 n_likelihood: int = 1000, sample_options: dict[str, Any] | None = None, ema: bool = True,
                 out: str | Path | None = None, progress: bool = True) -> tuple[dict[str, Any], Any, Path]:
    """Evaluate a run folder and write RUN/metrics.json (or `out`); returns (metrics, protocol, path)."""
    from genlab.eval.protocol import save_result
    from genlab.eval.report import evaluate_model
    from genlab.runs import load_run

    r = load_run(run, ema=ema)
    dc = r.config.data
    if r.model.spec.kind != "image":  # tokens, pairs, image-text: the kind's own protocol (eval/kinds.py)
        return evaluate_run_of_kind(r, split=split, n=n, out=out)
    metrics, proto = evaluate_model(r.model, dc.name, data_dir=dc.data_dir, binarized=dc.binarize,
                                    features=features, n=n, n_real=n_real, split=split, seeds=seeds,
                                    n_recon=n_recon, n_likelihood=likelihood_images(r.model, n_likelihood), iw_k=iw_k,
                                    sample_options=sample_options, progress=progress)
    proto.extra.update({"run": str(r.path), "family": r.config.family, "step": r.step, "ema": ema})
    path = save_result(Path(out) if out else Path(run) / "metrics.json", metrics, proto)
    return metrics, proto, path


def evaluate_run_of_kind(r: Any, *, split: str, n: int, out: str | Path | None) -> tuple[dict[str, Any], Any, Path]:
    """`evaluate_run` for a run of tokens, image pairs or image-text: the kind's metrics on its held-out data."""
    import platform

    from genlab.eval.kinds import evaluate_kind
    from genlab.io import atomic_write_json
    from genlab.runs import load_training_data
    from genlab.version import __version__

    t0 = time.perf_counter()
    test = load_training_data(r.config.data, split=split)
    sizes = {"tokens": {"n_blocks": n}, "image-pair": {"n": n}, "image-text": {"n": n}}[r.model.spec.kind]
    # tokens: the unigram and bigram baselines are fitted on the run's training split
    train = {"train": load_training_data(r.config.data, split="train")} if r.model.spec.kind == "tokens" else {}
    metrics = evaluate_kind(r.model, test, **sizes, **train)
    proto = {"kind": r.model.spec.kind, "dataset": r.config.data.name, "split": split, **sizes,
             "run": str(r.path), "family": r.config.family, "step": r.step, "genlab_version": __version__,
             "cpu": platform.processor() or platform.machine(), "wall_time_s": round(time.perf_counter() - t0, 2)}
    path = Path(out) if out else r.path / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"metrics": metrics, "protocol": proto})
    return metrics, proto, path


def eval_command(target: Sequence[str], *, features: str = "classifier", n: int = 10000, n_real: int = 10000,
                 split: str = "test", seeds: Sequence[int] = (0,), iw_k: int = 1,
                 sample_options: dict[str, Any] | None = None, out: str | None = None, ema: bool = True,
                 rebuild: bool = False, data_dir: str | None = None, progress: bool = True) -> None:
    """`genlab eval RUN` (evaluate a run, print the table) or `genlab eval features DATA` (build or show
    the dataset's genlab classifier)."""
    target = list(target)
    if len(target) == 2 and target[0] == "features":
        from genlab.eval.classifier import WEIGHTS_DIR, classifier_dir, load_classifier

        clf = load_classifier(target[1], data_dir=data_dir, rebuild=rebuild, progress=progress)
        m = clf.meta
        acc = m.get("test_accuracy")
        where = (f"shipped with genlab ({WEIGHTS_DIR / clf.dataset}.safetensors)" if clf.origin == "shipped"
                 else f"trained on this machine, cached in {classifier_dir(clf.dataset, clf.hash)}")
        print(f"{clf.name} [recipe {clf.hash}, weights {clf.weights_hash}]: test accuracy "
              f"{'-' if acc is None else f'{acc:.4f}'}, {m.get('n_train')} training images, {clf.dim}-d features; "
              f"trained in {m.get('train_cpu_seconds')} CPU-s; {where}")
        return
    if len(target) != 1:
        raise ValueError("usage: genlab eval RUN [options]  or  genlab eval features DATA; got "
                         f"{' '.join(target) or 'nothing'}")
    metrics, proto, path = evaluate_run(target[0], features=features, n=n, n_real=n_real, split=split, seeds=seeds,
                                        iw_k=iw_k, sample_options=sample_options, ema=ema, out=out,
                                        progress=progress)
    from genlab.eval.report import metrics_table

    if isinstance(proto, dict):  # a kind other than images: one line per figure
        w = max(len(k) for k in metrics)
        print("\n".join(f"{k:<{w}}  {v:.4f}" if isinstance(v, float) else f"{k:<{w}}  {v}" for k, v in metrics.items()))
        print(f"protocol: {proto['kind']} metrics on {proto['dataset']}/{proto['split']}, run step {proto['step']}")
    else:
        print(metrics_table(metrics, proto))
    print(f"wrote {path}")
