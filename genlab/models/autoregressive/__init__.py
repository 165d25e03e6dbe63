"""Autoregressive families: a token at a time, each given the ones before it (`gpt`)."""

from genlab.models.autoregressive.gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
