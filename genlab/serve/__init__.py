"""`genlab serve`: a local web app (127.0.0.1 only, fully offline) over trained runs: sampling with the
family's options, latent sliders and interpolation, a canvas to inpaint or denoise, text generation and a
side-by-side comparison, with the JSON API behind it (docs/SERVE.md). Needs the optional `serve` extra
(starlette, uvicorn); importing this package imports neither."""
