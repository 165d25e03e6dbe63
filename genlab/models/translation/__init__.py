"""Image-to-image translation and super-resolution: `pix2pix`, `cyclegan`, `sr`, `srgan` (docs/IMAGE2IMAGE.md).

nets.py holds the U-Net translator (genlab's diffusion U-Net) and the sub-pixel residual network;
losses.py the cycle, identity and feature losses; the GAN losses and discriminators are gan/'s.
"""

from genlab.models.translation.cyclegan import CycleGAN
from genlab.models.translation.pix2pix import Pix2Pix
from genlab.models.translation.sr import SR, SRGAN

__all__ = ["SR", "SRGAN", "CycleGAN", "Pix2Pix"]
