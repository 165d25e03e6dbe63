"""Text as a character stream (`TokenData`): reading UTF-8 files with one-line errors, a character vocabulary
built from the training split with an explicit unknown token, and `text:PATH` for any file or folder.

`text:PATH`: a UTF-8 file, or a folder whose files (every regular file below it, hidden ones skipped)
are read in sorted path order and concatenated; each file starts a document (`TokenData.doc_starts`).
Windows line ends become "\\n". Split (fixed): the first 90% of the characters are train, the next 5%
valid, the last 5% test, each cut moved forward to the next line start (as nanoGPT's 90/10 split, plus
a validation part). Vocabulary: the sorted characters of the train split after the unknown token UNK
(id 0); characters of the other splits that are not in it become UNK, and the loader counts and
reports them in `TokenData.source` (never silently dropped).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from genlab.data.base import DataError, TokenData, Vocab
from genlab.data.common import Split

UNK = "\ufffd"  # the Unicode replacement character: what an unknown character decodes to
FRACTIONS = {"train": (0.0, 0.90), "valid": (0.90, 0.95), "test": (0.95, 1.0)}


def read_text(path: Path) -> str:
    """The text of a UTF-8 file ("\\r\\n" -> "\\n"); DataError naming the file if it is empty, binary or not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if not raw:
        raise DataError(f"{path}: empty file; give a file with some text")
    if b"\0" in raw:
        raise DataError(f"{path}: binary file (it holds NUL bytes), not text; give UTF-8 text files only")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        "re-save it as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path}: only white space; give a file with some text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_files(path: Path) -> list[Path]:
    """The file itself, or every non-hidden regular file below a folder in sorted order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path} does not exist; give a UTF-8 text file or a folder of them")
    files = sorted(p for p in path.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(f"{path}: no files in this folder; put UTF-8 text files in it")
    return files


def unknown_characters(text: str, vocab: Vocab) -> Counter:
    """How often each character of `text` outside `vocab` occurs (those that become the unknown token)."""
    index = vocab.index
    return Counter(ch for ch in text if ch not in index)


def character_vocab(train_text: str) -> Vocab:
    """The sorted characters of the training text after the unknown token UNK (id 0)."""
    return Vocab.of_text(train_text, unk=UNK)


def token_data(text: str, vocab: Vocab, *, name: str, split: str, source: str,
               doc_starts: list[int] | None = None) -> TokenData:
    """TokenData of `text` in `vocab`; characters outside it become UNK and are counted in `source`."""
    unknown = unknown_characters(text, vocab)
    if unknown:
        shown = "".join(sorted(unknown))[:20]
        source += (f"; {sum(unknown.values())} characters of the {split} split are not in the training "
                   f"vocabulary ({len(unknown)} distinct: {shown!r}) and are read as the unknown token")
    else:
        source += f"; every character of the {split} split is in the training vocabulary"
    ids = torch.tensor(vocab.encode(text), dtype=torch.int64)
    starts = None if doc_starts is None else torch.tensor(sorted(set(doc_starts)), dtype=torch.int64)
    return TokenData(ids, vocab, name, split, source, starts)


def cut_at_line(text: str, i: int) -> int:
    """The first line start at or after offset i (len(text) when there is none)."""
    if i <= 0:
        return 0
    j = text.find("\n", i - 1)
    return len(text) if j < 0 else j + 1


def split_bounds(text: str, split: str) -> tuple[int, int]:
    """[start, stop) of `split` in `text` under the 90/5/5 rule, cuts moved to line starts."""
    lo, hi = FRACTIONS[split]
    return cut_at_line(text, round(lo * len(text))), cut_at_line(text, round(hi * len(text)))


def load_text(name: str, split: Split) -> TokenData:
    """Load `split` of "text:PATH" (see the module docstring)."""
    path = Path(name.split(":", 1)[1]).expanduser()
    files = text_files(path)
    parts, starts, offset = [], [], 0
    for f in files:
        t = read_text(f)
        starts.append(offset)
        parts.append(t)
        offset += len(t)
    text = "".join(parts)
    bounds = {s: split_bounds(text, s) for s in FRACTIONS}
    start, stop = bounds[split]
    if stop <= start:
        raise DataError(f"{name}: the {split} split is empty: the text ({len(text)} characters, "
                        f"{text.count(chr(10))} line ends) is too short for a 90/5/5 split by lines; give more text")
    vocab = character_vocab(text[slice(*bounds["train"])])
    docs = [0] + [s - start for s in starts if start < s < stop]
    where = f"{len(files)} file(s) under {path}" if path.is_dir() else str(path)
    source = f"{where}; {split} = characters [{start}, {stop}) of {len(text)} (90/5/5 by lines)"
    return token_data(text[start:stop], vocab, name=name, split=split, source=source, doc_starts=docs)


__all__ = ["UNK", "character_vocab", "load_text", "read_text", "split_bounds", "text_files", "token_data",
           "unknown_characters"]
