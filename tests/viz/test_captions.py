"""Captioned grids and prompt rows (genlab.viz.captions): the pictures of the apps and of text-to-image results."""

from __future__ import annotations

import torch

from genlab.viz.captions import prompt_rows


def test_prompt_rows_put_each_prompt_left_of_its_images():
    rows = [("a thick seven", torch.full((3, 1, 8, 8), 0.5)), ("a thin one", torch.zeros(2, 1, 8, 8))]
    out = prompt_rows(rows, scale=2, text_width=100, pad=2)
    # a strip is make_grid's: (8 + 2 pad + 2 pad) x 2 high, (3 images x (8 + 2) + 2) x 2 wide
    assert out.shape == (2 * 24, 100 + 64, 3) and out.dtype.name == "uint8"
    assert (out[:24, :100] < 128).any() and (out[24:, :100] < 128).any()  # both prompts were written
    assert out[5, 100 + 5].tolist() == [128, 128, 128]  # the grey images of row 1 ...
    assert out[24 + 5, 100 + 5].tolist() == [0, 0, 0]  # ... and the black ones of row 2, right of the text


def test_a_caption_with_a_newline_takes_two_lines_in_every_cell():
    from genlab.viz.captions import CAPTION_HEIGHT, captioned_grid

    x = torch.zeros(2, 1, 8, 8)
    one, two = captioned_grid(x, ["a", "b"], nrow=2, pad=0), captioned_grid(x, ["a\nb", "c"], nrow=2, pad=0)
    assert two.shape[0] == one.shape[0] + CAPTION_HEIGHT and two.shape[1] == one.shape[1]
    first_line = slice(16, 16 + CAPTION_HEIGHT)
    second_line = slice(16 + CAPTION_HEIGHT, 16 + 2 * CAPTION_HEIGHT)
    width = two.shape[1] // 2
    assert (two[second_line, :width] < 128).any() and (two[first_line, :width] < 128).any()  # "a" over "b"
    assert not (two[second_line, width:] < 128).any()  # "c" has one line: the second is blank
