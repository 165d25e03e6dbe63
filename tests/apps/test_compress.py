"""Learned compression (genlab.apps.compress), `genlab compress` and `genlab decompress`."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.apps.compress import (
    MAGIC,
    START_BITS,
    Header,
    compress,
    decompress,
    decompress_symbols,
    encode_symbols,
    model_id,
    read_header,
)
from genlab.cli import main
from genlab.models import build_model
from tests.conftest import TINY, tiny_images


def coder(seed: int = 0, gain: float = 30.0):
    """A tiny cae on 8x8 images whose latents spread over many symbols (a fresh encoder's are all near 0)."""
    torch.manual_seed(seed)
    model = build_model("cae", TINY["cae"], shape=(1, 8, 8)).eval()
    with torch.no_grad():
        model.encoder[-1].weight.mul_(gain)
        model.encoder[-1].bias.normal_(0.0, 3.0)
        model.prior.log_scales.add_(1.0)
    return model


def test_decode_gives_back_the_quantized_latents_exactly():
    model = coder()
    x = tiny_images(20).images()
    c = compress(model, x)
    assert c.symbols.abs().max() > 2  # many symbols in play, not all zeros
    assert torch.equal(decompress_symbols(model, c.data), model.quantize(x))
    assert torch.equal(decompress(model, c.data), model.decode_symbols(model.quantize(x)))  # bit-identical images
    assert torch.equal(decompress(model, compress(model, x[3]).data), model.reconstruct(x[3:4]))


def test_byte_count_and_estimate():
    model = coder()
    x = tiny_images(200).images()
    c = compress(model, x)
    header, start = read_header(c.data)
    # magic, version, n = 200 (a 2-byte varint), c, h, w; the model's id is in the bitstream
    assert start == c.header == len(MAGIC) + 1 + 5 and header.n == 200 and header.shape == (1, 8, 8)
    assert header.version == 2 and header.model is None
    assert len(c.data) == c.header + c.stream_bytes and c.symbol_bits == 8 * c.stream_bytes - START_BITS
    estimate = float(c.estimated_bits.sum())
    assert estimate > 1000
    assert abs(c.symbol_bits - estimate) < 0.02 * estimate + 8  # within 2% plus the rounding to whole bytes
    for i in range(5):  # a file of one image: no start-up cost beyond the id's 33 bits and the last byte
        one = compress(model, x[i:i + 1])
        assert -8 < one.symbol_bits - float(one.estimated_bits.sum()) < 0.02 * float(one.estimated_bits.sum()) + 9


def test_the_model_id_under_the_symbols_costs_less_than_in_the_header():
    """Version 1 put the id in the header and started the coder empty; its first symbol then cost about 19
    bits more than its information. Started on the id, the same symbols take fewer bytes in all."""
    model = coder()
    x = tiny_images(40).images()
    for i in range(0, 40, 4):
        symbols = model.quantize(x[i:i + 4])
        v1 = 4 + len(encode_symbols(model, symbols))  # the id's 4 header bytes + a stream started empty
        v2 = len(encode_symbols(model, symbols, start=model_id(model)))
        assert v2 <= v1 - 1


def test_version_1_files_still_decode():
    model = coder()
    x = tiny_images(6).images()
    symbols = model.quantize(x)
    v1 = Header(6, (1, 8, 8), version=1, model=model_id(model)).to_bytes() + encode_symbols(model, symbols)
    assert torch.equal(decompress_symbols(model, v1), symbols)
    with pytest.raises(ValueError, match="compressed by another model"):
        decompress(coder(seed=1), v1)
    with pytest.raises(ValueError, match="damaged or truncated"):
        decompress(model, v1[:-1])


def test_bad_input_is_one_line_naming_what_works():
    model = coder()
    x = tiny_images(3).images()
    data = compress(model, x).data
    cases = [
        (lambda: compress(model, torch.zeros(1, 1, 9, 9)), r"must be of shape \(n, 1, 8, 8\)"),
        (lambda: compress(build_model("vae", TINY["vae"], shape=(1, 8, 8)), x), "a vae model has none. Families "
         "that have one: cae"),
        (lambda: decompress(model, data[:-2]), "damaged or truncated"),
        (lambda: decompress(model, data[:7]), "truncated"),
        (lambda: decompress(model, b"PNG" + data[3:]), "not a genlab compressed file"),
        (lambda: decompress(model, data[:3] + bytes([9]) + data[4:]),
         "version 9 file; this genlab reads versions 1, 2:"),
        (lambda: decompress(coder(seed=1), data), "compressed by another model"),
    ]
    flipped = bytearray(data)
    flipped[-3] ^= 0x10
    cases.append((lambda: decompress(model, bytes(flipped)), "damaged or truncated"))
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as e:
            call()
        assert "\n" not in str(e.value)


def test_model_id_follows_the_weights():
    a, b = coder(), coder()
    assert model_id(a) == model_id(b) and len(model_id(a)) == 4
    with torch.no_grad():
        b.prior.means.add_(1e-3)
    assert model_id(a) != model_id(b)


def test_files_written_before_the_code_prior_still_decode():
    """The code prior `sample` draws from is fitted when training ends; the file's model id and the coding
    ignore it, so a file written by the run before that fit decodes after it."""
    from genlab.models.code_prior import fit_code_prior

    model = coder()
    x = tiny_images(8).images()
    data = compress(model, x).data
    fit_code_prior(model.code_prior, lambda v: model.encoder(v).float(), tiny_images(64), torch.device("cpu"))
    assert model.code_prior.fitted
    assert torch.equal(decompress(model, data), decompress(coder(), data))


TINY_CAE = ["cae", "--data", "digits", "--channels", "4", "8", "--latent-channels", "2", "--train.steps", "6",
            "--train.batch-size", "16", "--train.no-progress", "--train.log-every", "3"]


def test_cli_round_trip_and_errors(tmp_path, capsys):
    main(["train", *TINY_CAE, "--runs-dir", str(tmp_path), "--name", "c"])
    run = str(tmp_path / "c")
    png = tmp_path / "digit.png"
    Image.fromarray((tiny_images(1).images()[0, 0] * 255).byte().numpy()).save(png)
    out = tmp_path / "two.glz"
    main(["compress", run, "test:0", "test:1", "-o", str(out)])
    said = capsys.readouterr().out
    assert f"{out.stat().st_size} bytes" in said and "2 image(s)" in said
    main(["decompress", run, str(out), "-o", str(tmp_path / "back.png")])
    assert (tmp_path / "back-0.png").exists() and (tmp_path / "back-1.png").exists()
    assert Image.open(tmp_path / "back-1.png").size == (8, 8)

    wrong = tmp_path / "big.png"
    Image.new("L", (9, 9)).save(wrong)
    vae = tmp_path / "v"
    main(["train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "8", "--latent-dim", "2",
          "--train.steps", "2", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "v"])
    capsys.readouterr()
    for args, message in [
        (["compress", run, str(wrong), "-o", str(tmp_path / "x.glz")], "is 9x9; this model takes 8x8 images only"),
        (["compress", str(vae), "test:0", "-o", str(tmp_path / "x.glz")], "Families that have one: cae"),
        (["compress", run, "test:0", "-o", str(tmp_path / "x.png")], "must end in .glz"),
        (["decompress", run, str(png), "-o", str(tmp_path / "y.png")], "not a genlab compressed file"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and err.count("\n") == 1, err


def test_colour_images_round_trip():
    torch.manual_seed(0)
    model = build_model("cae", TINY["cae"], shape=(3, 8, 8)).eval()
    with torch.no_grad():
        model.encoder[-1].weight.mul_(30.0)
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    c = compress(model, x)
    assert read_header(c.data)[0].shape == (3, 8, 8)
    assert torch.equal(decompress_symbols(model, c.data), model.quantize(x))
    assert torch.equal(decompress(model, c.data), model.decode_symbols(model.quantize(x)))
