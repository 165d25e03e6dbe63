"""Learned compression on MNIST and emoji (issue 17): rate-distortion of genlab's `cae` (quantized latents, a learned
factorized prior, ANS-coded by constriction) against JPEG, WebP and AVIF from Pillow, counting every byte of every
file.

    rate points  one `cae` per rate weight lambda in RATE_WEIGHTS (loss = MSE + lambda * bits per pixel), each
                 trained for up to STEPS steps of batch 64 on the training images (1 thread, fp32), reused
                 from RUNS when there; a run stopped early (SIGTERM saves a checkpoint) is measured as it is, and
                 the steps each point got are recorded
    per image    the first N test images, each compressed as a file of its own (header + bitstream) by every
                 codec at every quality setting: mean bytes per file, mean PSNR and SSIM of the decoded images
                 (genlab.eval.metrics; SSIM with the 11x11 window)
    mosaic       the first M test images tiled into one sqrt(M) x sqrt(M) mosaic, coded once by each codec at each
                 quality (so container headers are paid once), against one cae file holding the same M images:
                 bytes per image, PSNR and SSIM per tile
    held out     the per-image comparison again on test images H .. H + N (H = 5000 on MNIST, 200 on emoji): the
                 model's size and training were chosen by looking at the first N test images, these it was not
                 chosen on
    equal PSNR   for each cae rate point, the bytes a codec needs for the same mean PSNR (SSIM), by linear
                 interpolation of its curve; where the cae's quality is below everything the codec reaches, the
                 codec's smallest file is reported instead (flagged "below the codec's range")
    estimate     the bitstream's bits, less the 33 bits of the coder's starting state (the model's id), over the
                 entropy model's estimate (the bits of the symbols under the prior): per single-image file, and
                 for one file of many test images
    pictures     docs/images/apps/compress_rd_DATA.png (curves), compress_DATA.png (decoded images)

Emoji (--data emoji) are 32x32 colour images (3,608 training, 401 test): the same model with 8x8x12 latents,
trained for fewer steps (EMOJI_STEPS) on its 20x fewer images; the codecs code them in colour (RGB).

The issue's targets: >= 2x fewer bytes than the best of WebP and AVIF at equal PSNR, per image; the bitstream
within 2% of the estimate.

    .venv/bin/python benchmarks/apps_compress.py
    .venv/bin/python benchmarks/apps_compress.py --data emoji
    .venv/bin/python benchmarks/apps_compress.py --n 50 --mosaic 100 --out /tmp/c.json --images /tmp   # smoke run
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on CPU time

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from _common import ROOT, CpuTimer, write_result
from apps_common import RUNS, trained_run

from genlab.apps.compress import (
    CODEC_OPTIONS,
    CODECS,
    codec_round_trip,
    from_pillow_arrays,
    pillow_arrays,
    pillow_codecs,
)

RATE_WEIGHTS = (0.01, 0.003, 0.001)
STEPS = 20_000  # about 15 CPU-minutes per rate point on one thread
EMOJI_STEPS = 6_000
OPTIONS = {"channels": (48, 96), "latent_channels": 12, "mixture": 3, "quantizer": "mixed"}  # 7x7x12 latents
TRAIN = {"batch_size": 64, "lr": 2e-3, "precision": "fp32", "schedule": "cosine"}
HELD_OUT = {"mnist": 5000, "emoji": 200}  # the held-out check codes test images HELD_OUT .. HELD_OUT + n


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=("mnist", "emoji"), default="mnist")
    p.add_argument("--n", type=int, default=200, help="test images coded one file each")
    p.add_argument("--mosaic", type=int, default=400, help="test images in the mosaic (a square number)")
    p.add_argument("--many", type=int, default=2000, help="test images in the one-file estimate check (at most all)")
    p.add_argument("--out", type=Path, default=None,
                   help="result JSON (default benchmarks/results/apps_compress.json, apps_compress_emoji.json)")
    p.add_argument("--images", type=Path, default=ROOT / "docs" / "images" / "apps", help="picture folder")
    return p.parse_args(argv)


def steps_for(data: str) -> int:
    return STEPS if data == "mnist" else EMOJI_STEPS


def train_points(weights=RATE_WEIGHTS, verbose: bool = False, data: str = "mnist") -> list[tuple[float, object, float]]:
    """(lambda, run, CPU seconds spent training now) per rate weight; runs are kept under RUNS."""
    out = []
    for lam in weights:
        run, cpu = trained_run(data, steps=steps_for(data), runs=RUNS / f"cae-lambda{lam:g}", family="cae",
                               options={**OPTIONS, "rate_weight": lam}, train_options=TRAIN)
        if verbose:
            print(f"lambda {lam:g}: trained in {cpu} CPU-s", flush=True)
        out.append((lam, run, cpu))
    return out


# --- the codecs -------------------------------------------------------------------------------------------
def quality_of(x_hat: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    from genlab.eval.metrics import psnr, ssim

    return float(psnr(x_hat, x).mean()), float(ssim(x_hat, x).mean())


def codec_curve_per_image(x: torch.Tensor, fmt: str) -> list[dict]:
    arrs = pillow_arrays(x)
    points = []
    for q in CODECS[fmt]:
        sizes, decoded = zip(*(codec_round_trip(a, fmt, q) for a in arrs))
        x_hat = from_pillow_arrays(decoded)
        p, s = quality_of(x_hat, x)
        points.append({"quality": q, "bytes": float(np.mean(sizes)), "psnr": p, "ssim": s})
    return points


def tile(x: torch.Tensor) -> torch.Tensor:
    """(m, c, h, w) with m = k^2 -> (1, c, k h, k w), row-major."""
    k = math.isqrt(x.shape[0])
    _, c, h, w = x.shape
    return x.view(k, k, c, h, w).permute(2, 0, 3, 1, 4).reshape(1, c, k * h, k * w)


def untile(m: torch.Tensor, h: int, w: int) -> torch.Tensor:
    _, c, kh, kw = m.shape
    k = kh // h
    return m.view(c, k, h, k, w).permute(1, 3, 0, 2, 4).reshape(k * k, c, h, w)


def codec_curve_mosaic(x: torch.Tensor, fmt: str) -> list[dict]:
    mosaic = pillow_arrays(tile(x))[0]
    points = []
    for q in CODECS[fmt]:
        size, decoded = codec_round_trip(mosaic, fmt, q)
        x_hat = untile(from_pillow_arrays([decoded]), *x.shape[2:])
        p, s = quality_of(x_hat, x)
        points.append({"quality": q, "bytes": size / len(x), "psnr": p, "ssim": s})
    return points


# --- the cae ---------------------------------------------------------------------------------------------
def cae_per_image(model, x: torch.Tensor) -> dict:
    from genlab.apps.compress import compress, decompress

    sizes, streams, symbol_bits, estimates, decoded = [], [], [], [], []
    exact = True
    for i in range(len(x)):
        c = compress(model, x[i:i + 1])
        sizes.append(len(c.data))
        streams.append(8 * c.stream_bytes)
        symbol_bits.append(c.symbol_bits)
        estimates.append(float(c.estimated_bits.sum()))
        decoded.append(decompress(model, c.data))
        with torch.no_grad():  # the file's image is bit-identical to decoding its quantized latents directly
            exact = exact and torch.equal(decoded[-1], model.decode_symbols(model.quantize(x[i:i + 1])))
    x_hat = torch.cat(decoded)
    p, s = quality_of(x_hat, x)
    return {"bytes": float(np.mean(sizes)), "psnr": p, "ssim": s, "header bytes": c.header,
            "bitstream bytes (the model's id included)": float(np.mean(streams)) / 8,
            "estimated bytes": float(np.mean(estimates)) / 8,
            "bitstream less its starting state / estimate": float(np.sum(symbol_bits) / np.sum(estimates)),
            "decoded exactly": exact}


def cae_one_file(model, x: torch.Tensor) -> dict:
    from genlab.apps.compress import compress, decompress

    c = compress(model, x)
    x_hat = decompress(model, c.data)
    with torch.no_grad():
        exact = torch.equal(x_hat, model.decode_symbols(model.quantize(x)))
    p, s = quality_of(x_hat, x)
    estimate = float(c.estimated_bits.sum())
    return {"images": len(x), "file bytes": len(c.data), "bytes": len(c.data) / len(x), "psnr": p, "ssim": s,
            "bitstream less its starting state / estimate": c.symbol_bits / estimate, "decoded exactly": exact}


# --- comparisons -----------------------------------------------------------------------------------------
def bytes_at(curve: list[dict], key: str, value: float) -> dict:
    """The codec's bytes at quality `value` of `key` (psnr/ssim): interpolated on its curve."""
    pts = sorted(curve, key=lambda p: p["bytes"])
    qs = [p[key] for p in pts]
    if value < min(qs):
        smallest = pts[0]
        return {"bytes": smallest["bytes"], "note": f"below the codec's range: its smallest file has {key} "
                f"{smallest[key]:.3f}"}
    for a, b in zip(pts, pts[1:]):
        lo, hi = sorted((a[key], b[key]))
        if lo <= value <= hi and hi > lo:
            t = (value - a[key]) / (b[key] - a[key])
            return {"bytes": a["bytes"] + t * (b["bytes"] - a["bytes"])}
    if value > max(qs):
        return {"bytes": None, "note": "above the codec's range"}
    best = min((p for p in pts if p[key] >= value), key=lambda p: p["bytes"])  # a non-monotonic curve
    return {"bytes": best["bytes"]}


