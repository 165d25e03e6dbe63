"""genlab.cli.common: repeatable KEY=VALUE flags, run names, and which flags a command line gave."""

from __future__ import annotations

import pytest

from genlab.cli.common import ARGV, flatten, given_flags, parse_options, run_name


@pytest.mark.parametrize("groups, expected", [((), {}), ((("a=1", "b=x"),), {"a": 1, "b": "x"}),
                                              ((("a=1",), ("b-c=true",)), {"a": 1, "b_c": True})])
def test_parse_options(groups, expected):
    assert parse_options(flatten(groups)) == expected


def test_run_name():
    assert run_name("vae", "mnist") == "vae-mnist" and run_name("ae", "folder:/data/my faces") == "ae-my-faces"


def test_given_flags_reads_every_spelling():
    fields = {"steps", "batch_size", "progress", "ema_warmup", "lr"}
    token = ARGV.set(["train", "vae", "--train.steps", "3", "--train.batch_size=4", "--train.no-progress",
                      "--train.ema-warmup", "--latent-dim", "4", "--", "--train.lr", "1"])
    try:
        assert given_flags(fields, prefix="train.") == {"steps", "batch_size", "progress", "ema_warmup"}
        assert given_flags({"latent_dim", "conditional"}) == {"latent_dim"}
    finally:
        ARGV.reset(token)
    assert given_flags(fields, prefix="train.") is None  # called from Python: no command line known
