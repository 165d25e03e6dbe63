"""Shared fixtures: tiny models and tiny data so the whole suite runs on 2 CPU cores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
import torch

from genlab.data.base import DataSpec, ImageData
from genlab.models import model_record

torch.set_num_threads(1)  # tiny tensors: threads only add overhead, and CI has 2 cores


class Options(Mapping):
    """A read-only family -> options mapping that hands out copies, so a test that edits its options leaves
    the others alone. Every entry is plain data: importing this file (what collecting any test does) builds
    and trains nothing; an ldm embeds the record of an untrained tiny autoencoder."""

    def __init__(self, entries: dict[str, dict]):
        self._entries = entries

    def __getitem__(self, family: str) -> dict:
        return dict(self._entries[family])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


TINY_CLIP = {"embed_dim": 8, "channels": (4, 8), "text_dim": 8, "text_depth": 1, "text_heads": 2, "context": 24}


def tiny_caption_spec() -> DataSpec:
    """The DataSpec of tests/models/tiny_families.py's tiny_image_text (its vocabulary), built from text only."""
    from tests.models.tiny_families import tiny_caption_vocab

    return DataSpec("image-text", (1, 8, 8), 4, tuple(str(k) for k in range(4)), tiny_caption_vocab())


# One tiny option set per family, for 8x8 single-channel images. A new family adds its line here;
# tests/models/test_contract.py fails until it does.
TINY: Mapping[str, dict] = Options({
    "ae": {"arch": "mlp", "hidden": (16, 8), "latent_dim": 4},
    "dae": {"arch": "conv", "channels": (4, 8), "hidden": (16,), "latent_dim": 4, "corruption": "mask"},
    "vae": {"arch": "conv", "channels": (4, 8), "hidden": (16,), "latent_dim": 4},
    "cae": {"channels": (4, 8), "latent_channels": 2, "mixture": 2, "rate_weight": 0.05},
    "gan": {"latent_dim": 8, "g_hidden": (16,), "d_hidden": (16,), "coverage_every": 0},
    "dcgan": {"latent_dim": 8, "channels": (4, 8), "coverage_every": 0},
    "cgan": {"latent_dim": 8, "channels": (4, 8), "embed_dim": 4, "coverage_every": 0},
    "wgan-gp": {"latent_dim": 8, "channels": (4, 8), "coverage_every": 0},
    "stylegan": {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "g_channels": (8, 4), "channels": (4, 8),
                 "coverage_every": 0},
    "ddpm": {"preset": "tiny", "timesteps": 20, "conditional": True, "cond_drop": 0.3, "sample_steps": 2},
    # an ldm embeds its autoencoder: the record of a tiny (untrained) ae is all a contract test needs
    "ldm": {"autoencoder_config": model_record("ae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4},
                                               DataSpec.image((1, 8, 8), 4)),
            "hidden": 16, "depth": 1, "timesteps": 20, "conditional": True,
            "cond_drop": 0.3, "sample_steps": 2},
    # zero_init off: an exactly zero last layer (the default, Glow's) passes no gradient to the layers before
    # it on the first step, which the contract's "gradients reach every parameter" check would flag
    "flow": {"preset": "tiny", "zero_init": False},
    # fitted families (fitted on 32 tiny images by the contract tests)
    "pca": {"components": 3},
    "fa": {"components": 3, "max_iter": 50},
    "gmm": {"components": 2, "pca_components": 4, "conditional": True},
    "svd": {"components": 3},
    "nb": {"alpha": 0.5},
    "table": {"k": 2},  # 2^4 entries over 2x2 cells of the 8x8 images
    "pixelcnn": {"preset": "tiny", "conditional": True},
    # text families train on tokens data (tests/models/tiny_families.py TINY_DATA picks it)
    "gpt": {"layers": 2, "heads": 2, "dim": 16, "context": 8},
    # image-text families train on tiny captioned images (tests/models/tiny_families.py TINY_DATA)
    "clip": TINY_CLIP,
    # t2i embeds a clip: the record of a tiny (untrained) one on the tiny captions
    "t2i": {"text_encoder_config": model_record("clip", TINY_CLIP, tiny_caption_spec()),
            "preset": "tiny", "timesteps": 20, "cond_drop": 0.3, "sample_steps": 2},
    "lda": {"topics": 2, "max_words": 40, "min_df": 1, "max_df": 1.0, "iterations": 10},
    # image-pair families (tests/models/tiny_families.py TINY_DATA: 4x4 -> 8x8 pairs; cyclegan 8x8 domains)
    "pix2pix": {"channels": (4, 8), "d_channels": (4,)},
    "cyclegan": {"channels": (4, 8), "d_channels": (4,)},
    "sr": {"width": 4, "blocks": 1},
    "srgan": {"width": 4, "blocks": 1, "feature_weight": 0.0, "d_channels": (4,)},
})


def tiny_images(n: int = 64, shape=(1, 8, 8), classes: int = 4, seed: int = 0) -> ImageData:
    """Blobby synthetic images with labels (class = which quadrant is bright)."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.rand(n, c, h, w, generator=g) * 0.3
    for i in range(n):
        r, q = divmod(int(y[i]) % 4, 2)
        x[i, :, r * h // 2:(r + 1) * h // 2, q * w // 2:(q + 1) * w // 2] += 0.6
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageData(x, y, "tiny", "train", tuple(str(k) for k in range(classes)), "synthetic")


@pytest.fixture
def tiny_data() -> ImageData:
    return tiny_images()


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory):
    """A GENLAB_CACHE folder for the whole eval test session (the digits classifier is built once)."""
    return tmp_path_factory.mktemp("genlab_cache")


@pytest.fixture
def cache_env(eval_cache, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(eval_cache))
    return eval_cache
