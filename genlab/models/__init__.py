"""Model families. Adding one: a module here, one line in FAMILIES, one preset, its tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from genlab.data.base import DataSpec
from genlab.models.autoencoder import Autoencoder, DenoisingAutoencoder
from genlab.models.autoregressive.gpt import GPT
from genlab.models.base import GenerativeModel, capabilities
from genlab.models.classical import FA, GMM, NB, PCA, SVD
from genlab.models.compression import CompressiveAutoencoder
from genlab.models.contrastive import CLIP
from genlab.models.diffusion.latent import LDM
from genlab.models.diffusion.model import DDPM
from genlab.models.diffusion.text2image import T2I
from genlab.models.explicit import Table
from genlab.models.flow.model import Flow
from genlab.models.gan import CGAN, DCGAN, GAN, WGANGP, StyleGAN
from genlab.models.lda import LDA
from genlab.models.pixelcnn import PixelCNN
from genlab.models.translation import SR, SRGAN, CycleGAN, Pix2Pix
from genlab.models.vae import VAE

FAMILIES: dict[str, type[GenerativeModel]] = {
    "ae": Autoencoder,
    "dae": DenoisingAutoencoder,
    "vae": VAE,
    "cae": CompressiveAutoencoder,  # quantized latents + a learned prior: a learned codec (genlab compress)
    "ddpm": DDPM, "ldm": LDM,
    "flow": Flow,
    "gan": GAN, "dcgan": DCGAN, "cgan": CGAN, "wgan-gp": WGANGP, "stylegan": StyleGAN,
    "pca": PCA, "fa": FA, "gmm": GMM, "svd": SVD, "nb": NB,  # classical, fitted by scikit-learn (docs/CLASSICAL.md)
    "table": Table,  # the explicit joint table of k x k binary cells, fitted by counting (docs/LIKELIHOOD.md)
    "pixelcnn": PixelCNN,  # autoregressive over pixels (docs/PIXELCNN.md)
    "gpt": GPT,
    "lda": LDA,
    # image-pair families: translation and super-resolution (docs/IMAGE2IMAGE.md)
    "pix2pix": Pix2Pix, "cyclegan": CycleGAN, "sr": SR, "srgan": SRGAN,
    "clip": CLIP,  # image-text embeddings by InfoNCE; no sampling (docs/CLIP.md)
    "t2i": T2I,  # text-to-image diffusion on a clip run's text embeddings (docs/CLIP.md)
}


def family_class(family: str) -> type[GenerativeModel]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid: {sorted(FAMILIES)}")
    return FAMILIES[family]


def model_config(family: str, options: dict[str, Any] | Any | None = None) -> Any:
    """The family's config dataclass from a dict of options (lists become tuples), validated: bad keys,
    types, choices and bounds raise ConfigError naming the option."""
    from genlab.config import from_dict, validate

    cls = family_class(family).Config
    if options is None:
        return validate(cls())
    if dataclasses.is_dataclass(options):
        if not isinstance(options, cls):
            raise TypeError(f"{family} expects {cls.__name__}, got {type(options).__name__}")
        return validate(options)
    return validate(from_dict(cls, dict(options)))


def build_model(family: str, options: dict[str, Any] | Any | None = None, *, spec: DataSpec | None = None,
                shape: tuple[int, ...] | None = None, num_classes: int = 0) -> GenerativeModel:
    """A freshly initialized model of `family` for data described by `spec` (or, for images, `shape`
    (c, h, w) and `num_classes`)."""
    if spec is None:
        if shape is None:
            raise TypeError("build_model needs spec= (a DataSpec) or shape= (c, h, w) for images")
        spec = DataSpec.image(shape, num_classes)
    return family_class(family)(model_config(family, options), spec)


def model_record(family: str, options: dict[str, Any], spec: DataSpec) -> str:
    """A model's family, options and data spec as JSON: what a model that embeds another (an ldm's
    autoencoder) stores in its own config to rebuild it; the weights travel in its checkpoint."""
    import json

    return json.dumps({"family": family, "model": options, "data": spec.to_json()}, sort_keys=True)


def families_with(capability: str) -> list[str]:
    """The families that have `capability`, for error messages that say what would work."""
    return sorted(name for name, cls in FAMILIES.items() if capability in capabilities(cls))


def require(model: Any, capability: str, what: str) -> None:
    """ValueError naming the families that can do `what` when `model` lacks `capability`."""
    if capability not in capabilities(model):
        family = getattr(model, "family", type(model).__name__)
        can = ", ".join(families_with(capability))
        raise ValueError(f"a {family} model cannot {what}; families that can: {can}")


__all__ = ["FAMILIES", "GenerativeModel", "build_model", "families_with", "family_class", "model_config",
           "model_record", "require"]
