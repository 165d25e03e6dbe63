"""Tiny runs for the command tests: a conv VAE on the embedded 8x8 digits, trained for a few steps."""

from __future__ import annotations

import pytest

from genlab.cli import main

TINY_VAE = ["vae", "--data", "digits", "--arch", "conv", "--channels", "4", "8", "--hidden", "16",
            "--latent-dim", "4", "--train.steps", "12", "--train.batch-size", "32", "--train.no-progress",
            "--train.log-every", "4"]


def cli(*args: str) -> None:
    main(list(args))


@pytest.fixture
def trained(tmp_path):
    cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    return tmp_path / "v"
