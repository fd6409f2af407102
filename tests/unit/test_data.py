"""Loading .npz/.npy sample files and fitting them to a model input: every error names what to pass."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.data import fit_samples, load_data

pytestmark = pytest.mark.unit


def _err(fn, *args, **kwargs) -> TinymlError:
    with pytest.raises(TinymlError) as info:
        fn(*args, **kwargs)
    return info.value


def test_npz_with_x_and_y(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((5, 3), np.float32), y=np.arange(5))
    d = load_data(p)
    assert d.x.shape == (5, 3) and d.y is not None and list(d.y) == [0, 1, 2, 3, 4] and len(d) == 5


def test_npy_is_x_only(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.ones((4, 2)))
    d = load_data(p)
    assert d.x.shape == (4, 2) and d.y is None


def test_missing_file(tmp_path):
    e = _err(load_data, tmp_path / "nope.npz", what="representative data")
    assert e.kind is ErrorKind.INPUT and "representative data" in e.message and "does not exist" in e.message


def test_directory_is_refused(tmp_path):
    e = _err(load_data, tmp_path)
    assert e.kind is ErrorKind.INPUT and "directory" in e.message


@pytest.mark.parametrize("content", [b"hello, not numpy\n", b"PK\x03\x04broken zip", b""])
def test_not_npz_or_npy(tmp_path, content):
    p = tmp_path / "d.npz"
    p.write_bytes(content)
    e = _err(load_data, p)
    assert e.kind is ErrorKind.INPUT and "not a readable .npz or .npy" in e.message
    assert e.hint is not None and "np.savez" in e.hint


def test_npz_without_x_lists_what_it_has(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, images=np.zeros((2, 2)), labels=np.zeros(2))
    e = _err(load_data, p)
    assert "no array 'x'" in e.message and "images" in e.message and "labels" in e.message


def test_x_y_length_mismatch(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((10, 2)), y=np.zeros(9))
    e = _err(load_data, p)
    assert "10" in e.message and "9" in e.message and e.kind is ErrorKind.INPUT


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    e = _err(load_data, p)
    assert e.kind is ErrorKind.INPUT


def test_non_numeric_and_empty_x(tmp_path):
    p = tmp_path / "s.npz"
    np.savez(p, x=np.array(["a", "b"]))
    assert "not numbers" in _err(load_data, p).message
    q = tmp_path / "e.npz"
    np.savez(q, x=np.zeros((0, 3)))
    assert "no samples" in _err(load_data, q).message


@pytest.mark.parametrize("shape,expect", [
    ((7, 8, 8, 1), (7, 8, 8, 1)),  # (N, *sample)
    ((7, 1, 8, 8, 1), (7, 8, 8, 1)),  # each sample with its batch axis
    ((8, 8, 1), (1, 8, 8, 1)),  # one sample
])
def test_fit_samples_accepts_common_layouts(shape, expect):
    assert fit_samples(np.zeros(shape), (8, 8, 1)).shape == expect


def test_fit_samples_flat_values_for_a_scalar_model():
    assert fit_samples(np.arange(5.0), (1,)).shape == (5, 1)


def test_fit_samples_mismatch_says_both_shapes_and_what_to_pass():
    e = _err(fit_samples, np.zeros((5, 28, 28)), (8, 8, 1), label="representative data r.npz",
             model_shape=(1, 8, 8, 1))
    assert e.kind is ErrorKind.INPUT
    assert "(28, 28)" in e.message and "(1, 8, 8, 1)" in e.message and "r.npz" in e.message
    assert e.hint is not None and "(N, 8, 8, 1)" in e.hint
