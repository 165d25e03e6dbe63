"""The options a web request may pass to a model's `sample`, `inpaint` or `denoise`, read from the method's
signature and the run's config (never a table per family), with the caps that keep one request from
exhausting memory or holding a model for hours.

An option is a keyword-only parameter of the method (beyond n, cond, generator and the plumbing in
INTERNAL). Its type comes from the type hint; its choices from a Literal hint on the method or on the
config field of the same name (a diffusion model's `sampler`); its default from the signature, or, when
that is None, from the config field of the same name or `sample_<name>` (a diffusion model's
`sample_steps`); its bounds from the config field's declared bounds, capped by CAPS.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from typing import Any, Literal

# Parameters that are plumbing, not choices a person makes.
INTERNAL = frozenset({"n", "cond", "generator", "batch_size", "progress", "on_token", "x", "mask"})

# Upper (and lower) bounds per option name where the method declares none, so that a request cannot ask
# for a chain of a million steps or ten thousand tokens. Names, not families: any family's `steps` is capped.
CAPS: dict[str, tuple[float, float]] = {
    "steps": (1, 1000), "jump_length": (1, 100), "resample": (1, 20), "guidance": (0, 20), "eta": (0, 1),
    "temperature": (0, 5), "truncation": (0.01, 1), "top_k": (0, 10_000), "top_p": (0.01, 1),
    "max_tokens": (0, 1000), "words": (1, 500), "noise_std": (0.001, 2), "strength": (0.01, 1),
}
DEFAULT_CAP = 1000  # an int or float option with no declared bound is kept within [-1000, 1000]


class OptionError(ValueError):
    """A request's option is unknown or has a value the method cannot take; the message says which."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a model method, as the page shows it and the API checks it."""

    name: str
    type: str  # "int", "float", "bool", "choice" or "str"
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "min": self.lo, "max": self.hi,
                "choices": list(self.choices)}

    def check(self, value: Any) -> Any:
        """`value` converted to the option's type, or OptionError "NAME must be ..., got VALUE"."""
        if value is None:
            return None
        if self.type == "bool":
            if not isinstance(value, bool):
                raise OptionError(f"{self.name} must be true or false, got {value!r}")
            return value
        if self.type in ("choice", "str"):
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise OptionError(f"{self.name} must be one of {list(self.choices)}, got {value!r}")
            return value
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (self.type == "int" and not float(value).is_integer()) or not math.isfinite(value):
            what = "an integer" if self.type == "int" else "a number"
            raise OptionError(f"{self.name} must be {what}, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise OptionError(f"{self.name} must be in [{self.lo}, {self.hi}], got {value!r}")
        return int(value) if self.type == "int" else float(value)


def _hint_type(hint: Any) -> tuple[str, tuple[str, ...]] | None:
    """("int" | "float" | "bool" | "choice" | "str", choices) of a type hint; None for anything else."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is not Literal \
        else None
    if args is not None and len(args) == 1:  # Optional[X] / X | None
        hint = args[0]
    if typing.get_origin(hint) is Literal:
        return "choice", tuple(str(a) for a in typing.get_args(hint))
    return {bool: ("bool", ()), int: ("int", ()), float: ("float", ()), str: ("str", ())}.get(hint)


def _config_field(config: Any, name: str) -> tuple[Any, Any, tuple | None]:
    """(value, type hint, declared bounds) of the config field `name` or `sample_<name>`; Nones if neither."""
    if not dataclasses.is_dataclass(config):
        return None, None, None
    hints = typing.get_type_hints(type(config))
    fields = {f.name: f for f in dataclasses.fields(config)}
    for key in (name, f"sample_{name}"):
        if key in fields:
            return getattr(config, key), hints.get(key), fields[key].metadata.get("bounds")
    return None, None, None


def _bounds(name: str, kind: str, declared: tuple | None) -> tuple[float | None, float | None]:
    if kind not in ("int", "float"):
        return None, None
    lo, hi = CAPS.get(name, (-DEFAULT_CAP, DEFAULT_CAP))
    if declared is not None:
        ge, gt, le, lt = declared
        step = 1 if kind == "int" else 1e-6
        lo = max(lo, ge) if ge is not None else max(lo, gt + step) if gt is not None else lo
        hi = min(hi, le) if le is not None else min(hi, lt - step) if lt is not None else hi
    return lo, hi


def method_options(method: Any, config: Any) -> list[Option]:
    """The options of a bound model method (`model.sample`, `model.inpaint`, ...), in signature order."""
    try:
        hints = typing.get_type_hints(method)
    except Exception:  # a hint naming something imported only for type checkers: read the config's
        hints = {}
    out = []
    for name, p in inspect.signature(method).parameters.items():
        if name in INTERNAL or p.kind != p.KEYWORD_ONLY:
            continue
        value, config_hint, declared = _config_field(config, name)
        kind = _hint_type(hints.get(name)) or _hint_type(config_hint)
        if kind is None:
            continue  # an option the page cannot offer (a tensor, a callable): left at its default
        if kind[0] in ("str", "choice") and not kind[1]:
            kind = _hint_type(config_hint) or kind  # choices declared on the config (a Literal field)
        default = p.default if p.default is not None else value
        lo, hi = _bounds(name, kind[0], declared)
        out.append(Option(name, kind[0], default, lo, hi, kind[1]))
    return out


def check_options(options: list[Option], given: Any) -> dict[str, Any]:
    """The request's options checked against `options` (None values dropped: the model's default)."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise OptionError(f"options must be an object of name: value, got {type(given).__name__}")
    known = {o.name: o for o in options}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise OptionError(f"unknown option(s) {unknown}; valid: {sorted(known) or 'none'}")
    checked = {k: known[k].check(v) for k, v in given.items()}
    return {k: v for k, v in checked.items() if v is not None}


__all__ = ["CAPS", "INTERNAL", "Option", "OptionError", "check_options", "method_options"]
