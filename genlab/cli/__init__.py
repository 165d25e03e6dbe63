"""The `genlab` command: thin wrappers that parse options (tyro), build configs and call the library.

The CLI is the top layer: it may import every part of genlab, and nothing below it imports the CLI.
One module per command group; COMMANDS is the table `genlab --help` lists.
"""

from __future__ import annotations

import os

# Idle OpenMP threads wait passively instead of spinning: on a shared or busy machine spinning burns CPU
# time that CPU-time budgets count, for little gain. Set before torch loads its OpenMP runtime;
# OMP_WAIT_POLICY=ACTIVE in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402

import tyro  # noqa: E402

from genlab.cli import demo, edit, evaluate, gan, info, sample, train  # noqa: E402
from genlab.cli.common import ARGV  # noqa: E402

COMMANDS = {"train": train.train, "sample": sample.sample, "reconstruct": sample.reconstruct,
            "interpolate": sample.interpolate, "info": info.info, "datasets": info.datasets, "demo": demo.demo,
            "eval": evaluate.eval_, "bench": evaluate.bench, "stylemix": gan.stylemix,
            "latent-walk": gan.latent_walk, "inpaint": edit.inpaint, "denoise": edit.denoise}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genlab` console script; errors print one clear line, no traceback."""
    from genlab.data.base import DataError
    from genlab.runs import RunError
    from genlab.training.checkpoint import CheckpointError
    from genlab.training.trainer import TrainingDiverged

    token = ARGV.set(list(sys.argv[1:] if argv is None else argv))  # `train --resume` reads the flags given
    try:
        tyro.extras.subcommand_cli_from_dict(COMMANDS, args=argv, prog="genlab",
                                             config=(tyro.conf.CascadeSubcommandArgs,))
    except (DataError, RunError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError) as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        ARGV.reset(token)


__all__ = ["COMMANDS", "main"]
