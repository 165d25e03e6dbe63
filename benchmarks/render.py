"""Regenerate docs/BENCHMARKS.md from benchmarks/results/*.json.

    .venv/bin/python benchmarks/render.py

Each result file holds {"name", "figures", "command", "machine", "date", "notes"} and optionally
"headline": {"figure": <a key of figures>, "target": "<text>", "met": true|false} (see _common.py).
The page opens with a summary table (one headline row per benchmark, with its target), then one
section per benchmark: its figures, the exact command, the machine and the date. Do not edit
docs/BENCHMARKS.md by hand: change a script, rerun it, and rerun this.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "BENCHMARKS.md"

# name -> (title, headline figure keys (first found wins), target text, pass test or None)
KNOWN = {
    "vae_vs_pythae": ("MLP VAE training throughput: genlab vs pythae",
                      ["ratio genlab / pythae, interleaved steps, CPU time (headline)"], ">= 1.5x", lambda v: v >= 1.5),
    "vae_throughput": ("Conv VAE training throughput (genlab defaults, batch 128)",
                       ["fp32 channels_last, images/s"], "", None),
    "vae_nll": ("Conv VAE test NLL on dynamically binarized MNIST (20 CPU-minutes)",
                ["test NLL (IWAE k=100), nats"], "<= 90 nats", lambda v: v <= 90.0),
    "vae_nll_quick": ("Conv VAE test NLL, quick smoke version (60 CPU-seconds)",
                      ["test NLL (IWAE k=100), nats"], "smoke test only", None),
    "demo": ("Demo wall time and peak memory", ["wall", "peak", "memory"], "", None),
    "eval_classifiers": ("genlab feature classifiers: test accuracy",
                         ["mnist > test accuracy"], ">= 0.993 (MNIST), >= 0.91 (Fashion-MNIST)", lambda v: v >= 0.993),
    "eval_inception_check": ("Inception-v3 FID known-result check",
                             ["ratio cross / same"], "FID(MNIST, Fashion) >> FID(MNIST train, test)", lambda v: v > 3),
    "eval_speed": ("Evaluation speed: FID, KID, precision/recall, density/coverage, 10k vs 10k, features included",
                   ["whole evaluation, cold (s)"], "< 30 s", lambda v: v < 30),
    "bench_leaderboard": ("MNIST leaderboard: every image family, 10 CPU-minutes each, one `genlab bench` command",
                          ["best family by FID"], "legible digits from every image family (issue 22)", None),
    "bench_leaderboard_flow": ("MNIST leaderboard, flow alone: rerun after its sampling fix",
                               ["best FID (genlab-mnist classifier)"], "a row for the flow the leaderboard lost", None),
    "bench_leaderboard_autoencoders": ("MNIST leaderboard, ae, dae and cae alone: rerun with the code prior",
                                       ["best FID (genlab-mnist classifier)"],
                                       "legible digits from the autoencoders (issue 22)", None),
    "gan_speed": ("GAN sampling speed: one generator forward pass per image",
                  ["dcgan > images/s"], "reported beside the diffusion sampler", None),
    "diffusion_sampling": ("Diffusion sampling throughput: 20 guided DPM-Solver++ steps, genlab vs diffusers",
                           ["speedup_wall"], ">= 2x", lambda v: v >= 2),
    "diffusion_sampling_precision": ("Diffusion sampling in bf16 against fp32: speed and classifier-FID",
                                     ["bf16 speed-up (CPU time)"], "FID unchanged within noise", None),
    "text_peer": ("Character GPT: genlab (precision auto) vs transformers GPT-2 at equal CPU time",
                  ["tokens per CPU-s, genlab / transformers"], ">= 1.3x and valid loss no worse",
                  lambda v: v >= 1.3),
    "text_peer_bf16": ("Character GPT, like for like in bf16: genlab vs transformers GPT-2 under bf16 autocast",
                       ["tokens per CPU-s, genlab / transformers"], "side by side (no target)", None),
    "precision_speed": ("bf16 against fp32 training steps (ddpm, conv VAE) and what precision auto picks",
                        ["bf16 speed-up, ddpm"], ">= 2x on a CPU with native bf16", lambda v: v >= 2),
    "compile_speed": ("--train.compile against eager: the trainer's step, compiled and not (pixelcnn, conv VAE)",
                      ["pixelcnn > speed-up (eager / compiled)"], "side by side (no target)", None),
    "gan_mnist": ("GANs on MNIST after 10 CPU-minutes each: coverage, classifier-FID vs the VAE, cgan accuracy",
                  ["summary"], "all 10 classes, max/min <= 2, FID below the VAE's; cgan accuracy >= 95%", "all"),
    "gan_toy": ("Toy GANs: 1-D mixture of 4 and 2-D ring of 8 Gaussians", ["2-D ring of 8 (radius 2, std 0.02)"],
                "all modes covered", "any"),
    "classical_mnist": ("Classical latent models on MNIST: fit time, exact bits/dim, reconstruction, missing pixels",
                        ["max fit wall seconds"], "< 60 s per family", lambda v: v < 60),
    "classical_mnist_quick": ("Classical latent models, quick smoke version (5k training images)",
                              ["max fit wall seconds"], "smoke test only", None),
    "diffusion_quality": ("Unconditional MNIST diffusion: genlab ddpm defaults vs diffusers at equal steps (2,157)",
                          ["final_fid_ratio_ddim50"], "FID <= 0.8x diffusers' (same sampler)", lambda v: v <= 0.8),
    "diffusion_guided_quality": ("Class-conditional diffusion after 30 CPU-minutes each (older protocol)",
                                 ["fid_ratio_genlab_over_diffusers"], "side by side", None),
    "diffusion_speed": ("Diffusion training speed: genlab vs diffusers at equal parameters and FLOPs",
                        ["speedup_wall"], ">= 3x", lambda v: v >= 3),
    "clip_mnist_captions": ("clip on captioned MNIST: zero-shot and retrieval, word transformer vs bag of words",
                            [], ">= 0.97", None),
    "clip_fashion_mnist_captions": ("clip on captioned Fashion-MNIST: zero-shot and retrieval, word transformer vs bag "
                                    "of words", [], ">= 0.80", None),
    "clip_emoji_names": ("clip on emoji names: retrieval among held-out emoji by name", [], "beside the baseline",
                         None),
    "t2i_mnist_captions": ("Text-to-image on captioned MNIST: the named class, CLIP score, FID, attributes, guidance",
                           [], ">= 0.95", None),
    "t2i_fashion_mnist_captions": ("Text-to-image on captioned Fashion-MNIST: the named class, CLIP score, FID, "
                                   "attributes, guidance", ["accuracy"], ">= 0.85", lambda v: v >= 0.85),
    "t2i_emoji_names": ("Text-to-image under held-out emoji names: a grid of samples beside the real emoji",
                        ["clip_score"], "a grid looked at and described (docs/CLIP.md)", None),
    "apps_anomaly_one-class-deep_mnist": ("One-class MNIST with the deep likelihoods (flow, pixelcnn, ddpm; 45 CPU-s "
                                          "per class)", ["one-class mnist > best mean AUROC"], "", None),
    "apps_anomaly_one-class-deep_fashion-mnist": ("One-class Fashion-MNIST with the deep likelihoods (flow, pixelcnn, "
                                                  "ddpm; 45 CPU-s per class)",
                                                  ["one-class fashion-mnist > best mean AUROC"], "", None),
}
KNOWN.update({
    "i2i_sr": ("Super-resolution x2/x4 on MNIST and emoji: sr vs Pillow bicubic/Lanczos; srgan's perception-distortion",
               ["all_targets_met"], "sr >= bicubic + 3 dB; srgan lower FID, higher precision than sr", None),
    "i2i_pix2pix": ("pix2pix, Sobel edges -> MNIST digit: the classifier recognises the source digit",
                    ["target_met"], ">= 95% of outputs", None),
    "i2i_pix2pix_grey_emoji": ("pix2pix, greyscale -> colour on emoji (a demonstration)", ["pix2pix"],
                               "no target", None),
    "i2i_cyclegan": ("CycleGAN, MNIST thin <-> thick strokes (unpaired): cycle error, FID", ["cycle_error_a"],
                     "reported (no numeric target)", None),
})
ORDER = ["vae_vs_pythae", "vae_throughput", "vae_nll", "vae_nll_quick", "demo", "eval_classifiers", "eval_speed",
         "eval_inception_check", "bench_leaderboard", "bench_leaderboard_flow", "bench_leaderboard_autoencoders",
         "gan_mnist", "gan_toy", "gan_speed",
         "diffusion_speed",
         "diffusion_sampling", "diffusion_sampling_precision", "precision_speed", "compile_speed",
         "diffusion_quality", "diffusion_guided_quality", "classical_mnist",
         "classical_mnist_quick"]

PREAMBLE = """\
# Benchmarks

