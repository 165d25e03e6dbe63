"""`genlab report RUN`: one self-contained HTML page for a trained run of any family.

The sections follow the run's capabilities, not its family name: what it is and how to retrain it, its
training curves (a log scale where the first steps would flatten the rest), samples (images, or text for a
tokens run), and for a latent family the reconstructions of test images, an interpolation between two of
them and a t-SNE map of their codes; for a model of image pairs, its translations of test sources beside the
sources and targets; for an image-text embedding (clip), zero-shot classes of test images and the test images
nearest to a few texts; for a text-to-image model, a row of images per prompt; for a text GPT, the attention
of one head; for a topic model, the top words of each topic; then the metrics of
`genlab eval RUN` (RUN/metrics.json) with their protocol, when it has been run. The page is written with
genlab.viz.report (inline CSS and PNGs, no request leaves the file).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genlab.runs import RunError, load_run, load_training_data

MAX_MAP_POINTS = 1000  # test images in the t-SNE map
PAIRS_SHOWN = 10  # test pairs in the translations picture
ZERO_SHOT_IMAGES = 32  # test images classified zero-shot
RETRIEVAL_POOL = 1000  # test images searched by each text
RETRIEVAL_K = 8  # images shown per text
RETRIEVAL_TEXTS = 8  # texts (captions of test images) where the data has no class prompts
PROMPT_IMAGES = 8  # images per prompt of a text-to-image run
PROMPT_STEPS = 20  # sampler steps of those images, at most


def _history(path: Path) -> list[dict[str, Any]]:
    """The run's metrics.jsonl records (a torn last line, left by a kill, is skipped)."""
    out = []
    file = path / "metrics.jsonl"
    if file.is_file():
        for line in file.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _device(m: Any) -> torch.device:
    return next((t.device for t in [*m.parameters(), *m.buffers()]), torch.device("cpu"))


