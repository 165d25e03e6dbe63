"""Learned lossy compression: images -> a model's integer latents -> real bytes, with an entropy coder
(`constriction`'s asymmetric numeral systems, Duda 2013; Bamler 2022; the `apps` extra installs it), and back.
Written against the "compress" capability (`Compressible`: the `cae` family).

The file (version 2), every byte counted:

    magic  b"GLZ" + version (1 byte)
    shape  n, c, h, w as LEB128 varints (the images' count and shape; 1 byte each up to 127)
    data   the ANS bitstream: 32-bit little-endian words, the zero high bytes of the last word left out

The symbols are coded channel by channel, each channel's symbols i.i.d. under that channel's table (the model's
`coding_tables`: integer frequencies, the same on both sides), so decoding gives back exactly the quantized
latents, and the decoded images are exactly `decode_symbols(quantize(x))`.

The model's id (`model_id`: 4 bytes of the SHA-256 of its weights, so that a file is only ever decoded by the
model that wrote it) is the ANS coder's starting state: the symbols are pushed on top of it, and decoding them
must end on exactly it. An ANS coder started empty spends about 19 bits more than the symbols' information on
its first symbol (its state is too small to code it at full precision); started on the id's 32 bits (33 with
constriction's seal), it codes every symbol at its information, so the id and the coder's start-up together
cost a file about 4 bytes instead of about 6. A stream decoded with another model's tables, or a damaged or
truncated one, ends anywhere else (but for a chance of about 2^-33).

Version 1 files (until 2026-12-04: the id as 4 header bytes after the version, the coder started empty and
ending empty) are still read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genlab.apps.latents import check_images
from genlab.models.base import Compressible

MAGIC = b"GLZ"
VERSION = 2  # the version written; READABLE the versions read
READABLE = (1, 2)
ID_BYTES = 4
START_BITS = 8 * ID_BYTES + 1  # the coder's starting state: the id's word under constriction's seal word (1)
SUFFIX = ".glz"


def constriction_module() -> Any:
    """The constriction module, or ValueError saying how to install it."""
    try:
        import constriction
    except ImportError:
        raise ValueError("learned compression needs constriction: pip install 'genlab[apps]' "
                         "(or pip install constriction)") from None
    return constriction


def require_compressible(model: torch.nn.Module) -> None:
    """ValueError naming the families that can compress when `model` cannot."""
    from genlab.models import families_with

    if not isinstance(model, Compressible):
        family = getattr(model, "family", type(model).__name__)
        raise ValueError(f"compression needs a model with quantized latents and an entropy model; a {family} "
                         f"model has none. Families that have one: {', '.join(families_with('compress'))} "
                         "(e.g. genlab train cae --data mnist)")


def model_id(model: torch.nn.Module) -> bytes:
    """ID_BYTES bytes identifying the model's weights: the start of the SHA-256 of its state dict, less the code
    prior that `sample` draws from (it plays no part in coding, and files written before it existed must still
    decode)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        if name.startswith("code_prior."):
            continue
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:ID_BYTES]


# --- the header ------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(data) and shift < 35:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at
    raise ValueError("the header is truncated or damaged")


@dataclass(frozen=True)
class Header:
    """What a file's header says: the number of images n, their shape (c, h, w), its version, and (version 1
    only) the model's id; a version 2 file carries the id in its bitstream."""

    n: int
    shape: tuple[int, int, int]
    version: int = VERSION
    model: bytes | None = None

    def to_bytes(self) -> bytes:
        model = self.model if self.version == 1 else b""
        return MAGIC + bytes([self.version]) + model + b"".join(_varint(v) for v in (self.n, *self.shape))


def read_header(data: bytes) -> tuple[Header, int]:
    """(the header, where the bitstream starts); ValueError for a file that is not a genlab compressed file."""
    if data[:len(MAGIC)] != MAGIC:
        raise ValueError(f"not a genlab compressed file (it does not start with {MAGIC.decode()}); make one with "
                         f"genlab compress RUN IMAGE -o FILE{SUFFIX}")
    at = len(MAGIC)
    if len(data) <= at:
        raise ValueError("the file is truncated: it ends inside the header")
    version = data[at]
    if version not in READABLE:
        raise ValueError(f"a version {version} file; this genlab reads versions {', '.join(map(str, READABLE))}: "
                         "decompress it with the genlab that wrote it")
    at += 1
    model = None
    if version == 1:
        model = data[at:at + ID_BYTES]
        if len(model) < ID_BYTES:
            raise ValueError("the file is truncated: it ends inside the header")
        at += ID_BYTES
    values = []
    for _ in range(4):
        v, at = _read_varint(data, at)
        values.append(v)
    n, c, h, w = values
    return Header(n, (c, h, w), version, model), at


