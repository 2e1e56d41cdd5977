"""Batched inference with a trained DOSForge checkpoint, in original units.

Which cell the model sees: the DOS and EPDOS targets are states/eV *per cell* (DESIGN.md data
contract), an extensive quantity, and the model was trained on Materials Project cells, which are
primitive. A user's conventional cell or supercell of the same crystal must get the same physics,
so by default every structure is reduced to its primitive cell (pymatgen
`get_primitive_structure`, 0.25 A tolerance) and Niggli-reduced (a unique lattice basis) before
its graph is built; the predicted spectra are then scaled by n_input_sites / n_primitive_sites to
be per input cell. E_F and E_g are intensive and need no scaling; E_g^ext is read off the
primitive-cell DOS, as evaluation does on the training cells. `primitive=False` feeds the cell as
given (the model then sees exactly the user's cell and the spectra are per that cell, unscaled).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Element, Structure
from tqdm.auto import tqdm

from dosforge.gap import threshold_gap
from dosforge.grid import EnergyGrid
from dosforge.predict.consistency import element_sum_residual, rescale_to_total
from dosforge.predict.inputs import StructureInput
from dosforge.predict.result import PredictionFailure, PredictionResult
from dosforge.predict.validate import DEFAULT_MAX_ATOMS, StructureError, validate_structure
from dosforge.train.inference import denorm_outputs

PRIMITIVE_TOLERANCE = 0.25  # A, pymatgen's default site tolerance for get_primitive_structure
# The primitive-cell search grows fast on large cells that do not reduce (1.6 s at 512 sites), so inputs
# above this multiple of max_atoms are refused before it; supercells up to it reduce and are predicted.
PRIMITIVE_SEARCH_FACTOR = 2
# Atoms per forward pass, whatever --batch-size says: bounds a batch's memory (the paper-size model needs
# ~0.35 GB per 500 atoms, docs/predict.md), so a batch of large cells cannot exhaust memory.
MAX_BATCH_ATOMS = 4096


@dataclass(frozen=True)
class CheckpointInfo:
    """What the predictor needs from a checkpoint's metadata (`dosforge.train.checkpoint`)."""

    path: str
    grid: EnergyGrid
    known_z: tuple[int, ...]  # atomic numbers seen in training
    tasks: tuple[str, ...]
    graph: dict  # keyword arguments of dosforge.graph.build_graph
    data_source: str
    synthetic: bool
    sha256: str = ""  # of the checkpoint file, so an output names exactly which weights made it
    # what a bin of the training spectra held (`preprocess.resample`); checkpoints written before the
    # option existed were trained on bin averages, the only behaviour then
    resample: str = "average"
    family: str = "dosforge"  # the model family the checkpoint names (dosforge.families)
    family_graph: dict | None = None  # graph parameters of a non-DOSForge family (e.g. DOSTransformer's 8 Å / 12 NN)

    @classmethod
    def from_meta(cls, meta: dict, path: str = "") -> CheckpointInfo:
        """From the metadata `dosforge.train.checkpoint.load_model` returns (keys of `save_best`)."""
        missing = [k for k in ("grid", "elements", "model_config") if k not in meta]
        if missing:
            raise ValueError(f"checkpoint {path or '?'} lacks metadata {missing}: it was not written by dosforge.train")
        tasks = meta.get("tasks") or meta["model_config"].get("tasks") or ("dos", "epdos", "fermi", "gap")
        graph = meta.get("graph_params") or meta.get("graph") or {}
        if isinstance(graph.get("params"), dict):  # the preprocess manifest's {"params": {...}, "keys": [...]}
            graph = graph["params"]
        grid = meta["grid"]
        if meta.get("spectrum") == "phonon" or "emin" not in grid:
            raise ValueError(
                f"checkpoint {path or '?'} was trained on phonon DOS (grid in {grid.get('unit', 'cm^-1')}); "
                "`dosforge predict` serves electron-DOS models: use a checkpoint trained with data.spectrum=electron"
            )
        return cls(
            path=str(path),
            grid=EnergyGrid(float(grid["emin"]), float(grid["emax"]), int(grid["bins"])),
            known_z=tuple(sorted(int(z) for z in meta["elements"])),
            tasks=tuple(tasks),
            # only what build_graph takes; the same values preprocess used for the training graphs
            graph={k: graph.get(k, default) for k, default in _graph_defaults().items()},
            data_source=str(meta.get("source", meta.get("data_source", "unknown"))),
            synthetic=bool(meta.get("synthetic", True)),
            resample=str(meta.get("resample", "average")),
            family=str(meta.get("model_family", "dosforge")),
            family_graph=dict(graph) if meta.get("model_family", "dosforge") != "dosforge" else None,
        )

    def as_dict(self) -> dict:
        return {
            "checkpoint": self.path,
            "checkpoint_sha256": self.sha256,
            "training_data_source": self.data_source,
            "synthetic_labels": self.synthetic,
            "tasks": list(self.tasks),
            "elements_seen_in_training": [Element.from_Z(z).symbol for z in self.known_z],
            "grid": self.grid.as_dict(),
            "training_resample": self.resample,
            "graph": self.family_graph if self.family_graph is not None else self.graph,
            "model_family": self.family,
        }


