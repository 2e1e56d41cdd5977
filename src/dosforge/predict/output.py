"""Files of one prediction run, each written atomically (dosforge.io): JSON, CSV and optional PNGs.

`<out>/predictions.json`: `metadata` (checkpoint, its training data source, whether its labels were
synthetic, grid, units, counts, `rescale_epdos`), `structures` (every input in order: the full prediction, or
`status: failed` with the `error`), `skipped` (files in named folders that are not structure files).
`<out>/predictions.csv`: one row per input with the scalars (including `epdos_sum_residual` and
`epdos_rescaled`) and the status/error.
`<out>/plots/<id>.png` (with `plots=True`): total DOS and EPDOS per element, drawn by pymatgen's DosPlotter.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import dosforge
from dosforge.grid import BIN_VALUES
from dosforge.io import atomic_path, write_json, write_text
from dosforge.predict.predictor import CheckpointInfo
from dosforge.predict.result import PredictionFailure, PredictionResult

CSV_COLUMNS = [
    "id",
    "source",
    "status",
    "formula",
    "n_sites",
    "efermi_ev",
    "gap_ev",
    "gap_ext_ev",
    "epdos_sum_residual",
    "epdos_rescaled",
    "error",
]
SYNTHETIC_NOTE = (
    "SYNTHETIC: this checkpoint was trained on tight-binding labels, not DFT; its predictions imitate the "
    "tight-binding calculator and are not DFT-quality electronic structure"
)


def run_metadata(
    info: CheckpointInfo, outcomes: Sequence, skipped: Sequence[dict] = (), rescale_epdos: bool = False, **extra
) -> dict:
    n_ok = sum(isinstance(o, PredictionResult) for o in outcomes)
    epdos_unit = "states/eV per input cell, per element, negative values set to 0"
    if rescale_epdos:
        epdos_unit += "; RESCALED per energy bin to sum to the predicted total DOS (bins with element sum 0 keep 0)"
    meta = {
        "dosforge_version": dosforge.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **info.as_dict(),
        "labels_note": SYNTHETIC_NOTE if info.synthetic else "trained on DFT labels",
        "rescale_epdos": bool(rescale_epdos),
        "units": {
            "energies": "eV; energies_ev relative to the predicted E_F, energies_absolute_ev absolute",
            "bins": "as in the training data (training_resample): "
            + BIN_VALUES.get(info.resample, info.resample).replace(" (states/eV per cell)", ""),
            "dos": "states/eV per input cell, negative values set to 0",
            "epdos": epdos_unit,
            "efermi_ev": "eV, absolute",
            "gap_ev": "eV, from the model's band-gap head, negative values set to 0",
            "gap_ext_ev": "eV, threshold scan (0.02 states/eV, paper appendix A.4) of the predicted DOS",
            "epdos_sum_residual": "sum over bins of |sum of element DOS - DOS| / sum of DOS, the model's own "
            "prediction before any rescaling",
        },
        "counts": {"inputs": len(outcomes), "predicted": n_ok, "failed": len(outcomes) - n_ok, "skipped": len(skipped)},
    }
    meta.update(extra)
    return meta


def write_run(
    out_dir: str | Path,
    outcomes: Sequence[PredictionResult | PredictionFailure],
    info: CheckpointInfo,
    skipped: Sequence[dict] = (),
    plots: bool = False,
    **extra,
) -> dict[str, Path]:
    """Write the run's JSON and CSV (and PNGs); return the paths written.

    `metadata.rescale_epdos` says whether the EPDOS were rescaled to the total: read off the results
    themselves (each carries `epdos_rescaled`), so it cannot disagree with them; a `rescale_epdos`
    keyword that contradicts them, or results of both settings, is an error."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "predictions.json", "csv": out_dir / "predictions.csv"}
    rescaled = {o.epdos_rescaled for o in outcomes if isinstance(o, PredictionResult) and o.epdos is not None}
    stated = extra.pop("rescale_epdos", None)
    if len(rescaled) > 1:
        raise ValueError("the results mix rescaled and unrescaled EPDOS: write the results of one setting per run")
    if stated is not None and rescaled and rescaled != {bool(stated)}:
        raise ValueError(
            f"rescale_epdos={stated} disagrees with the results (predicted with rescale_epdos={not stated})"
        )
    extra["rescale_epdos"] = rescaled.pop() if rescaled else bool(stated)
    payload = {
        "metadata": run_metadata(info, outcomes, skipped, **extra),
        "structures": [o.to_dict() for o in outcomes],
        "skipped": list(skipped),
    }
    write_json(paths["json"], payload, indent=1)
    write_text(paths["csv"], scalars_csv(outcomes))
    if plots:
        for o in outcomes:
            if isinstance(o, PredictionResult) and (o.dos is not None or o.epdos):
                paths[f"plot:{o.id}"] = write_plot(out_dir / "plots" / f"{safe_name(o.id)}.png", o)
    return paths


def scalars_csv(outcomes: Sequence[PredictionResult | PredictionFailure]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for o in outcomes:
        d = o.to_dict()
        writer.writerow({k: "" if d.get(k) is None else d.get(k) for k in CSV_COLUMNS})
    return buf.getvalue()


def write_plot(path: Path, result: PredictionResult) -> Path:
    """Total DOS and EPDOS per element with pymatgen's DosPlotter, E_F at zero."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    from pymatgen.electronic_structure.plotter import DosPlotter

    total, by_element = result.to_pymatgen()
    plotter = DosPlotter(zero_at_efermi=True)
    if total is not None:
        plotter.add_dos("Total", total)
    plotter.add_dos_dict(by_element)
    spectra = ([result.dos] if result.dos is not None else []) + list((result.epdos or {}).values())
    top = max(float(np.max(d)) for d in spectra) or 1.0  # DosPlotter's own y-range does not start at 0
    ax = plotter.get_plot(xlim=(result.energies[0], result.energies[-1]), ylim=(0.0, 1.05 * top))
    title = f"{result.formula} ({result.id}): E_F = {result.efermi:.2f} eV, E_g = {result.gap:.2f} eV"
    if result.synthetic:
        title += " [synthetic labels]"
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("DOS (states/eV per cell)")
    fig = ax.get_figure()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "structure"


def results_from_json(path: str | Path) -> list[dict]:
    """The `structures` of a run's JSON with spectra as numpy arrays (NaN for null scalars)."""
    from dosforge.io import read_json

    rows = read_json(path)["structures"]
    for r in rows:
        for key in ("energies_ev", "energies_absolute_ev", "dos"):
            if r.get(key) is not None:
                r[key] = np.asarray(r[key], dtype=np.float64)
        if r.get("epdos") is not None:
            r["epdos"] = {el: np.asarray(v, dtype=np.float64) for el, v in r["epdos"].items()}
        for key in ("efermi_ev", "gap_ev", "gap_ext_ev", "epdos_sum_residual"):
            if key in r and r[key] is None:
                r[key] = float("nan")
    return rows
