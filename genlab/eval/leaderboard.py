"""The leaderboard files of `genlab bench`: leaderboard.md (sample quality, reconstruction, the likelihood
table), leaderboard.json, contact_sheet.png and quality_vs_time.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

SAMPLE_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "class_accuracy",
               "sample_seconds_per_1k")
EXTRA_KEYS = ("mse", "psnr", "ssim", "nll_nats", "bits_per_dim")


def _sort_key(row: dict[str, Any], by_fid: bool = True) -> tuple:
    """Reference first, then the families by FID (in bench order when FID is withheld), failures last."""
    order = {"reference": 0, "ok": 1, "failed": 2}[row["status"]]
    fid = row.get("metrics", {}).get("fid", {}).get("mean", math.inf) if by_fid else 0.0
    return (order, fid)


def _preset_words(p: dict[str, Any]) -> str:
    """What the families' defaults were: the cpu recipes, the papers' settings, or (a bench before presets)
    their config defaults."""
    preset = p.get("extra", {}).get("config", {}).get("preset")
    return {"cpu": "its CPU recipe (--preset cpu, genlab/models/recipes.py)",
            "paper": "the papers' settings (--preset paper)"}.get(preset, "its default options")


def _protocol_lines(p: dict[str, Any], command: str | None) -> list[str]:
    from genlab.eval.report import network_id

    hw = p.get("hardware", {})
    budget = p.get("extra", {}).get("budget_cpu_s", 0)
    acc = p.get("extra", {}).get("feature_test_accuracy")
    acc_s = f", test accuracy {acc:.4f}" if isinstance(acc, float) else ""
    lines = [(f"- data: {p['dataset']}; real reference: {p['n_real']} images of the {p['split']} split "
             f"({p.get('real_subset', 'all')}); generated: {p['n_fake']} per family and seed (fewer where noted)"),
             (f"- training: {budget:.0f} CPU-seconds per family and seed (process CPU time, all threads), each "
              f"family with {_preset_words(p)} and the options its row lists; seeds " +
              ", ".join(map(str, p["seeds"])) +
              " (mean ± sample std over seeds)"),
             (f"- features: {p['features']} [{network_id(p)}]{acc_s}, resize {p['resize']}; KID subsets "
             f"{p['kid_subsets']} x {p.get('kid_subset_size', 0)}; precision/recall k={p['k_pr']}, "
             f"density/coverage k={p['k_dc']}; IS and class accuracy by {p.get('judge') or 'the same classifier'}"),
             (f"- machine: {hw.get('cpu', '?')}, {hw.get('cores', '?')} cores, {hw.get('threads', '?')} threads, "
             f"torch {hw.get('torch', '?')}; genlab {p['genlab_version']}; {p['date']}; whole benchmark "
             f"{p['wall_time_s'] / 60:.1f} wall-minutes")]
    if command:
        lines.insert(0, f"- command: `{command}`")
    return lines


def markdown(board: dict[str, Any], command: str | None = None) -> str:
    """The leaderboard as markdown: sample quality, then reconstruction / likelihood, then the protocol."""
    from genlab.eval.protocol import Protocol
    from genlab.eval.report import COLUMNS, cell, fid_check_line, fid_withheld, fmt, heading

    p = board["protocol"]
    proto = Protocol.from_json(p)
    withheld = fid_withheld(p)
    rows = sorted(board["rows"], key=lambda r: _sort_key(r, by_fid=not withheld))
    keys = [k for k in SAMPLE_KEYS if any(k in r.get("metrics", {}) for r in rows)]
    head = ["#", "family", "steps", "train CPU-s"] + [heading(k, proto) for k in keys] + ["notes"]
    out = [f"### {p['dataset']} leaderboard ({len([r for r in rows if r['status'] != 'reference'])} families)", ""]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rank = 0
    for r in rows:
        m = r.get("metrics", {})
        runs = r.get("runs", [])
        steps = "/".join(str(x["steps"]) for x in runs) if runs else "-"
        cpu = f"{np.mean([x['train_cpu_s'] for x in runs]):.0f}" if runs else "-"
        if r["status"] == "ok":
            rank += 1
        num = str(rank) if r["status"] == "ok" else ""
        cells = [num, r["family"], steps, cpu] + [cell(m, k, p) for k in keys]
        notes = "; ".join(r.get("notes", [])) or ""
        given = r.get("given_options") or ({} if "preset" in r.get("options", {}) else r.get("options"))
        if given:  # a bench before presets kept only the options given, as "options"
            opts = {k: v for k, v in given.items() if v}
            notes = "; ".join(x for x in (f"options {json.dumps(opts)}", notes) if x)
        if r.get("options", {}).get("preset") == "paper":
            notes = "; ".join(x for x in ("the papers' settings", notes) if x)
        if r["status"] == "failed":
            notes = "FAILED: " + notes
        out.append("| " + " | ".join(cells + [notes.replace("|", "/")]) + " |")
    check = fid_check_line(p)
    if check:
        out += ["", check[1:-1] + (" Rows are in bench order, not ranked." if withheld else "")]
    extra = [r for r in rows if any(k in r.get("metrics", {}) for k in EXTRA_KEYS)]
    if extra:
        ekeys = [k for k in EXTRA_KEYS if any(k in r["metrics"] for r in extra)]
        out += ["", "| family | " + " | ".join(COLUMNS[k][0] for k in ekeys) + " | likelihood is |",
                "|" + "---|" * (len(ekeys) + 2)]
        for r in extra:
            out.append(f"| {r['family']} | " + " | ".join(fmt(r['metrics'].get(k), k) for k in ekeys) +
                       f" | {r.get('likelihood_label', '-')} |")
        out.append("")
        window = p.get("extra", {}).get("ssim_window", "an 11x11 Gaussian window, or the largest odd size that fits")
        out.append(f"Reconstruction: first 1000 test images (MSE per pixel, PSNR, SSIM with {window}). "
                   "Likelihood: first 1000 test images, labelled with what the number is.")
    out += likelihood_section(board.get("likelihood"), p["dataset"])
    out += ["", "Protocol:", *_protocol_lines(p, command)]
    return "\n".join(out) + "\n"


def _count(row: dict[str, Any]) -> str:
    if "parameters" not in row:
        return "-"
    return f"{row['parameters']:,}" + {"free": " free", "fitted": " fitted"}.get(row.get("parameters_of", ""), "")


def likelihood_section(table: dict[str, Any] | None, dataset: str) -> list[str]:
    """The likelihood table (`genlab.eval.likelihood.likelihood_table`) as markdown lines: one scale, the
    same test images for every family, each value labelled exact or a bound and with what it is of."""
    if not table or not table.get("rows"):
        return []
    out = ["", f"### Likelihood on one scale ({dataset}, the same first {table['n']} test images for every family)", "",
           "| family | value | units | claim | of | D | nats/image | bits/dim | parameters |", "|" + "---|" * 9]
    for r in table["rows"]:
        out.append(f"| {r['family']} | {r['value']:.3f} | {r['units']} | {r['claim']} | {r['note']} | {r['dims']} | "
                   f"{r['nll_nats']:.2f} | {r['bits_per_dim']:.4f} | {_count(r)} |")
    out += ["", "Units: bits/dim on 8-bit pixels (a dequantized density's number is its bound on the probability "
            "mass of the 256 levels, the same scale as a mass); nats per image on binary data. Values compare only "
            "between rows of the same data and D. \"exact\" is the model's NLL of these images; an upper bound "
            "(negative ELBO, IWAE k) lies above the model's true NLL by an unknown gap, so a bound below another "
            "family's exact value shows the bounded family is better, and a bound above it shows nothing. "
            "docs/LIKELIHOOD.md."]
    return out


def _label_strip(text: str, height: int, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(img).text((4, height // 2 - 6), text, fill="black")
    return np.asarray(img)


def contact_sheet(rows: list[dict[str, Any]], path: Path, per_row: int = 16, scale: int = 2) -> Path | None:
    """One row of samples per family, its name on the left."""
    from genlab.viz.grid import make_grid, png_bytes

    strips = []
    for r in rows:
        x = r.get("_sheet")
        if x is None:
            continue
        grid = make_grid(x[:per_row].float(), nrow=per_row, scale=scale)
        label = _label_strip(r["family"][:24], grid.shape[0], 150)
        strips.append(np.concatenate([label, grid], axis=1))
    if not strips:
        return None
    w = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 0), (0, w - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    path.write_bytes(png_bytes(np.concatenate(strips, axis=0)))
    return path


def quality_plot(board: dict[str, Any], path: Path) -> Path | None:
    """FID (classifier features) against training CPU time, one line per family (mean over seeds)."""
    from genlab.viz.plots import _figure, figure_png

    series = []
    for r in board["rows"]:
        curves = [c for c in r.get("curve", {}).values() if c]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        t = [np.mean([c[i]["train_cpu_s"] for c in curves]) / 60 for i in range(n)]
        f = [np.mean([c[i]["fid"] for c in curves]) for i in range(n)]
        series.append((r["family"], t, f))
    if not series:
        return None
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, t, f in series:
        ax.plot(t, f, marker="o", label=name)
    ref = next((r for r in board["rows"] if r["status"] == "reference"), None)
    if ref and "fid" in ref.get("metrics", {}):
        ax.axhline(ref["metrics"]["fid"]["mean"], color="grey", ls="--", lw=1, label="real data")
    ax.set_yscale("log")
    ax.set_xlabel("training CPU-minutes")
    ax.set_ylabel(f"FID ({board['protocol']['features']}), log scale")
    n_curve = board["protocol"].get("extra", {}).get("config", {}).get("n_curve", "?")
    ax.set_title(f"{board['protocol']['dataset']}: quality vs training time (FID of {n_curve} samples per point)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    path.write_bytes(figure_png(fig))
    return path


def _jsonable(board: dict[str, Any]) -> dict[str, Any]:
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in board["rows"]]
    return json.loads(json.dumps({**board, "rows": rows}, default=lambda o: o.tolist() if isinstance(o, torch.Tensor)
                                 else str(o)))


def write_leaderboard(board: dict[str, Any], out: str | Path, command: str | None = None) -> list[Path]:
    """Write the four files into `out`; returns their paths."""
    from genlab.io import atomic_write_bytes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    board.setdefault("command", command)
    paths = [out / "leaderboard.json", out / "leaderboard.md"]
    atomic_write_bytes(paths[0], (json.dumps(_jsonable(board), indent=2) + "\n").encode())
    atomic_write_bytes(paths[1], markdown(board, board.get("command")).encode())
    pictures = (contact_sheet(board["rows"], out / "contact_sheet.png"),
                quality_plot(board, out / "quality_vs_time.png"))
    for p in pictures:
        if p is not None:
            paths.append(p)
    return paths


__all__ = ["contact_sheet", "likelihood_section", "markdown", "quality_plot", "write_leaderboard"]
