"""Which DVC stages a fan-out runs, and which must be up to date before it (read from the project's dvc.yaml)."""

from __future__ import annotations

from pathlib import Path


def _graph(root: str | Path):
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        return graph, {stage.name: stage for stage in graph.nodes}


def select_stages(root: str | Path, targets: list[str]) -> list[str]:
    """Stage names for `targets`: a foreach group (`ablate`, `seed`) expands to all its stages, in dvc.yaml order;
    a full name (`ablate@cross2`) is taken as is. An unknown name is an error that lists the known ones."""
    _, stages = _graph(root)
    out: list[str] = []
    for target in targets:
        found = [name for name in stages if name == target or name.startswith(f"{target}@")]
        if not found:
            raise ValueError(f"no stage {target!r} in {Path(root) / 'dvc.yaml'}; stages: {', '.join(stages)}")
        out.extend(name for name in found if name not in out)
    return out


def upstream_stages(root: str | Path, names: list[str]) -> list[str]:
    """The stages `names` depend on (directly or not), excluding `names` themselves, in dvc.yaml order."""
    import networkx as nx

    graph, stages = _graph(root)
    upstream = set()
    for name in names:
        upstream |= {s.name for s in nx.descendants(graph, stages[name])}
    return [name for name in stages if name in upstream and name not in names]
