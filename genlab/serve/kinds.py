"""What the web app does with runs of the image-pair and image-text kinds, beside sampling: translate a test
source or an uploaded one (pix2pix, cyclegan, sr, srgan), search the test images by text and classify an
image zero-shot from prompts (clip). Written against the data kind and capabilities, never a family name.

`KindRequests` is mixed into `Served` (served.py), which gives it the model, its lock and the test data.
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.serve.values import integer, png_data_url, read_png, text

RETRIEVAL_IMAGES = 1000  # test images a text is searched among
MAX_K = 32  # images per retrieval answer
MAX_CLASSES = 50  # texts of one zero-shot request


class KindRequests:
    """The image-pair and image-text requests of one served run (see the module docstring)."""

    model: Any  # Served gives these, with test_data(), gallery(count) and locked(job, fn, *args)
    run: Any
    kind: str
    _embedded: torch.Tensor | None

    # --- what the page may offer ---------------------------------------------------------------------
    def directions(self) -> list[str] | None:
        """The choices of the model's `direction` option (["ab", "ba"]: it translates both ways), else None."""
        from genlab.serve.options import method_options

        found = [o for o in method_options(self.model.sample, self.model.config) if o.name == "direction"]
        return list(found[0].choices) if found and found[0].choices else None

    def kind_info(self) -> dict[str, Any]:
        """INFO's `translate` ({source_shape, directions, paired}: a model of image pairs) and `embed`
        ({zero_shot}: a model of images and text in one space), each null when the run cannot."""
        from genlab.models.base import Embed, Sampler

        pairs = self.kind == "image-pair" and isinstance(self.model, Sampler)
        embed = self.kind == "image-text" and isinstance(self.model, Embed)
        return {"translate": {"source_shape": list(self.model.spec.source_shape), "directions": self.directions(),
                              "paired": self.paired()} if pairs else None,
                "embed": {"zero_shot": hasattr(self.model, "zero_shot")} if embed else None}

    def paired(self) -> bool:
        """True for pairs, False for two unpaired domains (a run trained with --data-b, as cyclegan is); read
        from the run's config rather than its data, so INFO stays quick."""
        return not self.run.config.data.name_b

    def kind_limits(self) -> dict[str, int]:
        return {"k": MAX_K, "classes": MAX_CLASSES}

    # --- image pairs ---------------------------------------------------------------------------------
    def translate_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../translate {index or image, direction}: the translation of test source `index` (a test
        image of domain B for direction "ba") or of an uploaded PNG of the source size; with the true target of
        a test pair, its PSNR, and for a model that translates both ways the translation back."""
        from genlab.apps.translate import check_pairs_model, translate
        from genlab.eval.metrics import psnr

        check_pairs_model(self.model, "translate images")
        choices = self.directions()
        direction = body.get("direction")
        if choices is None and direction is not None:
            raise ValueError(f"a {self.run.config.family} model translates one way only; leave direction out")
        if choices is not None:
            direction = choices[0] if direction is None else direction
            if direction not in choices:
                raise ValueError(f"direction must be one of {choices}, got {direction!r}")
        backwards = direction == "ba"  # B -> A (genlab.apps.translate's directions "ab" and "ba")
        if body.get("image") is not None:
            if body.get("index") is not None:
                raise ValueError("give a test image's index or an image, not both")
            shape = self.model.spec.shape if backwards else self.model.spec.source_shape
            x, target = read_png(body["image"], tuple(shape), "image"), None
        else:
            data = self.test_data()
            i = integer(body, "index", 0, 0, len(data) - 1)
            x = data.images(slice(i, i + 1)) if backwards else data.sources(slice(i, i + 1))
            target = data.images(slice(i, i + 1)) if data.paired and not backwards else None
        out = self.locked(None, translate, self.model, x, direction=direction).cpu()
        back = None
        if choices is not None:
            back = self.locked(None, translate, self.model, out, direction="ab" if backwards else "ba").cpu()
        return {"input": png_data_url(x[0]), "output": png_data_url(out[0]), "direction": direction,
                "target": None if target is None else png_data_url(target[0]),
                "back": None if back is None else png_data_url(back[0]),
                "psnr": None if target is None else round(float(psnr(out, target)[0]), 2)}

    # --- images and text -----------------------------------------------------------------------------
    def embedded(self) -> torch.Tensor:
        """(n, D) embeddings of the first RETRIEVAL_IMAGES test images, computed once."""
        from genlab.models import require

        require(self.model, "embed", "search images by text")
        if self.kind != "image-text":
            raise ValueError(f"a {self.kind} run has no captioned test images to search")
        if self._embedded is None:
            x, _ = self.gallery(RETRIEVAL_IMAGES)
            self._embedded = self.locked(None, lambda: torch.cat(
                [self.model.embed_images(x[i:i + 500].to(self.model.device)) for i in range(0, len(x), 500)]
            ).float().cpu())
        return self._embedded

    def retrieve_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../retrieve {text, k}: the k test images whose embeddings are nearest to the text's."""
        from genlab.eval.zeroshot import nearest_images

        u = self.embedded()
        query = text(body.get("text"), "text", 'e.g. "a picture of a seven"')
        k = integer(body, "k", 8, 1, MAX_K)
        idx, scores = self.locked(None, nearest_images, self.model, [query], u, k)
        x, y = self.gallery(RETRIEVAL_IMAGES)
        return {"text": query, "searched": int(u.shape[0]),
                "results": [{"index": int(i), "image": png_data_url(x[int(i)]), "score": round(float(c), 4),
                             "label": None if y is None else int(y[int(i)])} for i, c in zip(idx[0], scores[0])]}

    def classify_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../classify {index or image, classes}: the cosine similarity of a test image's (or an
        uploaded image's) embedding to each class's prompts; `classes` a list of texts, one per class
        (default: the dataset's classes and prompts, eval.zeroshot.dataset_prompts)."""
        from genlab.eval.zeroshot import dataset_prompts
        from genlab.models import families_with

        if self.kind != "image-text" or not hasattr(self.model, "zero_shot"):
            raise ValueError(f"a {self.run.config.family} run cannot classify images from prompts; families that "
                             f"can: {', '.join(families_with('embed'))}")
        given = body.get("classes")
        if given is not None:
            if not isinstance(given, list) or not 2 <= len(given) <= MAX_CLASSES:
                raise ValueError(f"classes must be a list of 2 to {MAX_CLASSES} texts, one per class")
            names = [text(t, "each class", 'e.g. ["a seven", "a one"]') for t in given]
            prompts = [[t] for t in names]
        else:
            got = dataset_prompts(self.test_data())
            if got is None:
                raise ValueError(f"{self.run.config.data.name} has no classes to choose from; give classes: "
                                 "a list of texts, one per class")
            names, prompts = got
        label = None
        if body.get("image") is not None:
            if body.get("index") is not None:
                raise ValueError("give a test image's index or an image, not both")
            x = read_png(body["image"], tuple(self.model.shape), "image")
        else:
            data = self.test_data()
            i = integer(body, "index", 0, 0, len(data) - 1)
            x = data.images(slice(i, i + 1))
            label = None if data.y is None or given is not None else int(data.y[i])
        scores = self.locked(None, self.model.zero_shot, x.to(self.model.device), prompts)[0].float().cpu()
        return {"image": png_data_url(x[0]), "classes": names, "scores": [round(float(c), 4) for c in scores],
                "best": int(scores.argmax()), "label": label}


__all__ = ["MAX_CLASSES", "MAX_K", "RETRIEVAL_IMAGES", "KindRequests"]
