"""text:PATH: the 90/5/5 split by lines, the training vocabulary with its unknown token, documents per file,
and one-line errors naming the file for binary, empty and non-UTF-8 input."""

from __future__ import annotations

import pytest

from genlab.data import DataError, TokenData, load_data
from genlab.data.text import UNK, split_bounds


def lines(n: int, alphabet: str = "abc") -> str:
    return "".join(f"{alphabet[i % len(alphabet)] * 3} {i}\n" for i in range(n))


def test_text_file_splits_90_5_5_at_line_starts(tmp_path):
    path = tmp_path / "t.txt"
    text = lines(200)
    path.write_text(text)
    parts = {s: load_data(f"text:{path}", split=s) for s in ("train", "valid", "test")}
    assert all(isinstance(d, TokenData) and d.split == s for s, d in parts.items())
    assert "".join(parts[s].text() for s in ("train", "valid", "test")) == text  # disjoint and complete
    for s in ("valid", "test"):
        start, _ = split_bounds(text, s)
        assert text[start - 1] == "\n"  # every cut sits at a line start
    assert abs(len(parts["train"]) / len(text) - 0.9) < 0.02
    assert parts["train"].vocab == parts["test"].vocab and parts["train"].vocab.tokens[0] == UNK


def test_unknown_characters_of_held_out_text_are_counted_and_mapped_to_unk(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(lines(190) + "zzé\n" * 20)  # z and é occur only after the training part
    valid = load_data(f"text:{path}", split="valid")
    assert "z" not in valid.vocab.index and "é" not in valid.vocab.index
    n_unknown = sum(valid.text().count(ch) for ch in "zé") + valid.text().count(UNK)
    assert n_unknown > 0 and int((valid.ids == valid.vocab.unk).sum()) == n_unknown
    assert f"{n_unknown} characters of the valid split are not in the training vocabulary" in valid.source
    train = load_data(f"text:{path}")
    assert "every character of the train split is in the training vocabulary" in train.source


def test_a_folder_is_read_in_sorted_order_with_a_document_per_file(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text(lines(100, "xy"))
    (tmp_path / "a.txt").write_text(lines(100))
    (tmp_path / ".hidden").write_bytes(b"\0\1\2")  # skipped, not an error
    data = load_data(f"text:{tmp_path}")
    first = lines(100)
    assert data.text(0, len(first)) == first and data.doc_starts.tolist() == [0, len(first)]
    assert "2 file(s)" in data.source


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty file"),
    (b"abc\0def\n", "binary file"),
    (b"caf\xe9 au lait\n", "not UTF-8 (byte 0xe9 at offset 3)"),
    (b"  \n\n", "only white space"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    for name in (f"text:{path}", f"text:{tmp_path}"):  # the file itself, and a folder holding it
        with pytest.raises(DataError) as info:
            load_data(name)
        msg = str(info.value)
        assert str(path) in msg and problem in msg and "\n" not in msg


def test_missing_path_empty_folder_and_too_short_text(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(f"text:{tmp_path / 'nope.txt'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files"):
        load_data(f"text:{tmp_path / 'empty'}")
    (tmp_path / "one.txt").write_text("one line\n")
    with pytest.raises(DataError, match="the valid split is empty"):
        load_data(f"text:{tmp_path / 'one.txt'}", split="valid")


def test_valid_split_only_where_a_source_has_one(tmp_path):
    with pytest.raises(ValueError, match="'train', 'test' for digits; got 'valid'"):
        load_data("digits", split="valid")
    with pytest.raises(ValueError, match="for folder:PATH; got 'valid'"):
        load_data(f"folder:{tmp_path}", split="valid")
    with pytest.raises(ValueError, match="got 'dev'"):
        load_data(f"text:{tmp_path}", split="dev")
