"""Raster-order sampling of a GatedPixelCNN one row and one pixel at a time, on cached layer inputs.

Notation as in net.py: b images, f feature channels, c image channels, K outputs per channel; layer l has a
vertical kernel of (p_l + 1) x (2 p_l + 1) and a horizontal one of 1 x kw_l (kw = p, mask A, in the first
layer; p + 1, mask B, after it) reaching p_l columns back.

The full network computes every position at once; a sampler that reruns it per pixel repeats almost all of
that work 784 times. Here every layer's input is kept as it is computed:
- vertical stack: vs[l] (b, ch_l, Pv + h, w), rows padded with Pv zero rows on top (Pv the largest p).
  Entering row r, each layer computes its pre-activation of row r - 1 only (one output row of its
  vertical convolution), which gives the link into row r (the shift down) and row r - 1 of the next
  layer's input.
- horizontal stack: hs[l] (b, Ph + w, ch_l), columns padded with Ph zero columns on the left. At pixel q
  each layer reads the kw_l columns its kernel reaches, as one matrix product, and writes column q of the
  next layer's input.
Per pixel that is a few small matrix products per layer (F.linear: far less overhead than a convolution
call on a 1 x 2 window) instead of a pass over the whole row prefix. The logits equal the full network's
(tests/models/pixelcnn).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.models.pixelcnn.layers import gate
from genlab.models.pixelcnn.net import GatedPixelCNN


def _matrix(conv: torch.nn.Conv2d) -> torch.Tensor:
    """A 1 x kw convolution's weight (o, i, 1, kw) as the matrix (o, kw i) of a product with columns-major
    windows (b, kw, i)."""
    o, i, _, kw = conv.weight.shape
    return conv.weight.permute(0, 3, 1, 2).reshape(o, kw * i).contiguous()


class CachedSampler:
    """Args:
        net: the network (its weights are read, not changed).
        x_in: (b, c, h, w) images in [-1, 1]; positions not drawn yet may hold anything.
        y: (b,) labels of a conditional network, else None.
    """

    def __init__(self, net: GatedPixelCNN, x_in: torch.Tensor, y: torch.Tensor | None):
        self.net = net
        b, c, h, w = x_in.shape
        self.b, self.c, self.w = b, c, w
        layers = net.layers
        self.f = layers[0].v_conv.conv.out_channels // 2
        self.pv = max(layer.v_conv.p for layer in layers)
        self.ph = max(layer.h_conv.p for layer in layers)
        new = x_in.new_zeros
        self.vs = [new(b, c, self.pv + h, w)] + [new(b, self.f, self.pv + h, w) for _ in layers[1:]]
        self.vs[0][:, :, self.pv:] = x_in
        self.hs = [new(b, self.ph + w, c)] + [new(b, self.ph + w, self.f) for _ in layers[1:]]
        self.h_mat = [_matrix(layer.h_conv.conv) for layer in layers]
        self.link_mat = [layer.link.weight[:, :, 0, 0].contiguous() for layer in layers]
        self.res_mat = [None if layer.res is None else layer.res.weight[:, :, 0, 0].contiguous() for layer in layers]
        self.skip_mat = [layer.skip.weight[:, :, 0, 0].contiguous() for layer in layers]
        self.bias = [layer.bias(y, x_in.dtype) for layer in layers]  # (b, 2f, 1, 1) or 0.0
        self.bias_vec = [bias if isinstance(bias, float) else bias[:, :, 0, 0] for bias in self.bias]
        self.links: list[torch.Tensor] = []  # per layer (b, w, 2f): the links into the current row

    def set_pixel(self, r: int, q: int, i: int, value: torch.Tensor) -> None:
        """Record channel i of pixel (r, q) as drawn, (b,) in [-1, 1]."""
        self.vs[0][:, i, self.pv + r, q] = value
        self.hs[0][:, self.ph + q, i] = value

    def start_row(self, r: int) -> None:
        """The links into row r; rows < r of the images must be final."""
        self.links = []
        for i, layer in enumerate(self.net.layers):
            link_bias = layer.link.bias
            if r == 0:  # the shift brings zeros into row 0: its link is the link's bias alone
                self.links.append(link_bias.expand(self.b, self.w, -1))
                continue
            p = layer.v_conv.p
            rows = self.vs[i][:, :, self.pv + r - 1 - p:self.pv + r]  # rows r - 1 - p .. r - 1 (zeros above 0)
            pre = F.conv2d(rows, layer.v_conv.conv.weight, layer.v_conv.conv.bias, padding=(0, p))  # (b, 2f, 1, w)
            if not layer.last:
                self.vs[i + 1][:, :, self.pv + r - 1] = gate(pre + self.bias[i])[:, :, 0]
            self.links.append(F.linear(pre[:, :, 0].transpose(1, 2), self.link_mat[i], link_bias))  # (b, w, 2f)
        self.hs[0][:, self.ph:] = self.vs[0][:, :, self.pv + r].transpose(1, 2)

    def features(self, q: int) -> torch.Tensor:
        """The skip sum at column q of the current row, (b, f); columns < q of the row must be final."""
        skip: torch.Tensor | float = 0.0
        for i, layer in enumerate(self.net.layers):
            p, kw = layer.h_conv.p, layer.h_conv.conv.kernel_size[1]
            window = self.hs[i][:, self.ph + q - p:self.ph + q - p + kw].reshape(self.b, -1)  # (b, kw ch)
            pre = F.linear(window, self.h_mat[i], layer.h_conv.conv.bias) + self.links[i][:, q]
            out = gate(pre + self.bias_vec[i])  # (b, f)
            skip = skip + F.linear(out, self.skip_mat[i], layer.skip.bias)
            if self.res_mat[i] is not None:
                res = F.linear(out, self.res_mat[i], layer.res.bias)
                self.hs[i + 1][:, self.ph + q] = res if layer.first else self.hs[i][:, self.ph + q] + res
        return skip  # type: ignore[return-value]

    def logits(self, feats: torch.Tensor, r: int, q: int) -> torch.Tensor:
        """(b, c, K) outputs of the head at pixel (r, q), from its features and the channels drawn so far."""
        net = self.net
        a = F.linear(torch.relu(feats), net.head_in.weight[:, :, 0, 0], net.head_in.bias)  # (b, f)
        if net.head_prev is not None:
            prev = net.head_prev
            masked = (prev.conv.weight * prev.mask)[:, :, 0, 0]  # (c f, c)
            a = a.repeat(1, self.c) + F.linear(self.vs[0][:, :, self.pv + r, q], masked, prev.conv.bias)
        a = torch.relu(a).view(self.b, self.c, -1)  # (b, c, f)
        weight = net.head_out.weight[:, :, 0, 0].view(self.c, -1, a.shape[-1])  # (c, K, f): one group per channel
        return torch.einsum("bcf,ckf->bck", a, weight) + net.head_out.bias.view(self.c, -1)


__all__ = ["CachedSampler"]
