"""Golden values: summary numbers of seeded samplers and tiny models, recorded once and compared by
tests/test_golden.py, so that a refactor can be checked not to change any number (as diffusers keeps for
its schedulers). Re-record on purpose only, when a change of numbers is intended:

    python tests/golden/record.py

and `python tests/golden/record.py --sensitivity` lists, per seed, what does not move when it changes.
Every call into the model API goes through the adapters at the top of this file (build, is_conditional,
players, parameters, losses, draw, has_nll, nll, has_latent, encode, decode, reconstruct); when that API
changes, only they change, and the recorded values must still match. Everything runs on the CPU in float32
with one thread; a conditional model is always given explicit labels (arange(n) % 4 for samples).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: import this checkout's genlab, not another editable install
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from genlab.data.base import Batch  # noqa: E402
from genlab.models import build_model  # noqa: E402
from genlab.models.base import Latent, Likelihood  # noqa: E402
from genlab.models.diffusion import samplers as SM  # noqa: E402
from genlab.models.diffusion import schedules as S  # noqa: E402
from genlab.models.diffusion.denoiser import Denoiser  # noqa: E402

VALUES = Path(__file__).with_name("values.json")
SHAPE, NUM_CLASSES = (1, 8, 8), 4
# Every seed used, by role (`--sensitivity` shifts each in turn and lists what does not move).
SEEDS: dict[str, int] = {"build": 0, "batch": 0, "warmup": 100, "losses": 3, "draw": 4, "nll": 5,
                         "x_T": 1, "noise": 2}
WARMUP_LR = 1e-2
WARMUP_STEPS: dict[str, int] = {"dae": 40}  # 8 by default; a dae needs more before its corruption shows


# --- adapters: the only code that calls the model API --------------------------------------------
def build(family: str, options: dict, shape: tuple[int, int, int], num_classes: int, seed: int) -> torch.nn.Module:
    """A freshly initialized model, its weights drawn after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return build_model(family, options, shape=shape, num_classes=num_classes)


def is_conditional(model) -> bool:
    return bool(model.conditional)


def players(model) -> list[str | None]:
    """The player names to evaluate losses for ([None]: the model has one objective)."""
    names = [p.name for p in model.players()]
    return names if len(names) > 1 else [None]


def parameters(model, player: str | None) -> list[torch.nn.Parameter]:
    """The parameters that `player` optimizes (None: all trainable ones)."""
    if player is None:
        return [p for p in model.parameters() if p.requires_grad]
    return next(p for p in model.players() if p.name == player).params


def losses(model, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator,
           player: str | None = None) -> dict[str, torch.Tensor]:
    return model.training_losses(Batch(x, y), generator=gen, player=player)


def draw(model, n: int, labels: torch.Tensor | None, gen: torch.Generator, **options) -> torch.Tensor:
    """n samples, (n, c, h, w) in [0, 1]; labels only for a conditional model."""
    return model.sample(n, cond=labels, generator=gen, **options).x


def has_nll(model) -> bool:
    return isinstance(model, Likelihood)


def nll(model, x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator, **options) -> torch.Tensor:
    """The per-example negative log-likelihood (bound), (b,) nats."""
    return model.nll(x, y, generator=gen, **options)


def has_latent(model) -> bool:
    return isinstance(model, Latent)


