"""GANs: the `gan`, `dcgan`, `cgan`, `wgan-gp` and `stylegan` families.

model.py holds the one GAN class (the families differ in default options, config.py; `arch` picks the
generator: MLP, DCGAN or style-based); losses.py the losses, penalties and DiffAugment; nets.py the MLP
and DCGAN networks; stylegan.py the style-based generator; clusters.py self-conditioning; watch.py the
divergence watchdog; toy.py 2-D mixtures for quick checks.
"""

from genlab.models.gan.model import CGAN, DCGAN, GAN, WGANGP, StyleGAN

__all__ = ["CGAN", "DCGAN", "GAN", "StyleGAN", "WGANGP"]
