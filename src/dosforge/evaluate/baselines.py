"""Trivial predictors fitted on the training split: the floor every model must clear (DESIGN.md "Baselines").

- `mean`: the training-split mean DOS, E_F and E_g for every test material; the EPDOS row of element
  el is the mean of the training EPDOS rows of el (an element absent from the training split gets the
  mean over all training EPDOS rows; such pairs are counted).
- `composition_nn`: each material is a vector of element fractions (fraction of the cell's sites per
  Z). A test material gets the mean DOS, E_F and E_g of its k nearest training materials (L1 =
  cityblock or L2 distance; ties go to the earlier material in split.json's training order). The
  EPDOS row of element el is the mean of el's rows over the neighbours that contain el; when no
  neighbour does, the per-element training mean of `mean` (counted).

Each baseline returns a `dosforge.predictions.Predictions` for the test ids, in original units with
the truth alongside, exactly what a trained model writes to test_predictions.h5, so
`dosforge.metrics.compute_metrics` scores it through the models' code path (E_g^ext included) and the
plots draw it. Nothing here depends on the data source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import cdist

from dosforge.config import ConfigError, choice, known_keys
from dosforge.predictions import Predictions

BASELINES = ("mean", "composition_nn")  # metrics/baseline_<name>.json, in this order
BASELINE_PARAMS = ("composition_nn",)  # params.yaml evaluate.baselines.<name>; `mean` has no parameters
NN_KEYS = ("k", "metric")
NN_METRICS = {"l1": "cityblock", "l2": "euclidean"}
NN_METRIC_NAMES = {"l1": "L1 (cityblock)", "l2": "L2 (Euclidean)"}
# Bound on the test x train distance block held at once (float64 values): keeps memory flat at the
# paper's scale (~9k test x 44k train) while the embedded default is one block.
_BLOCK = 1 << 22


@dataclass(frozen=True)
class BaselineConfig:
    """params.yaml `evaluate.baselines`: `composition_nn: {k: 1, metric: l1}`."""

    k: int = 1
    metric: str = "l1"

    @classmethod
    def from_params(cls, section: dict | None) -> BaselineConfig:
        section = known_keys(dict(section or {}), BASELINE_PARAMS, "evaluate.baselines")
        nn = section.get("composition_nn") or {}
        if not isinstance(nn, dict):
            raise ConfigError(f"evaluate.baselines.composition_nn must be a mapping with keys {', '.join(NN_KEYS)}")
        nn = known_keys(nn, NN_KEYS, "evaluate.baselines.composition_nn")
        k = nn.get("k", cls.k)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"evaluate.baselines.composition_nn.k={k!r} is not valid; choose an integer >= 1")
        metric = choice(nn.get("metric", cls.metric), NN_METRICS, "evaluate.baselines.composition_nn.metric")
        return cls(k=k, metric=metric)


@dataclass
class Baseline:
    name: str  # "mean" | "composition_nn"; files and report rows are baseline_<name>
    predictions: Predictions
    info: dict = field(default_factory=dict)  # numeric `baseline.*` keys, written after the metric keys
    description: str = ""  # one sentence for the report: what was fitted, k, distance, fallbacks


def split_rows(data, split: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `data` for split.json's training and test ids, in split.json's order."""
    index = {m: i for i, m in enumerate(data.ids)}
    rows = []
    for part in ("train", "test"):
        ids = split.get(part) or []
        missing = [m for m in ids if m not in index]
        if missing:
            raise ValueError(
                f"{len(missing)} {part} id(s) of split.json are not in the processed data (first: {missing[:5]}); "
                "the split is stale: re-run `dvc repro split`"
            )
        if not ids:
            raise ValueError(f"split.json has no {part} materials: the baselines need both a training and a test split")
        rows.append(np.array([index[m] for m in ids], dtype=np.int64))
    return rows[0], rows[1]


def run_baselines(data, split: dict, config: BaselineConfig | None = None) -> dict[str, Baseline]:
    """Both baselines, fitted on split.json's `train` ids of `data` (a `ProcessedData`), for its `test` ids."""
    config = config or BaselineConfig()
    train, test = split_rows(data, split)
    return {
        "mean": mean_baseline(data, train, test),
        "composition_nn": composition_nn_baseline(data, train, test, config.k, config.metric),
    }


