"""Atom feature tables: the vendored CGCNN table (shape, content, one-hot) and the choice between kinds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dosforge.config import ConfigError
from dosforge.model.features import ATOM_FEATURES, CGCNN_TABLE, MAX_Z, element_feature_table


@pytest.fixture(scope="module")
def cgcnn_json() -> dict:
    with open(CGCNN_TABLE, encoding="utf-8") as fh:
        return json.load(fh)


def test_cgcnn_table_shape_and_rows_match_the_json(cgcnn_json):
    table = element_feature_table("cgcnn")
    assert table.shape == (MAX_Z + 1, 92) and table.dtype == np.float32
    np.testing.assert_array_equal(table[1], np.asarray(cgcnn_json["1"], dtype=np.float32))  # hydrogen
    for z in (8, 26, 100):
        np.testing.assert_array_equal(table[z], cgcnn_json[str(z)])
    assert not table[0].any()  # row 0 is padding


def test_cgcnn_table_is_one_hot_like_and_zero_beyond_the_json(cgcnn_json):
    table = element_feature_table("cgcnn")
    assert set(np.unique(table)) == {0.0, 1.0}
    assert sorted(int(k) for k in cgcnn_json) == list(range(1, 101))
    ones = table[1:101].sum(1)
    assert ones.min() >= 6 and ones.max() == 9  # nine one-hot properties; an unknown one leaves its bins at 0
    assert not table[101:].any()  # elements 101-103 are not in CGCNN's table: zero rows


def test_kinds_are_cached_separately_and_returned_as_copies():
    a = element_feature_table("cgcnn")
    a[1, :] = 5.0  # a caller writing into its table (load_state_dict into a from_numpy buffer) ...
    assert element_feature_table("cgcnn")[1].max() == 1.0  # ... does not alter the cached one
    assert element_feature_table().shape[0] == MAX_Z + 1
    assert element_feature_table("pymatgen").shape[1] != element_feature_table("cgcnn").shape[1]
    np.testing.assert_array_equal(element_feature_table(), element_feature_table("cgcnn"))  # the default


def test_unknown_kind_lists_the_valid_ones():
    assert set(ATOM_FEATURES) == {"pymatgen", "cgcnn"}
    with pytest.raises(ConfigError, match="cgcnn, pymatgen"):
        element_feature_table("jarvis")