# --- the bitstream -------------------------------------------------------------------------------------
def _channel_models(model: torch.nn.Module) -> list[tuple[int, Any]]:
    """(lo, constriction model or None for a channel of one symbol) per channel, from the integer tables."""
    categorical = constriction_module().stream.model.Categorical
    counts, lo = model.coding_tables()
    out = []
    for k in range(counts.shape[0]):
        row = counts[k][counts[k] > 0].cpu().numpy().astype(np.float64)
        out.append((int(lo[k]), categorical(row, perfect=False) if len(row) > 1 else None))
    return out


def _start_word(start: bytes) -> np.ndarray:
    return np.array([int.from_bytes(start, "little")], dtype=np.uint32)


def encode_symbols(model: torch.nn.Module, symbols: torch.Tensor, start: bytes | None = None) -> bytes:
    """The ANS bitstream of (n, C, h', w') symbols under the model's tables (channel 0 decodes first), pushed on
    top of `start` (ID_BYTES bytes: the coder's starting state, sealed), or on an empty coder when None."""
    stack = constriction_module().stream.stack
    ans = stack.AnsCoder(_start_word(start), seal=True) if start is not None else stack.AnsCoder()
    tables = _channel_models(model)
    for k in reversed(range(symbols.shape[1])):  # a stack: the last channel pushed is the first decoded
        lo, coder_model = tables[k]
        if coder_model is not None:
            ans.encode_reverse((symbols[:, k].flatten() - lo).cpu().numpy().astype(np.int32), coder_model)
    words = ans.get_compressed().astype("<u4").tobytes()
    cut = 0
    while cut < 3 and len(words) > cut and words[-1 - cut] == 0:  # zero high bytes of the last word
        cut += 1
    return words[:len(words) - cut]


def decode_symbols(model: torch.nn.Module, stream: bytes, n: int, start: bytes | None = None) -> torch.Tensor:
    """(n, C, h', w') int64 symbols from an `encode_symbols` bitstream started on `start`; ValueError if decoding
    them does not end on exactly that state (another model's stream, or a damaged or truncated one)."""
    constriction = constriction_module()
    padded = stream + b"\0" * (-len(stream) % 4)
    c, hh, ww = model.latent_shape
    damaged = ValueError("the file is damaged or truncated: its bitstream does not decode to the symbols of "
                         f"{n} images; compress the images again")
    if start is not None:
        damaged = ValueError(f"the file does not decode with this run's model: it was compressed by another model, "
                             f"or it is damaged or truncated; decompress it with the run that compressed it "
                             f"(this run's model id is {start.hex()}), or compress the images again")
    try:
        ans = constriction.stream.stack.AnsCoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))
        channels = []
        for lo, coder_model in _channel_models(model):
            if coder_model is None:
                channels.append(torch.full((n, hh, ww), lo, dtype=torch.int64))
            else:
                got = ans.decode(coder_model, n * hh * ww)
                channels.append(torch.from_numpy(got.astype(np.int64)).view(n, hh, ww) + lo)
        if start is None:
            ended = ans.is_empty()
        else:
            rest = ans.get_compressed(unseal=True)  # raises unless the coder ends on a seal word
            ended = np.array_equal(rest, _start_word(start))
    except Exception:  # constriction refuses some damaged streams outright
        raise damaged from None
    if not ended:
        raise damaged
    return torch.stack(channels, 1)


# --- files ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compressed:
    """A compressed file's bytes and what they hold: `data` the whole file; `header` its header's bytes;
    `symbols` (n, C, h', w') the quantized latents; `estimated_bits` (n,) their bits under the prior."""

    data: bytes
    header: int
    symbols: torch.Tensor
    estimated_bits: torch.Tensor

    @property
    def stream_bytes(self) -> int:
        """The bitstream's bytes: the symbols and, under them, the coder's starting state (the model's id)."""
        return len(self.data) - self.header

    @property
    def symbol_bits(self) -> int:
        """The bitstream's bits less the START_BITS of its starting state: what the symbols cost, to compare with
        `estimated_bits` (it includes the rounding of the stream to whole bytes)."""
        return 8 * self.stream_bytes - START_BITS


@torch.no_grad()
def compress(model: torch.nn.Module, x: torch.Tensor) -> Compressed:
    """Compress (n, c, h, w) images in [0, 1] (uint8 scaled) into one file's bytes.

    Args:
        model: a model with the "compress" capability (cae), in eval mode or not (it is put in eval mode).
        x: images of exactly the model's shape (a compressed file cannot be resized back).
    """
    require_compressible(model)
    x = check_images(x, tuple(model.shape))
    was_training = model.training
    model.eval()
    try:
        symbols = model.quantize(x)
        header = Header(x.shape[0], tuple(model.shape)).to_bytes()
        data = header + encode_symbols(model, symbols, start=model_id(model))
        bits = model.estimated_bits(symbols)
    finally:
        model.train(was_training)
    return Compressed(data, len(header), symbols, bits)


