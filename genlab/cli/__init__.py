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

from genlab.cli import (  # noqa: E402
    anomaly,
    apps,
    augment,
    demo,
    edit,
    evaluate,
    gan,
    generate,
    info,
    report,
    sample,
    serve,
    train,
    translate,
)
from genlab.cli.common import ARGV  # noqa: E402

COMMANDS = {"train": train.train, "sample": sample.sample, "reconstruct": sample.reconstruct,
            "interpolate": sample.interpolate, "info": info.info, "datasets": info.datasets, "demo": demo.demo,
            "eval": evaluate.eval_, "bench": evaluate.bench, "stylemix": gan.stylemix,
            "latent-walk": gan.latent_walk, "inpaint": edit.inpaint, "denoise": edit.denoise,
            "dream": apps.dream, "search": apps.search, "arithmetic": apps.arithmetic, "serve": serve.serve,
            "report": report.report, "compress": apps.compress, "decompress": apps.decompress,
            "anomaly": anomaly.anomaly, "augment": augment.augment,
            "translate": translate.translate, "upscale": translate.upscale,
            "generate": generate.generate}

DESCRIPTION = "genlab: generative models, one CLI and one evaluation protocol. `genlab --version` prints the version."


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genlab` console script: every error is one line on stderr, never a traceback.

    Exit status: 0 done; 2 an input genlab refuses (its own errors, which are ValueErrors, and files it
    cannot read or write), with its message; 1 any other exception, as `genlab: error: TYPE: MESSAGE` and a
    hint to set GENLAB_DEBUG=1, which re-raises every error with its traceback; 130 Ctrl-C; 141 (as for
    SIGPIPE) when stdout is closed early, as by `genlab info RUN | head -1`, quietly."""
    from genlab.training.checkpoint import CheckpointError
    from genlab.training.memory import keep_freed_memory
    from genlab.training.trainer import TrainingDiverged

    debug = os.environ.get("GENLAB_DEBUG", "") not in ("", "0")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        from genlab.version import __version__

        print(f"genlab {__version__}")
        return
    keep_freed_memory()  # big tensors made every step reuse freed memory instead of faulting in new pages
    token = ARGV.set(args)  # `train --resume` reads the flags given
    import warnings

    from genlab.viz.progress import format_warning

    warnings.formatwarning = format_warning  # genlab's warnings on one line, without Python's source line
    try:
        preset = "cpu"
        if args[:1] == ["train"]:  # --preset cpu|paper: where train's defaults come from
            args, preset = train.split_preset(args)
            ARGV.set(args)
        # `train FAMILY`: the preset's defaults; `train --config FILE`: the file's values as defaults
        commands = {**COMMANDS, "train": train.command(args, preset)}
        tyro.extras.subcommand_cli_from_dict(commands, args=args, prog="genlab", description=DESCRIPTION,
                                             config=(tyro.conf.CascadeSubcommandArgs,))
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(141) from None
    except KeyboardInterrupt:
        if debug:
            raise
        print("genlab: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (ValueError, OSError, CheckpointError, TrainingDiverged) as e:  # DataError, RunError, ConfigError...
        if debug:
            raise
        print(f"genlab: error: {_one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as e:
        if debug:
            raise
        print(f"genlab: error: {type(e).__name__}: {_one_line(e)} (unexpected; set GENLAB_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        ARGV.reset(token)


def _one_line(e: BaseException, limit: int = 1000) -> str:
    """The message of `e` on one line (an OSError as "STRERROR: FILE"), cut to `limit` characters."""
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        text = f"{e.strerror}: {e.filename}"
    else:
        text = str(e) or type(e).__name__
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit does not fail again on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured): nothing to flush at exit
        pass


__all__ = ["COMMANDS", "main"]
