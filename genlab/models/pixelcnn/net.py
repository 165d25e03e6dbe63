"""The Gated PixelCNN network (van den Oord et al. 2016): gated layers, skip sum and an output head that
gives, for every pixel and channel, the parameters of p(x_{r,q,i} | pixels before (r, q), channels < i).

Notation: x_in = 2x - 1 in [-1, 1], (b, c, h, w); f feature channels; K outputs per channel (256 logits
of a categorical over the 8-bit levels, 3 per logistic of a mixture, or 1 Bernoulli logit); V the vertical
reach (rows above that the last vertical layer sees). The network is split so that sampling can run it piecewise:
    links = vertical(x_in, y)             # per layer (b, 2f, h, w); row r depends on rows < r only
    feats = horizontal(x_in, links, y)    # (b, f, h, w); (r, q) depends on rows < r and row r left of q
    logits = head(feats, x_in)            # (b, c, K, h, w); channel i also sees channels < i of (r, q)
Channels of one pixel are ordered (R before G before B): the convolutions see whole earlier pixels, and
only the small per-pixel head sees earlier channels of the current one (a masked 1x1 convolution).
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.models.pixelcnn.layers import ChannelMaskedConv, GatedLayer


class PixelHead(nn.Module):
    """The per-pixel output head shared by the networks of this family: features (b, f, h, w) and the pixels
    (for the earlier channels of each pixel) -> (b, c, K, h, w). A network builds it after its own layers
    (`build_head`), which keeps the order of its random initialisation."""

    def build_head(self, c: int, channels: int, outputs: int) -> None:
        self.c, self.outputs = c, outputs
        self.head_in = nn.Conv2d(channels, channels, 1)
        self.head_prev = ChannelMaskedConv(c, channels) if c > 1 else None
        self.head_out = nn.Conv2d(c * channels, c * outputs, 1, groups=c)

    def head(self, feats: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
        """(b, f, h, w) features and the pixels themselves (for earlier channels) -> (b, c, K, h, w) logits."""
        a = self.head_in(torch.relu(feats))
        if self.head_prev is not None:
            a = a.repeat(1, self.c, 1, 1) + self.head_prev(x_in)
        out = self.head_out(torch.relu(a))
        b, _, h, w = out.shape
        return out.view(b, self.c, self.outputs, h, w)


class GatedPixelCNN(PixelHead):
    """Args:
        c: image channels. channels: f. layers: gated layers (>= 1). kernel: k of layers 2 .. L (odd).
        first_kernel: k of the first layer. num_classes: > 0 adds a class embedding to every gated layer.
        outputs: K per channel (256 categorical, 3 x mixtures logistic, 1 Bernoulli).
    """

    def __init__(self, c: int, channels: int, layers: int, kernel: int, first_kernel: int,
                 num_classes: int, outputs: int):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(c if i == 0 else channels, channels, first_kernel if i == 0 else kernel, first=i == 0,
                       last=i == layers - 1, num_classes=num_classes) for i in range(layers))
        self.reach = first_kernel // 2 + (layers - 1) * (kernel // 2)  # V
        self.build_head(c, channels, outputs)

    def vertical(self, x_in: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each layer's link into the horizontal stack, (b, 2f, h, w); row r depends on rows < r of x_in."""
        v, links = x_in, []
        for layer in self.layers:
            v, link = layer.vertical(v, y)
            links.append(link)
        return links

    def horizontal(self, x_in: torch.Tensor, links: list[torch.Tensor],
                   y: torch.Tensor | None = None) -> torch.Tensor:
        """The sum of the skip outputs, (b, f, h, w); pixel (r, q) depends on pixels before it only."""
        h, skip = x_in, 0.0
        for layer, link in zip(self.layers, links):
            h, s = layer.horizontal(h, link, y)
            skip = skip + s
        return skip

    def forward(self, x_in: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, c, h, w) in [-1, 1] -> (b, c, K, h, w) logits of every pixel given the pixels before it."""
        return self.head(self.horizontal(x_in, self.vertical(x_in, y), y), x_in)


__all__ = ["GatedPixelCNN", "PixelHead"]