@dataclass(frozen=True)
class InputPreparer:
    """Checks and prepares one input for the model: the CPU half of prediction (primitive cell, crystal graph).

    It holds only the checkpoint's metadata, so it pickles cheaply into DataLoader worker processes
    (`dosforge.predict.graph_loader`), which then build graphs while the main process runs the model.
    """

    info: CheckpointInfo
    primitive: bool = True
    max_atoms: int = DEFAULT_MAX_ATOMS

    def __call__(self, inp: StructureInput) -> tuple[Structure, dict] | PredictionFailure:
        """`prepare(inp)`, or the failure with its reason: the per-structure error handling of `Predictor.run`."""
        reason = inp.error or self.check(inp.structure)
        if reason:
            return PredictionFailure(inp.id, inp.source, reason)
        try:
            return self.prepare(inp)
        except StructureError as exc:
            return PredictionFailure(inp.id, inp.source, str(exc))
        except Exception as exc:  # noqa: BLE001 - a structure whose graph fails is its own error
            return PredictionFailure(inp.id, inp.source, f"graph construction failed: {exc}")

    def check(self, structure: Structure) -> str | None:
        """Why `structure` cannot be predicted, or None. With `primitive`, `max_atoms` bounds the primitive cell
        (checked in `prepare`); here only inputs above PRIMITIVE_SEARCH_FACTOR x max_atoms are refused."""
        max_atoms = self.max_atoms
        if not self.primitive:
            return validate_structure(structure, known_z=self.info.known_z, max_atoms=max_atoms)
        reasons = [validate_structure(structure, known_z=self.info.known_z, max_atoms=None)]
        if isinstance(structure, Structure) and len(structure) > PRIMITIVE_SEARCH_FACTOR * max_atoms:
            reasons.append(
                f"too large: {len(structure)} sites > {PRIMITIVE_SEARCH_FACTOR} x max_atoms={max_atoms}, refused "
                "before the (slow) primitive-cell search; pass a smaller (primitive) cell or raise --max-atoms"
            )
        return "; ".join(r for r in reasons if r) or None

    def prepare(self, inp: StructureInput) -> tuple[Structure, dict]:
        """(cell the model sees, collate sample with its crystal graph) for one valid input.

        Raises `StructureError` when the cell the model would see has more than `max_atoms` sites.
        """
        from dosforge.graph import build_graph

        cell = model_cell(inp.structure) if self.primitive else inp.structure
        if len(cell) > self.max_atoms:
            raise StructureError(
                f"too large: its primitive cell has {len(cell)} sites > max_atoms={self.max_atoms} "
                "(time and memory limit, see docs/predict.md; raise --max-atoms knowingly)"
            )
        if self.info.family == "dostransformer":
            from dosforge.families.dostransformer.data import sample_from_structure

            return cell, sample_from_structure(cell, graph=self.info.family_graph)
        sample = {
            "id": inp.id,
            "z": np.array([site.specie.Z for site in cell], dtype=np.int64),
            "cart_coords": np.asarray(cell.cart_coords, dtype=np.float32),
            "lattice": np.asarray(cell.lattice.matrix, dtype=np.float32),
            "graph": build_graph(cell, **self.info.graph),
        }
        return cell, sample


