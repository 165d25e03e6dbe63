"""The `pixelcnn` family: Gated PixelCNN (van den Oord et al. 2016); docs/PIXELCNN.md.

layers.py: shifted convolutions (vertical and horizontal stacks, masks A and B) and the gated layer;
net.py: the network, split into vertical pass, horizontal pass and per-pixel head for fast sampling;
sampler.py: its cached raster-order sampler;
multiscale.py: the PixelCNN++-style network over subsampled scales (arch=multiscale) and its cropped sampler;
model.py: the family (config, exact likelihood, raster-order sampling and inpainting).
"""

from genlab.models.pixelcnn.model import PixelCNN, PixelCNNConfig

__all__ = ["PixelCNN", "PixelCNNConfig"]