def encode(model, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """The code (b, d); for a VAE the posterior mean."""
    return model.encode(x, y)


def decode(model, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return model.decode(z, y)


def reconstruct(model, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return model.reconstruct(x, y)


# --- the cases -------------------------------------------------------------------------------------
# Frozen copies of the tiny options of tests/conftest.py (8x8 single-channel images, 4 classes), kept
# here so that a later change there does not move the golden values. ldm is left out: it needs a
# trained autoencoder run, i.e. the trainer, which is not what these values pin down.
FAMILY_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ae": ("ae", {"arch": "mlp", "hidden": (16, 8), "latent_dim": 4}),
    "dae": ("dae", {"arch": "conv", "channels": (4, 8), "hidden": (16,), "latent_dim": 4, "corruption": "mask"}),
    "vae": ("vae", {"arch": "conv", "channels": (4, 8), "hidden": (16,), "latent_dim": 4}),
    "vae-conditional": ("vae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4, "conditional": True}),
    "ddpm": ("ddpm", {"preset": "tiny", "timesteps": 20, "conditional": True, "cond_drop": 0.3, "sample_steps": 2,
                      "prediction": "eps"}),
    "gan": ("gan", {"latent_dim": 8, "g_hidden": (16,), "d_hidden": (16,), "coverage_every": 0}),
    "dcgan": ("dcgan", {"latent_dim": 8, "channels": (4, 8), "coverage_every": 0}),
    "cgan": ("cgan", {"latent_dim": 8, "channels": (4, 8), "embed_dim": 4, "coverage_every": 0}),
    "wgan-gp": ("wgan-gp", {"latent_dim": 8, "channels": (4, 8), "coverage_every": 0}),
    "stylegan": ("stylegan", {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "g_channels": (8, 4),
                              "channels": (4, 8), "coverage_every": 0}),
}
# Extra sampling options per case (beyond the default sampler), name -> options.
DRAW_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "ddpm": {"ddpm3": {"sampler": "ddpm", "steps": 3}, "ddim3_eta": {"sampler": "ddim", "steps": 3, "eta": 0.5},
             "guidance0": {"guidance": 0.0}},
    "gan": {"truncation": {"truncation": 0.7}},
    "stylegan": {"truncation": {"truncation": 0.7}},
}
NLL_OPTIONS: dict[str, dict[str, Any]] = {"vae": {"k": 3}, "vae-conditional": {"k": 3},
                                          "ddpm": {"k": 1, "t_samples": 4}}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run on one CPU thread (summation order fixed), restoring the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed blobby 8x8 images in [0, 1] on the 8-bit grid, (n, 1, 8, 8), and labels (n,) in [0, 4)."""
    g = gen(SEEDS["batch"])
    c, h, w = SHAPE
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    x = torch.rand(n, c, h, w, generator=g) * 0.3
    for i in range(n):
        r, q = divmod(int(y[i]) % 4, 2)
        x[i, :, r * h // 2:(r + 1) * h // 2, q * w // 2:(q + 1) * w // 2] += 0.6
    return (x.clamp(0, 1) * 255).round() / 255, y


def summary(t: torch.Tensor) -> dict[str, Any]:
    """Shape, sum, mean |t|, std and six entries spread over the flattened tensor. The std is compared
    relatively (see mismatches), so it still sees a change in a tensor of tiny spread around a large mean."""
    flat = t.detach().double().reshape(-1)
    idx = torch.linspace(0, flat.numel() - 1, min(6, flat.numel())).round().long()
    return {"shape": list(t.shape), "sum": float(flat.sum()), "abs_mean": float(flat.abs().mean()),
            "std": float(flat.std(unbiased=False)), "entries": [float(v) for v in flat[idx]]}


# --- diffusion samplers on fixed denoisers ------------------------------------------------------------
MU, SD = 0.3, 0.5
T = 50


def alpha_bar() -> torch.Tensor:
    return S.alpha_bar_from_betas(S.make_betas("cosine", T))


def gaussian_denoiser() -> Denoiser:
    """The closed-form optimal x0-predictor for data N(MU, SD^2) per dimension, no clipping."""
    ab = alpha_bar()

    def net(x_t, t, y=None):
        a = ab[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
        return MU + a.sqrt() * SD ** 2 / (a * SD ** 2 + 1 - a) * (x_t - a.sqrt() * MU)

    return Denoiser(net, ab, prediction="x0", clip=0)


class TinyNet(torch.nn.Module):
    """A seeded conv net f(x_t, t, y) for a class-conditional eps-predictor with a null label."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 1, 3, padding=1)
        self.emb = torch.nn.Embedding(NUM_CLASSES + 1, 4)

    def forward(self, x_t, t, y=None):
        y = torch.full((x_t.shape[0],), NUM_CLASSES) if y is None else y
        h = torch.tanh(self.conv1(x_t) + self.emb(y)[:, :, None, None] + (t.float() / T)[:, None, None, None])
        return self.conv2(h)


def network_denoiser() -> Denoiser:
    """The seeded TinyNet as an eps-predictor with classifier-free guidance w = 2 and x0 clipped to [-1, 1]."""
    net = TinyNet().eval()
    return Denoiser(net, alpha_bar(), prediction="eps", labels=torch.arange(4) % NUM_CLASSES, guidance=2.0,
                    null_label=NUM_CLASSES, clip=1.0)


SAMPLER_CASES: dict[str, tuple[Callable[..., torch.Tensor], dict[str, Any]]] = {
    "ddim": (SM.sample_ddim, {}),
    "ddim_eta0.5": (SM.sample_ddim, {"eta": 0.5}),
    "ddim_eta1": (SM.sample_ddim, {"eta": 1.0}),
    "ddpm_small": (SM.sample_ddpm, {"variance": "small"}),
    "ddpm_large": (SM.sample_ddpm, {"variance": "large"}),
    "dpmpp_2m": (SM.sample_dpmpp_2m, {}),
}
DENOISERS: dict[str, Callable[[], Denoiser]] = {"gaussian": gaussian_denoiser, "network": network_denoiser}


def sampler_values(denoiser: str, case: str) -> dict[str, Any]:
    fn, options = SAMPLER_CASES[case]
    with one_thread(), torch.no_grad():
        torch.manual_seed(0)
        x_T = torch.randn(4, *SHAPE, generator=gen(SEEDS["x_T"]))
        x = fn(DENOISERS[denoiser](), x_T, S.sampling_timesteps(T, 5), generator=gen(SEEDS["noise"]), **options)
    return summary(x)


def repaint_values() -> dict[str, Any]:
    with one_thread(), torch.no_grad():
        torch.manual_seed(0)
        known = batch(4)[0] * 2 - 1
        mask = torch.zeros(1, 1, 8, 8)
        mask[..., 2:6, 2:6] = 1
        x_T = torch.randn(4, *SHAPE, generator=gen(SEEDS["x_T"]))
        x = SM.sample_repaint(gaussian_denoiser(), x_T, S.sampling_timesteps(T, 6, start=30), known=known, mask=mask,
                              jump_length=2, resample=2, generator=gen(SEEDS["noise"]))
    return summary(x[mask.bool().expand_as(x)])  # the filled-in pixels (the others are `known` exactly)


# --- tiny models ---------------------------------------------------------------------------------------
def warmed_up(case: str, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    """The case's model after a few Adam steps (WARMUP_STEPS) of each player in turn on the batch (x, y),
    so that its outputs depend on their inputs and noise visibly (a fresh model's barely do)."""
    family, options = FAMILY_CASES[case]
    model = build(family, options, SHAPE, NUM_CLASSES, SEEDS["build"])
    names = players(model)
    opts = {p: torch.optim.Adam(parameters(model, p), lr=WARMUP_LR) for p in names}
    for step in range(WARMUP_STEPS.get(case, 8)):
        for p in names:
            opts[p].zero_grad()
            losses(model, x, y, gen(SEEDS["warmup"] + step), p)["loss"].backward()
            opts[p].step()
    return model


def model_values(case: str) -> dict[str, Any]:
    """Losses per player, samples, and where the family has them nll and encode/decode/reconstruct,
    of the warmed-up model."""
    x, y = batch(8)
    out: dict[str, Any] = {}
    with one_thread():
        warm = warmed_up(case, x, y)
        for player in players(warm):
            model = copy.deepcopy(warm)  # a copy each: training_losses may move buffers (running moments)
            ls = losses(model, x, y, gen(SEEDS["losses"]), player)
            out[f"losses/{player or 'model'}"] = {k: float(v.detach()) for k, v in sorted(ls.items())}
        model = copy.deepcopy(warm).eval()
        labels = torch.arange(4) % NUM_CLASSES if is_conditional(model) else None
        with torch.no_grad():
            out["sample"] = summary(draw(model, 4, labels, gen(SEEDS["draw"])))
            for name, opts in DRAW_OPTIONS.get(case, {}).items():
                out[f"sample/{name}"] = summary(draw(model, 4, labels, gen(SEEDS["draw"]), **opts))
            yc = y if is_conditional(model) else None
            if has_nll(model):
                binary = FAMILY_CASES[case][0] == "vae"  # a Bernoulli decoder wants binary data
                xb = (x > 0.5).float() if binary else x
                out["nll"] = summary(nll(model, xb, yc, gen(SEEDS["nll"]), **NLL_OPTIONS.get(case, {})))
            if has_latent(model):
                z = encode(model, x, yc)
                out["encode"] = summary(z)
                out["decode"] = summary(decode(model, z, yc))
                out["reconstruct"] = summary(reconstruct(model, x, yc))
    return out


# --- comparing ---------------------------------------------------------------------------------------
RTOL, ATOL = 1e-4, 1e-5
STD_RTOL = 1e-3  # relative only: a fresh DCGAN's samples all lie within 4e-4 of 0.5, below RTOL * 0.5


def mismatches(got: Any, want: Any, path: str = "", numel: int = 1) -> list[str]:
    """Where `got` differs from `want` (nested dicts / lists of numbers), as readable lines."""
    if isinstance(want, dict):
        if not isinstance(got, dict) or sorted(got) != sorted(want):
            return [f"{path}: keys {sorted(got) if isinstance(got, dict) else got!r} != {sorted(want)}"]
        n = math.prod(want["shape"]) if "shape" in want else numel
        return [m for k in want for m in mismatches(got[k], want[k], f"{path}/{k}", n)]
    if isinstance(want, list):
        if path.endswith("/shape"):
            return [] if list(got) == want else [f"{path}: {list(got)} != {want}"]
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r} != {want!r}"]
        return [m for i, (g, w) in enumerate(zip(got, want)) for m in mismatches(g, w, f"{path}[{i}]", numel)]
    if path.endswith("/std"):
        rtol, atol = STD_RTOL, 1e-12
    else:  # a sum adds up numel rounding errors: its absolute tolerance grows as their random walk does
        rtol, atol = RTOL, ATOL * (math.sqrt(numel) if path.endswith("/sum") else 1)
    if not math.isfinite(got) or abs(got - want) > atol + rtol * abs(want):
        return [f"{path}: {got!r} != {want!r} (rtol {rtol}, atol {atol})"]
    return []


def case_keys() -> list[str]:
    """The top-level keys of values.json, one per case."""
    return ([f"sampler/{d}/{c}" for d in DENOISERS for c in SAMPLER_CASES] + ["sampler/gaussian/repaint"]
            + [f"model/{c}" for c in FAMILY_CASES])


def compute(key: str) -> dict[str, Any]:
    """The values of one top-level key of values.json."""
    kind, *rest = key.split("/")
    if kind == "model":
        return model_values(rest[0])
    if rest == ["gaussian", "repaint"]:
        return repaint_values()
    return sampler_values(*rest)


def sensitivity() -> dict[str, list[str]]:
    """For each seed in SEEDS, the recorded parts ("case" or "case:part") that do NOT move when that seed
    is shifted by one: a check that the golden values see what they should (e.g. the noise of a loss)."""
    golden = json.loads(VALUES.read_text())
    unmoved: dict[str, list[str]] = {}
    for name in SEEDS:
        SEEDS[name] += 1
        try:
            unmoved[name] = []
            for key in case_keys():
                got, want = compute(key), golden[key]
                parts = {"": (got, want)} if "shape" in want else {p: (got[p], want[p]) for p in want}
                unmoved[name] += [f"{key}:{p}" if p else key for p, (g, w) in parts.items() if not mismatches(g, w)]
        finally:
            SEEDS[name] -= 1
    return unmoved


if __name__ == "__main__":
    if sys.argv[1:] == ["--sensitivity"]:
        for name, parts in sensitivity().items():
            print(f"seed {name!r} shifted; unmoved: {', '.join(parts) or '-'}")
    elif sys.argv[1:]:
        sys.exit("usage: python tests/golden/record.py [--sensitivity]")
    else:
        values = {key: compute(key) for key in case_keys()}
        VALUES.write_text(json.dumps(values, indent=1) + "\n")
        print(f"wrote {len(values)} cases to {VALUES}")
