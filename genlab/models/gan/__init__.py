"""GANs: the `gan`, `dcgan`, `cgan`, `wgan-gp` and `stylegan` families.

model.py holds the one GAN class (the families differ in default options); losses.py the losses,
penalties and DiffAugment; nets.py the MLP and DCGAN networks; stylegan.py the style-based generator;
clusters.py self-conditioning; watch.py diagnostics; toy.py 2-D mixtures for quick checks.
"""

from genlab.models.gan.model import CGAN, DCGAN, GAN, WGANGP
from genlab.models.gan.stylegan import StyleGAN

__all__ = ["CGAN", "DCGAN", "GAN", "StyleGAN", "WGANGP"]
