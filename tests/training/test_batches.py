"""BatchSampler: an empty dataset is named as such (not "lower --train.batch-size")."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataError, TokenData, Vocab
from genlab.training.batches import BatchSampler
from tests.conftest import tiny_images


def test_empty_dataset_says_empty_not_lower_batch_size():
    with pytest.raises(DataError, match="the dataset 'tiny' is empty") as e:
        BatchSampler(tiny_images(0), 8, seed=0)
    assert "batch-size" not in str(e.value)


def test_too_few_tokens_for_one_block_says_so():
    tokens = TokenData(torch.arange(4) % 2, Vocab(("a", "b")), "t", "train")
    with pytest.raises(DataError, match="holds 4 tokens, too few for one block of 9"):
        BatchSampler(tokens, 2, seed=0, block_size=8)
