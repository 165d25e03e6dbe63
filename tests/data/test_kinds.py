"""The data kinds of core v2: what a batch of each holds, vocabularies, and the errors of bad data."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import Batch, DataError, DataSpec, ImagePairData, ImageTextData, Vocab
from genlab.training.batches import BatchSampler
from tests.conftest import tiny_images
from tests.models.tiny_families import tiny_image_text, tiny_pairs, tiny_tokens


def test_vocab_round_trip_and_unknown_characters():
    v = Vocab.of_text("hello world")
    assert v.decode(v.encode("hold")) == "hold"
    with pytest.raises(DataError, match="not in the vocabulary"):
        v.encode("hellz")
    u = Vocab.of_text("abc", unk="?")
    assert u.decode(u.encode("abz")) == "ab?"
    p = Vocab.of_text("ab", pad=True)
    assert p.tokens[0] == "<pad>" and p.decode([1, 0, 2, 0]) == "ab"
    assert Vocab.from_json(p.to_json()) == p


def test_data_spec_json_round_trip_and_old_runs():
    spec = DataSpec("tokens", (), 0, None, Vocab.of_text("abc"))
    assert DataSpec.from_json(spec.to_json()) == spec
    old = {"shape": [1, 28, 28], "num_classes": 10, "classes": None}  # data_info of a run of genlab 0.1
    assert DataSpec.from_json(old) == DataSpec.image((1, 28, 28), 10)
    with pytest.raises(ValueError, match="unknown data kind"):
        DataSpec("audio")


def test_image_batches_scale_and_binarize():
    data = tiny_images(8)
    idx = torch.tensor([3, 1])
    b = data.batch(idx)
    assert torch.equal(b.x, data.x[idx].float() / 255) and torch.equal(b.y, data.y[idx])
    s = data.batch(idx, binarize="static")
    assert set(s.x.unique().tolist()) <= {0.0, 1.0}
    d1 = data.batch(idx, binarize="dynamic", generator=torch.Generator().manual_seed(0))
    d2 = data.batch(idx, binarize="dynamic", generator=torch.Generator().manual_seed(0))
    assert torch.equal(d1.x, d2.x)


def test_token_batches_are_blocks_of_t_plus_one():
    data = tiny_tokens(100)
    assert data.items(8) == 92
    b = data.batch(torch.tensor([0, 5]), block_size=8)
    assert b.x.shape == (2, 9) and torch.equal(b.x[1], data.ids[5:14])
    assert data.text(0, 7) == "the cat"
    with pytest.raises(ValueError, match="block size"):
        data.items(0)


def test_image_text_batches_pick_one_caption_per_image_with_the_generator():
    data = tiny_image_text(16)
    idx = torch.arange(16)
    a = data.batch(idx, generator=torch.Generator().manual_seed(0))
    b = data.batch(idx, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.text, b.text) and a.text.shape == (16, 24) and a.x.shape == (16, 1, 8, 8)
    for i in range(16):
        assert data.vocab.decode(a.text[i].tolist()) in data.captions[i]
    picks = {data.vocab.decode(data.batch(idx[:1], generator=torch.Generator().manual_seed(s)).text[0].tolist())
             for s in range(20)}
    assert picks == set(data.captions[0])  # both captions of image 0 are drawn


def test_image_text_refuses_missing_or_empty_captions():
    x = tiny_images(2).x
    v = Vocab.of_text("ab", pad=True)
    with pytest.raises(DataError, match="2 images but 1 caption lists"):
        ImageTextData(x, (("a",),), v, "t", "train")
    with pytest.raises(DataError, match="image 1 has an empty or non-text caption"):
        ImageTextData(x, (("a",), ("  ",)), v, "t", "train")
    with pytest.raises(DataError, match="image 0 has an empty"):
        ImageTextData(x, ((), ("a",)), v, "t", "train")
    with pytest.raises(DataError, match="empty or non-text"):
        ImageTextData(x, ((3,), ("a",)), v, "t", "train")


def test_image_pairs_are_aligned():
    data = tiny_pairs(8)
    b = data.batch(torch.tensor([2, 5]))
    assert b.source.shape == (2, 1, 4, 4) and b.x.shape == (2, 1, 8, 8)
    assert torch.equal(b.x, data.images(torch.tensor([2, 5])))
    assert data.spec.source_shape == (1, 4, 4)
    with pytest.raises(DataError, match="3 source images but 2 targets"):
        ImagePairData(data.source[:3], data.target[:2], "p", "train")


@pytest.mark.parametrize("make, block", [(tiny_images, 0), (tiny_tokens, 8), (tiny_pairs, 0),
                                         (tiny_image_text, 0)])
def test_the_batch_of_a_step_is_a_pure_function_of_seed_step_and_rank(make, block):
    data = make(64) if make is not tiny_tokens else make(200)
    a = BatchSampler(data, 4, seed=3, block_size=block, world_size=2, rank=1)
    b = BatchSampler(data, 4, seed=3, block_size=block, world_size=2, rank=1)
    for step in (7, 2, 7):  # any order, as after a resume
        ba, bb = a.batch(step, torch.Generator().manual_seed(step)), b.batch(step, torch.Generator().manual_seed(step))
        assert isinstance(ba, Batch) and torch.equal(ba.x, bb.x)
    other = BatchSampler(data, 4, seed=3, block_size=block, world_size=2, rank=0)
    assert not torch.equal(other.indices(7), a.indices(7))  # ranks take different slices


def test_a_class_filter_is_kept_in_the_spec_and_its_json():
    import torch

    from genlab.data.base import DataSpec, ImageData

    data = ImageData(torch.zeros(6, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 2, 0, 1, 2]), "d", "train",
                     tuple("abc"))
    assert data.spec.kept_classes is None and DataSpec.from_json(data.spec.to_json()) == data.spec
    kept = data.of_classes([2, 0])
    assert kept.spec.kept_classes == (0, 2) and kept.spec.num_classes == 3 and kept.subset(2).kept_classes == (0, 2)
    assert DataSpec.from_json(kept.spec.to_json()) == kept.spec
    old = {k: v for k, v in kept.spec.to_json().items() if k != "kept_classes"}  # a run saved before the field
    assert DataSpec.from_json(old).kept_classes is None
