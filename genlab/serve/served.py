"""One run as the web app serves it: its model behind a lock, what the page may offer for it (read from the
model's capabilities and method signatures), and the work behind each API call.

Requests are checked here before any work starts (ValueError with a one-line message: the app answers
400); sizes are capped by the constants below, so no request can exhaust memory.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch

from genlab.models.base import Denoise, Inpaint, Latent, Sampler, sampling_options
from genlab.runs import Run
from genlab.serve.jobs import Job
from genlab.serve.kinds import KindRequests
from genlab.serve.options import Option, check_options, method_options
from genlab.serve.values import MAX_PROMPT, integer, png_data_url, read_png

MAX_N = 64  # images per sampling request (drawn one at a time, so each appears when it is done)
MAX_INTERPOLATION = 16  # images on an interpolation path
MAX_SEED = 2**31 - 1
GALLERY = 12  # test images the page offers as starting points
LATENT_IMAGES = 512  # test images whose codes give the latent directions
MAX_DIRECTIONS = 8  # principal directions offered as sliders
MAX_COORD = 3.0  # a slider moves at most this many standard deviations along its direction


class Served(KindRequests):
    """A loaded run, its lock, and the page's view of it (the image-pair and image-text requests in KindRequests)."""

    def __init__(self, name: str, run: Run):
        self.name, self.run, self.model = name, run, run.model
        self.lock = threading.Lock()  # one request at a time per model
        self._job: Job | None = None  # the job holding the lock (its network evaluations are counted)
        self._test: Any = None  # the run's test split, read on first use
        self._embedded: torch.Tensor | None = None  # (n, D) embeddings of the test images (image-text runs)
        self._latent: dict[str, torch.Tensor] | None = None
        net = max(self.model.children(), key=lambda m: sum(p.numel() for p in m.parameters()), default=None)
        if net is not None:  # the network's calls: progress within one image of a slow sampler
            net.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        job = self._job
        if job is not None:
            job.calls += 1
            job.check()  # a cancelled job stops at the network's next evaluation

    # --- what the page may offer ---------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.model.spec.kind

    @property
    def conditional(self) -> bool:
        return bool(self.model.conditional and self.model.num_classes > 0)

    def options(self, what: str) -> list[Option] | None:
        """The options of the model's `what` (sample, inpaint, denoise), or None when it cannot (a model of
        image pairs samples only translations of a source: it has no `sample` of its own here)."""
        proto = {"sample": Sampler, "inpaint": Inpaint, "denoise": Denoise}[what]
        if not isinstance(self.model, proto) or (what == "sample" and self.kind == "image-pair"):
            return None
        return method_options(getattr(self.model, what), self.model.config)

    def info(self) -> dict[str, Any]:
        from genlab.models.base import capabilities

        text = self.kind == "tokens"
        opts = sampling_options(self.model) if isinstance(self.model, Sampler) else []
        classes = self.run.classes or [str(k) for k in range(self.model.num_classes)]
        methods = {what: None if text and what != "sample" else self.options(what)
                   for what in ("sample", "inpaint", "denoise")}
        return {"name": self.name, "family": self.run.config.family, "kind": self.kind, "step": self.run.step,
                "shape": list(self.model.shape), "conditional": self.conditional,
                "classes": classes if self.conditional else [], "data": self.run.config.data.name,
                "capabilities": sorted(capabilities(self.model)),
                **{what: None if o is None else [x.to_json() for x in o] for what, o in methods.items()},
                "latent": isinstance(self.model, Latent) and not text,
                "text": {"prompt": "max_tokens" in opts, "stream": "on_token" in opts} if text else None,
                "prompt_images": self.kind == "image-text" and isinstance(self.model, Sampler),
                **self.kind_info(),
                "limits": {"n": MAX_N, "prompt": MAX_PROMPT, "interpolation": MAX_INTERPOLATION,
                           "coord": MAX_COORD, "seed": MAX_SEED, **self.kind_limits()}}

    def need(self, what: str) -> list[Option]:
        """The options of `what`, or ValueError naming the families that can do it."""
        from genlab.models import families_with

        opts = self.options(what) if self.kind != "tokens" or what == "sample" else None
        if opts is None:
            raise ValueError(f"this {self.run.config.family} run cannot {what}; families that can: "
                             f"{', '.join(f for f in families_with(what) if f != 'lda')}")
        return opts

    def label(self, body: dict[str, Any]) -> int | None:
        if body.get("label") is not None and not self.conditional:
            raise ValueError(f"label needs a conditional model; this {self.run.config.family} run is unconditional")
        return integer(body, "label", None, 0, self.model.num_classes - 1) if self.conditional else None

    # --- the work ------------------------------------------------------------------------------------
    def locked(self, job: Job | None, fn, *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) holding the model's lock, counting its network calls for `job`."""
        with self.lock, torch.no_grad():
            self._job = job
            try:
                return fn(*args, **kwargs)
            finally:
                self._job = None

    def sample_request(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(n, work) for POST .../sample {n, seed, label, options}: image i is drawn with seed + i, so
        the same seeds give the same images whatever n, and several runs can be compared seed by seed."""
        from genlab.runs import sample

        if self.kind == "tokens":
            raise ValueError("this is a text run: use the prompt box (POST .../text)")
        if self.kind == "image-pair":
            raise ValueError(f"a {self.run.config.family} run translates images rather than drawing them: "
                             "POST .../translate a test image or your own")
        options = check_options(self.need("sample"), body.get("options"))
        n = integer(body, "n", 8, 1, MAX_N)
        seed = integer(body, "seed", 0, 0, MAX_SEED - MAX_N)
        label = self.label(body)
        prompt = self.image_prompt(body)

        # the model's own balanced labels: every class it was trained on, in turn
        turns = self.model.labels_for(n).tolist() if self.conditional and label is None else None

        def work(job: Job) -> None:
            for i in range(n):
                job.check()
                k = label if label is not None else turns[i] if turns is not None else None
                cond = prompt if prompt is not None else None if k is None else torch.tensor([k])
                job.calls = 0
                out = self.locked(job, sample, self.run, 1, cond=cond, seed=seed + i, **options)
                job.per_item = job.per_item or job.calls or None
                job.items.append({"image": png_data_url(out.x[0].float().cpu()), "label": k, "seed": seed + i})

        return n, work

    def image_prompt(self, body: dict[str, Any]) -> str | None:
        """The caption of a text-to-image request (None for other runs, which refuse one)."""
        from genlab.data.captions import normalize_caption

        prompt = body.get("prompt")
        if self.kind != "image-text":
            if prompt not in (None, ""):
                raise ValueError(f"a {self.run.config.family} run takes no prompt; leave it out")
            return None
        if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
            raise ValueError("the prompt is empty: describe the image, e.g. \"a thick handwritten seven\"")
        if isinstance(prompt, str) and len(prompt) > MAX_PROMPT:
            raise ValueError(f"the prompt is {len(prompt)} characters; at most {MAX_PROMPT}")
        return normalize_caption(prompt)

    def text_request(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(tokens, work) for POST .../text {prompt, seed, options}: the text grows as tokens are drawn."""
        from genlab.runs import sample

        if self.kind != "tokens":
            raise ValueError(f"a {self.run.config.family} run draws images, not text; use its sampling panel")
        info = self.info()["text"]
        opts = self.need("sample")
        options = check_options(opts, body.get("options"))
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            raise ValueError("prompt must be a string")
        if info["prompt"]:
            if not prompt.strip():
                raise ValueError("the prompt is empty: type some text for the model to continue")
            if len(prompt) > MAX_PROMPT:
                raise ValueError(f"the prompt is {len(prompt)} characters; at most {MAX_PROMPT}")
            self.model.spec.vocab.encode(prompt)  # characters outside the vocabulary: a DataError naming them
        elif prompt:
            raise ValueError(f"a {self.run.config.family} model takes no prompt; leave the box empty")
        seed = integer(body, "seed", 0, 0, MAX_SEED)
        vocab = self.model.spec.vocab
        total = int(options.get("max_tokens", next((o.default for o in opts if o.name == "max_tokens"), 1)))

        def work(job: Job) -> None:
            if info["stream"]:
                options["on_token"] = lambda ids: setattr(job, "text", job.text + vocab.decode(ids[:1].tolist()))
            out = self.locked(job, sample, self.run, 1, cond=prompt or None, seed=seed, **options)
            if not info["stream"]:
                job.text = vocab.decode(out.x[0].tolist())

        return total, work

    def edit_request(self, what: str, body: dict[str, Any]) -> tuple[int, Any]:
        """(1, work) for POST .../inpaint {image, mask, label, seed, options} or .../denoise {image, ...}:
        the image (and mask: white = fill in) as PNG data URLs of the model's size."""
        from genlab.apps.denoise import denoise
        from genlab.apps.inpaint import inpaint

        options = check_options(self.need(what), body.get("options"))
        x = read_png(body.get("image"), self.model.shape, "image")
        seed = integer(body, "seed", 0, 0, MAX_SEED)
        label = self.label(body)
        cond = None if label is None else torch.tensor([label])
        if what == "inpaint":
            mask = (read_png(body.get("mask"), (1, *self.model.shape[1:]), "mask") > 0.5).float()
            if not mask.any():
                raise ValueError("the mask is empty: paint over the part of the image to fill in")

        def work(job: Job) -> None:
            g = torch.Generator().manual_seed(seed)
            if what == "inpaint":
                out = self.locked(job, inpaint, self.model, x, mask, cond=cond, generator=g, **options)
            else:
                out = self.locked(job, denoise, self.model, x, cond=cond, generator=g, **options)
            job.items.append({"image": png_data_url(out[0].float().cpu()), "label": label, "seed": seed})

        return 1, work

    # --- latent space (fast: answered directly) ------------------------------------------------------
    def test_data(self) -> Any:
        """The run's test split, read once; ValueError when it cannot be read or holds nothing."""
        from genlab.runs import load_training_data

        if self._test is None:
            try:
                data = load_training_data(self.run.config.data, split="test")
            except (ValueError, OSError) as e:
                raise ValueError(f"the run's test images cannot be read: {e}") from None
            if len(data) == 0:
                raise ValueError(f"the test split of {self.run.config.data.name} holds no images")
            self._test = data
        return self._test

    def gallery(self, count: int = LATENT_IMAGES) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Up to `count` test images of the run's dataset (the targets of image pairs) and their labels;
        ValueError when none can be read."""
        if self.kind not in ("image", "image-text", "image-pair"):
            raise ValueError(f"a {self.kind} run has no test images to show")
        data = self.test_data()
        m = min(count, len(data))
        return data.images(slice(0, m)), None if data.y is None else data.y[:m]

    def gallery_json(self) -> list[dict[str, Any]]:
        """The first GALLERY test images as the model takes them: for image pairs the sources, each with its
        pair's target (for two unpaired domains, test image i of domain B: not a translation's truth)."""
        x, y = self.gallery(GALLERY)
        items = [{"index": i, "image": png_data_url(x[i]), "label": None if y is None else int(y[i])}
                 for i in range(x.shape[0])]
        if self.kind == "image-pair":
            sources = self.test_data().sources(slice(0, len(items)))
            for item, source in zip(items, sources):
                item["target"], item["image"] = item["image"], png_data_url(source)
        return items

    def latent_space(self) -> dict[str, torch.Tensor]:
        """The mean code of the test images and their principal directions (PCA: the rows of V of the
        centred codes' SVD, Z - mu = U S V^T) with each direction's standard deviation S / sqrt(b - 1)."""
        if not isinstance(self.model, Latent) or self.kind != "image":
            from genlab.models import families_with

            raise ValueError(f"a {self.run.config.family} run has no latent space; families that have one: "
                             f"{', '.join(families_with('latent'))}")
        if self._latent is None:
            x, y = self.gallery()
            z = self.locked(None, self.model.encode, x, y if self.conditional else None).float()  # (b, ...)
            flat = z.flatten(1)
            mu = flat.mean(0)
            _, s, vh = torch.linalg.svd(flat - mu, full_matrices=False)
            k = int(min(MAX_DIRECTIONS, vh.shape[0], int((s > 1e-6 * s[0]).sum()) if s.numel() else 0))
            self._latent = {"mu": mu, "directions": vh[:k], "std": s[:k] / math.sqrt(max(flat.shape[0] - 1, 1)),
                            "codes": flat, "shape": torch.tensor(z.shape[1:])}
        return self._latent

    def latent_json(self) -> dict[str, Any]:
        space = self.latent_space()
        return {"directions": int(space["directions"].shape[0]), "std": space["std"].tolist(),
                "max": MAX_COORD, "gallery": self.gallery_json()}

    def decode_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../latent {coords: [a_1..a_k], base: index | null, label}: decode base + sum_i a_i std_i v_i,
        base the mean code or the code of test image `base`; a_i in standard deviations."""
        space = self.latent_space()
        k = space["directions"].shape[0]
        coords = body.get("coords", [])
        if not (isinstance(coords, list) and len(coords) <= k and all(
                isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) and abs(a) <= MAX_COORD
                for a in coords)):
            raise ValueError(f"coords must be at most {k} numbers in [-{MAX_COORD}, {MAX_COORD}]")
        base = integer(body, "base", None, 0, space["codes"].shape[0] - 1)
        z = (space["mu"] if base is None else space["codes"][base]).clone()
        for a, v, s in zip(coords, space["directions"], space["std"]):
            z += float(a) * s * v
        label = self.label(body)
        if self.conditional and label is None:
            _, y = self.gallery()
            label = int(y[base]) if base is not None and y is not None else 0
        y = None if label is None else torch.tensor([label])
        x = self.locked(None, self.model.decode, z.view(1, *space["shape"].tolist()), y)
        return {"image": png_data_url(x[0].float().cpu())}

    def interpolate_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../interpolate {a, b, steps, method}: decoded images on the path between test images a and b."""
        from genlab.apps.interpolate import METHODS, interpolate

        x, y = self.gallery()
        self.latent_space()  # the run has a latent space (else the message says which families do)
        a = integer(body, "a", 0, 0, x.shape[0] - 1)
        b = integer(body, "b", 1, 0, x.shape[0] - 1)
        steps = integer(body, "steps", 8, 2, MAX_INTERPOLATION)
        method = body.get("method", "linear")
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
        ya, yb = (None, None) if y is None else (y[a], y[b])
        path = self.locked(None, interpolate, self.model, x[a], x[b], steps, method=method, y_a=ya, y_b=yb)
        return {"images": [png_data_url(img.float().cpu()) for img in path]}


__all__ = ["GALLERY", "MAX_INTERPOLATION", "MAX_N", "MAX_PROMPT", "Served", "png_data_url", "read_png"]
