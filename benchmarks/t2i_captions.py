"""Text-to-image on captioned MNIST (or Fashion-MNIST): genlab's `t2i` (the ddpm U-Net conditioned on the
frozen text embedding of the clip run trained by benchmarks/clip_captions.py, classifier-free guidance on
the caption), trained for a CPU budget on one thread, then measured:

- class: genlab's own classifier (genlab.eval.classifier) must recognise the class named in the prompt
  ("a handwritten seven"; target >= 95% MNIST, >= 85% Fashion), per class and overall, for a training
  template and for a held-out one;
- CLIP score: 100 x mean cosine of genlab's clip image and prompt embeddings (real test images under
  the same prompts as the reference);
- FID per class on the classifier's penultimate features, against that class's test images;
- attributes asked for: thickness (MNIST) / brightness (Fashion) and size measured on samples of
  "a thick ..." vs "a thin ...", "a small ..." vs "a large ...";
- guidance scale w vs (CLIP score, FID, accuracy): the quality-diversity trade-off.

    .venv/bin/python benchmarks/t2i_captions.py train --data mnist-captions
    .venv/bin/python benchmarks/t2i_captions.py report --data mnist-captions
    .venv/bin/python benchmarks/t2i_captions.py train --data emoji-names
    .venv/bin/python benchmarks/t2i_captions.py emoji      # a grid of samples under held-out emoji names

Emoji (emoji-names) have no classifier: the emoji stage draws samples for the first held-out names
(names never seen in training), the real emoji first in each row, and reports the CLIP score of the samples
beside the real emoji's under the same prompts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import ROOT, write_result

RUNS = ROOT / "runs" / "bench"
IMAGES = ROOT / "docs" / "images"
BUDGET = {"mnist-captions": 600.0, "fashion-mnist-captions": 600.0, "emoji-names": 600.0}
N_EMOJI_PROMPTS, N_EMOJI_SAMPLES = 12, 7  # held-out names in the emoji grid, samples per name
CHANNELS = (16, 32, 32)  # a quarter of the 28 preset's FLOPs: ~4x the steps in the budget
TARGETS = {"mnist-captions": 0.95, "fashion-mnist-captions": 0.85}
CLASSIFIER = {"mnist-captions": "mnist", "fashion-mnist-captions": "fashion-mnist"}
N_CLASS, N_ATTR, N_CURVE, GUIDANCE, STEPS = 40, 20, 200, 3.0, 20
CURVE = (0.0, 1.0, 3.0, 6.0)
ATTRIBUTES = {"mnist-captions": (("thickness", "thin", "thick"), ("size", "small", "large")),
              "fashion-mnist-captions": (("brightness", "dark", "light"), ("size", "small", "large"))}


def run_dir(data: str) -> Path:
    return RUNS / f"t2i-{data}"


def clip_dir(data: str) -> Path:
    return RUNS / f"clip-{data}-words"


def train(args) -> None:
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train as train_run

    budget = args.budget or BUDGET[args.data]
    options = {"text_encoder": str(clip_dir(args.data)), "cond_drop": 0.1, "guidance": GUIDANCE,
               "channels": list(CHANNELS)}
    config = RunConfig("t2i", options, DataConfig(name=args.data),
                       TrainConfig(steps=10 ** 6, batch_size=64, lr=1e-3, warmup_steps=100, ema_decay=0.995,
                                   time_budget=budget, budget_clock="cpu", threads=1, precision="fp32",
                                   channels_last=True, log_every=100, seed=0, progress=False))
    print(train_run(config, run_dir(args.data), overwrite=True, runs_dir=RUNS).step)


def prompts(cs, k: int, words: tuple[str, ...] = (), template: str = "") -> str:
    return cs.fill(template or cs.train_templates[0], cs.train_names(k)[0], list(words))


class Sampler:
    def __init__(self, model, seed: int = 1234):
        self.model, self.g, self.cpu = model, __import__("torch").Generator().manual_seed(seed), 0.0

    def __call__(self, prompt: str, n: int, guidance: float):
        t = time.process_time()
        x = self.model.sample(n, cond=prompt, generator=self.g, steps=STEPS, guidance=guidance).x
        self.cpu += time.process_time() - t
        return x


def clip_score(clip, x, prompt: str) -> float:
    import torch

    with torch.no_grad():
        return float(100 * (clip.embed_images(x) @ clip.embed_prompts([prompt])[0]).clamp_min(0).mean())


def report(args) -> None:
    import torch

    from genlab.data import load_data
    from genlab.data.captioned import CAPTION_SETS
    from genlab.data.captions import measure
    from genlab.eval.classifier import load_classifier
    from genlab.eval.metrics import fid
    from genlab.runs import load_run
    from genlab.viz.captions import save_prompt_rows

    torch.set_num_threads(1)
    data, cs = args.data, CAPTION_SETS[args.data]
    model = load_run(run_dir(data)).model.eval()
    model.net.to(memory_format=torch.channels_last)
    clip = model.clip
    clf = load_classifier(CLASSIFIER[data])
    test = load_data(data, split="test")
    real_feats = clf.features(test.images())
    sample = Sampler(model)
    K = len(cs.names)
    figures: dict = {"data": data, "guidance": GUIDANCE, "steps": STEPS, "sampler": model.config.sampler}

    # 1. the named class, CLIP score and FID per class, for a training and a held-out template
    for key, template in (("train_template", cs.train_templates[0]), ("heldout_template", cs.heldout_templates[0])):
        per_class, rows = {}, []
        for k in range(K):
            p = prompts(cs, k, template=template)
            x = sample(p, N_CLASS, GUIDANCE)
            feats, logits = clf.features_and_logits(x)
            real = test.images(torch.nonzero(test.y == k).flatten())
            per_class[p] = {"accuracy": round(float((logits.argmax(1) == k).float().mean()), 4),
                            "clip_score": round(clip_score(clip, x, p), 2),
                            "clip_score_real": round(clip_score(clip, real, p), 2),
                            "fid_class": round(float(fid(real_feats[test.y == k], feats)), 3)}
            rows.append((p, x[:10]))
        acc = sum(v["accuracy"] for v in per_class.values()) / K
        figures[key] = {"template": template, "accuracy": round(acc, 4), "n_per_class": N_CLASS,
                        "clip_score": round(sum(v["clip_score"] for v in per_class.values()) / K, 2),
                        "clip_score_real": round(sum(v["clip_score_real"] for v in per_class.values()) / K, 2),
                        "per_class": per_class}
        print(key, json.dumps(figures[key])[:400], flush=True)
        if key == "train_template":
            save_prompt_rows(rows, IMAGES / f"t2i_{data.split('-')[0]}_classes.png")

    # 2. attributes asked for: measured on the samples of each word, over every class
    attrs: dict = {}
    for name, low, high in ATTRIBUTES[data]:
        vals = {}
        for word in (low, high):
            xs = torch.cat([sample(prompts(cs, k, (word,)), N_ATTR, GUIDANCE) for k in range(K)])
            vals[word] = measure(xs)[name]
        per = {w: v.view(K, N_ATTR).mean(1) for w, v in vals.items()}  # (K,) class means
        wins = int((per[high] > per[low]).sum())
        real = measure(test.x)[name]
        attrs[name] = {f"mean_{low}": round(float(vals[low].mean()), 4),
                       f"mean_{high}": round(float(vals[high].mean()), 4),
                       "mean_real_test": round(float(real.mean()), 4),
                       f"classes_where_{high}_exceeds_{low}": wins, "n_per_word_per_class": N_ATTR}
        print(name, attrs[name], flush=True)
    figures["attributes"] = attrs

    # 3. guidance scale vs (CLIP score, FID, accuracy)
    curve = {}
    for w in CURVE:
        xs, ys, scores = [], [], []
        for k in range(K):
            p = prompts(cs, k)
            x = sample(p, N_CURVE // K, w)
            xs.append(x)
            ys.append(torch.full((x.shape[0],), k))
            scores.append(clip_score(clip, x, p))
        x, y = torch.cat(xs), torch.cat(ys)
        feats, logits = clf.features_and_logits(x)
        curve[str(w)] = {"clip_score": round(sum(scores) / K, 2), "fid": round(float(fid(real_feats, feats)), 3),
                         "accuracy": round(float((logits.argmax(1) == y).float().mean()), 4), "n": x.shape[0]}
        print("w", w, curve[str(w)], flush=True)
    figures["guidance_curve"] = curve
    plot_curve(curve, IMAGES / f"t2i_{data.split('-')[0]}_guidance.png", data)
    figures["sampling_cpu_seconds"] = round(sample.cpu, 1)
    figures["train"] = train_summary(run_dir(data))
    figures["accuracy"] = figures["train_template"]["accuracy"]
    write_result(f"t2i_{data.replace('-', '_')}", figures,
                 f"t2i on {data}: the ddpm U-Net (channels {'/'.join(map(str, CHANNELS))}) conditioned on the "
                 f"frozen text embedding of {clip_dir(data).name}, trained {BUDGET[data]:.0f} CPU-seconds on one "
                 "thread (batch 64, EMA 0.995); "
                 f"DPM-Solver++(2M) {STEPS} steps, guidance {GUIDANCE}. FID on genlab's classifier features "
                 f"(per class: {N_CLASS} samples vs that class's test images; curve: {N_CURVE} samples vs all test "
                 "images): compare only numbers with the same n.", threads=1,
                 headline={"figure": "accuracy", "target": f">= {TARGETS[data]:.2f}",
                           "met": figures["accuracy"] >= TARGETS[data]})


def train_summary(run: Path) -> dict:
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    cfg = json.loads((run / "config.json").read_text())
    return {"steps": lines[-1]["step"], "final_loss": round(lines[-1]["loss"], 5),
            "budget_cpu_seconds": cfg["train"]["time_budget"]}


def plot_curve(curve: dict, path: Path, data: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = [float(w) for w in curve]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot([curve[str(w)]["fid"] for w in ws], [curve[str(w)]["clip_score"] for w in ws], "o-")
    for w in ws:
        ax.annotate(f"w={w:g}", (curve[str(w)]["fid"], curve[str(w)]["clip_score"]), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    ax.set_xlabel(f"classifier-FID (n={N_CURVE}, lower = closer to real)")
    ax.set_ylabel("CLIP score (genlab clip)")
    ax.set_title(f"t2i on {data}: guidance scale w")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def emoji(args) -> None:
    """Samples under held-out emoji names beside the real emoji: docs/images/t2i_emoji_heldout.png."""
    import torch

    from genlab.data import load_data
    from genlab.runs import load_run
    from genlab.viz.captions import save_prompt_rows

    torch.set_num_threads(1)
    data = "emoji-names"
    model = load_run(run_dir(data)).model.eval()
    test = load_data(data, split="test")  # held-out names
    sample, rows, scores = Sampler(model), [], []
    for i in range(N_EMOJI_PROMPTS):
        prompt = test.captions[i][-1]  # the full template, e.g. "a keycap 8 emoji"
        x = sample(prompt, N_EMOJI_SAMPLES, GUIDANCE)
        real = test.images(slice(i, i + 1))
        scores.append({"prompt": prompt, "clip_score": round(clip_score(model.clip, x, prompt), 2),
                       "clip_score_real": round(clip_score(model.clip, real, prompt), 2)})
        rows.append((prompt + " (real first)", torch.cat([real, x])))
    path = IMAGES / "t2i_emoji_heldout.png"
    save_prompt_rows(rows, path)
    figures = {"data": data, "heldout_prompts": N_EMOJI_PROMPTS, "samples_per_prompt": N_EMOJI_SAMPLES,
               "guidance": GUIDANCE, "steps": STEPS,
               "clip_score": round(sum(r["clip_score"] for r in scores) / len(scores), 2),
               "clip_score_real": round(sum(r["clip_score_real"] for r in scores) / len(scores), 2),
               "per_prompt": scores, "grid": str(path.relative_to(ROOT)),
               "train": json.loads((run_dir(data) / "metrics.jsonl").read_text().splitlines()[-1])}
    write_result("t2i_emoji_names", figures, notes="t2i trained on emoji-names (the clip run of "
                 "benchmarks/clip_captions.py as its text encoder) for the budget on one thread; samples under "
                 "the first held-out names, never seen in training. CLIP score: 100 x mean cosine of genlab's "
                 "clip embeddings of image and prompt, the real emoji under the same prompt as the reference.",
                 threads=1)
    print(json.dumps(figures)[:600])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["train", "report", "emoji"])
    ap.add_argument("--data", default="emoji-names", choices=sorted(BUDGET))
    ap.add_argument("--budget", type=float, default=0.0, help="CPU seconds (default: per dataset)")
    args = ap.parse_args()
    {"train": train, "report": report, "emoji": emoji}[args.stage](args)


if __name__ == "__main__":
    main()
