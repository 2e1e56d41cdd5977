"""The label-scarcity check's plot and Markdown report (from the metrics dict of `scarcity.main`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from dosforge.io import atomic_path, read_json, write_text
from dosforge.pretrain.scarcity import ARMS, ENDPOINTS

LABELS = {"dos.wd_bins": "test DOS WD (bins)", "gap.mae_ev": "test E_g MAE (eV)"}
STYLES = {
    "scratch": {"marker": "o"},
    "pretrained": {"marker": "s"},
    "baseline_composition_nn": {"marker": "^", "linestyle": "--", "color": "grey"},
    "baseline_mean": {"marker": "v", "linestyle": ":", "color": "grey"},
}


def _arms(out: dict) -> list[str]:
    """Baselines first (fitted on the same subset), then the two model arms: every report shows the floor."""
    present = {key.split(".")[1] for key in out["table"]}
    return [a for a in ("baseline_mean", "baseline_composition_nn", *ARMS) if a in present]


def _name(arm: str) -> str:
    return arm.replace("baseline_", "") + (" (baseline)" if arm.startswith("baseline_") else "")


def write_plot(out: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = out["fractions_pct"]
    fig, axes = plt.subplots(1, len(ENDPOINTS), figsize=(5 * len(ENDPOINTS), 3.6))
    for ax, key in zip(axes, ENDPOINTS, strict=True):
        for arm in _arms(out):
            cells = [out["table"][f"{p}.{arm}.{key}"] for p in fractions]
            sd = [0.0 if math.isnan(c["sd"]) else c["sd"] for c in cells]
            style = STYLES.get(arm, {"marker": "o"})
            ax.errorbar(fractions, [c["mean"] for c in cells], yerr=sd, capsize=3, label=_name(arm), **style)
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{p} %" for p in fractions])
        ax.set_xlabel("training labels used")
        ax.set_ylabel(LABELS[key])
        ax.legend()
    fig.suptitle(f"Label scarcity: mean ± sd over {len(out['seeds'])} seed(s) (SYNTHETIC labels)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _fmt(cell: dict) -> str:
    sd = "" if math.isnan(cell["sd"]) else f" ± {cell['sd']:.3f}"
    return f"{cell['mean']:.3f}{sd}"


def _gain(g: dict) -> str:
    if g.get("n", 0) == 0:
        return "n/a"
    ci = "" if g["n"] < 2 else f" [{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]"
    return f"{100 * g['mean']:+.1f} %{ci} ({g['wins']}/{g['n']})"


def write_report(out: dict, path: str | Path, plot: str | Path, pretrain_dir: str | Path) -> None:
    lines = ["# Label scarcity: DOSForge from scratch vs from the CrysLDNet-pretrained encoder", ""]
    if out.get("synthetic_labels"):
        lines += [
            "**The labels are SYNTHETIC** (tight-binding spectra of the embedded default, docs/data_card.md): "
            "a gain or a null result here says nothing about DFT DOS.",
            "",
        ]
    lines += [
        f"Seeds {out['seeds']}; encoder.pt sha256 `{out['encoder_sha256'][:16]}`; every run takes the same "
        "optimiser steps (subset ids repeated to the full split); normalisation refit on each subset; "
        "validation and test sets whole.",
        "",
        f"**Verdict ({out['primary_endpoint']}, rule of docs/pretraining.md fixed before running): {out['verdict']}.**",
        "",
        "| labels | "
        + " | ".join(f"{LABELS[k]} {_name(a)}" for k in ENDPOINTS for a in _arms(out))
        + " | gain DOS WD [95 % CI] (wins) | gain E_g MAE [95 % CI] (wins) |",
        "|---" * (1 + len(_arms(out)) * len(ENDPOINTS) + len(ENDPOINTS)) + "|",
    ]
    for p in out["fractions_pct"]:
        cells = [_fmt(out["table"][f"{p}.{a}.{k}"]) for k in ENDPOINTS for a in _arms(out)]
        gains = [_gain(out["gains"][f"{p}.{k}"]) for k in ENDPOINTS]
        lines.append(f"| {p} % | " + " | ".join(cells + gains) + " |")
    lines += [
        "",
        "Gain g = (scratch − pretrained) / scratch per seed; positive means pretraining lowered the error. "
        "Baselines (training mean, composition nearest neighbour) are fitted on the same subset of labels.",
        "",
        f"![curve]({Path(os.path.relpath(Path(plot).resolve(), Path(path).resolve().parent)).as_posix()})",
        "",
    ]
    if out.get("command"):
        threads = ", ".join(map(str, sorted({r.get("num_threads") for r in out["runs"]} - {None}))) or "?"
        lines[2:2] = [
            f"Produced by `{out['command']}` ({len(out['runs'])} trainings, {threads} thread(s) "
            "each; every run is cached in its folder, so per-seed processes give the same numbers).",
            "",
        ]

    summary_path = Path(pretrain_dir) / "summary.json"
    if summary_path.is_file():
        s = read_json(summary_path)
        vae, ldm = s["final"].get("vae") or {}, s["final"].get("ldm") or {}
        lines += [
            "## Pretraining",
            "",
            f"Corpus {s['corpus']['n_structures']} structures ({s['corpus']['by_source']}); "
            f"epochs VAE {s['epochs']['vae']}, LDM {s['epochs']['ldm']}.",
            f"VAE val: masked-atom accuracy {vae.get('val_atom_acc', math.nan):.3f} (majority-element baseline "
            f"{s['baselines']['atom_acc_majority']:.3f}), coordinate L1 {vae.get('val_coords_l1', math.nan):.3f} "
            f"(constant 0.5: {s['baselines']['coords_l1_const']:.3f}), lattice L1 "
            f"{vae.get('val_lattice_l1', math.nan):.3f} Å (mean lattice: {s['baselines']['lattice_l1_mean']:.3f}).",
            f"LDM: latent std ratio to the start of stage 2 {ldm.get('latent_std_ratio', math.nan):.3f}, "
            f"effective rank {ldm.get('latent_eff_rank', math.nan):.1f}.",
            "",
        ]
    write_text(path, "\n".join(lines))
