"""measure_arena: the smallest arena the TFLM host interpreter runs the model with."""

from __future__ import annotations

import pytest
from test_inspect_models import cnn_model, fc_model

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model import arena

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("make", [cnn_model, lambda: fc_model(float_io=True)], ids=["cnn", "fc-float-io"])
def test_runs_at_reported_size_and_fails_16_below(make):
    raw = make()
    arena._cache.clear()
    n = arena.measure_arena(raw)
    assert n % 16 == 0
    # each check in a fresh process, independent of the search's own child
    assert arena.runs_with_arena(raw, n)
    assert not arena.runs_with_arena(raw, n - 16)


def test_cached_by_sha256(monkeypatch):
    raw = fc_model(units=5)
    arena._cache.clear()
    n = arena.measure_arena(raw)

    def no_probe(*a, **k):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(arena, "_Prober", no_probe)
    assert arena.measure_arena(raw) == n
    with pytest.raises(AssertionError):
        arena.measure_arena(fc_model(units=6))  # another model is not in the cache


def test_prober_survives_a_crashing_attempt():
    """A tiny arena makes TFLM abort or fail; the prober answers False and carries on."""
    raw = cnn_model()
    n = arena.measure_arena(raw)
    from tinyml.model.tflite import parse

    model = parse(raw)
    prober = arena._Prober(raw, arena._input_specs(model), timeout=60)
    try:
        assert prober.works(16) is False
        assert prober.works(n) is True
        assert prober.attempts == 2
    finally:
        prober.close()


def test_a_crash_counts_as_failure_and_restarts(monkeypatch):
    """Force the child to die on every size below a threshold: the search still converges."""
    raw = fc_model()
    arena._cache.clear()
    real = arena.measure_arena(raw)
    arena._cache.clear()
    crash_below = real + 160
    monkeypatch.setattr(arena, "_CHILD", arena._CHILD.replace(
        "    size = int(line)\n",
        f"    size = int(line)\n    if size < {crash_below}:\n        os._exit(134)\n"))
    assert arena.measure_arena(raw) == crash_below
    arena._cache.clear()


def test_model_tflm_cannot_run_is_a_clear_error():
    raw = fc_model(dtype="float32", weight_dtype="int8")  # hybrid: TFLM has no such kernel
    arena._cache.clear()
    with pytest.raises(TinymlError) as exc:
        arena.measure_arena(raw)
    assert exc.value.kind is ErrorKind.UNSUPPORTED
    assert "cannot run the model" in exc.value.message
    assert "FULLY_CONNECTED" in exc.value.message  # TFLM's own log says which op failed


def test_crash_at_every_size_is_reported_not_retried_forever(monkeypatch):
    """TFLM aborting in a kernel's Prepare (e.g. a degenerate softmax scale) whatever the arena."""
    raw = fc_model(units=7)
    arena._cache.clear()
    monkeypatch.setattr(arena, "_CHILD", arena._CHILD.replace(
        "    size = int(line)\n", "    size = int(line)\n    os.abort()\n"))
    with pytest.raises(TinymlError) as exc:
        arena.measure_arena(raw)
    assert exc.value.kind is ErrorKind.UNSUPPORTED
    assert "even with a 64 MB arena" in exc.value.message and "SIGABRT" in exc.value.message
