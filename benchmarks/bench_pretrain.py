"""CrysLDNet pretraining throughput: structures/s and peak memory of stage 1 (VAE) and stage 2 (LDM) steps.

python benchmarks/bench_pretrain.py [--size cpu|paper|both] [--batch B] [--steps 4] [--threads 1] [--device cpu]

`cpu`: the cpu preset (encoder `model.size: small`, d 64; DiT 128 wide, 4 heads, 4 layers; batch 64).
`paper`: the paper preset (encoder `model.size: paper`, d 256; DiT 768/12/12; batch 256 on a GPU; on a CPU
the default batch is 32, say --batch 256 to time the paper's batch). Bundled structures with <= 20 sites
(graphs built before timing). Times `--steps` optimiser steps (AdamW, clipping) after one untimed warm-up.
Peak memory: the process's maximum resident set (each size runs in its own process) and, on CUDA, the
allocator's peak. Printed, never asserted (docs/benchmarks.md, docs/pretraining.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import torch  # noqa: E402

SIZES = {
    "cpu": {"model": "small", "dit": {"d_model": 128, "heads": 4, "layers": 4}, "batch": {"cpu": 64, "cuda": 64}},
    "paper": {"model": "paper", "dit": {"d_model": 768, "heads": 12, "layers": 12}, "batch": {"cpu": 32, "cuda": 256}},
}


def corpus(n: int) -> list[dict]:
    from dosforge.pretrain.corpus import bundle_structures, make_item

    items = []
    for sid, s in bundle_structures():
        if len(s) <= 20 and len(s) >= 2:
            items.append(make_item(sid, "bundle", s, {"cutoff": 4.0, "max_neighbors": 12}))
        if len(items) == n:
            return items
    raise RuntimeError(f"only {len(items)} bundled structures fit")


def bench(size: str, batch: int, steps: int, device: torch.device) -> dict:
    from dosforge.model.config import ENCODER_PRESETS
    from dosforge.model.encoder import ICoMFormerEncoder
    from dosforge.pretrain.dit import DiT
    from dosforge.pretrain.flow import LatentFlow
    from dosforge.pretrain.loop import loader, param_groups, to_device
    from dosforge.pretrain.masking import MaskedDataset, PlainDataset
    from dosforge.pretrain.vae import EncoderVAE

    spec = SIZES[size]
    items = corpus(batch * (steps + 1))
    enc = ENCODER_PRESETS[spec["model"]]
    torch.manual_seed(0)
    encoder = ICoMFormerEncoder(enc["d"], enc["layers"], enc["heads"], enc["rbf_bins"], enc["angle_bins"])
    out = {"size": size, "batch": batch, "steps": steps, "device": str(device), "threads": torch.get_num_threads()}
    stages = {
        "vae": (EncoderVAE(encoder, enc["d"]), MaskedDataset(items, 0.3, 0)),
        "ldm": (LatentFlow(encoder, DiT(enc["d"], **spec["dit"])), PlainDataset(items)),
    }
    for name, (module, dataset) in stages.items():
        module.to(device).train()
        opt = torch.optim.AdamW(param_groups(module, 1e-5), lr=1e-4)
        batches = [to_device(*b, device) for b in loader(dataset, batch)]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def step(b, module=module, opt=opt):
            loss = module(*b)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()

        step(batches[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for b in batches[1 : steps + 1]:
            step(b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        out[name] = {
            "structures_per_s": steps * batch / seconds,
            "s_per_step": seconds / steps,
            "n_parameters": sum(p.numel() for p in module.parameters()),
        }
        if device.type == "cuda":
            out[name]["cuda_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("cpu", "paper", "both"), default="both")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.size == "both":  # one process per size, so each peak RSS is its own
        for size in ("cpu", "paper"):
            cmd = [sys.executable, __file__, "--size", size, "--steps", str(args.steps), "--threads", str(args.threads),
                   "--device", args.device] + (["--batch", str(args.batch)] if args.batch else [])  # fmt: skip
            subprocess.run(cmd, check=True)
        return 0
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = args.batch or SIZES[args.size]["batch"][device.type]
    print(json.dumps(bench(args.size, batch, args.steps, device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
