"""pixelcnn through run folders and the command line: train, sample with a temperature, inpaint the lower
part, and the clear refusals (a mask that is not a raster-order suffix, a diffusion-only option)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.cli import main
from genlab.runs import load_run


def test_cli_train_sample_and_inpaint(tmp_path, capsys):
    main(["train", "pixelcnn", "--data", "digits", "--preset", "tiny", "--conditional", "--train.steps", "3",
          "--train.batch-size", "8", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "p"])
    run = str(tmp_path / "p")
    r = load_run(run)
    assert r.model.family == "pixelcnn" and r.model.likelihood_kind == "discrete"
    main(["sample", run, "-n", "4", "--option", "temperature=0.5", "--out", str(tmp_path / "s.png")])
    assert (tmp_path / "s.png").exists()
    main(["inpaint", run, "--image", "test:3", "--mask", "bottom", "-n", "2", "--temperature", "0.8",
          "--out", str(tmp_path / "i.png")])
    assert Image.open(tmp_path / "i.png").size[0] > 16 and "2 completions" in capsys.readouterr().out
    refusals = ((["--mask", "center"], "use a mask that hides the lower part of the image"),
                (["--mask", "bottom", "--steps", "3"],
                 "inpainting takes no --steps; its options: --guidance, --temperature"))
    for argv, message in refusals:
        with pytest.raises(SystemExit):
            main(["inpaint", run, *argv, "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert message in err and not (tmp_path / "x.png").exists()


def test_bernoulli_run_on_binarized_data(tmp_path):
    from genlab.eval.likelihood import evaluate_likelihood

    main(["train", "pixelcnn", "--data", "digits", "--binarize", "dynamic", "--preset", "tiny", "--likelihood",
          "bernoulli", "--train.steps", "2", "--train.batch-size", "8", "--train.no-progress",
          "--runs-dir", str(tmp_path), "--name", "b"])
    r = load_run(tmp_path / "b")
    x = torch.rand(4, *r.model.shape, generator=torch.Generator().manual_seed(0))
    ev = evaluate_likelihood(r.model, x, binarized=r.config.data.binarize, generator=torch.Generator().manual_seed(0))
    assert ev["likelihood_data"] == "binary" and ev["likelihood_label"].startswith("exact NLL; binary data")