def _ragged_rows(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the ragged rows of materials `rows` (concatenated in that order) and each one's owner."""
    ptr = np.asarray(ptr, dtype=np.int64)
    lengths = ptr[rows + 1] - ptr[rows]
    owner = np.repeat(np.arange(len(rows)), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(rows) else np.zeros(0, np.int64)
    flat = np.repeat(ptr[rows], lengths) + np.arange(int(lengths.sum())) - np.repeat(first, lengths)
    return flat.astype(np.int64), owner


def _truth(data, test: np.ndarray, dos, epdos, fermi, gap) -> Predictions:
    """Predictions for the `test` rows: the given predicted arrays beside the truth (original units)."""
    flat, _ = _ragged_rows(data.epdos_ptr, test)
    lengths = np.asarray(data.epdos_ptr)[test + 1] - np.asarray(data.epdos_ptr)[test]
    return Predictions(
        ids=[data.ids[i] for i in test],
        formula=[data.formula[i] for i in test],
        dos_pred=dos,
        dos_true=np.asarray(data.dos, float)[test],
        epdos_pred=epdos,
        epdos_true=np.asarray(data.epdos, float)[flat],
        epdos_ptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        epdos_z=np.asarray(data.epdos_z, np.int64)[flat],
        fermi_pred=fermi,
        fermi_true=np.asarray(data.efermi, float)[test],
        gap_pred=gap,
        gap_true=np.asarray(data.gap, float)[test],
        is_metal=np.asarray(data.is_metal, bool)[test],
    )


@dataclass
class _ElementMeans:
    """Per-element mean EPDOS of the training split, and the mean of all its rows for unseen elements."""

    z: np.ndarray  # sorted Z seen in training
    means: np.ndarray  # (len(z), T)
    pooled: np.ndarray  # (T,)

    @classmethod
    def fit(cls, data, train: np.ndarray) -> _ElementMeans:
        flat, _ = _ragged_rows(data.epdos_ptr, train)
        if len(flat) == 0:
            raise ValueError("the training split has no EPDOS rows: the baselines cannot predict element spectra")
        rows = np.asarray(data.epdos, float)[flat]
        z = np.asarray(data.epdos_z, np.int64)[flat]
        order = np.argsort(z, kind="stable")
        uz, start, count = np.unique(z[order], return_index=True, return_counts=True)
        means = np.add.reduceat(rows[order], start, axis=0) / count[:, None]
        return cls(z=uz, means=means, pooled=rows.mean(0))

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, unseen mask) for the elements `z`: the element's mean, or the pooled mean where unseen."""
        pos = np.clip(np.searchsorted(self.z, z), 0, len(self.z) - 1)
        seen = self.z[pos] == z
        return np.where(seen[:, None], self.means[pos], self.pooled[None, :]), ~seen


def mean_baseline(data, train: Sequence[int], test: Sequence[int]) -> Baseline:
    """The training-split mean of every target (per-element mean for EPDOS), predicted for every test material."""
    train, test = np.asarray(train, np.int64), np.asarray(test, np.int64)
    n = len(test)
    elements = _ElementMeans.fit(data, train)
    flat, _ = _ragged_rows(data.epdos_ptr, test)
    epdos, unseen = elements.predict(np.asarray(data.epdos_z, np.int64)[flat])
    pred = _truth(
        data,
        test,
        dos=np.repeat(np.asarray(data.dos, float)[train].mean(0, keepdims=True), n, axis=0),
        epdos=epdos,
        fermi=np.full(n, np.asarray(data.efermi, float)[train].mean()),
        gap=np.full(n, np.asarray(data.gap, float)[train].mean()),
    )
    info = {"baseline.n_train": len(train), "baseline.epdos_unseen_pairs": int(unseen.sum())}
    description = (
        f"training-split mean ({len(train)} materials) of the DOS, E_F and E_g; EPDOS: each element's mean "
        f"training row; {_unseen_text(int(unseen.sum()), len(flat))}"
    )
    return Baseline("mean", pred, info, description)


def element_fractions(data, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(len(rows), len(columns)) fraction of each material's sites that are element Z = columns[j]."""
    flat, owner = _ragged_rows(data.atom_ptr, rows)
    z = np.asarray(data.atomic_numbers, np.int64)[flat]
    col = np.searchsorted(columns, z)
    out = np.zeros((len(rows), len(columns)))
    np.add.at(out, (owner, col), 1.0)
    sites = out.sum(1, keepdims=True)
    if (sites == 0).any():
        bad = [data.ids[rows[i]] for i in np.flatnonzero(sites[:, 0] == 0)[:5]]
        raise ValueError(f"materials without sites in the processed data (first: {bad}); re-run `dvc repro preprocess`")
    return out / sites


def nearest(query: np.ndarray, reference: np.ndarray, k: int, metric: str = "l1") -> tuple[np.ndarray, np.ndarray]:
    """Indices (Q, k) and distances (Q, k) of the k nearest `reference` rows of each `query` row.

    Exact ties go to the lower reference index: each pass takes the first minimum (argmin), so the
    result does not depend on a sort's handling of equal keys.
    """
    if k > len(reference):
        raise ConfigError(
            f"evaluate.baselines.composition_nn.k={k} exceeds the {len(reference)} training materials; choose k <= "
            f"{len(reference)}"
        )
    idx = np.zeros((len(query), k), np.int64)
    dist = np.zeros((len(query), k))
    step = max(1, _BLOCK // max(1, len(reference)))
    for lo in range(0, len(query), step):
        d = cdist(query[lo : lo + step], reference, metric=NN_METRICS[metric])
        rows = np.arange(len(d))
        for j in range(k):
            best = d.argmin(1)
            idx[lo : lo + step, j] = best
            dist[lo : lo + step, j] = d[rows, best]
            d[rows, best] = np.inf
    return idx, dist


def composition_nn_baseline(
    data, train: Sequence[int], test: Sequence[int], k: int = 1, metric: str = "l1"
) -> Baseline:
    """Mean targets of the k training materials nearest in element fractions (see the module docstring)."""
    train, test = np.asarray(train, np.int64), np.asarray(test, np.int64)
    choice(metric, NN_METRICS, "evaluate.baselines.composition_nn.metric")
    both = np.concatenate([train, test])
    ptr, epdos_z = np.asarray(data.epdos_ptr, np.int64), np.asarray(data.epdos_z, np.int64)
    # One column per element of either split's sites or EPDOS rows, so every (material, element) has a column.
    columns = np.unique(
        np.concatenate(
            [
                np.asarray(data.atomic_numbers, np.int64)[_ragged_rows(data.atom_ptr, both)[0]],
                epdos_z[_ragged_rows(ptr, both)[0]],
            ]
        )
    )
    nb, dist = nearest(element_fractions(data, test, columns), element_fractions(data, train, columns), k, metric)
    nb_rows = train[nb]  # (n_test, k) rows of `data`

    dos = np.asarray(data.dos, float)[nb_rows].mean(1)
    fermi = np.asarray(data.efermi, float)[nb_rows].mean(1)
    gap = np.asarray(data.gap, float)[nb_rows].mean(1)

    # EPDOS row index of (training material, element column), -1 where the material lacks the element.
    flat, owner = _ragged_rows(ptr, train)
    row_of = np.full((len(train), len(columns)), -1, np.int64)
    row_of[owner, np.searchsorted(columns, epdos_z[flat])] = flat
    flat_te, owner_te = _ragged_rows(ptr, test)
    z_te = epdos_z[flat_te]
    col_te = np.searchsorted(columns, z_te)
    total = np.zeros((len(flat_te), np.shape(data.epdos)[-1]))
    count = np.zeros(len(flat_te))
    for j in range(k):  # k passes over the pairs keep memory at one (pairs, T) block
        src = row_of[nb[owner_te, j], col_te]
        has = src >= 0
        total[has] += np.asarray(data.epdos, float)[src[has]]
        count += has
    fallback = count == 0
    elements = _ElementMeans.fit(data, train)
    fill, unseen = elements.predict(z_te)
    with np.errstate(invalid="ignore", divide="ignore"):
        epdos = np.where(fallback[:, None], fill, total / np.maximum(count, 1)[:, None])
    pred = _truth(data, test, dos=dos, epdos=epdos, fermi=fermi, gap=gap)
    n_exact = int((dist[:, 0] == 0).sum())
    info = {
        "baseline.n_train": len(train),
        "baseline.k": k,
        "baseline.epdos_fallback_pairs": int(fallback.sum()),
        "baseline.epdos_unseen_pairs": int((fallback & unseen).sum()),
        "baseline.n_exact_composition": n_exact,
    }
    description = (
        f"the {k} nearest training material{'s' if k > 1 else ''} ({len(train)} candidates) by the "
        f"{NN_METRIC_NAMES[metric]} distance between element-fraction vectors (fraction of the cell's sites per "
        f"element), ties to the earlier training id; prediction = the neighbours' mean DOS, E_F and E_g; "
        f"{n_exact} of {len(test)} test materials have a training material of identical composition. EPDOS: "
        f"mean of the element's rows over the neighbours that contain it; {int(fallback.sum())} of {len(flat_te)} "
        f"(material, element) pairs had no such neighbour and use the per-element training mean; "
        f"{_unseen_text(int((fallback & unseen).sum()), len(flat_te))}"
    )
    return Baseline("composition_nn", pred, info, description)


def _unseen_text(n_unseen: int, n_pairs: int) -> str:
    return (
        f"{n_unseen} of {n_pairs} (material, element) pairs have an element absent from the training split and "
        "get the mean over all training EPDOS rows."
    )