def grid_scale(h: int, ncol: int, max_px: int = 970, pad: int = 2) -> int:
    """Integer upscaling so an image is about 84 px tall (3x for 28x28) but a row of `ncol` stays within
    `max_px` (the report's column), so the browser never resamples the pixel art."""
    return max(1, min(round(84 / max(h, 1)), max_px // (ncol * (h + pad) + pad)))


def grid_png(images: torch.Tensor, ncol: int) -> bytes:
    """A grid of images in [0, 1] as PNG bytes, scaled by `grid_scale`."""
    from genlab.viz.grid import make_grid, png_bytes

    return png_bytes(make_grid(images.float().clamp(0, 1), ncol, scale=grid_scale(images.shape[-2], ncol)))


def interpolation_pair(y: torch.Tensor | None) -> tuple[int, int]:
    """Indices of the first image and of the first one after it with a different label (0, 1 without labels)."""
    if y is None:
        return 0, 1
    other = (y != y[0]).nonzero()
    return 0, int(other[0]) if len(other) else 1


def _test_data(run) -> Any | None:
    """The run's test (else training) data, of any kind; None when it cannot be read here."""
    for split in ("test", "train"):
        try:
            return load_training_data(run.config.data, split=split)
        except (ValueError, OSError):  # DataError: not installed here; the report leaves those pictures out
            continue
    return None


def _test_images(run, n: int) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """The first n test (else training) images of the run's data, with labels; None when unavailable."""
    data = _test_data(run)
    if data is None or data.kind != "image":
        return None
    n = min(n, len(data))
    return data.images(slice(0, n)), (None if data.y is None else data.y[:n])


def overview(run) -> Any:
    from genlab.viz.report import Section

    d = run.model.describe()
    saved = json.loads((run.path / "config.json").read_text())
    choice = saved.get("precision_choice") or {}
    rows = [("family", run.config.family), ("data", run.config.data.name), ("parameters", d.get("parameters")),
            ("trained steps", run.step), ("precision", " ".join(
                [choice.get("precision", "fp32"), "channels-last" if choice.get("channels_last") else ""]).strip()),
            ("genlab", saved.get("genlab_version", "?"))]
    text = (f"Retrain it with `genlab train --config {run.path / 'config.json'}` (the saved options, every "
            f"default pinned), or continue it with `genlab train {run.config.family} --resume --name "
            f"{run.path.name} --runs-dir {run.path.parent}`.")
    return Section("Run", text, rows=rows, header=("", ""))


def curves(history: list[dict[str, Any]]) -> Any | None:
    from genlab.viz.plots import loss_curves, loss_keys
    from genlab.viz.report import Section

    records = [r for r in history if "step" in r]
    if not records or not loss_keys(records):
        return None
    return Section("Training curves", "The logged training losses, each averaged over its logging interval; a "
                   "panel whose first values would flatten the rest is drawn on a log scale.",
                   loss_curves(records, log="auto"), "x: optimizer step")


def samples(run, n: int, seed: int) -> Any | None:
    return sample_section(run.model, n, seed)


def sample_section(m: Any, n: int, seed: int) -> Any | None:
    """n image samples (8 to a row) or three text samples drawn with `seed`; None for a model that cannot sample."""
    from genlab.models.base import Sampler
    from genlab.viz.report import Section

    if not isinstance(m, Sampler):
        return None
    g = torch.Generator(device=_device(m)).manual_seed(seed)
    if m.spec.kind == "tokens":  # a language model's text, or a topic model's bags of words
        length = {"max_tokens": 300} if "max_tokens" in inspect.signature(m.sample).parameters else {}
        with torch.no_grad():
            out = m.sample(3, generator=g, **length)
        text = "\n\n".join(m.spec.vocab.decode(row.tolist()).strip() for row in out.x)
        return Section("Samples", f"Three samples drawn with seed {seed}:\n\n{text}")
    if m.spec.kind != "image":
        return None
    with torch.no_grad():
        x = m.sample(n, generator=g).x.cpu()
    return Section("Samples", f"{n} samples drawn with seed {seed}: the model's own images, not training images.",
                   grid_png(x, 8), f"{n} random samples", pixelated=True)


def latent_sections(run, seed: int) -> list[Any]:
    got = _test_images(run, MAX_MAP_POINTS)
    return [] if got is None else code_sections(run.model, *got, classes=run.classes, seed=seed)


def code_sections(m: Any, x: torch.Tensor, y: torch.Tensor | None, *, classes: Any = None, seed: int = 0,
                  map_points: int = MAX_MAP_POINTS) -> list[Any]:
    """Reconstructions, an interpolation (linear and slerp) and a t-SNE map of the codes of test images x
    (labels y colour the map and pick two images of different classes), for an unconditional image model
    with encode/decode; [] for any other model."""
    from genlab.apps.interpolate import interpolate
    from genlab.models.base import Latent
    from genlab.viz.plots import latent_map
    from genlab.viz.report import Section

    if not isinstance(m, Latent) or m.spec.kind != "image" or getattr(m, "conditional", False) or len(x) < 2:
        return []
    x = x[:map_points].to(_device(m))
    y = None if y is None else y[:len(x)].cpu()
    with torch.no_grad():
        z = torch.cat([m.encode(x[k:k + 500]) for k in range(0, len(x), 500)]).float().cpu()
        rec = m.decode(z[:32].to(x.device)).reshape(x[:32].shape).float().cpu()
        i, j = interpolation_pair(y)
        rows = [interpolate(m, x[i:i + 1], x[j:j + 1], 10, method=how).float().cpu() for how in ("linear", "slerp")]
    x = x.cpu()
    half = min(16, len(rec) // 2) or len(rec)
    pairs = torch.cat([x[:half], rec[:half], x[half:2 * half], rec[half:2 * half]])
    out = [Section("Reconstructions", "Test images the model never trained on, encoded and decoded back.",
                   grid_png(pairs, half), "rows 1 and 3: test images; rows 2 and 4: their reconstructions",
                   pixelated=True),
           Section("Interpolation", f"Walking through the code space from test image {i} to test image {j}: their "
                   "codes mixed along a straight line (top) or along the great-circle arc of spherical "
                   "interpolation, slerp (Shoemake 1985; bottom), and decoded.", grid_png(torch.cat(rows), 10),
                   "10 decoded steps, the first and last the two images' reconstructions (top linear, bottom slerp)",
                   pixelated=True)]
    if len(z) >= 10:
        out.append(Section("Latent space", f"The codes of {len(z)} test images embedded in two dimensions by t-SNE "
                           "(scikit-learn), coloured by class: codes that are neighbours stay neighbours, which a "
                           "2-D PCA of the codes does not show.",
                           latent_map(z.flatten(1), y, classes=classes, method="tsne", seed=seed,
                                      title=f"t-SNE of {len(z)} test codes"), "one point per test image"))
    return out


def compression_section(run, n: int = 100) -> Any | None:
    """For a model that compresses (cae): the bits per pixel and PSNR of its own files for n test images (one
    file each) beside JPEG and WebP (and AVIF where Pillow has it) over their quality settings, on the same images."""
    from genlab.apps.compress import CODECS, codec_curve, file_point, pillow_codecs
    from genlab.models.base import Compressible
    from genlab.viz.plots import rate_distortion
    from genlab.viz.report import Section

    if not isinstance(run.model, Compressible):
        return None
    got = _test_images(run, n)
    if got is None:
        return None
    x = got[0]
    ours = file_point(run.model, x)
    curves = {fmt: codec_curve(x, fmt) for fmt, ok in pillow_codecs().items() if ok and fmt in CODECS}
    picture = rate_distortion({fmt: [(p["bits_per_pixel"], p["psnr"]) for p in c] for fmt, c in curves.items()},
                              {f"{run.config.family} (this run)": (ours["bits_per_pixel"], ours["psnr"])},
                              title=f"{len(x)} test images, one file each")
    return Section("Rate and distortion", f"`genlab compress` files of {len(x)} test images, one file per image "
                   f"(header included): {ours['bits_per_pixel']:.3f} bits per pixel at {ours['psnr']:.2f} dB PSNR. The "
                   "lines are Pillow's codecs on the same images over their quality settings, every byte of every file "
                   "counted; a run is one rate point (train with another --rate-weight for another).", picture,
                   "PSNR against bits per pixel")


def as_target(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Images x (b, c', h', w') drawn at the target shape (c, h, w): a smaller source enlarged pixel by pixel
    (nearest neighbour, so it shows what the model was given), one channel repeated for a colour target."""
    c, h, w = shape
    if tuple(x.shape[-2:]) != (h, w):
        x = F.interpolate(x.float(), size=(h, w), mode="nearest")
    return x.expand(-1, c, -1, -1) if x.shape[1] == 1 and c > 1 else x


def text_width(texts: list[str]) -> int:
    """Pixels for the longest of `texts` in PIL's built-in font (about 6 a character), at most 240."""
    return min(240, 6 * max(map(len, texts)) + 16)


def translation_section(run, n: int = PAIRS_SHOWN) -> Any | None:
    """For a model of image pairs (pix2pix, sr, srgan, cyclegan): its translations of the first n test
    sources beside the sources and targets; for two unpaired domains, both directions and the way back."""
    from genlab.models.base import Sampler

    m = run.model
    if m.spec.kind != "image-pair" or not isinstance(m, Sampler):
        return None
    data = _test_data(run)
    if data is None or data.kind != "image-pair" or len(data) == 0:
        return None
    idx = slice(0, min(n, len(data)))
    if data.paired:
        return paired_translations(m, data.source[idx], data.images(idx))
    return unpaired_translations(m, data.sources(idx), data.images(idx))


def paired_translations(m: Any, source: torch.Tensor, target: torch.Tensor) -> Any:
    """Rows: the sources (uint8 (b, c', h', w')), for super-resolution Pillow's bicubic upscaling of them,
    the model's outputs and the true targets (b, c, h, w) in [0, 1]; PSNR of the outputs on these pairs."""
    from genlab.apps.translate import scale_of, translate
    from genlab.data.pairs import upsample
    from genlab.eval.metrics import psnr
    from genlab.viz.report import Section

    x_hat = translate(m, source.float() / 255.0).cpu()  # (b, c, h, w)
    rows, names = [as_target(source.float() / 255.0, target.shape[1:])], ["input"]
    ncol = len(target)
    quality = f"PSNR of the outputs against the targets on these {ncol} pairs: {psnr(x_hat, target).mean():.2f} dB"
    r = scale_of(m)
    if r > 1:  # super-resolution: the interpolation it should beat
        bicubic = upsample(source, r).float() / 255.0
        rows.append(bicubic)
        names.append("Pillow bicubic")
        quality += f" (Pillow bicubic: {psnr(bicubic, target).mean():.2f} dB)"
    rows += [x_hat, target]
    names += ["model output", "target"]
    return Section("Translations", f"The first {ncol} test pairs, never trained on: each source translated by the "
                   f"model (`genlab translate`), beside the true target. {quality}.",
                   grid_png(torch.cat(rows), ncol), "rows: " + ", ".join(names) + (
                       f" (the {r}x smaller input enlarged pixel by pixel)" if r > 1 else ""), pixelated=True)


def unpaired_translations(m: Any, a: torch.Tensor, b: torch.Tensor) -> Any:
    """Rows: test images a of domain A, their translations G(a) and, for a model that translates both ways
    (a `direction` option), F(G(a)) back; then the same from domain B. a, b (n, c, h, w) in [0, 1]."""
    from genlab.apps.translate import translate
    from genlab.viz.report import Section

    two_way = "direction" in inspect.signature(m.sample).parameters
    ab = translate(m, a, direction="ab" if two_way else None).cpu()
    if not two_way:
        rows, names = [a, ab, b], ["domain A", "translated to B", "domain B test images (not the truth of row 1)"]
    else:
        ba = translate(m, b, direction="ba").cpu()
        aba, bab = translate(m, ab, direction="ba").cpu(), translate(m, ba, direction="ab").cpu()
        rows, names = [a, ab, aba, b, ba, bab], ["domain A", "A -> B", "back to A", "domain B", "B -> A", "back to B"]
    cycle = f" Cycle error |F(G(a)) - a| on these images: {(aba - a).abs().mean():.4f}." if two_way else ""
    return Section("Translations", f"The first {len(a)} test images of each domain (unpaired: no image has a true "
                   f"translation), translated by the model (`genlab translate --direction ab` or `ba`).{cycle}",
                   grid_png(torch.cat([as_target(x, a.shape[1:]) for x in rows]), len(a)),
                   "rows: " + ", ".join(names), pixelated=True)


def zero_shot_section(run, n: int = ZERO_SHOT_IMAGES) -> Any | None:
    """For a model that classifies images zero-shot from prompts (clip): the first n test images, each under
    the class whose prompts its embedding is nearest to."""
    from genlab.eval.zeroshot import dataset_prompts
    from genlab.viz.captions import captioned_grid
    from genlab.viz.grid import png_bytes
    from genlab.viz.report import Section

    m = run.model
    data = _test_data(run) if m.spec.kind == "image-text" and hasattr(m, "zero_shot") else None
    got = None if data is None or data.kind != "image-text" else dataset_prompts(data)
    if got is None:
        return None
    names, prompts = got
    x, y = data.images(slice(0, min(n, len(data)))), data.y[:n]
    with torch.no_grad():
        pred = m.zero_shot(x.to(_device(m)), prompts).argmax(1).cpu()  # (n,)
    captions = [names[p] + ("" if p == t else "*") for p, t in zip(pred.tolist(), y.tolist())]
    picture = png_bytes(captioned_grid(x, captions, nrow=8, scale=grid_scale(x.shape[-2], 8)))
    how = (f"the mean over its {len(prompts[0])} prompts, e.g. \"{prompts[-1][0]}\"" if len(prompts[0]) > 1
           else f"its name as the prompt, e.g. \"{prompts[-1][0]}\"")
    return Section("Zero-shot classification", f"The first {len(x)} test images, each given the class whose prompts "
                   f"its embedding is nearest to ({how}); no classifier was trained. {int((pred == y).sum())} of "
                   f"{len(x)} are right.", picture,
                   "under each image the predicted class, starred where it is not the true one", pixelated=True)


def retrieval_section(run, k: int = RETRIEVAL_K, pool: int = RETRIEVAL_POOL) -> Any | None:
    """For a model that embeds images and text (clip): for a few texts, the k nearest of `pool` test images."""
    from genlab.eval.kinds import evenly_spaced
    from genlab.eval.zeroshot import dataset_prompts, nearest_images
    from genlab.models.base import Embed
    from genlab.viz.captions import prompt_rows
    from genlab.viz.grid import png_bytes
    from genlab.viz.report import Section

    m = run.model
    data = _test_data(run) if m.spec.kind == "image-text" and isinstance(m, Embed) else None
    if data is None or data.kind != "image-text":
        return None
    x = data.images(slice(0, min(pool, len(data))))
    got = dataset_prompts(data)
    texts = ([p[0] for p in got[1]] if got else
             list(dict.fromkeys(data.captions[int(i)][0] for i in evenly_spaced(len(x), RETRIEVAL_TEXTS))))
    with torch.no_grad():
        u = torch.cat([m.embed_images(x[i:i + 500].to(_device(m))) for i in range(0, len(x), 500)]).float()
    idx, _ = nearest_images(m, texts, u, k)  # (q, k)
    idx = idx.cpu()
    text = (f"For each text, the {idx.shape[1]} of {len(x)} test images whose embeddings are nearest to its "
            "embedding (cosine similarity), nearest first.")
    if got:
        hits = int((data.y[:len(x)][idx] == torch.arange(len(texts))[:, None]).sum())
        text += f" The texts are class prompts; {hits} of {idx.numel()} images found are of the class named."
    picture = png_bytes(prompt_rows([(t, x[i]) for t, i in zip(texts, idx)], scale=grid_scale(x.shape[-2], k + 3),
                                    text_width=text_width(texts)))
    return Section("Text to image retrieval", text, picture, "one row per text: its nearest test images, left to right",
                   pixelated=True)


def generation_prompts(run) -> list[str]:
    """Prompts to draw from: for a dataset whose captions genlab writes, one per class in the first training
    template ("a handwritten seven"); else the first captions of a few test images spread over the split."""
    from genlab.data.captioned import CAPTION_SETS
    from genlab.eval.kinds import evenly_spaced

    cs = CAPTION_SETS.get(run.config.data.name)
    if cs is not None:
        return [cs.fill(cs.train_templates[0], names[0], []) for names in cs.names]
    data = _test_data(run)
    if data is None or data.kind != "image-text":
        return []
    return list(dict.fromkeys(data.captions[int(i)][0] for i in evenly_spaced(len(data), RETRIEVAL_TEXTS)))


def prompts_section(run, n: int = PROMPT_IMAGES, seed: int = 0) -> Any | None:
    """For a text-to-image model (t2i): n images per prompt, image j of every row from the same seed."""
    from genlab.models.base import Sampler
    from genlab.viz.captions import prompt_rows
    from genlab.viz.grid import png_bytes
    from genlab.viz.report import Section

    m = run.model
    prompts = generation_prompts(run) if m.spec.kind == "image-text" and isinstance(m, Sampler) else []
    if not prompts:
        return None
    options = {}
    if "steps" in inspect.signature(m.sample).parameters:
        options["steps"] = min(getattr(m.config, "sample_steps", PROMPT_STEPS), PROMPT_STEPS)
    rows = []
    with torch.no_grad():
        for prompt in prompts:
            g = torch.Generator(device=_device(m)).manual_seed(seed)
            rows.append((prompt, m.sample(n, cond=prompt, generator=g, **options).x.float().cpu().clamp(0, 1)))
    how = ", ".join(f"{k} {getattr(m.config, k)}" for k in ("sampler", "guidance") if hasattr(m.config, k))
    steps = f"{options['steps']} steps" if options else ""
    return Section("Prompts", f"{n} images drawn for each prompt with seed {seed} "
                   f"({', '.join(x for x in (steps, how) if x)}); image j of every row starts from the same noise, "
                   "so a column shows what the prompt alone changes.",
                   png_bytes(prompt_rows(rows, scale=grid_scale(rows[0][1].shape[-2], n + 3),
                                         text_width=text_width(prompts))),
                   "one row per prompt", pixelated=True)


def attention_section(run) -> Any | None:
    from genlab.viz.report import Section
    from genlab.viz.text import attention_picture

    m = run.model
    if m.spec.kind != "tokens" or not hasattr(m, "attention"):
        return None
    text = m.spec.vocab.decode(m.spec.vocab.encode("ROMEO: what light through yonder window breaks?")[:48])
    return Section("Attention", "The weights of the last layer's first head on one line: row i is the "
                   "distribution over the characters query i looks at.",
                   attention_picture(m, text, layer=-1, head=0), "last layer, head 0")


def topics_section(run) -> Any | None:
    """The top words of each topic, for a topic model (lda)."""
    from genlab.viz.report import Section

    m = run.model
    if not hasattr(m, "top_words"):
        return None
    rows = [(k, ", ".join(words)) for k, words in enumerate(m.top_words(10))]
    return Section("Topics", "Each topic is a distribution over words; its ten most probable words:", rows=rows,
                   header=("topic", "top words"))


def metrics_section(run) -> Any | None:
    from genlab.eval.protocol import Protocol
    from genlab.eval.report import COLUMNS, cell, fid_check_line, fmt, heading
    from genlab.viz.report import Section

    file = run.path / "metrics.json"
    if not file.is_file():
        return None
    saved = json.loads(file.read_text())
    raw = saved.get("protocol") or {}
    if "kind" in raw:  # tokens, image pairs, image-text: the kind's own figures (eval/kinds.py), no image protocol
        rows = [(k, fmt(v, k)) for k, v in (saved.get("metrics") or {}).items() if isinstance(v, (int, float))]
        text = (f"From `genlab eval` ({file.name}): {raw['kind']} metrics on {raw.get('dataset')}/"
                f"{raw.get('split')}, run step {raw.get('step')}.")
        return Section("Metrics", text, rows=rows, header=("metric", "value"))
    metrics, proto = saved.get("metrics") or {}, Protocol.from_json(raw)
    rows = [(heading(k, proto), cell(metrics, k, proto)) for k in COLUMNS if k in metrics]
    text = (f"From `genlab eval` ({file.name}): {proto.n_fake} generated against {proto.n_real} real "
            f"{proto.dataset}/{proto.split} images, features {proto.features}, seeds "
            f"{', '.join(map(str, proto.seeds))} (mean ± std over seeds).")
    check = fid_check_line(proto)
    text += f" {check[1:-1]}." if check else ""
    return Section("Metrics", text, rows=rows, header=("metric", "value"))


def write_run_report(path: str | Path, out: str | Path | None = None, *, n: int = 64, seed: int = 0,
                     overwrite: bool = False) -> Path:
    """Write the report of the run in `path` to `out` (default RUN/report.html) and return its path.

    An existing `out` is replaced only with `overwrite`; RunError naming the fix otherwise."""
    from genlab.viz.report import write_report

    run = load_run(path)
    target = Path(out) if out is not None else run.path / "report.html"
    if target.exists() and not overwrite:
        raise RunError(f"{target} exists; pass --overwrite to replace it, or --out another file")
    if not target.parent.is_dir():
        raise RunError(f"the folder of {target} does not exist; create it or choose another --out")
    run.model.eval()
    sections = [overview(run), curves(_history(run.path)), samples(run, n, seed), translation_section(run),
                zero_shot_section(run), retrieval_section(run), prompts_section(run, seed=seed),
                *latent_sections(run, seed), compression_section(run),
                attention_section(run), topics_section(run), metrics_section(run)]
    return write_report(target, title=f"{run.config.family} on {run.config.data.name}: {run.path.name}",
                        sections=[s for s in sections if s is not None],
                        subtitle=f"{run.path} at step {run.step}")


__all__ = ["code_sections", "grid_png", "grid_scale", "interpolation_pair", "sample_section", "write_run_report"]
