"""Running a model over a set of materials: predictions in original units, and validation losses.

`predict_split` is what the train stage uses to write `models/<name>/test_predictions.h5` and what
evaluation can call directly; `collect` is the shared pass that also averages the raw task losses
(normalised space, the model-selection quantity of the paper) when a loss config is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dosforge.predictions import Predictions
from dosforge.train.data import SplitDataset, make_loader

TASK_OUTPUTS = ("dos", "epdos", "fermi", "gap")


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


NON_NEGATIVE = ("dos", "epdos", "gap")  # densities of states and the band gap (paper section 3.1: d >= 0, E_g >= 0)


def denorm_outputs(out: dict, batch, normalizer) -> dict[str, np.ndarray]:
    """The model's heads in original units: `dos` (B, T), `epdos` (G, T) by `batch.group_z`, `fermi`, `gap` (B,).

    The one denormalisation shared by evaluation (`collect`, hence `test_predictions.h5`) and `dosforge
    predict`. DOS, EPDOS and E_g are set to 0 where negative (`NON_NEGATIVE`): the heads are unconstrained
    regressors in normalised space, but a density of states and a band gap cannot be negative (paper
    section 3.1), so no output carries a negative value. NaN stays NaN (a diverged model is reported,
    not hidden). E_F (absolute) may be negative and is not clipped. Losses never see this: they are
    computed on the raw heads in normalised space."""
    res = {}
    if "dos" in out:
        res["dos"] = np.asarray(normalizer.denorm_dos(_np(out["dos"])))
    for task in ("fermi", "gap"):
        if task in out:  # scalar heads may return (B, 1)
            res[task] = np.asarray(getattr(normalizer, f"denorm_{task}")(_np(out[task]).reshape(-1)))
    if "epdos" in out:
        res["epdos"] = np.asarray(normalizer.denorm_epdos(_np(out["epdos"]), batch.group_z.cpu().numpy()))
    for task in NON_NEGATIVE:
        if task in res:
            res[task] = np.maximum(res[task], 0.0)  # np.maximum keeps NaN
    return res


@torch.no_grad()
def collect(
    model,
    dataset: SplitDataset,
    normalizer,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    loss_config=None,
) -> tuple[Predictions, dict[str, float]]:
    """One pass in eval mode -> (Predictions in original units with truth, mean losses per key).

    The losses (only when `loss_config` is given) are `compute_losses` values averaged over
    materials (each batch weighted by its size).
    """
    from dosforge.model.losses import compute_losses

    model.eval()
    processed = dataset.processed
    n = len(dataset)
    T = processed.dos.shape[1]
    dos = np.full((n, T), np.nan, np.float32)
    fermi = np.full(n, np.nan, np.float32)
    gap = np.full(n, np.nan, np.float32)
    epdos_by_material: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
    loss_sums: dict[str, float] = {}
    start = 0
    for batch in make_loader(dataset, normalizer, batch_size, shuffle=False):
        batch = batch.to(device)
        out = model(batch)
        b = int(batch.num_graphs)
        sl = slice(start, start + b)
        res = denorm_outputs(out, batch, normalizer)
        for task, target in (("dos", dos), ("fermi", fermi), ("gap", gap)):
            if task in res:
                target[sl] = res[task]
        if "epdos" in res:
            gz = batch.group_z.cpu().numpy()
            for g, (graph, z) in enumerate(zip(batch.group_graph.cpu().numpy(), gz, strict=True)):
                epdos_by_material[start + int(graph)][int(z)] = res["epdos"][g]
        if loss_config is not None:
            losses = compute_losses(out, batch, loss_config, normalizer)
            for k, v in losses.items():
                loss_sums[k] = loss_sums.get(k, 0.0) + float(v) * b
        start += b
    mean_losses = {k: v / n for k, v in loss_sums.items()}
    return _assemble(
        processed, dataset.rows, dos, fermi, gap, epdos_by_material, epdos_pred="epdos" in model_tasks(model)
    ), mean_losses


def model_tasks(model) -> list[str]:
    tasks = getattr(getattr(model, "config", None), "tasks", None)
    return list(tasks) if tasks is not None else list(TASK_OUTPUTS)


def _assemble(processed, rows, dos, fermi, gap, epdos_by_material, epdos_pred: bool) -> Predictions:
    """Truth from `processed` (original units, unclipped), predictions in the same row order."""
    ptr = [0]
    e_true, e_pred, e_z = [], [], []
    for k, i in enumerate(rows):
        lo, hi = processed.epdos_ptr[i], processed.epdos_ptr[i + 1]
        zs = processed.epdos_z[lo:hi]
        e_true.append(processed.epdos[lo:hi])
        e_z.append(zs)
        T = processed.epdos.shape[1]
        pred = np.full((hi - lo, T), np.nan, np.float32)
        if epdos_pred:
            for r, z in enumerate(zs):
                if int(z) in epdos_by_material[k]:
                    pred[r] = epdos_by_material[k][int(z)]
        e_pred.append(pred)
        ptr.append(ptr[-1] + (hi - lo))
    T = processed.dos.shape[1]
    gap_true = np.asarray(processed.gap, np.float32)[rows]
    return Predictions(
        ids=[processed.ids[i] for i in rows],
        formula=[processed.formula[i] for i in rows],
        dos_pred=dos,
        dos_true=np.asarray(processed.dos[rows], np.float32),
        epdos_pred=np.concatenate(e_pred) if e_pred else np.zeros((0, T), np.float32),
        epdos_true=np.concatenate(e_true) if e_true else np.zeros((0, T), np.float32),
        epdos_ptr=np.asarray(ptr, np.int64),
        epdos_z=np.concatenate(e_z).astype(np.int64) if e_z else np.zeros(0, np.int64),
        fermi_pred=fermi,
        fermi_true=np.asarray(processed.efermi, np.float32)[rows],
        gap_pred=gap,
        gap_true=gap_true,
        is_metal=np.asarray(processed.is_metal, bool)[rows],
    )


def predict_split(
    model_or_path,
    processed,
    ids: Sequence[str],
    normalizer=None,
    batch_size: int = 128,
    device: str = "cpu",
) -> Predictions:
    """Predictions for `ids` of `processed`, in original units with the truth alongside.

    `model_or_path`: a model directory or `best.pt` (loaded with its own normalisation statistics),
    or a model object together with `normalizer`.
    """
    if isinstance(model_or_path, (str, Path)):
        from dosforge.train.checkpoint import load_model

        model, normalizer, _ = load_model(model_or_path, device=device)
    else:
        model = model_or_path
        if normalizer is None:
            raise ValueError("predict_split(model, ...) needs the normalizer the model was trained with")
    predictions, _ = collect(model, SplitDataset(processed, ids), normalizer, batch_size=batch_size, device=device)
    return predictions
