"""Pictures of genlab's trained clip runs (benchmarks/clip_captions.py) for docs/CLIP.md: text -> image
retrieval among held-out test images, one row per prompt with its 8 nearest images by cosine similarity.

    .venv/bin/python benchmarks/clip_pictures.py
"""

from __future__ import annotations

from _common import ROOT

RUNS = ROOT / "runs" / "bench"
IMAGES = ROOT / "docs" / "images"
PROMPTS = {
    "mnist-captions": ["a picture of a thick seven", "a picture of a thin seven", "a picture of a slanted one",
                       "a picture of a small zero", "a picture of a large zero", "this is a thick, slanted two"],
    "fashion-mnist-captions": ["a picture of a dark dress", "a picture of a light dress", "this is a small bag",
                               "this is a large bag", "a picture of a boot", "a picture of a sandal"],
}
N_EMOJI_PROMPTS, TOP = 8, 8


def rows_for(model, test, prompts: list[str]) -> list:
    import torch

    with torch.no_grad():
        img = torch.cat([model.embed_images(test.images(slice(i, i + 1000))) for i in range(0, len(test), 1000)])
        txt = model.embed_prompts(prompts)
    top = (txt @ img.T).topk(TOP, dim=1).indices  # (prompts, TOP)
    return [(p, test.images(top[i])) for i, p in enumerate(prompts)]


def main() -> None:
    import torch

    from genlab.data import load_data
    from genlab.runs import load_run
    from genlab.viz.captions import save_prompt_rows

    torch.set_num_threads(1)
    for data, prompts in PROMPTS.items():
        run = RUNS / f"clip-{data}-words"
        if (run / "config.json").exists():
            out = IMAGES / f"clip_{data.split('-')[0]}_retrieval.png"
            save_prompt_rows(rows_for(load_run(run).model.eval(), load_data(data, split="test"), prompts), out)
            print(f"wrote {out}")
    run = RUNS / "clip-emoji-names-words"
    if (run / "config.json").exists():
        test = load_data("emoji-names", split="test")
        picks = list(range(0, len(test), len(test) // N_EMOJI_PROMPTS))[:N_EMOJI_PROMPTS]
        names = [test.captions[i][0] for i in picks]
        rows = rows_for(load_run(run).model.eval(), test, names)
        truth = [(f"(the true one) {n}", test.images(torch.tensor([i]))) for n, i in zip(names, picks)]
        out = IMAGES / "clip_emoji_retrieval.png"
        save_prompt_rows([r for pair in zip(truth, rows) for r in pair], out)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
