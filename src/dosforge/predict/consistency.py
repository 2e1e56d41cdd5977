"""Element DOS against the total DOS of one prediction: the sum-rule residual and the optional rescaling.

The paper states that element contributions "ideally sum to DOS" (section 3.1) and motivates its
cross-conditioning by that consistency (section 1), but the model predicts each EPDOS row and the DOS
with separate heads and no sum constraint, so nothing forces it: a predicted element DOS can even lie above the
predicted total (issue 9: Nb in Nb3Sn). `dosforge predict --rescale-epdos` offers element DOS rescaled
per energy bin so that they sum exactly to the predicted total; it is off by default because it is a
post-processing step, not the model's prediction (and the DFT truth itself does not obey the sum rule:
VASP's projections miss interstitial states, see `epdos_residual` in docs/data_pipeline.md).
"""

from __future__ import annotations

import numpy as np

from dosforge.metrics import sum_rule_residual


def element_sum_residual(epdos: dict[str, np.ndarray], dos: np.ndarray) -> float:
    """sum_bins |sum_el epdos - dos| / sum_bins dos of one structure: the measure evaluate reports as
    `consistency.sum_rule` (`dosforge.metrics.sum_rule_residual`, which also defines the all-zero DOS
    case); NaN when there are no element rows."""
    if not epdos:
        return float("nan")
    rows = np.stack([np.asarray(v, dtype=np.float64) for v in epdos.values()])
    dos = np.asarray(dos, dtype=np.float64)[None]
    return float(sum_rule_residual(dos, rows, np.array([0, len(rows)]))[0])


def rescale_to_total(epdos: dict[str, np.ndarray], dos: np.ndarray) -> dict[str, np.ndarray]:
    """Each element's DOS times dos / sum_el epdos, bin by bin, so the rows sum to `dos` in every bin
    where the element sum is positive; a bin where the element sum is 0 keeps its zeros (there is no
    element share to scale, and inventing one would be a guess). Expects non-negative inputs (as
    `dosforge.train.inference.denorm_outputs` gives), so every output stays non-negative."""
    if not epdos:
        return {}
    dos = np.asarray(dos, dtype=np.float64)
    rows = np.stack([np.asarray(v, dtype=np.float64) for v in epdos.values()])
    total = rows.sum(0)
    factor = np.divide(dos, total, out=np.zeros_like(total), where=total > 0)
    return {el: row * factor for el, row in zip(epdos, rows, strict=True)}
