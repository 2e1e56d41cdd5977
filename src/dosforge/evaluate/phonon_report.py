"""reports/evaluation.md on phonon data: every model beside the two trivial baselines, the seed spread, the physical
checks (3N modes, Debye w^2) and links to the figures. Labels from the embedded source are SYNTHETIC (CHGNet +
phonopy) and said so first; they are never compared with DFPT figures.
"""

from __future__ import annotations

import os
from pathlib import Path

from dosforge.evaluate.report import _fmt, _table
from dosforge.evaluate.seeds import NOISE_FACTOR, noise_std

SYNTHETIC = (
    "> **These numbers come from SYNTHETIC phonon labels** (source `{source}`): real crystal structures whose phonon "
    "DOS was computed with the CHGNet universal potential and phonopy finite displacements, **not DFPT**. They "
    "measure how well the pipeline learns those spectra and are **not comparable** with DOSTransformer's DFPT "
    "figures (supplement Tables 9-10)."
)
COLUMNS = (("dos.mse", "DOS MSE"), ("dos.mae", "DOS MAE"), ("dos.r2", "DOS R²"), ("dos.wd_cm", "DOS WD (cm⁻¹)"),
           ("epdos.wd_cm", "EPDOS WD (cm⁻¹)"))  # fmt: skip
LOWER_IS_BETTER = ("dos.mse", "dos.wd_cm")  # the two a model must win on against both baselines


def verdict(m: dict, baselines: dict[str, dict], spread: dict | None) -> str:
    """'yes' when DOS MSE and DOS WD are below both baselines' by more than NOISE_FACTOR x the primary's seed std
    ('below, within noise' when lower but not by that margin; 'no' otherwise; '–' without numbers)."""
    if not baselines or any(m.get(k) is None for k in LOWER_IS_BETTER):
        return "–"
    below = all(m[k] < b[k] for k in LOWER_IS_BETTER for b in baselines.values() if b.get(k) is not None)
    if not below:
        return "no"
    for k in LOWER_IS_BETTER:
        std = noise_std(spread, k)
        if std is None or any(b[k] - m[k] <= NOISE_FACTOR * std for b in baselines.values()):
            return "below, within noise" if std is not None else "below (no seed spread)"
    return "yes"


def _ratio(m: dict, baselines: dict[str, dict]) -> str:
    floor = [b["dos.wd_cm"] for b in baselines.values() if b.get("dos.wd_cm")]
    return "–" if m.get("dos.wd_cm") is None or not floor else f"{m['dos.wd_cm'] / min(floor):.3f}"


def _row(name: str, m: dict, baselines: dict, spread: dict | None) -> list[str]:
    return [name, *(_fmt(m.get(k)) for k, _ in COLUMNS), _ratio(m, baselines), verdict(m, baselines, spread)]


def build_phonon_report(result, skipped: dict[str, str], data_info: dict, manifest: dict, report_dir: Path) -> str:
    grid = manifest["grid"]
    out = ["# DOSForge evaluation: phonon DOS", ""]
    if data_info.get("synthetic") or data_info.get("source") == "embedded":
        out += [SYNTHETIC.format(source=data_info.get("source")), ""]
    n_test = next((m.get("n_test") for m in result.baselines.values()), None)
    out += [
        f"Data: {len(manifest.get('ids', []))} materials, grid {grid['fmin']:g}–{grid['fmax']:g} cm⁻¹ in "
        f"{grid['points']} points, normalisation `{manifest.get('normalize')}`, test split n = {n_test}. "
        "Per-material metrics, averaged (DOSTransformer supplement A.1); WD (cm⁻¹) = points × step.",
        "",
    ]
    spread = result.seed_spread
    header = ["model", *(label for _, label in COLUMNS), "DOS WD / best baseline", "beats both baselines"]
    rows = [_row(k, m, {}, None)[:-1] + ["(floor)"] for k, m in result.baselines.items()]
    for name, m in {**result.metrics, **result.hosted}.items():
        if not m.get("skipped"):
            rows.append(_row(name, m, result.baselines, spread))
    if spread and spread.get("n_runs", 0) >= 2:
        cells = [f"{_fmt(spread[k]['mean'])} ± {_fmt(spread[k]['std'])}" if (spread.get(k) or {}).get("mean")
                 is not None else "–" for k, _ in COLUMNS]  # fmt: skip
        rows.append([f"primary, {spread['n_runs']} seeds: mean ± std", *cells, "", ""])
    out += ["## Models against the trivial baselines (test split)", "", _table(header, rows), ""]
    out += [f"'beats both baselines' = DOS MSE and DOS WD below both baselines' by more than {NOISE_FACTOR:.2f} × "
            "the primary model's seed std of that metric (the noise rule of evaluate/seeds.py).", ""]  # fmt: skip
    if skipped:
        out += ["Not trained on phonon data (electron-only tasks):", ""]
        out += [f"- `{name}`: {reason}" for name, reason in skipped.items()] + [""]
    out += ["## Physical checks", "",
            "Modes on the grid / 3N (1 = every mode of the cell inside the window; predictions put back on the "
            "material's scale) and the exponent p of DOS ∝ ω^p fitted over 20–100 cm⁻¹ (Debye: 2).", ""]  # fmt: skip
    truth = next(iter(result.baselines.values()), {})
    checks = [["truth", _fmt(truth.get("modes.true_over_3n")), "–", _fmt(truth.get("debye.exponent_true"))]]
    for name, m in {**result.baselines, **result.metrics, **result.hosted}.items():
        if not m.get("skipped") and m.get("modes.pred_over_3n") is not None:
            p5, p95 = _fmt(m.get("modes.pred_over_3n_p05")), _fmt(m.get("modes.pred_over_3n_p95"))
            exp = f"{_fmt(m.get('debye.exponent_pred'))} (n={m.get('debye.n_fitted')})"
            checks.append([name, _fmt(m["modes.pred_over_3n"]), f"{p5} – {p95}", exp])
    out += [_table(["spectra", "modes / 3N (median)", "5th – 95th pct", "Debye exponent (median)"], checks), ""]
    figures = [f"[{Path(p).parent.name}/{Path(p).stem}]({Path(os.path.relpath(p, report_dir)).as_posix()})"
               for name in result.figures for p in result.figures[name]]  # fmt: skip
    out += ["## Figures", "", "Spectra at DOS WD percentiles, 3N parity, learning curves: " + ", ".join(figures), ""]
    return "\n".join(out)
