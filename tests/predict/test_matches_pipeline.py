"""`dosforge predict` gives the numbers the pipeline's own inference (train -> evaluate) gives for the same cell."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from dosforge.graph import build_graph
from dosforge.grid import EnergyGrid
from dosforge.io import write_json
from dosforge.shards import load_processed, write_shard
from dosforge.train.inference import predict_split


def _processed(folder, structures: dict, graph_params: dict):
    """A processed data set in the shard format preprocess writes (zero spectra: only the structures matter)."""
    materials = []
    for name, s in structures.items():
        zs = sorted({site.specie.Z for site in s})
        materials.append(
            {
                "id": name,
                "formula": s.composition.reduced_formula,
                "point_group": "m-3m",
                "source": "embedded",
                "synthetic": True,
                "is_metal": False,
                "efermi": 0.0,
                "gap": 0.0,
                "epdos_residual": 0.0,
                "dos": np.zeros(256, np.float32),
                "epdos": np.zeros((len(zs), 256), np.float32),
                "epdos_z": np.array(zs, dtype=np.int64),
                "lattice": s.lattice.matrix,
                "atomic_numbers": np.array(s.atomic_numbers, dtype=np.int64),
                "cart_coords": s.cart_coords,
                "graph": build_graph(s, **graph_params),
            }
        )
    sha = write_shard(folder / "shard-00000.h5", materials)
    ids = list(structures)
    shards = [{"file": "shard-00000.h5", "sha256": sha, "n": len(ids)}]
    write_json(folder / "manifest.json", {"ids": ids, "grid": EnergyGrid().as_dict(), "shards": shards})
    return load_processed(folder)


# keep-cell: the same stored cell and graph construction, only the batch differs -> float32 rounding.
# primitive (the default): the graph is rebuilt from the Niggli-reduced cell, so edge vectors differ by
# float32 rounding (~1e-6 A) that the layers amplify, the same tolerance as the rotation test.
@pytest.mark.parametrize(("primitive", "rtol"), [(False, 1e-5), (True, 1e-4)])
def test_predict_matches_the_pipeline_inference_on_the_same_cells(
    tmp_path, checkpoint, predictor, good_structures, primitive, rtol
):
    processed = _processed(tmp_path, good_structures, predictor.info.graph)
    pipeline = predict_split(checkpoint, processed, list(good_structures), batch_size=4)
    for j, name in enumerate(pipeline.ids):
        sample = processed.sample(j)  # the stored (float32) cell, as the pipeline saw it
        z, xyz = sample["z"].tolist(), sample["cart_coords"]
        cell = Structure(Lattice(sample["lattice"]), z, xyz, coords_are_cartesian=True)
        [r] = predictor.predict(cell, ids=[name], primitive=primitive)
        atol = rtol * max(1.0, float(np.abs(pipeline.dos_pred[j]).max()))
        # predict clips negative densities to 0 (docs/predict.md); float32 rounding aside, the rest is identical
        np.testing.assert_allclose(r.dos, np.maximum(pipeline.dos_pred[j], 0), rtol=0, atol=atol)
        rows = range(pipeline.epdos_ptr[j], pipeline.epdos_ptr[j + 1])
        assert [int(pipeline.epdos_z[k]) for k in rows] == _zs(r)
        for k, el in zip(rows, r.epdos, strict=True):
            np.testing.assert_allclose(r.epdos[el], np.maximum(pipeline.epdos_pred[k], 0), rtol=0, atol=atol)
        assert (
            abs(r.efermi - pipeline.fermi_pred[j]) < 10 * atol and abs(r.gap - max(pipeline.gap_pred[j], 0)) < 10 * atol
        )


def _zs(result) -> list[int]:
    from pymatgen.core import Element

    return [Element(el).Z for el in result.epdos]
