"""`genlab dream`, `genlab search`, `genlab arithmetic`, `genlab compress` and `genlab decompress`: the
applications of genlab.apps.dream, .search, .arithmetic and .compress on a dataset's shipped classifier or a run's
model."""

from __future__ import annotations

from typing import Annotated, Literal

import tyro

from genlab.cli.common import MAX_GRID, output_file, write_output
from genlab.cli.edit import input_image
from genlab.config import ConfigError, check_bounds


def _classifier(dataset: str, *, required: bool):
    """The shipped (or cached) genlab classifier of `dataset`; None, or ValueError when `required`, if there is none."""
    from genlab.eval.classifier import available_classifier, shipped_datasets

    clf = available_classifier(dataset)
    if clf is None and required:
        raise ValueError(f"no genlab classifier for {dataset!r} on this machine; genlab ships classifiers for: "
                         f"{', '.join(shipped_datasets())}")
    return clf


def _verdicts(clf, x, classes) -> list[str]:
    """'NAME p' per image: the classifier's top class (by its name when known) and its probability."""
    import torch

    if clf is None:
        return [""] * len(x)
    p = torch.softmax(clf.logits(x), 1)
    top = p.max(1)
    name = (lambda k: str(classes[k])) if classes else str
    return [f"{name(int(k))} {float(q):.2f}" for q, k in zip(top.values, top.indices)]


