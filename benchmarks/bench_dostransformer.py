"""DOSTransformer beside DOSForge: training and inference structures/s on the same processed data (docs/benchmarks.md).

python benchmarks/bench_dostransformer.py [--processed data/processed] [--split data/split] [--threads 1]
    [--n 128] [--batch 16] [--dt-d 32] [--dosforge-size small] [--device cpu]

Times, on the first `--n` training materials (after one untimed warm-up batch): a training pass (forward, loss,
backward, AdamW step) and an inference pass (eval, no grad) of the DOSTransformer baseline (`--dt-d`, cpu preset
otherwise) and of the DOSForge model (`--dosforge-size`, 4 tasks, params.yaml `model`). Graph construction is
not timed (both build graphs once per run). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dosforge.config import load_params  # noqa: E402
from dosforge.io import read_json  # noqa: E402


def _time(step, batches, device) -> float:
    step(batches[0])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for b in batches[1:]:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--dt-d", type=int, default=32)
    ap.add_argument("--dosforge-size", default="small")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from dosforge.families.dostransformer.data import collate as dt_collate
    from dosforge.families.dostransformer.data import processed_samples
    from dosforge.families.dostransformer.model import DOSTransformer, DOSTransformerConfig, dostransformer_loss
    from dosforge.model import DOSForge, collate
    from dosforge.model.config import ModelConfig
    from dosforge.model.losses import LossConfig, compute_losses
    from dosforge.normalize import Normalizer
    from dosforge.shards import load_processed

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    params = load_params(args.params)
    processed = load_processed(args.processed)
    split = read_json(Path(args.split) / "split.json")
    normalizer = Normalizer.from_json(Path(args.split) / "normalization.json")
    rows = processed.indices(split["train"])[: args.n + args.batch]
    chunks = [rows[k : k + args.batch] for k in range(0, len(rows), args.batch)]
    n_timed = sum(len(c) for c in chunks[1:])
    sites = float(np.mean(np.diff(processed.atom_ptr)[rows]))
    print(
        f"data: {args.processed}, {n_timed} timed structures ({sites:.1f} sites each on average), "
        f"batch {args.batch}, threads {torch.get_num_threads()}, device {device}"
    )

    results = {}
    # DOSTransformer
    t0 = time.perf_counter()
    samples = processed_samples(processed, rows)
    graph_s = time.perf_counter() - t0
    targets = np.asarray(normalizer.norm_dos(processed.dos[rows]), np.float32)
    dt_batches, k = [], 0
    for c in chunks:
        dt_batches.append(dt_collate(samples[k : k + len(c)], targets[k : k + len(c)]).to(device))
        k += len(c)
    torch.manual_seed(0)
    dt = DOSTransformer(DOSTransformerConfig(n_tokens=processed.dos.shape[1], d=args.dt_d)).to(device)
    opt = torch.optim.AdamW(dt.parameters(), lr=1e-4, weight_decay=1e-2)

    def dt_train(b):
        loss = dostransformer_loss(dt(b), b.target, 1.0)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def dt_infer(b):
        with torch.no_grad():
            dt.eval()
            dt(b)
            dt.train()

    n_dt = sum(p.numel() for p in dt.parameters())
    results[f"DOSTransformer d={args.dt_d}"] = (
        n_dt,
        _time(dt_train, dt_batches, device),
        _time(dt_infer, dt_batches, device),
    )
    print(f"DOSTransformer graphs (12 NN within 8 Å): {n_timed / graph_s * (len(rows) / max(n_timed, 1)):.0f} /s")

    # DOSForge
    model_section = dict(params.get("model") or {}, size=args.dosforge_size, tasks=["dos", "epdos", "fermi", "gap"])
    config = ModelConfig.from_params(dict(params, model=model_section))
    loss_config = LossConfig.from_params(params.get("loss") or {})
    torch.manual_seed(0)
    df = DOSForge(config).to(device)
    opt2 = torch.optim.AdamW(df.parameters(), lr=1e-3, weight_decay=1e-2)
    df_batches = [collate([processed.sample(int(i)) for i in c], normalizer).to(device) for c in chunks]

    def df_train(b):
        loss = compute_losses(df(b), b, loss_config, normalizer)["total"]
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()

    def df_infer(b):
        with torch.no_grad():
            df.eval()
            df(b)
            df.train()

    n_df = sum(p.numel() for p in df.parameters())
    train_s, infer_s = _time(df_train, df_batches, device), _time(df_infer, df_batches, device)
    results[f"DOSForge {args.dosforge_size} (4 tasks)"] = (n_df, train_s, infer_s)
    print("| model | parameters | training structures/s | inference structures/s |")
    print("|---|---|---|---|")
    for name, (n_params, train_s, infer_s) in results.items():
        print(f"| {name} | {n_params:,} | {n_timed / train_s:.1f} | {n_timed / infer_s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
