"""The transformers peer of benchmarks/text_shakespeare.py on its own: genlab's gpt baby and transformers'
GPT2LMHeadModel of the same size, same loop, same batches, alternating blocks of 20 steps until each has
used the CPU budget, then validation nats/char of each at that equal CPU time.

genlab trains in the precision its trainer's `precision auto` picks on this machine (bf16 autocast where the
CPU has native bf16 and it is faster, else fp32), transformers as it runs by default (fp32);
`--genlab-precision fp32` or `--transformers-precision bf16` compare like for like.

    PYTHONPATH=/tmp/textdeps .venv/bin/python benchmarks/text_peer.py --threads 1 --budget 600
    PYTHONPATH=/tmp/textdeps .venv/bin/python benchmarks/text_peer.py --threads 1 --budget 600 \
        --transformers-precision bf16 --name text_peer_bf16
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (first: it sets OMP_WAIT_POLICY=PASSIVE before torch loads its OpenMP runtime)
import torch
from _common import write_result
from text_shakespeare import BATCH, log, peer_comparison


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=600.0, help="CPU-seconds for each model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-blocks", type=int, default=4000, help="validation blocks of 65 characters")
    ap.add_argument("--genlab-precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--transformers-precision", default="fp32", choices=["fp32", "bf16"],
                    help="fp32 (its default) or bf16 autocast, to compare like for like")
    ap.add_argument("--name", default="text_peer", help="results/<name>.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import transformers

    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.data import load_data
    from genlab.training.trainer import Trainer

    train, valid = load_data("shakespeare", split="train"), load_data("shakespeare", split="valid")
    precision = args.genlab_precision
    if precision == "auto":  # what the trainer itself would pick for this model here
        tc = TrainConfig(steps=1000, batch_size=BATCH, threads=args.threads, progress=False)
        precision = Trainer(RunConfig("gpt", {}, DataConfig("shakespeare"), tc), train).choice.precision
    log(f"peer: transformers {transformers.__version__}, {args.budget:g} CPU-s each; genlab in {precision}")
    peer = peer_comparison(train, valid, args.budget, BATCH, args.n_blocks, genlab_bf16=precision == "bf16",
                           transformers_bf16=args.transformers_precision == "bf16")
    figures = {"tokens per CPU-s, genlab / transformers": round(peer["tokens_per_cpu_s_ratio"], 3),
               "target >= 1.3 met": peer["tokens_per_cpu_s_ratio"] >= 1.3,
               "valid nats/char at equal CPU time, genlab": round(peer["genlab"]["valid_nats_per_char"], 4),
               "valid nats/char at equal CPU time, transformers": round(peer["transformers"]["valid_nats_per_char"],
                                                                        4),
               "valid loss no worse": peer["valid_nats_difference"] <= 0.0,
               "genlab precision": precision, "precision asked": args.genlab_precision,
               "transformers precision": args.transformers_precision,
               "transformers": transformers.__version__, **peer}
    write_result(args.name, figures,
                 "Same loop and batches, alternating blocks, equal CPU seconds each; genlab in the precision its "
                 "trainer picks here (precision auto), transformers in fp32 as it runs by default (or bf16 "
                 "autocast with --transformers-precision bf16).",
                 threads=args.threads)


if __name__ == "__main__":
    main()
