"""`genlab report RUN`: the self-contained HTML report of a trained run (genlab.reports)."""

from __future__ import annotations

from genlab.config import check_bounds


def report(run: str, /, out: str | None = None, n: int = 64, seed: int = 0, overwrite: bool = False) -> None:
    """Write the HTML report of a trained run: what it is and how to retrain it, training curves, samples,
    the family's own pictures (reconstructions, interpolation and a t-SNE map of the codes for a latent
    family; translations of test sources for image pairs; zero-shot classes and text-to-image retrieval for
    clip; a row of images per prompt for t2i; attention for a text GPT) and the metrics of `genlab eval RUN`
    when it has been run.

    Args:
        run: the run's folder, e.g. runs/vae-mnist.
        out: the HTML file to write (default RUN/report.html).
        n: samples in the grid.
        seed: seed of the samples and of the t-SNE map.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    from genlab.reports import write_run_report

    check_bounds("--n", n, ge=1, le=1024)
    path = write_run_report(run, out, n=n, seed=seed, overwrite=overwrite)
    print(f"report: {path}")