def dream(data: str = "mnist", image: str = "test:0", layer: str = "conv2", channel: int | None = None,
          target_class: int | None = None, octaves: int = 3, octave_scale: float = 1.5, steps: int = 20,
          lr: float = 0.05, jitter: int = 2, tv: float = 0.0, blur: float = 0.0, out: str = "dream.png",
          seed: int = 0, overwrite: bool = False) -> None:
    """DeepDream on genlab's classifier of a dataset: gradient ascent on an image to excite a layer (or a class
    logit), coarse to fine over octaves, with random jitter and optional smoothness priors.

    Args:
        data: the dataset whose shipped classifier dreams (mnist, fashion-mnist, digits).
        image: where to start: test:I / train:I (image I of the dataset), a PNG/JPEG (converted and resized to
            the classifier's images), or noise.
        layer: the layer to excite: conv1, conv2, conv3 (conv blocks), features (penultimate), or a ReLU's
            module path.
        channel: excite one channel (or unit) of the layer instead of all of it.
        target_class: maximise this class's logit instead of a layer.
        octaves: scales, coarse to fine (1 = full resolution only).
        octave_scale: size ratio between neighbouring octaves.
        steps: ascent steps per octave.
        lr: step size (in units of the gradient's mean absolute value).
        jitter: largest random translation per step, pixels (0 = none).
        tv: weight of the total-variation penalty (0 = none).
        blur: blur the dream's changes by a Gaussian of this std after every step, pixels (0 = none).
        out: the PNG to write: the start image, then the image after each octave, captioned with the
            classifier's class and probability (its folder must exist).
        seed: seeds the noise start and the jitter.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.apps.dream import class_objective, layer_objective, noise_images
    from genlab.apps.dream import dream as dream_fn
    from genlab.config import DataConfig
    output_file(out, overwrite=overwrite)
    check_bounds("--octaves", octaves, ge=1, le=8)
    check_bounds("--octave-scale", octave_scale, gt=1)
    check_bounds("--steps", steps, ge=0, le=100_000)
    check_bounds("--lr", lr, gt=0)
    for flag, value in (("--jitter", jitter), ("--tv", tv), ("--blur", blur)):
        check_bounds(flag, value, ge=0)
    clf = _classifier(data, required=True)
    g = torch.Generator().manual_seed(seed)
    x = noise_images(1, clf.shape, g) if image == "noise" else input_image(image, DataConfig(name=data), clf.shape)[0]
    if target_class is not None:
        check_bounds("--target-class", target_class, ge=0, lt=clf.num_classes)
        objective, what = class_objective(clf.net, target_class), f"logit of class {target_class}"
    else:
        objective = layer_objective(clf.net, layer, channel)
        what = f"{layer} mean activation" + ("" if channel is None else f" (channel {channel})")
    result = dream_fn(objective, x, steps=steps, lr=lr, octaves=octaves, octave_scale=octave_scale, jitter=jitter,
                      tv=tv, blur_sigma=blur, generator=g)
    shown = torch.cat([x, *result.octaves])
    classes = clf.meta.get("classes")
    _save(shown, _verdicts(clf, shown, classes), out, nrow=len(shown))
    a0, a1 = result.objective[0], result.objective[-1]
    ratio = f" ({a1 / a0:.2f}x)" if a0 > 0 else ""
    print(f"wrote {out}: the start, then {octaves} octaves; {what} {a0:.3f} -> {a1:.3f}{ratio}; "
          f"classifier: {_verdicts(clf, x, classes)[0]} -> {_verdicts(clf, result.x, classes)[0]}")


def search(run: tyro.conf.Positional[str], query: tuple[str, ...] = ("test:0",),
           k: Annotated[int, tyro.conf.arg(aliases=["-k"])] = 8, vectors: Literal["latent", "pixels"] = "latent",
           index: Literal["flat", "ivf", "hnsw"] = "flat", split: Literal["test", "train"] = "test",
           limit: int | None = None, nlist: int | None = None, nprobe: int = 8, out: str = "search.png",
           save_index: str | None = None, load_index: str | None = None, overwrite: bool = False) -> None:
    """Similar-image search: index a split of the run's dataset by the model's latent codes (or raw pixels) with
    FAISS, and show the k nearest images of each query.

    Args:
        run: the run folder (runs/NAME) of a model with a latent space (ae, vae, pca, flow, ...); with
            --vectors pixels any run (its dataset is indexed).
        query: one or more queries: test:I / train:I, or PNG/JPEG files (converted and resized to the run's images).
        k: neighbours per query.
        vectors: "latent" (the model's codes) or "pixels" (the raw pixels, a baseline).
        index: "flat" (exact), or "ivf" / "hnsw" (approximate, for large collections: also reports their recall@k
            against the exact search).
        split: the split to index.
        limit: index only the first LIMIT images of the split (default: all).
        nlist: IVF cells (default about 4 sqrt(n)).
        nprobe: IVF cells a query visits.
        out: the PNG to write: one row per query, the query then its neighbours, captioned with their class and
            squared L2 distance (its folder must exist).
        save_index: also write the index to this .index file, with what it was built from (the model's weights
            and the images, by their hashes), so that --load-index can skip encoding the split next time.
        load_index: search this .index file (of --save-index) instead of encoding the split: it must have been
            built from this run's weights, with the same --vectors, --split and --limit (it says which otherwise).
        overwrite: replace OUT (and SAVE_INDEX) if it exists (otherwise an existing file is an error).
    """
    import torch

    from genlab.apps.search import build_index, fingerprint, image_vectors, index_bytes, model_fingerprint, read_index
    from genlab.apps.search import search as search_fn
    from genlab.eval.retrieval import recall_at_k
    from genlab.runs import load_run, load_training_data

    output_file(out, overwrite=overwrite)
    if save_index is not None and load_index is not None:
        raise ConfigError("--save-index and --load-index together: give one (an index loaded is already saved)")
    if save_index is not None:
        output_file(save_index, overwrite=overwrite, suffixes=(".index",), flag="--save-index")
    check_bounds("-k", k, ge=1, le=MAX_GRID // max(1, len(query)) - 1)
    check_bounds("--nprobe", nprobe, ge=1)
    if limit is not None:
        check_bounds("--limit", limit, ge=1)
    r = load_run(run)
    model = r.model if vectors == "latent" else None
    shape = tuple(r.model.shape)
    data = load_training_data(r.config.data, split=split)
    collection = data.images(slice(0, limit))
    queries = torch.cat([input_image(q, r.config.data, shape, flag="--query")[0] for q in query])
    about = {}  # what an index file records and is checked against (hashing costs time: only with a file)
    if save_index is not None or load_index is not None:
        about = {"vectors": vectors, "split": split, "limit": "all" if limit is None else str(limit),
                 "images": fingerprint(collection), "model": model_fingerprint(r.model) if model is not None else "-",
                 "family": r.config.family}
    if load_index is not None:
        found, stored = read_index(load_index)
        _check_index(load_index, stored, about)
        v, index = None, f"{stored.get('kind', 'an')} (loaded)"
    else:
        v = image_vectors(model, collection, shape=shape)
        options = {"nlist": nlist, "nprobe": nprobe} if index == "ivf" else {}
        found = build_index(v, index, **options)
        if save_index is not None:
            write_output(save_index, index_bytes(found, {**about, "kind": index, "n": str(found.ntotal)}),
                         overwrite=overwrite, flag="--save-index")
            print(f"wrote {save_index}: a {index} index of {found.ntotal} {split} images by "
                  f"{'raw pixels' if model is None else r.config.family + ' codes'}")
    hits = search_fn(found, image_vectors(model, queries, shape=shape), k)
    k = hits.ids.shape[1]
    classes, y = data.classes, data.y
    name = (lambda i: str(classes[int(y[i])]) if classes else str(int(y[i]))) if y is not None else (lambda i: "")
    images, captions = [], []
    for qi in range(len(queries)):
        images += [queries[qi:qi + 1], collection[hits.ids[qi]]]
        captions += ["query"] + [f"{name(int(i))}: {float(d):.1f}" for i, d in zip(hits.ids[qi], hits.distances[qi])]
    _save(torch.cat(images), captions, out, nrow=k + 1, scale=2)
    how = "raw pixels" if model is None else f"{r.config.family} codes ({found.d} dims)"
    print(f"wrote {out}: {len(queries)} queries and their {k} nearest of {len(collection)} {split} images by {how}; "
          f"nearest ids {hits.ids[:, 0].tolist()}")
    if v is not None and index != "flat":
        exact = search_fn(build_index(v, "flat"), image_vectors(model, queries, shape=shape), k)
        print(f"{index} index: recall@{k} against the exact search {recall_at_k(exact.ids, hits.ids):.3f}")


def _check_index(path: str, stored: dict[str, str], about: dict[str, str]) -> None:
    """ConfigError naming what differs between an index file's origin and this search (the flags to pass)."""
    flags = {"vectors": "--vectors", "split": "--split", "limit": "--limit"}
    wrong = [f"{flag} {stored.get(key)}" for key, flag in flags.items() if stored.get(key) != about[key]]
    if wrong:
        fix = " ".join(w for w in wrong if not w.endswith(" all"))
        raise ConfigError(f"--load-index {path} was built with {', '.join(wrong)}; pass "
                          f"{fix or 'no --limit'} (or build a new one with --save-index)")
    if stored.get("model") != about["model"]:
        raise ConfigError(f"--load-index {path} holds the codes of other weights (a {stored.get('family')} model, "
                          f"{stored.get('model')}) than this run's ({about['model']}); build a new one with "
                          "--save-index")
    if stored.get("images") != about["images"]:
        raise ConfigError(f"--load-index {path} was built from other {about['split']} images than this run's data "
                          "now holds; build a new one with --save-index")


def arithmetic(run: tyro.conf.Positional[str], expr: str = "7-1+3", image: str | None = None,
               attribute: Literal["thickness", "slant"] | None = None,
               scales: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
               n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 6, fit_images: int = 10_000,
               quantile: float = 0.25, per_class: bool = True, seed: int = 0, out: str = "arithmetic.png",
               overwrite: bool = False) -> None:
    """Latent arithmetic: class vectors (the mean code of each class) added and subtracted, or the vector of a
    measured attribute (stroke thickness, slant) added to the codes of test images, decoded; captioned with what
    genlab's classifier of the dataset says (an attribute picture: the measured attribute and the class).

    Args:
        run: the run folder (runs/NAME) of an unconditional model with a latent space (ae, vae, pca, flow, ...)
            trained on labelled data.
        expr: class indices or names (case-insensitive, _ for a space) joined by + and -: the seed image's code,
            then the class vectors (e.g. 7-1+3, or sneaker-sandal+ankle_boot on Fashion-MNIST).
        image: the seed: test:I / train:I or a PNG/JPEG (default: a test image of the first class, by --seed).
        attribute: instead of --expr: add the vector of this attribute at each of --scales to -n test images.
        scales: multiples of the attribute vector, one column each.
        n: test images edited by the attribute vector, one row each.
        fit_images: training images whose codes make the vectors.
        quantile: the attribute vector is the top QUANTILE's mean code minus the bottom's, within each class.
        per_class: edit each test image with the attribute vector of its own class (--no-per-class: the average
            over classes, one vector for all).
        seed: picks the seed image and the edited test images.
        out: the PNG to write (its folder must exist).
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.apps.arithmetic import ATTRIBUTES, apply_vector, attribute_vector, attribute_vectors, class_vectors
    from genlab.apps.latents import encode_images, require_latent
    from genlab.runs import load_run, load_training_data

    output_file(out, overwrite=overwrite)
    check_bounds("-n", n, ge=1, le=MAX_GRID // max(1, len(scales) + 1))
    check_bounds("--fit-images", fit_images, ge=2)
    check_bounds("--quantile", quantile, gt=0, le=0.5)
    r = load_run(run)
    require_latent(r.model, "latent arithmetic")
    train = load_training_data(r.config.data, split="train").subset(fit_images)
    if train.y is None:
        raise ValueError(f"latent arithmetic needs labelled data (class vectors, per-class attribute vectors); "
                         f"{r.config.data.name} has no labels")
    x_fit, y_fit = train.images(), train.labels()
    z = encode_images(r.model, x_fit)
    clf = _classifier(r.config.data.name, required=False)
    g = torch.Generator().manual_seed(seed)
    if attribute is None:
        _expression(r, expr, image, class_vectors(z, y_fit, train.num_classes), train.classes, clf, g, out)
        return
    measure = ATTRIBUTES[attribute]
    test = load_training_data(r.config.data, split="test")
    idx = torch.randperm(len(test), generator=g)[:n]
    x = test.images(idx)
    if per_class and test.y is not None:
        v = attribute_vectors(z, measure(x_fit), y_fit, train.num_classes, quantile)[test.labels(idx)]
    else:
        v = attribute_vector(z, measure(x_fit), y_fit, quantile)
    edits = torch.stack([apply_vector(r.model, x, v, s) for s in scales], 1)  # (n, S, c, h, w)
    shown = torch.cat([x.unsqueeze(1), edits], 1).flatten(0, 1)
    values = measure(shown)
    verdicts = _verdicts(clf, shown, test.classes)
    captions = [f"{float(a):.2f}: {w.split()[0]}" if w else f"{float(a):.2f}" for a, w in zip(values, verdicts)]
    _save(shown, captions, out, nrow=len(scales) + 1)
    by_scale = values.view(len(idx), -1)[:, 1:].mean(0)
    which = "its class's" if per_class and test.y is not None else "the average"
    print(f"wrote {out}: {len(idx)} test images, then {which} {attribute} vector x {list(scales)}; mean {attribute} "
          + ", ".join(f"{s:g}: {float(a):.3f}" for s, a in zip(scales, by_scale)))


def _expression(r, expr: str, image: str | None, vectors, classes, clf, g, out: str) -> None:
    """The picture of `genlab arithmetic --expr`: seed, its reconstruction, the class vectors decoded, the
    seed's code with the rest of the expression, and the expression of class vectors alone."""
    import torch

    from genlab.apps.arithmetic import decode_vector, expression_vector, parse_expression
    from genlab.apps.latents import encode_images
    from genlab.runs import load_training_data

    terms = parse_expression(expr, classes)
    expression_vector(terms, vectors)  # checks the classes before any work
    name = (lambda k: str(classes[k]).replace(" ", "_")) if classes else str
    test = load_training_data(r.config.data, split="test")
    if image is None:
        if test.y is None or not (test.y == terms[0][1]).any():
            raise ValueError(f"no test image of class {name(terms[0][1])}; give a seed with --image")
        rows = torch.nonzero(test.y == terms[0][1]).flatten()
        image = f"test:{int(rows[torch.randint(len(rows), (1,), generator=g)])}"
    seed = input_image(image, r.config.data, tuple(r.model.shape))[0]
    z_seed = encode_images(r.model, seed)[0]
    codes = torch.stack([z_seed, *(vectors[k] for _, k in terms), expression_vector(terms, vectors, z_seed),
                         expression_vector(terms, vectors)])
    shown = torch.cat([seed, decode_vector(r.model, codes)])
    verdicts = _verdicts(clf, shown, classes)
    rest = "".join(f"{'+' if sign > 0 else '-'}{name(k)}" for sign, k in terms[1:])
    whole = f"{name(terms[0][1])}{rest}" if terms[0][0] > 0 else f"-{name(terms[0][1])}{rest}"
    labels = ["seed", "recon", *(f"v({name(k)})" for _, k in terms), f"seed{rest}", whole]
    _save(shown, [f"{a}\n{b}" for a, b in zip(labels, verdicts)], out, nrow=len(shown))
    print(f"wrote {out}: {', '.join(f'{a}: {b}' for a, b in zip(labels, verdicts))}")


def _save(images, captions, out: str, nrow: int, scale: int = 3) -> None:
    from genlab.viz.captions import save_captioned_grid

    save_captioned_grid(images, captions, out, nrow=nrow, scale=scale)


def _compress_inputs(r, images: tuple[str, ...]):
    """(n, c, h, w) images from test:I / train:I specs and image files of exactly the model's size."""
    import torch

    from genlab.apps.inpaint import load_image

    shape = tuple(r.model.shape)
    xs = [input_image(spec, r.config.data, shape)[0] if spec.startswith(("test:", "train:"))
          else load_image(spec, shape, resize=False) for spec in images]
    return torch.cat(xs)


def compress(run: tyro.conf.Positional[str], images: tyro.conf.Positional[tuple[str, ...]],
             out: Annotated[str, tyro.conf.arg(aliases=["-o"])] = "images.glz", overwrite: bool = False) -> None:
    """Learned lossy compression: code images to a file of bytes with a model's quantized latents and its learned
    entropy model (ANS coding by constriction); `genlab decompress` gives the images back.

    Args:
        run: the run folder (runs/NAME) of a model that can compress (cae: genlab train cae --data mnist).
        images: one or more images: PNG/JPEG files of exactly the model's size (converted to its channels), or
            test:I / train:I for image I of the run's dataset. All go into one file.
        out: the file to write (.glz): a small header (magic, version, the images' shape) and the bitstream
            (which also carries the model's id).
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.apps.compress import SUFFIX
    from genlab.apps.compress import compress as compress_fn
    from genlab.eval.metrics import psnr
    from genlab.io import atomic_write_bytes
    from genlab.runs import load_run

    output_file(out, overwrite=overwrite, suffixes=(SUFFIX,), flag="--out")
    r = load_run(run)
    x = _compress_inputs(r, images)
    c = compress_fn(r.model, x)
    atomic_write_bytes(out, c.data)
    estimate = float(c.estimated_bits.sum())
    with torch.no_grad():
        quality = float(psnr(r.model.decode_symbols(c.symbols), x).mean())
    print(f"wrote {out}: {len(x)} image(s), {len(c.data)} bytes ({c.header} header + {c.stream_bytes} bitstream, "
          f"the model's id included), {8 * len(c.data) / x[0].numel() / len(x):.3f} bits per pixel; the entropy "
          f"model's estimate {estimate / 8:.1f} bytes (symbols' bits / estimate "
          f"{c.symbol_bits / max(estimate, 1e-9):.3f}); PSNR {quality:.2f} dB")


def decompress(run: tyro.conf.Positional[str], file: tyro.conf.Positional[str],
               out: Annotated[str, tyro.conf.arg(aliases=["-o"])] = "decompressed.png",
               overwrite: bool = False) -> None:
    """Decode a `genlab compress` file back to images with the run that compressed it.

    Args:
        run: the run folder (runs/NAME) that compressed FILE (the file records its model's id).
        file: the .glz file.
        out: the PNG to write, at the images' own size; a file of n > 1 images writes OUT-0.png ... OUT-(n-1).png.
        overwrite: replace existing PNGs (otherwise an existing one is an error).
    """
    from pathlib import Path

    from genlab.apps.compress import decompress as decompress_fn
    from genlab.runs import load_run

    output_file(out, overwrite=overwrite)
    data = Path(file).read_bytes()
    r = load_run(run)
    x = decompress_fn(r.model, data)
    paths = [Path(out)] if len(x) == 1 else [Path(out).with_name(f"{Path(out).stem}-{i}.png") for i in range(len(x))]
    for p in paths:
        output_file(str(p), overwrite=overwrite)
    for p, image in zip(paths, x):
        _write_png(image, p)
    shown = str(paths[0]) if len(paths) == 1 else f"{paths[0]} ... {paths[-1]}"
    print(f"wrote {shown}: {len(x)} image(s) of {'x'.join(map(str, r.model.shape))} from {len(data)} bytes")


def _write_png(image, path) -> None:
    """One (c, h, w) image in [0, 1] as an 8-bit PNG of its own size (grey or RGB)."""
    from genlab.io import atomic_write_bytes
    from genlab.viz.grid import png_bytes, to_uint8

    arr = to_uint8(image.unsqueeze(0))[0]  # (h, w, c)
    atomic_write_bytes(path, png_bytes(arr[..., 0] if arr.shape[2] == 1 else arr))
