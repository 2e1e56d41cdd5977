"""DOSForge: DOS, EPDOS, Fermi level and band gap from crystal structure."""

__version__ = "0.1.0"

NOBLE_GASES = frozenset({"He", "Ne", "Ar", "Kr", "Xe"})


def load_model(path, device: str = "cpu"):
    """Load a trained DOSForge checkpoint for prediction (see `dosforge.predict`)."""
    from dosforge.predict import load_model as _load

    return _load(path, device=device)