@torch.no_grad()
def decompress_symbols(model: torch.nn.Module, data: bytes) -> torch.Tensor:
    """(n, C, h', w') the quantized latents held in a file's bytes; ValueError naming what is wrong with a file
    of another model, shape or version, or a damaged one."""
    require_compressible(model)
    header, at = read_header(data)
    ours = model_id(model)
    if header.model is not None and header.model != ours:  # version 1: the id is in the header
        raise ValueError(f"the file was compressed by another model (id {header.model.hex()}); this run's model is "
                         f"{ours.hex()}: decompress it with the run that compressed it")
    if header.shape != tuple(model.shape):
        raise ValueError(f"the file holds {'x'.join(map(str, header.shape))} images; this model codes "
                         f"{'x'.join(map(str, model.shape))} images")
    return decode_symbols(model, data[at:], header.n, start=ours if header.version >= 2 else None)


@torch.no_grad()
def decompress(model: torch.nn.Module, data: bytes) -> torch.Tensor:
    """(n, c, h, w) images in [0, 1] from a file's bytes: exactly decode_symbols(quantize(x)) of the images
    compressed."""
    symbols = decompress_symbols(model, data)
    was_training = model.training
    model.eval()
    try:
        return model.decode_symbols(symbols)
    finally:
        model.train(was_training)


# --- the same images through Pillow's codecs, for rate-distortion comparisons ---------------------------------
CODECS = {"JPEG": (1, 5, 10, 20, 30, 50, 70, 90), "WEBP": (0, 5, 10, 20, 30, 50, 70, 90),
          "AVIF": (0, 5, 10, 20, 30, 50, 70, 90)}  # the quality settings of each codec's curve
CODEC_OPTIONS = {"JPEG": {"optimize": True}, "WEBP": {"method": 6}, "AVIF": {"speed": 6}}


def pillow_codecs() -> dict[str, bool]:
    """Which of JPEG, WebP and AVIF this Pillow can write."""
    from PIL import features

    return {"JPEG": bool(features.check("jpg")), "WEBP": bool(features.check("webp")),
            "AVIF": bool(features.check("avif"))}


def codec_round_trip(arr: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    """(bytes of the whole file, the decoded image) for a (h, w) grey or (h, w, 3) colour uint8 image."""
    import io

    from PIL import Image

    mode = "L" if arr.ndim == 2 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt, quality=quality, **CODEC_OPTIONS[fmt])
    data = buf.getvalue()
    return len(data), np.array(Image.open(io.BytesIO(data)).convert(mode))


def pillow_arrays(x: torch.Tensor) -> np.ndarray:
    """(n, c, h, w) in [0, 1] -> (n, h, w) grey or (n, h, w, 3) colour uint8 arrays, as Pillow takes them."""
    u8 = (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return u8[:, 0].numpy() if u8.shape[1] == 1 else u8.permute(0, 2, 3, 1).numpy()


def from_pillow_arrays(arrays) -> torch.Tensor:
    """The inverse of pillow_arrays: a sequence of (h, w) or (h, w, 3) uint8 arrays -> (n, c, h, w) in [0, 1]."""
    y = torch.from_numpy(np.stack(arrays)).float().div(255)
    return y.unsqueeze(1) if y.ndim == 3 else y.permute(0, 3, 1, 2)


def codec_curve(x: torch.Tensor, fmt: str, qualities: tuple[int, ...] | None = None) -> list[dict[str, float]]:
    """[{"quality", "bits_per_pixel", "psnr"}]: images x (n, c, h, w) in [0, 1] saved one file each at every quality;
    bits per pixel count every byte of every file (8 bytes / (h w)), PSNR is the mean per image (dB)."""
    from genlab.models.autoencoder import psnr

    arrays = pillow_arrays(x)
    pixels = x.shape[2] * x.shape[3]
    out = []
    for q in qualities or CODECS[fmt]:
        sizes, decoded = zip(*(codec_round_trip(a, fmt, q) for a in arrays))
        y = from_pillow_arrays(decoded)
        out.append({"quality": q, "bits_per_pixel": 8 * float(np.mean(sizes)) / pixels,
                    "psnr": float(psnr(y, x.float()).mean())})
    return out


def file_point(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """{"bits_per_pixel", "psnr"} of the model's own files: each image of x compressed to a file of its own (header
    included) and decompressed."""
    from genlab.models.autoencoder import psnr

    sizes, decoded = [], []
    for i in range(len(x)):
        c = compress(model, x[i:i + 1])
        sizes.append(len(c.data))
        decoded.append(decompress(model, c.data))
    pixels = x.shape[2] * x.shape[3]
    return {"bits_per_pixel": 8 * float(np.mean(sizes)) / pixels,
            "psnr": float(psnr(torch.cat(decoded).float(), x.float()).mean())}


__all__ = ["CODECS", "CODEC_OPTIONS", "MAGIC", "READABLE", "START_BITS", "SUFFIX", "VERSION", "Compressed", "Header",
           "codec_curve", "codec_round_trip", "compress", "constriction_module", "decode_symbols", "decompress",
           "decompress_symbols", "encode_symbols", "file_point", "from_pillow_arrays", "model_id", "pillow_arrays",
           "pillow_codecs", "read_header", "require_compressible"]
