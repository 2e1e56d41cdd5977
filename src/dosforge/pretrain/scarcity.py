"""Label-scarcity check: does the pretrained encoder help when few DOS labels exist? (docs/pretraining.md)

    python -m dosforge.pretrain.scarcity                      # 10/25/50/100 %, scratch vs pretrained, seeds 42-44
    python -m dosforge.pretrain.scarcity --fractions 10 100 --seeds 42 --epochs 2   # a quick look
    python -m dosforge.pretrain.scarcity --num-threads 1 --seeds 42 & ... --seeds 43 & wait   # one process per core,
    python -m dosforge.pretrain.scarcity --num-threads 1     # then every seed: all cached, writes the report

For each seed and fraction, the primary model (params.yaml `model`, `train`, `loss`) is trained on a nested,
point-group-stratified subset of the training split (`subsets.nested_subsets`), with the normalisation refit
on that subset, its ids repeated to the size of the full split so every run takes the same optimiser steps,
once from scratch and once from models/pretrain/encoder.pt. Validation (model selection) and test sets stay
whole. Every run writes its test metrics into its folder and is skipped when they exist with the same
fingerprint, so a killed check resumes. The report applies the decision rule of docs/pretraining.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from dosforge.config import ConfigError, load_params
from dosforge.io import read_json, write_json

ARMS = ("scratch", "pretrained")
ENDPOINTS = ("dos.wd_bins", "gap.mae_ev")  # primary, secondary
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def run_one(
    params, processed, split, pct, subset, arm, seed, encoder, out_dir: Path, epochs, progress, num_threads=None
) -> dict:
    """Train one (fraction, arm, seed) run and return its test metrics (cached by fingerprint)."""
    from dosforge.grid import EnergyGrid
    from dosforge.metrics import compute_metrics, json_ready
    from dosforge.normalize import Normalizer
    from dosforge.pretrain.subsets import repeat_to
    from dosforge.train import checkpoint as ckpt
    from dosforge.train.config import resolve_train_config
    from dosforge.train.inference import predict_split
    from dosforge.train.loop import train_model
    from dosforge.train.run import build_loss_config, build_model_config, data_source, graph_params

    overrides = {"epochs": epochs, "num_threads": num_threads}
    section = dict(params.get("train") or {}, **{k: v for k, v in overrides.items() if v})
    train_config = resolve_train_config(section)
    model_config = build_model_config(params, params.get("model") or {})
    grid = EnergyGrid.from_params(params)
    resolved = {
        "pct": pct,
        "arm": arm,
        "seed": seed,
        "subset": subset,
        "model": model_config.to_dict(),
        "train": train_config.as_dict(),
        "loss": params.get("loss") or {},
        "encoder": encoder[1]["sha256"] if arm == "pretrained" else None,
    }
    fp = ckpt.fingerprint(resolved, [], ckpt.library_sources())
    result_path = out_dir / "result.json"
    if result_path.is_file() and read_json(result_path).get("fingerprint") == fp:
        return read_json(result_path)
    percentile = float((params.get("split") or {}).get("clip_percentile", 99.9))
    normalizer = Normalizer.fit(processed, subset, percentile=percentile)
    ids = repeat_to(subset, len(split["train"]), seed)
    meta = {
        "name": out_dir.name,
        "normalization": normalizer.stats,
        "grid": grid.as_dict(),
        "elements": [],
        "source": data_source(processed),
        "synthetic": bool(np.asarray(processed.synthetic).any()),
        "graph_params": graph_params(processed.manifest),
        "init": arm,
        "pretrained_encoder": encoder[1] if arm == "pretrained" else None,
    }
    t0 = time.perf_counter()
    model, summary, _ = train_model(
        model_config=model_config,
        loss_config=build_loss_config(params.get("loss") or {}),
        train_config=train_config,
        processed=processed,
        split={"train": ids, "val": split["val"]},
        normalizer=normalizer,
        out_dir=out_dir,
        seed=seed,
        fingerprint=fp,
        meta=meta,
        progress=progress,
        encoder_state=encoder[0] if arm == "pretrained" else None,
    )
    pred = predict_split(model, processed, split["test"], normalizer, batch_size=train_config.eval_batch_size)
    metrics = json_ready(compute_metrics(pred, grid, model_config.tasks))
    steps = train_config.epochs * math.ceil(len(ids) / train_config.batch_size)
    result = {
        "fingerprint": fp,
        "pct": pct,
        "arm": arm,
        "seed": seed,
        "n_labels": len(subset),
        "steps": steps,
        "num_threads": train_config.num_threads,
        "best_epoch": summary["best_epoch"],
        "seconds": time.perf_counter() - t0,
        "metrics": metrics,
    }
    write_json(result_path, result)
    return result


def subset_baselines(params, processed, split, subsets_by_seed: dict[int, dict[int, list[str]]]) -> list[dict]:
    """The mean and composition-neighbour baselines fitted on each seed's subset (not the full split), scored on
    the whole test set: the floor a model trained on the same labels must clear (seconds, never cached)."""
    from dosforge.evaluate.baselines import BaselineConfig, run_baselines
    from dosforge.grid import EnergyGrid
    from dosforge.metrics import TASKS, compute_metrics, json_ready

    config = BaselineConfig.from_params((params.get("evaluate") or {}).get("baselines"))
    grid = EnergyGrid.from_params(params)
    rows, scored = [], {}  # scored: one fit per distinct subset (every seed's 100 % is the whole split)
    for seed, subsets in subsets_by_seed.items():
        for pct, subset in subsets.items():
            key = tuple(subset)
            if key not in scored:
                fitted = run_baselines(processed, {"train": subset, "test": split["test"]}, config)
                scored[key] = {n: json_ready(compute_metrics(b.predictions, grid, TASKS)) for n, b in fitted.items()}
            for name, metrics in scored[key].items():
                rows.append({"pct": pct, "arm": f"baseline_{name}", "seed": seed, "metrics": metrics})
    return rows


def paired_gain(results: list[dict], pct: int, key: str) -> dict:
    """g = (scratch - pretrained) / scratch per seed (> 0: pretraining lowers the error), with a 95 % t-interval."""
    by = {(r["arm"], r["seed"]): r["metrics"].get(key) for r in results if r["pct"] == pct}
    seeds = sorted({s for (_, s) in by if ("scratch", s) in by and ("pretrained", s) in by})
    g = np.array([(by["scratch", s] - by["pretrained", s]) / by["scratch", s] for s in seeds], dtype=float)
    g = g[np.isfinite(g)]
    if len(g) == 0:
        return {"n": 0}
    mean = float(g.mean())
    sd = float(g.std(ddof=1)) if len(g) > 1 else math.nan
    half = T95.get(len(g) - 1, 1.96) * sd / math.sqrt(len(g)) if len(g) > 1 else math.nan
    return {
        "n": len(g),
        "per_seed": g.tolist(),
        "mean": mean,
        "sd": sd,
        "ci95": [mean - half, mean + half],
        "wins": int((g > 0).sum()),
    }


def verdict(gain: dict) -> str:
    """The rule fixed in docs/pretraining.md before running: 'helps' when the mean gain is positive and the
    95 % interval lies above 0; 'harms' when it lies below 0; otherwise 'inconclusive' (also with < 2 seeds)."""
    if gain.get("n", 0) < 2 or not np.isfinite(gain["ci95"]).all():
        return "inconclusive"
    if gain["mean"] > 0 and gain["ci95"][0] > 0:
        return "helps"
    if gain["mean"] < 0 and gain["ci95"][1] < 0:
        return "harms"
    return "inconclusive"


def summarise(results: list[dict], fractions: list[int], baselines: list[dict] = ()) -> dict:
    table = {}
    for pct in fractions:
        for arm in (*ARMS, *sorted({r["arm"] for r in baselines})):
            rows = [r for r in (*results, *baselines) if r["pct"] == pct and r["arm"] == arm]
            for key in ENDPOINTS:
                v = np.array([r["metrics"].get(key, math.nan) for r in rows], dtype=float)
                table[f"{pct}.{arm}.{key}"] = {
                    "mean": float(np.nanmean(v)) if len(v) else math.nan,
                    "sd": float(np.nanstd(v, ddof=1)) if len(v) > 1 else math.nan,
                    "values": v.tolist(),
                }
    gains = {f"{pct}.{key}": paired_gain(results, pct, key) for pct in fractions for key in ENDPOINTS}
    primary = gains.get(f"{min(fractions)}.{ENDPOINTS[0]}", {"n": 0})
    return {
        "table": table,
        "gains": gains,
        "verdict": verdict(primary),
        "primary_endpoint": f"{ENDPOINTS[0]} at {min(fractions)} % labels",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--processed", default="data/processed")
    ap.add_argument("--split", default="data/split")
    ap.add_argument("--pretrain", default="models/pretrain")
    ap.add_argument("--out", default="models/scarcity", help="one folder per run (resumable)")
    ap.add_argument("--fractions", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--epochs", type=int, default=None, help="train.epochs override (default: params / preset)")
    ap.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="train.num_threads override: 1 lets one process per core share the runs (split --seeds among them; "
        "a last call with every seed finds the results cached and writes the report)",
    )
    ap.add_argument("--metrics", default="metrics/label_scarcity.json")
    ap.add_argument("--report", default="reports/label_scarcity.md")
    ap.add_argument("--plot", default="plots/label_scarcity.png")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        from dosforge.model.pretrained import ENCODER_FILE, read_pretrained_encoder
        from dosforge.pretrain.scarcity_report import write_plot, write_report
        from dosforge.pretrain.subsets import nested_subsets
        from dosforge.shards import load_processed
        from dosforge.train.run import build_model_config, graph_params

        params = load_params(args.params)
        processed = load_processed(args.processed)
        split = read_json(Path(args.split) / "split.json")
        model_config = build_model_config(params, params.get("model") or {})
        encoder = read_pretrained_encoder(
            Path(args.pretrain) / ENCODER_FILE, model_config=model_config, graph_params=graph_params(processed.manifest)
        )
        groups = [processed.point_group[processed.index(i)] for i in split["train"]]
        min_group = int((params.get("split") or {}).get("min_group_size", 7))
        results, subsets_by_seed = [], {}
        for seed in args.seeds:
            subsets = subsets_by_seed[seed] = nested_subsets(split["train"], groups, args.fractions, seed, min_group)
            for pct in sorted(args.fractions):
                for arm in ARMS:
                    run_dir = Path(args.out) / f"{pct}pct-{arm}-seed{seed}"
                    r = run_one(
                        params,
                        processed,
                        split,
                        pct,
                        subsets[pct],
                        arm,
                        seed,
                        encoder,
                        run_dir,
                        args.epochs,
                        progress=not args.quiet,
                        num_threads=args.num_threads,
                    )
                    results.append(r)
                    print(
                        f"scarcity: {pct:3d} % {arm:10s} seed {seed}: DOS WD {r['metrics']['dos.wd_bins']:.3f} "
                        f"bins, E_g MAE {r['metrics']['gap.mae_ev']:.3f} eV ({r['seconds']:.0f} s)"
                    )
        baselines = subset_baselines(params, processed, split, subsets_by_seed)
        summary = summarise(results, sorted(args.fractions), baselines)
        out = {
            "command": " ".join(["python -m dosforge.pretrain.scarcity", *(sys.argv[1:] if argv is None else argv)]),
            "fractions_pct": sorted(args.fractions),
            "seeds": args.seeds,
            "encoder_sha256": encoder[1]["sha256"],
            "synthetic_labels": bool(np.asarray(processed.synthetic).any()),
            **summary,
            "runs": [{k: v for k, v in r.items() if k != "fingerprint"} for r in results],
        }
        write_json(args.metrics, out)
        write_plot(out, args.plot)
        write_report(out, args.report, plot=args.plot, pretrain_dir=args.pretrain)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"scarcity: verdict on {out['primary_endpoint']}: {out['verdict']}; wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
