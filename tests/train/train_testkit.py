"""Shared params of the tiny training runs in tests/train (copy before changing: `copy.deepcopy(PARAMS)`)."""

PARAMS = {
    "seed": 3,
    "grid": {"emin": -10.0, "emax": 10.0, "bins": 256},
    "model": {
        "tasks": ["dos", "epdos", "fermi", "gap"],
        "coupling": "cross",
        "gap_head": "extract",
        "size": "small",
        "encoder": {"d": 16, "layers": 1, "rbf_bins": 8, "angle_bins": 8},
        "decoder": {"heads": 2, "head_dim": 8, "l1": 1, "l2": 1},
    },
    "train": {"preset": "cpu", "epochs": 3, "batch_size": 4, "eval_batch_size": 8},
    "loss": {},
    "ablations": {"cross2": {"tasks": ["dos", "epdos"], "coupling": "cross", "gap_head": "extract"}},
}
