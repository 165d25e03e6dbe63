"""A plain multilayer perceptron."""

from __future__ import annotations

from typing import Literal

from torch import nn

Activation = Literal["relu", "silu", "gelu", "leaky_relu", "tanh"]


def activation(name: Activation) -> nn.Module:
    """The activation module called `name`; a bad name raises ValueError listing the choices."""
    table = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh,
             "leaky_relu": lambda: nn.LeakyReLU(0.2)}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(table)}")
    return table[name]()


def mlp(sizes: list[int] | tuple[int, ...], act: Activation = "relu", *, last_act: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with `act` between them (and after the last if `last_act`).

    Args:
        sizes: [in, hidden..., out], at least two entries.
    """
    assert len(sizes) >= 2, sizes
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_act:
            layers.append(activation(act))
    return nn.Sequential(*layers)