Generated by `benchmarks/render.py` from `benchmarks/results/*.json`; do not edit by hand. Each
benchmark is a script `benchmarks/<name>.py` (see `benchmarks/README.md`): rerun it, then rerun
`.venv/bin/python benchmarks/render.py`.

How to read the figures:
- Measured on a shared 2-core CPU machine while other jobs ran (the load average is often 5-15), so wall-clock
  figures swing a lot from run to run. Comparisons are therefore made side by side in one process, alternating
  the variants, and reported as medians; figures per CPU-second (process CPU time, all threads) are steadier
  than images per wall second. Budgets are CPU-time budgets (`TrainConfig.budget_clock="cpu"`).
- The scripts set `OMP_WAIT_POLICY=PASSIVE` before importing torch (unless the environment sets it): with
  libgomp's default spin-waiting, a 2-thread training step on this busy machine burned ~14x the CPU time.
- `machine.cpu_capability` is the instruction set torch dispatches to. On a CPU without native bf16 (no
  AVX-512 BF16/AMX, e.g. capability "AVX2") bf16 autocast is emulated and several times *slower* than fp32.
"""


def fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 1e6:
            return f"{value:.4g}"
        digits = 4 if 0 < abs(value) < 1 else 2  # accuracies and ratios below 1 keep their precision
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, separators=(", ", ": ")) + "`"
    return str(value).replace("|", "\\|")


def headline(name: str, figures: dict, own: dict | None = None) -> tuple[str, str, str]:
    """(figure name, value, status) for the summary table; a result's own "headline" entry
    ({"figure": key, "target": text, "met": bool}) wins over the KNOWN table."""
    if own and own.get("figure") in figures:
        met = own.get("met")
        status = "" if met is None else ("meets target" if met else "misses target")
        return own["figure"], fmt(figures[own["figure"]]), status
    _, keys, target, check = KNOWN.get(name, (name, [], "", None))
    for key in keys:
        if " > " in key:  # a figure inside a group, e.g. "mnist > test accuracy"
            group, _, inner = key.partition(" > ")
            if isinstance(figures.get(group), dict) and inner in figures[group]:
                value = figures[group][inner]
                status = "" if check is None else ("meets target" if check(value) else "misses target")
                return key, fmt(value), status
            continue
        hits = [k for k in figures if k == key] or [k for k in figures if key in k.lower()]
        if hits and isinstance(figures[hits[0]], dict) and check in ("all", "any"):
            return hits[0], *target_count(figures[hits[0]], check)
        if hits:
            value = figures[hits[0]]
            status = ""
            if check is not None and isinstance(value, (int, float)):
                status = "meets target" if check(value) else "misses target"
            return hits[0], fmt(value), status
    return "", "", ""


def target_count(group: dict, mode: str) -> tuple[str, str]:
    """A group of per-case results as (value, status). mode "all": every boolean inside must be true
    (e.g. gan_mnist's summary); mode "any": some case covers every mode ("k / k" strings)."""
    if mode == "all":
        flags = [v for row in group.values() if isinstance(row, dict) for v in row.values() if isinstance(v, bool)]
        met = sum(flags)
        return f"{met} of {len(flags)} checks met", "meets target" if met == len(flags) else "misses target"
    full = [name for name, row in group.items() if isinstance(row, dict)
            and str(row.get("modes covered", "")).split(" / ")[0] == str(row.get("modes covered", "")).split(" / ")[-1]]
    status = "meets target" if full else "misses target"
    return f"all modes: {', '.join(full) or 'none'}", status


def machine_text(m: dict) -> str:
    parts = [m.get("cpu", "?"), f"{m.get('cores', '?')} cores", f"{m.get('threads', '?')} torch threads",
             f"torch {m.get('torch', '?')}"]
    if m.get("cpu_capability"):
        parts.append(f"capability {m['cpu_capability']}")
    if m.get("OMP_WAIT_POLICY"):
        parts.append(f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}")
    if "device" in m and m["device"] != "cpu":
        gpu = f" ({m['gpu']}, CUDA {m.get('cuda', '?')})" if m.get("gpu") else ""
        parts.append(f"device {m['device']}{gpu}")
    return ", ".join(str(p) for p in parts)


def load_results() -> dict[str, dict]:
    out = {}
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        out[data.get("name", path.stem)] = data
    return out


def render(results: dict[str, dict]) -> str:
    names = [n for n in ORDER if n in results] + sorted(n for n in results if n not in ORDER)
    lines = [PREAMBLE, "## Summary", "", "| benchmark | headline figure | value | target | status | date |",
             "|---|---|---|---|---|---|"]
    for name in names:
        r = results[name]
        own = r.get("headline") if isinstance(r.get("headline"), dict) else None
        key, value, status = headline(name, r.get("figures", {}), own)
        target = (own or {}).get("target") or KNOWN.get(name, ("", [], "", None))[2]
        lines.append(f"| [{name}](#{name}) | {key} | {value} | {target} | {status} | "
                     f"{r.get('date', '')[:10]} |")
    if "demo" not in results:
        lines.append("| demo | demo wall time and peak memory | not measured yet (benchmarks/results/demo.json "
                     "missing) | | | |")
    lines.append("")
    for name in names:
        r = results[name]
        title = KNOWN.get(name, (name,))[0]
        lines += [f"## {name}", "", f"**{title}**", "", "| figure | value |", "|---|---|"]
        lines += [f"| {fmt(k)} | {fmt(v)} |" for k, v in r.get("figures", {}).items()]
        lines += ["", f"- command: `{r.get('command', '')}`", f"- machine: {machine_text(r.get('machine', {}))}",
                  f"- date: {r.get('date', '')}"]
        if r.get("notes"):
            lines.append(f"- notes: {r['notes']}")
        lines.append("")
        if r.get("markdown"):  # a full table the benchmark wrote (the leaderboard), headings demoted
            body = "\n".join(("##" + ln) if ln.startswith("#") else ln for ln in r["markdown"].strip().splitlines())
            lines += [body, ""]
        pictures = [v for v in r.get("figures", {}).values() if isinstance(v, str) and v.startswith("docs/images/")
                    and v.endswith(".png")]
        if pictures:
            lines += [" ".join(f"![{Path(v).stem}]({v.removeprefix('docs/')})" for v in pictures), ""]
    return "\n".join(lines)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(load_results()))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
