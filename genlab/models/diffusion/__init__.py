"""Diffusion models, split as in EDM / k-diffusion: schedules (pure functions), a denoiser wrapper,
a small loss, and samplers with one signature; `model.py` holds the `ddpm` family and `latent.py` the
`ldm` family (diffusion in the latent space of a trained genlab autoencoder or VAE)."""
