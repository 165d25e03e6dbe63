"""Contrastive image-text models: `clip` (clip.py) and the InfoNCE loss (losses.py)."""

from genlab.models.contrastive.clip import CLIP, CLIPConfig

__all__ = ["CLIP", "CLIPConfig"]
