"""Helpers for the fetch-source tests: fixture paths and a fake mp-api client replaying recorded shapes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from pymatgen.electronic_structure.dos import CompleteDos

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "mp_fixtures"
RECORDED = Path(__file__).resolve().parent / "recorded"


def load_json(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


class MPRestError(Exception):
    """Stands in for mp_api.client.core.MPRestError (same message formats, see recorded/README.md)."""


class _Doc:
    """A summary document as mp-api returns it by default: a pydantic-like model with `model_dump`."""

    def __init__(self, d: dict):
        self._d = d

    def model_dump(self, mode: str = "python") -> dict:
        return json.loads(json.dumps(self._d))


class FakeMPRester:
    """Replays recorded responses; `fail` maps a material id to a list of errors to raise on successive calls."""

    HAS_PROP = "dos"

    def __init__(self, api_key: str, fail: dict | None = None, interrupt_after: int | None = None):
        self.api_key = api_key
        recorded = load_json(RECORDED / "summary_search.json")
        self._docs = recorded["docs"]
        self._dos_map = load_json(RECORDED / "dos_responses.json")
        self.fail = {k: list(v) for k, v in (fail or {}).items()}
        self.interrupt_after = interrupt_after
        self.search_calls: list[dict] = []
        self.dos_calls: list[tuple[str, bool]] = []
        self.materials = self  # client.materials.summary.search(...)
        self.summary = self

    def search(self, **query):
        self.search_calls.append(query)
        assert query.get("has_props") == [self.HAS_PROP], "never an unfiltered search"
        docs = [d for d in self._docs if query.get("include_gnome", True) or d.get("batch_id") is None]
        if query.get("material_ids"):
            docs = [d for d in docs if d["material_id"] in query["material_ids"]]
        return [_Doc(d) for d in docs]

    def get_dos_by_material_id(self, material_id: str, load_projections: bool = False):
        if self.interrupt_after is not None and len(self.dos_calls) >= self.interrupt_after:
            raise KeyboardInterrupt("fetch killed")
        self.dos_calls.append((material_id, load_projections))
        errors = self.fail.get(material_id)
        if errors:
            raise MPRestError(self._dos_map["errors"][errors.pop(0)])
        if material_id not in self._dos_map["dos_fixture"]:
            raise MPRestError(self._dos_map["errors"]["no_dos"].replace("mp-0", material_id))
        name, index = self._dos_map["dos_fixture"][material_id]
        data = load_json(FIXTURES / name)
        return CompleteDos.from_dict(data if index is None else data[index]["data"])


class FakePhononMPRester(FakeMPRester):
    """`materials.phonon.get_dos_from_material_id` replaying recorded/phonon_dos_responses.json (emmet documents)."""

    HAS_PROP = "phonon"

    def __init__(self, api_key: str, fail: dict | None = None, interrupt_after: int | None = None):
        super().__init__(api_key, fail, interrupt_after)
        self._phonon = load_json(RECORDED / "phonon_dos_responses.json")
        self.phonon = self  # client.materials.phonon.get_dos_from_material_id(...)

    def get_dos_from_material_id(self, material_id: str, phonon_method: str):
        from emmet.core.phonon import PhononDOS

        if self.interrupt_after is not None and len(self.dos_calls) >= self.interrupt_after:
            raise KeyboardInterrupt("fetch killed")
        self.dos_calls.append((material_id, phonon_method))
        errors = self.fail.get(material_id)
        if errors:
            raise MPRestError(self._phonon["errors"][errors.pop(0)])
        if material_id not in self._phonon["dos"]:
            raise MPRestError(self._phonon["errors"]["no_phonon"].replace("mp-0", material_id))
        return PhononDOS(**self._phonon["dos"][material_id])  # mp-api's default: the document model
