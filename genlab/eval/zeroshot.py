"""The image-text evaluation protocol of a `clip` model on captioned data (docs/CLIP.md):

- zero-shot accuracy: each test image is given the class whose prompts (templates filled with the class's
  names, no attribute words) its embedding is nearest to, on average over the prompts (Radford et al. 2021);
  with the held-out templates and training names (the headline), the training templates, and the held-out
  templates with each class's held-out synonym;
- retrieval recall@1/5/10 both ways on held-out pairs (genlab.eval.kinds.retrieval_metrics: each test
  image's first caption, written from a held-out template).

For pictures (genlab report, genlab serve): `dataset_prompts` gives a dataset's class names and zero-shot
prompts, `embed_texts` embeds captions given as strings, `nearest_images` ranks images for a text.
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.data.captions import CaptionSet, class_prompts, normalize_caption
from genlab.eval.kinds import evenly_spaced, retrieval_metrics
from genlab.models import require


@torch.no_grad()
def zero_shot_accuracy(model: Any, x: torch.Tensor, y: torch.Tensor, prompts: list[list[str]]) -> float:
    """Share of images x (n, c, h, w) whose nearest class (by prompts, one list per class) is y (n,)."""
    require(model, "embed", "classify images from prompts")
    if len(prompts) < 2 or any(not p for p in prompts):
        raise ValueError("zero-shot classification needs prompts for at least 2 classes, one or more each")
    pred = model.zero_shot(x, prompts).argmax(1).cpu()
    return float((pred == y.cpu()).float().mean())


@torch.no_grad()
def captioned_metrics(model: Any, test: Any, cs: CaptionSet, *, n_zero_shot: int = 10000,
                      n_retrieval: int = 1000) -> dict[str, float]:
    """Zero-shot accuracies and held-out retrieval of `model` on a captioned test split (see above)."""
    idx = evenly_spaced(len(test), n_zero_shot)
    x, y = test.images(idx), test.y[idx]
    out: dict[str, float] = {"zero_shot_n": len(idx)}
    for key, templates, heldout_names in (("heldout_templates", cs.heldout_templates, False),
                                          ("train_templates", cs.train_templates, False),
                                          ("heldout_templates_heldout_names", cs.heldout_templates, True)):
        out[f"zero_shot_{key}"] = zero_shot_accuracy(model, x, y, class_prompts(cs, templates=templates,
                                                                                heldout_names=heldout_names))
    out.update({f"heldout_{k}": v for k, v in retrieval_metrics(model, test, n=n_retrieval).items()})
    return out


def dataset_prompts(data: Any) -> tuple[list[str], list[list[str]]] | None:
    """(class names, prompts per class) to classify images of `data` zero-shot: for a dataset whose captions
    genlab writes (mnist-captions, fashion-mnist-captions), each class's training names in the held-out
    templates (the protocol's headline prompts), named by its first name; for other labelled data each
    class's name as its one prompt; None for data without labels or with class names its captions'
    vocabulary cannot spell."""
    from genlab.data.base import DataError
    from genlab.data.captioned import CAPTION_SETS

    cs = CAPTION_SETS.get(data.name)
    if cs is not None:
        return [names[0] for names in cs.names], class_prompts(cs, templates=cs.heldout_templates)
    if data.y is None or data.num_classes < 2:
        return None
    names = list(data.classes or [str(k) for k in range(data.num_classes)])
    try:
        for name in names:
            data.vocab.encode(normalize_caption(name))
    except DataError:
        return None
    return names, [[name] for name in names]


@torch.no_grad()
def embed_texts(model: Any, texts: list[str]) -> torch.Tensor:
    """(n, D) unit-norm embeddings of captions given as strings: through the model's own tokenizer when it
    has one (clip's `embed_prompts`), else the characters of its vocabulary, 0-padded.

    Raises:
        DataError (a ValueError): an empty caption, or characters outside a vocabulary without an unknown token.
    """
    require(model, "embed", "embed text")
    if hasattr(model, "embed_prompts"):
        return model.embed_prompts(list(texts))
    rows = [model.spec.vocab.encode(normalize_caption(t)) for t in texts]
    ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return model.embed_text(ids.to(model.device)).float()


@torch.no_grad()
def nearest_images(model: Any, texts: list[str], u: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k images nearest to each text by cosine similarity: (q, k) indices into u and (q, k) similarities.

    Args:
        u: (n, D) unit-norm image embeddings (model.embed_images of the candidates).
    """
    v = embed_texts(model, texts).to(u.device)  # (q, D)
    scores, idx = (v @ u.T).topk(min(k, u.shape[0]), dim=1)  # (q, k)
    return idx, scores


__all__ = ["captioned_metrics", "dataset_prompts", "embed_texts", "nearest_images", "zero_shot_accuracy"]
