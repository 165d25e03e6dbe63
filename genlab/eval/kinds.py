"""The evaluation protocol of each data kind beyond images (whose protocol is protocol.py: FID, KID,
precision/recall ... of samples against real images):

- tokens: next-token loss in nats per token on held-out blocks, perplexity exp(loss), bits per token
  (loss / ln 2), from the model's likelihood; given the training split, the unigram and bigram count
  baselines (eval/text.py) on the same blocks; a topic model (lda) reports its held-out perplexity per word;
- image-pair: PSNR, SSIM and MSE of the model's output for each source against the true target;
- image-text: retrieval recall@k both ways (image -> its caption among n captions, caption -> its image)
  in the model's shared embedding space.
`evaluate_kind(model, data)` picks the protocol by the model's data kind.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genlab.eval.metrics import mse, psnr, ssim
from genlab.eval.text import TopicModel, baselines
from genlab.models import require
from genlab.nn.distributions import nats_to_bits


def evenly_spaced(total: int, n: int) -> torch.Tensor:
    """n indices spread evenly over range(total) (all of them when n >= total): a fixed, seed-free subset."""
    if total < 1:
        raise ValueError("no held-out data to evaluate on")
    n = min(n, total)
    return torch.linspace(0, total - 1, n).round().long()


@torch.no_grad()
def token_metrics(model: Any, data: Any, *, n_blocks: int = 200, batch_size: int = 50,
                  generator: torch.Generator | None = None, train: Any = None) -> dict[str, float]:
    """Loss (nats per token), perplexity and bits per token of a token model on n_blocks blocks of
    model.context + 1 tokens of `data` (a TokenData), spread evenly over it; with `train` (the training
    TokenData) also those of the unigram and bigram fitted on it (`unigram_...`, `bigram_...`), on the same
    blocks. A topic model gives its held-out per-word perplexity instead."""
    if isinstance(model, TopicModel):
        return model.heldout_metrics(data)
    require(model, "likelihood", "give a likelihood of text")
    T = model.context
    starts = evenly_spaced(data.items(T), n_blocks).to(data.ids.device)
    out: dict[str, float] = {}
    others = baselines(train, T) if train is not None else {}
    for prefix, m in {"": model, **{f"{k}_": v for k, v in others.items()}}.items():
        total, count = 0.0, 0
        for i in range(0, len(starts), batch_size):
            batch = data.batch(starts[i:i + batch_size], block_size=T).to(m.device)
            total += float(m.nll(batch.x, generator=generator).double().sum())  # (b,) nats over T tokens each
            count += batch.x.shape[0] * T
        loss = total / count
        out.update({f"{prefix}loss_nats_per_token": loss, f"{prefix}perplexity": math.exp(loss),
                    f"{prefix}bits_per_token": nats_to_bits(loss)})
        out.setdefault("tokens", count)
    return out


@torch.no_grad()
def paired_metrics(model: Any, data: Any, *, n: int = 1000, batch_size: int = 200,
                   generator: torch.Generator | None = None) -> dict[str, float]:
    """PSNR (dB), SSIM and MSE of model.sample(cond=source) against the target of n pairs of `data`."""
    require(model, "sample", "translate images")
    if not getattr(data, "paired", True):
        raise ValueError(f"{data.name} holds two unpaired domains: no source has a true target, so PSNR and SSIM "
                         "are undefined; judge a cyclegan by its cycle error and FID (benchmarks/i2i_cyclegan.py)")
    idx = evenly_spaced(len(data), n)
    parts: dict[str, list[torch.Tensor]] = {"mse": [], "psnr": [], "ssim": []}
    for i in range(0, len(idx), batch_size):
        j = idx[i:i + batch_size]
        source, target = data.sources(j).to(model.device), data.images(j)
        out = model.sample(len(j), cond=source, generator=generator).x.float().cpu().clamp(0, 1)
        parts["mse"].append(mse(out, target))
        parts["psnr"].append(psnr(out, target))
        parts["ssim"].append(ssim(out, target))
    return {**{k: float(torch.cat(v).mean()) for k, v in parts.items()}, "pairs": len(idx)}


@torch.no_grad()
def retrieval_metrics(model: Any, data: Any, *, n: int = 1000, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k of image -> text and text -> image retrieval among n image-caption pairs of `data` (each
    image's first caption), by cosine similarity of the model's embeddings."""
    require(model, "embed", "embed images and text")
    idx = evenly_spaced(len(data), n)
    images = model.embed_images(data.images(idx).to(model.device)).float()  # (n, d), unit norm
    texts = model.embed_text(data.tokens([data.captions[int(i)][0] for i in idx]).to(model.device)).float()
    sim = images @ texts.T  # (n, n): row i = image i against every caption
    target = torch.arange(len(idx), device=sim.device)
    # the rank of the true match: how many candidates score strictly higher
    rank_i2t = (sim > sim[target, target][:, None]).sum(1)
    rank_t2i = (sim.T > sim[target, target][:, None]).sum(1)
    out: dict[str, float] = {"pairs": len(idx)}
    for k in ks:
        out[f"i2t_recall@{k}"] = float((rank_i2t < k).float().mean())
        out[f"t2i_recall@{k}"] = float((rank_t2i < k).float().mean())
    return out


PROTOCOLS = {"tokens": token_metrics, "image-pair": paired_metrics, "image-text": retrieval_metrics}


def evaluate_kind(model: Any, data: Any, **options: Any) -> dict[str, float]:
    """The metrics of the model's data kind on held-out `data` (images: use protocol.evaluate_samples)."""
    kind = model.spec.kind
    if kind not in PROTOCOLS:
        raise ValueError(f"{kind} data is evaluated by the image protocol (genlab eval RUN), not evaluate_kind")
    if data.kind != kind:
        raise ValueError(f"a {model.family} model is evaluated on {kind} data, got {data.kind} data")
    return PROTOCOLS[kind](model, data, **options)


__all__ = ["PROTOCOLS", "evaluate_kind", "evenly_spaced", "paired_metrics", "retrieval_metrics", "token_metrics"]
