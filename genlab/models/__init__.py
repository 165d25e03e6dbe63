"""Model families. Adding one: a module here, one line in FAMILIES, one preset, its tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from genlab.models.autoencoder import Autoencoder, DenoisingAutoencoder
from genlab.models.base import GenerativeModel
from genlab.models.diffusion.latent import LDM
from genlab.models.diffusion.model import DDPM
from genlab.models.gan import CGAN, DCGAN, GAN, WGANGP, StyleGAN
from genlab.models.vae import VAE

FAMILIES: dict[str, type[GenerativeModel]] = {
    "ae": Autoencoder,
    "dae": DenoisingAutoencoder,
    "vae": VAE,
    "ddpm": DDPM, "ldm": LDM,
    "gan": GAN, "dcgan": DCGAN, "cgan": CGAN, "wgan-gp": WGANGP, "stylegan": StyleGAN,
}

def family_class(family: str) -> type[GenerativeModel]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; valid: {sorted(FAMILIES)}")
    return FAMILIES[family]

def model_config(family: str, options: dict[str, Any] | Any | None = None) -> Any:
    """The family's config dataclass from a dict of options (lists become tuples); bad keys raise."""
    cls = family_class(family).Config
    if options is None:
        return cls()
    if dataclasses.is_dataclass(options):
        if not isinstance(options, cls):
            raise TypeError(f"{family} expects {cls.__name__}, got {type(options).__name__}")
        return options
    from genlab.config import from_dict

    return from_dict(cls, dict(options))

def build_model(family: str, options: dict[str, Any] | Any | None = None, *,
                shape: tuple[int, int, int], num_classes: int = 0) -> GenerativeModel:
    """A freshly initialized model of `family` for images of `shape` (c, h, w)."""
    return family_class(family)(model_config(family, options), tuple(shape), num_classes)

__all__ = ["FAMILIES", "GenerativeModel", "build_model", "family_class", "model_config"]