class Predictor:
    """A loaded checkpoint ready to predict pymatgen Structures. Build it with `dosforge.load_model(path)`."""

    def __init__(self, model: torch.nn.Module, normalizer, info: CheckpointInfo, device: str | torch.device = "cpu"):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()  # eval: BatchNorm uses running statistics, dropout off
        self.normalizer = normalizer
        self.info = info

    @property
    def grid(self) -> EnergyGrid:
        return self.info.grid

    def predict(
        self,
        structures: Structure | Sequence[Structure],
        ids: Sequence[str] | None = None,
        batch_size: int = 32,
        primitive: bool = True,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        progress: bool = False,
        rescale_epdos: bool = False,
    ) -> list[PredictionResult]:
        """Predict every structure; raise `StructureError` (listing each bad one and why) before running any.

        `rescale_epdos`: element DOS rescaled per energy bin to sum to the predicted total DOS (see `run`).
        """
        if isinstance(structures, Structure):
            structures = [structures]
        ids = list(ids) if ids is not None else [f"structure-{i}" for i in range(len(structures))]
        if len(ids) != len(structures):
            raise ValueError(f"got {len(ids)} ids for {len(structures)} structures")
        inputs = [StructureInput(i, "python", structure=s) for i, s in zip(ids, structures, strict=True)]
        bad = [(inp.id, self.check(inp.structure, max_atoms, primitive)) for inp in inputs]
        bad = [(i, r) for i, r in bad if r]
        if bad:
            raise StructureError("cannot predict: " + "; ".join(f"{i}: {r}" for i, r in bad))
        outcomes = self.run(
            inputs,
            batch_size=batch_size,
            primitive=primitive,
            max_atoms=max_atoms,
            progress=progress,
            rescale_epdos=rescale_epdos,
        )
        failed = [o for o in outcomes if isinstance(o, PredictionFailure)]
        if failed:
            raise StructureError("cannot predict: " + "; ".join(f"{f.id}: {f.reason}" for f in failed))
        return outcomes

    def check(self, structure: Structure, max_atoms: int = DEFAULT_MAX_ATOMS, primitive: bool = True) -> str | None:
        """Why `structure` cannot be predicted, or None (`InputPreparer.check`)."""
        return InputPreparer(self.info, primitive, max_atoms).check(structure)

    def run(
        self,
        inputs: Sequence[StructureInput],
        batch_size: int = 32,
        primitive: bool = True,
        max_atoms: int = DEFAULT_MAX_ATOMS,
        progress: bool = True,
        rescale_epdos: bool = False,
    ) -> list[PredictionResult | PredictionFailure]:
        """Predict every readable, valid input; the others come back as failures with their reasons, in order.

        `rescale_epdos=True` multiplies, in every energy bin, each element's DOS by (predicted total DOS) /
        (sum of the predicted element DOS), so the element rows sum to the total (a bin whose element sum
        is 0 keeps its zeros); the model's own element-sum residual is kept in `epdos_sum_residual`. It
        needs a checkpoint that predicts both DOS and EPDOS (`dosforge.predict.consistency`).
        """
        self.check_options(batch_size, rescale_epdos)
        outcomes: list[PredictionResult | PredictionFailure | None] = [None] * len(inputs)
        items = ((k, inp, self.prepare_or_fail(inp, primitive, max_atoms)) for k, inp in enumerate(inputs))
        with tqdm(total=len(inputs), desc="predict", unit="structure", disable=not progress) as bar:
            for k, outcome in self.infer_stream(items, batch_size, rescale_epdos):
                outcomes[k] = outcome
                bar.update(1)
        return outcomes  # type: ignore[return-value]

    def check_options(self, batch_size: int, rescale_epdos: bool) -> None:
        """Raise ValueError for a batch size below 1, or `rescale_epdos` on a checkpoint without DOS and EPDOS."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if rescale_epdos and not {"dos", "epdos"} <= set(self.info.tasks):
            raise ValueError(
                f"rescale_epdos needs a checkpoint that predicts both dos and epdos; {self.info.path or 'this one'} "
                f"predicts {', '.join(self.info.tasks)}: drop the option or use such a checkpoint"
            )

    def prepare_or_fail(
        self, inp: StructureInput, primitive: bool = True, max_atoms: int = DEFAULT_MAX_ATOMS
    ) -> tuple[Structure, dict] | PredictionFailure:
        """`prepare(inp)`, or the failure (unreadable, invalid, too large, graph error) with its reason."""
        return InputPreparer(self.info, primitive, max_atoms)(inp)

    def infer_stream(
        self,
        items: Iterable[tuple[int, StructureInput, tuple | PredictionFailure]],
        batch_size: int,
        rescale_epdos: bool,
    ) -> Iterator[tuple[int, PredictionResult | PredictionFailure]]:
        """Batch prepared items `(k, input, (cell, sample) or failure)` as they come; yield `(k, outcome)` for each.

        A batch closes at `batch_size` structures or before exceeding MAX_BATCH_ATOMS atoms; failures pass
        through without closing it. The batches depend only on the order of `items`, so `run` and the batch
        mode (`dosforge.predict.batch`) give the same numbers for the same sequence of structures.
        """
        pending: dict[int, StructureInput] = {}
        batch: list = []  # (k, cell, sample)
        n_atoms = 0
        for k, inp, prepared in items:
            if isinstance(prepared, PredictionFailure):
                yield k, prepared
                continue
            cell, sample = prepared
            if batch and n_atoms + len(cell) > MAX_BATCH_ATOMS:
                yield from self._infer_or_isolate(pending, batch, rescale_epdos)
                pending, batch, n_atoms = {}, [], 0
            pending[k] = inp
            batch.append((k, cell, sample))
            n_atoms += len(cell)
            if len(batch) >= batch_size:
                yield from self._infer_or_isolate(pending, batch, rescale_epdos)
                pending, batch, n_atoms = {}, [], 0
        if batch:
            yield from self._infer_or_isolate(pending, batch, rescale_epdos)

    def _infer_or_isolate(
        self, inputs, prepared: list, rescale_epdos: bool = False
    ) -> list[tuple[int, PredictionResult | PredictionFailure]]:
        """Infer a batch; if it fails, retry one by one so a single bad structure fails alone, with its reason."""
        if not prepared:
            return []
        try:
            results = self.infer(inputs, prepared, rescale_epdos=rescale_epdos)
            return [(p[0], _finite_or_failure(r, self.info.tasks)) for p, r in zip(prepared, results, strict=True)]
        except Exception as exc:  # noqa: BLE001 - isolated below; a lone failure is reported, not raised
            if len(prepared) > 1:
                return [pair for p in prepared for pair in self._infer_or_isolate(inputs, [p], rescale_epdos)]
            k = prepared[0][0]
            return [
                (k, PredictionFailure(inputs[k].id, inputs[k].source, f"model failed: {type(exc).__name__}: {exc}"))
            ]

    def prepare(
        self, inp: StructureInput, primitive: bool = True, max_atoms: int = DEFAULT_MAX_ATOMS
    ) -> tuple[Structure, dict]:
        """(cell the model sees, collate sample with its crystal graph) for one valid input (`InputPreparer`)."""
        return InputPreparer(self.info, primitive, max_atoms).prepare(inp)

    @torch.inference_mode()
    def infer(
        self, inputs: Sequence[StructureInput], prepared: list, rescale_epdos: bool = False
    ) -> list[PredictionResult]:
        """One forward pass over `prepared` = [(index into inputs, cell, sample), ...] -> results in original units.

        DOS, EPDOS and E_g arrive non-negative from `denorm_outputs` (the one place that clips them)."""
        if self.info.family == "dostransformer":
            from dosforge.families.dostransformer.data import collate as dt_collate

            batch = dt_collate([p[2] for p in prepared]).to(self.device)
        else:
            from dosforge.model import collate

            batch = collate([p[2] for p in prepared], None).to(self.device)
        out = self.model(batch)
        n = len(prepared)
        nan = np.full(n, np.nan)
        res = {k: v.astype(np.float64) for k, v in denorm_outputs(out, batch, self.normalizer).items()}
        dos = res.get("dos")
        fermi = res.get("fermi", nan)
        gap = res.get("gap", nan)
        epdos_rows, group_graph, group_z = None, None, None
        if "epdos" in res:
            group_z = batch.group_z.detach().cpu().numpy().astype(np.int64)
            group_graph = batch.group_graph.detach().cpu().numpy().astype(np.int64)
            epdos_rows = res["epdos"]
        results = []
        for b, (k, cell, _sample) in enumerate(prepared):
            inp = inputs[k]
            scale = len(inp.structure) / len(cell)  # per model cell -> per input cell (extensive spectra)
            dos_b = None if dos is None else dos[b]
            epdos_b = None
            if epdos_rows is not None:
                rows = np.flatnonzero(group_graph == b)
                rows = rows[np.argsort(group_z[rows], kind="stable")]
                epdos_b = {Element.from_Z(int(group_z[r])).symbol: epdos_rows[r] for r in rows}
            residual = element_sum_residual(epdos_b, dos_b) if epdos_b and dos_b is not None else float("nan")
            if rescale_epdos and epdos_b and dos_b is not None:
                epdos_b = rescale_to_total(epdos_b, dos_b)
            results.append(
                PredictionResult(
                    id=inp.id,
                    source=inp.source,
                    formula=inp.structure.composition.reduced_formula,
                    n_sites=len(inp.structure),
                    n_sites_model=len(cell),
                    energies=self.grid.centers.copy(),
                    dos=None if dos_b is None else dos_b * scale,
                    epdos=None if epdos_b is None else {el: v * scale for el, v in epdos_b.items()},
                    efermi=float(fermi[b]),
                    gap=float(gap[b]),
                    # A.4 scan on the DOS of the cell the model saw, as evaluation does on training cells
                    gap_ext=float(threshold_gap(dos_b, self.grid.de)) if dos_b is not None else float("nan"),
                    synthetic=self.info.synthetic,
                    structure=inp.structure,
                    epdos_rescaled=bool(rescale_epdos and epdos_b is not None),
                    epdos_sum_residual=residual,
                )
            )
        return results


def _finite_or_failure(result: PredictionResult, tasks: Sequence[str]) -> PredictionResult | PredictionFailure:
    """A prediction with NaN/inf in a quantity the checkpoint predicts is a failure, never written as numbers."""
    values = {"dos": result.dos, "fermi": result.efermi, "gap": result.gap}
    values.update({f"epdos[{el}]": v for el, v in (result.epdos or {}).items()})
    bad = [k for k, v in values.items() if k.split("[")[0] in tasks and not np.isfinite(v).all()]
    if bad:
        return PredictionFailure(result.id, result.source, f"model produced non-finite values for {', '.join(bad)}")
    return result


def _graph_defaults() -> dict:
    """build_graph's own keyword defaults (the published iComFormer values), used where a checkpoint has none."""
    import inspect

    from dosforge.graph import build_graph

    sig = inspect.signature(build_graph).parameters
    return {k: sig[k].default for k in ("cutoff", "max_neighbors")}


def model_cell(structure: Structure) -> Structure:
    """The primitive, Niggli-reduced cell of `structure` (see the module docstring for why)."""
    prim = structure.get_primitive_structure(tolerance=PRIMITIVE_TOLERANCE)
    return prim.get_reduced_structure(reduction_algo="niggli")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without it is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available: use --device cpu (or auto)")
    return dev
