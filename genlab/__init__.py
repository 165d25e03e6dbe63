"""genlab: one API, one CLI and one evaluation protocol for classic generative models.

Nothing heavy happens at import: torch and friends load on first use of the public API.
"""

from __future__ import annotations

from genlab.version import __version__

__all__ = ["__version__", "load_data", "build_model", "train", "sample", "load_run", "translate", "upscale",
           "pipeline"]


def __getattr__(name: str):
    # Lazy public API (PEP 562) so that `import genlab` stays cheap.
    if name == "load_data":
        from genlab.data import load_data

        return load_data
    if name == "build_model":
        from genlab.models import build_model

        return build_model
    if name == "train":
        from genlab.runs import train

        return train
    if name == "pipeline":
        from genlab.pipelines import pipeline

        return pipeline
    if name in ("sample", "load_run", "translate", "upscale"):
        from genlab import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")
