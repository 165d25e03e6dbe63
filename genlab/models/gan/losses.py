"""GAN losses, penalties and differentiable augmentation, as small pure functions.

Notation: D(x) is the discriminator's raw score ("logit" for the classic losses, "critic value" for
WGAN); f_r = D(x_real), f_f = D(G(z)); each loss is a mean over the batch.

    ns       (non-saturating; Goodfellow et al. 2014, sec. 3)
             L_D = softplus(-f_r) + softplus(f_f)      [= -log D(x) - log(1 - D(G(z))), D = sigmoid(f)]
             L_G = softplus(-f_f)                      [= -log D(G(z))]
    minimax  (the original saturating game; same L_D)
             L_G = -softplus(f_f)                      [= log(1 - D(G(z)))]
    hinge    (Lim & Ye 2017; Miyato et al. 2018)
             L_D = relu(1 - f_r) + relu(1 + f_f),      L_G = -f_f
    wgan     (Arjovsky et al. 2017)
             L_D = f_f - f_r,                          L_G = -f_f

Pointwise optima of L_D for fixed densities p_r, p_g (what the tests check): ns/minimax
f* = log(p_r / p_g), i.e. D* = p_r / (p_r + p_g); hinge f* = sign(p_r - p_g) (clipped to [-1, 1]);
wgan is unbounded without a Lipschitz constraint, which the gradient penalty supplies:

    GP = E_xhat[(||grad_x D(xhat)||_2 - 1)^2],  xhat = eps x_real + (1 - eps) x_fake, eps ~ U[0, 1]
                                                (Gulrajani et al. 2017, eq. 3; weight lambda = 10)
    R1 = E_x_real[||grad_x D(x)||_2^2]          (Mescheder et al. 2018; added as gamma / 2 * R1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F

Loss = Literal["ns", "minimax", "hinge", "wgan"]
LOSSES: tuple[str, ...] = get_args(Loss)
AUGMENTS = ("color", "translation", "cutout")


def check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")
    return loss


def d_loss(loss: str, f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (a scalar) from its scores on real and fake batches, each (b,)."""
    f_real, f_fake = f_real.float(), f_fake.float()
    if loss in ("ns", "minimax"):
        return F.softplus(-f_real).mean() + F.softplus(f_fake).mean()
    if loss == "hinge":
        return F.relu(1.0 - f_real).mean() + F.relu(1.0 + f_fake).mean()
    if loss == "wgan":
        return f_fake.mean() - f_real.mean()
    raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")


def g_loss(loss: str, f_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss (a scalar) from the discriminator's scores on its samples, (b,)."""
    f_fake = f_fake.float()
    if loss == "ns":
        return F.softplus(-f_fake).mean()
    if loss == "minimax":
        return -F.softplus(f_fake).mean()
    if loss in ("hinge", "wgan"):
        return -f_fake.mean()
    raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")


def d_means(loss: str, f_real: torch.Tensor, f_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """Diagnostics: mean D(real) and D(fake) (probabilities for ns/minimax, raw scores otherwise),
    and for wgan the Wasserstein estimate mean f_r - mean f_f."""
    f_real, f_fake = f_real.detach().float(), f_fake.detach().float()
    if loss in ("ns", "minimax"):
        out = {"d_real": torch.sigmoid(f_real).mean(), "d_fake": torch.sigmoid(f_fake).mean()}
    else:
        out = {"d_real": f_real.mean(), "d_fake": f_fake.mean()}
    if loss == "wgan":
        out["wasserstein"] = f_real.mean() - f_fake.mean()
    return out


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's two-sided penalty E[(||grad D(xhat)||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3).

    Args:
        critic: x (b, ...) -> scores (b,).
        real, fake: (b, ...) batches.
        eps: (b,) mixing weights in [0, 1].
    """
    shape = (-1,) + (1,) * (real.dim() - 1)
    x_hat = (eps.view(shape) * real.detach() + (1.0 - eps.view(shape)) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return (grad.float().flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(f_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 = E[||grad_x D(x_real)||^2] (Mescheder et al. 2018); `real` must require grad and
    `f_real` (b,) must have been computed from it."""
    (grad,) = torch.autograd.grad(f_real.float().sum(), real, create_graph=True)
    return grad.float().flatten(1).pow(2).sum(1).mean()


# --- DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training") --
def parse_policy(policy: str) -> tuple[str, ...]:
    """"color,translation,cutout" -> a tuple of known augmentations; "" -> ()."""
    parts = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in parts if p not in AUGMENTS]
    if bad:
        raise ValueError(f"unknown DiffAugment op(s) {bad}; valid: {', '.join(AUGMENTS)} (comma-separated)")
    return parts


def _rand(b: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(b, 1, 1, 1, generator=generator, device=x.device, dtype=torch.float32).to(x.dtype)


def augment_color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image; x in [-1, 1]."""
    b = x.shape[0]
    x = x + (_rand(b, x, generator) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(b, x, generator) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(b, x, generator) + 0.5) + mean


def augment_translation(x: torch.Tensor, generator: torch.Generator | None = None,
                        ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size, filling with zeros (differentiable indexing)."""
    b, _, h, w = x.shape
    ph, pw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-ph, ph + 1, (b, 1), generator=generator, device=x.device)
    tx = torch.randint(-pw, pw + 1, (b, 1), generator=generator, device=x.device)
    rows = (torch.arange(h, device=x.device)[None] + ty + ph)  # (b, h) indices into the padded image
    cols = (torch.arange(w, device=x.device)[None] + tx + pw)  # (b, w)
    padded = F.pad(x, (pw, pw, ph, ph))  # (b, c, h + 2ph, w + 2pw)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2)


def augment_cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of `ratio` times the image size at a random place in each image."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - sh % 2), (b, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w + (1 - sw % 2), (b, 1, 1), generator=generator, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = ((ys - cy + sh // 2) >= 0) & ((ys - cy + sh // 2) < sh) & ((xs - cx + sw // 2) >= 0) & \
        ((xs - cx + sw // 2) < sw)  # (b, h, w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": augment_color, "translation": augment_translation, "cutout": augment_cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the ops of `policy` in order; the same function is applied to real and fake images
    before the discriminator (both in D's and in G's loss), so gradients flow through it to G."""
    for op in policy:
        x = _OPS[op](x, generator)
    return x