def compare(ours: dict, curves: dict[str, list[dict]]) -> dict:
    out = {}
    for key in ("psnr", "ssim"):
        row = {}
        for fmt, curve in curves.items():
            at = bytes_at(curve, key, ours[key])
            ratio = None if at["bytes"] is None else at["bytes"] / ours["bytes"]
            row[fmt] = {**at, "codec bytes / cae bytes": ratio}
        best = [row[f]["bytes"] for f in ("WEBP", "AVIF") if f in row and row[f]["bytes"] is not None]
        row["best of WebP and AVIF / cae"] = min(best) / ours["bytes"] if best else None
        out[f"equal {key}"] = row
    return out


def plot(points: list[dict], curves: dict, mosaic_curves: dict, path: Path, data: str = "mnist") -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    colors = {"JPEG": "tab:orange", "WEBP": "tab:green", "AVIF": "tab:purple"}
    panels = [(axes[0], curves, "per image", "psnr", "one file per image"),
              (axes[1], curves, "per image", "ssim", "one file per image"),
              (axes[2], mosaic_curves, "mosaic", "psnr", "one file of the mosaic")]
    for ax, codec_curves, which, key, title in panels:
        for fmt, curve in codec_curves.items():
            pts = sorted(curve, key=lambda p: p["bytes"])
            ax.plot([p["bytes"] for p in pts], [p[key] for p in pts], "o-", ms=3, color=colors[fmt], label=fmt)
        ours = [p[which] for p in points]
        ax.plot([p["bytes"] for p in ours], [p[key] for p in ours], "s-", color="tab:blue", label="cae (genlab)")
        ax.set_xscale("log")
        ax.set_xlabel("bytes per image (every byte of every file)")
        ax.set_ylabel("PSNR (dB)" if key == "psnr" else "SSIM")
        ax.set_title(f"{'MNIST' if data == 'mnist' else data} test, {title}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    print(f"wrote {path}")


def pictures(points, x: torch.Tensor, path: Path) -> None:
    """Originals, each cae rate point, and WebP at its quality 0 (its smallest), captioned with bytes."""
    from genlab.apps.compress import compress, decompress
    from genlab.viz.captions import save_captioned_grid

    rows, caps = [x], ["original"] * len(x)
    for p in points:
        model = p["run"].model
        files = [compress(model, x[i:i + 1]).data for i in range(len(x))]
        rows.append(torch.cat([decompress(model, d) for d in files]))
        caps += [f"cae {len(d)} B" for d in files]
    decoded = [codec_round_trip(a, "WEBP", 0) for a in pillow_arrays(x)]
    rows.append(from_pillow_arrays([d for _, d in decoded]))
    caps += [f"webp {n} B" for n, _ in decoded]
    save_captioned_grid(torch.cat(rows), caps, path, nrow=len(x), scale=3)


def main(argv=None) -> None:
    from genlab.data import load_data

    args = parse_args(argv)
    torch.set_num_threads(1)
    codecs = pillow_codecs()
    formats = [f for f in CODECS if codecs[f]]
    with CpuTimer() as total:
        test = load_data(args.data, split="test")
        held_out = HELD_OUT[args.data]
        if held_out + args.n > len(test):  # checked before any training
            raise SystemExit(f"--n {args.n} leaves no {args.n} held-out images after test image {held_out} "
                             f"({len(test)} test images); use a smaller --n")
        trained = train_points(data=args.data)
        x = test.images(slice(0, args.n))
        xm = test.images(slice(0, args.mosaic))
        curves = {f: codec_curve_per_image(x, f) for f in formats}
        x_held = test.images(slice(held_out, held_out + args.n))
        held_curves = {f: codec_curve_per_image(x_held, f) for f in formats}
        mosaic_curves = {f: codec_curve_mosaic(xm, f) for f in formats}
        points = []
        for lam, run, cpu in trained:
            model = run.model.eval()
            per_image = cae_per_image(model, x)
            held = cae_per_image(model, x_held)
            mosaic = cae_one_file(model, xm)
            many = cae_one_file(model, test.images(slice(0, min(args.many, len(test)))))
            points.append({"rate_weight": lam, "steps trained": run.step, "train_cpu_seconds": cpu, "run": run,
                           "per image": per_image,
                           "mosaic": mosaic, f"one file of {many['images']} test images": many,
                           "per image vs codecs": compare(per_image, curves),
                           "mosaic vs codecs": compare(mosaic, mosaic_curves),
                           "held out per image": held, "held out per image vs codecs": compare(held, held_curves)})
            print(lam, per_image, mosaic, many, flush=True)
        args.images.mkdir(parents=True, exist_ok=True)
        plot(points, curves, mosaic_curves, args.images / f"compress_rd_{args.data}.png", args.data)
        pictures(points, test.images(slice(0, 8)), args.images / f"compress_{args.data}.png")
    for p in points:
        p.pop("run")
    def worst(which: str) -> float | None:
        ratios = [p[which]["equal psnr"]["best of WebP and AVIF / cae"] for p in points]
        return min(r for r in ratios if r is not None) if any(r is not None for r in ratios) else None

    key = "per image: best of WebP and AVIF bytes / cae bytes at equal PSNR (worst rate point)"
    overhead_key = "per image: bitstream less its starting state / estimate (worst rate point; target <= 1.02)"
    held_key = f"held out (test images {held_out}-{held_out + len(x) - 1}): the same ratio (worst rate point)"
    figures = {"data": args.data, "pillow codecs": codecs,
               "model": {"family": "cae", "options": OPTIONS, "steps": steps_for(args.data),
                                                 "train": TRAIN, "rate weights": list(RATE_WEIGHTS)},
               "test images per image": len(x), "test images in the mosaic": len(xm),
               "codec settings": {f: {"qualities": CODECS[f], **CODEC_OPTIONS[f]} for f in formats},
               "cae rate points": points, "per image codec curves": curves, "mosaic codec curves": mosaic_curves,
               "held out per image codec curves": held_curves,
               key: worst("per image vs codecs"), held_key: worst("held out per image vs codecs"),
               overhead_key: max(p["per image"]["bitstream less its starting state / estimate"] for p in points),
               "cpu_seconds": round(total.cpu, 1)}
    if args.data == "mnist":
        headline = {"figure": key, "target": ">= 2", "met": figures[key] is not None and figures[key] >= 2}
    else:  # the 2x target is MNIST's; emoji's curves are reported
        headline = {"figure": key, "target": "reported (the 2x target is MNIST's)", "met": None}
    name = "apps_compress" if args.data == "mnist" else f"apps_compress_{args.data}"
    write_result(name, figures, threads=1, path=args.out,
                 notes=f"{args.data}; every byte of every file counted; equal PSNR by linear interpolation of each "
                       "codec's curve",
                 headline=headline)


if __name__ == "__main__":
    main()
