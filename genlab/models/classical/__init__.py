"""The classical latent models, fitted by scikit-learn and scored in torch: pca (with probabilistic PCA),
fa (factor analysis), gmm (Gaussian mixtures), svd (truncated SVD), nb (naive Bayes). docs/CLASSICAL.md."""

from genlab.models.classical.fa import FA, FAConfig
from genlab.models.classical.gmm import GMM, GMMConfig
from genlab.models.classical.nb import NB, NBConfig
from genlab.models.classical.pca import PCA, PCAConfig
from genlab.models.classical.svd import SVD, SVDConfig

__all__ = ["FA", "GMM", "NB", "PCA", "SVD", "FAConfig", "GMMConfig", "NBConfig", "PCAConfig", "SVDConfig"]
