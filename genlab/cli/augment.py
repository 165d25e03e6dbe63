"""`genlab augment`: do a conditional run's generated images help a classifier? (genlab.apps.augment)"""

from __future__ import annotations

import tyro

from genlab.cli.common import output_file
from genlab.config import check_bounds


def augment(run: tyro.conf.Positional[str], generated_per_class: int = 1000, seeds: tuple[int, ...] = (0, 1, 2),
            steps: int = 600, test: int = 10_000, real_share: float = 0.5, out: str = "augment.png",
            overwrite: bool = False) -> None:
    """Data augmentation: train genlab's classifier on the run's own training images, on them plus images the run
    generates, and on the generated images alone (the Classification Accuracy Score); print the test accuracy of
    each (mean ± std over seeds) and draw real and generated images of every class.

    Train the run on few labelled images to see the low-data gain, e.g.
    `genlab train ddpm --data fashion-mnist --per-class 100 --conditional`.

    Args:
        run: the run folder (runs/NAME) of a class-conditional model (ddpm, vae, cgan, gmm, pixelcnn, ... trained
            with --conditional).
        generated_per_class: generated images of each class.
        seeds: classifier seeds (each trains the three classifiers once).
        steps: optimizer steps of each classifier.
        test: real test images scored (the first ones of the run's dataset).
        real_share: the real images' share of the mixed training set (they are repeated to make it up).
        out: the PNG to write: a row of real and a row of generated images per class (its folder must exist).
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import statistics

    import torch

    from genlab.apps.augment import generated_images
    from genlab.eval.cas import augmentation_scores, check_real_share
    from genlab.runs import load_run, load_training_data
    from genlab.viz.grid import save_grid

    output_file(out, overwrite=overwrite)
    check_bounds("--generated-per-class", generated_per_class, ge=1, le=100_000)
    check_bounds("--steps", steps, ge=1, le=1_000_000)
    check_bounds("--test", test, ge=1)
    check_real_share(real_share, "--real-share")  # before the run is loaded and images generated
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    r = load_run(run)
    real = load_training_data(r.config.data, split="train")
    if real.kind != "image" or real.y is None:
        raise ValueError(f"augmentation needs labelled images; {r.config.data.name} has none")
    held = load_training_data(r.config.data, split="test")
    test_x, test_y = held.x[:test], held.y[:test]
    hflip = r.config.data.name.lower().startswith("fashion")
    gen_x, gen_y = generated_images(r.model, generated_per_class, generator=torch.Generator().manual_seed(0),
                                    progress=True)
    runs = [augmentation_scores(real.x, real.y, gen_x, gen_y, test_x, test_y, num_classes=real.num_classes,
                                seed=s, steps=steps, hflip=hflip, real_share=real_share) for s in seeds]
    k = real.num_classes
    show = min(8, generated_per_class, int(real.y.bincount(minlength=k).min()))
    rows = []
    for c in range(k):
        rows += [real.x[real.y == c][:show], gen_x[gen_y == c][:show]]
    save_grid(torch.cat(rows).float() / 255, out, nrow=show, scale=2)
    print(f"{r.config.family} on {len(real)} real {r.config.data.name} images ({len(real) // k} per class) + "
          f"{len(gen_x)} generated (real {real_share:.0%} of the mixed set); classifier test accuracy on "
          f"{len(test_x)} real test images, {steps} steps, seeds {list(seeds)}:")
    for key, what in (("real", "real only"), ("real+generated", "real + generated"),
                      ("generated", "generated only (CAS)"), ("gain", "gain from the generated images")):
        values = [100 * x[key] for x in runs]
        spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
        print(f"  {what:<32} {statistics.mean(values):6.2f}{spread} {'points' if key == 'gain' else '%'}")
    print(f"wrote {out}: rows of real then generated images, one pair of rows per class")
