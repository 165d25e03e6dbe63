"""EM for a mixture of products of Bernoullis (nb's latent classes): it recovers separated prototypes, its
M step is the smoothed weighted count, and it stops on tol, max_iter or the deadline."""

from __future__ import annotations

import torch

from genlab.models.classical.bernoulli_mixture import component_log_joint, fit_bernoulli_mixture


def two_prototypes(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """n binary 12-pixel images, 2/3 of them the left half lit and 1/3 the right half, 5% of pixels flipped."""
    g = torch.Generator().manual_seed(0)
    which = (torch.arange(n) % 3 == 2).long()
    proto = torch.zeros(2, 12)
    proto[0, :6] = proto[1, 6:] = 1
    flip = (torch.rand(n, 12, generator=g) < 0.05).float()
    return (proto[which] - flip).abs(), which


def test_em_recovers_the_prototypes_and_their_weights():
    x, which = two_prototypes()
    mix = fit_bernoulli_mixture(x, 2, alpha=1.0, tol=1e-6, generator=torch.Generator().manual_seed(1))
    order = mix.probs[:, 0].argsort(descending=True)  # component 0 = the left-lit one
    probs, weights = mix.probs[order], mix.weights[order]
    assert mix.converged and mix.iterations < 100
    assert torch.allclose(weights, torch.tensor([2 / 3, 1 / 3]), atol=1e-3)
    assert (probs[0, :6] > 0.85).all() and (probs[0, 6:] < 0.15).all() and (probs[1, 6:] > 0.85).all()  # 5% flips
    # at the fixed point, the M step is the smoothed count over the images each component owns
    r = torch.softmax(component_log_joint(x, weights.log(), probs), 1)
    assert torch.allclose(r.argmax(1), which)
    m_step = (r.T @ x + 1.0) / (r.sum(0)[:, None] + 2.0)
    assert torch.allclose(m_step, probs, atol=1e-4)
    # the mean log-likelihood it reports is that of the parameters it returns
    ll = torch.logsumexp(component_log_joint(x, weights.log(), probs), 1).mean()
    assert abs(float(ll) - mix.log_likelihood) < 1e-3


def test_one_component_is_the_smoothed_frequency():
    x, _ = two_prototypes(30)
    mix = fit_bernoulli_mixture(x, 1, alpha=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mix.probs[0], (x.sum(0) + 0.5) / (30 + 1.0))
    assert mix.weights.tolist() == [1.0]


def test_em_stops_at_max_iter_and_at_the_deadline():
    x, _ = two_prototypes()
    capped = fit_bernoulli_mixture(x, 3, max_iter=2, tol=1e-12, generator=torch.Generator().manual_seed(0))
    assert capped.iterations == 2 and not capped.converged
    late = fit_bernoulli_mixture(x, 3, tol=1e-12, deadline=0.0, generator=torch.Generator().manual_seed(0))
    assert late.iterations == 1
    assert torch.allclose(late.weights.sum(), torch.tensor(1.0))
