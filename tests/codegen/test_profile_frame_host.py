"""The 'P' (per-layer profile) request against the C runtime built for the host with the fake
model (tests/fixtures/fake_model: one layer that calls no layer hook): the runtime answers with an
'L' frame of 0 layers (tinyml.profile.device turns that into an error, not a wrong table)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tinyml.serial import codec
from tinyml.serial.client import DeviceClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "fake_model"))
import hostdev  # noqa: E402

pytestmark = pytest.mark.codegen


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    with hostdev.HostDevice(hostdev.build(tmp_path_factory.mktemp("hostdev-profile"))) as dev:
        yield dev


def test_layers_reply_without_hooks_is_empty(device) -> None:
    with DeviceClient.open(device.url, timeout=3.0) as client:
        hello = client.hello()
        # before any inference: no layer times
        seq = client.send(codec.PROFILE)
        ev = client._wait(lambda e: e.kind == "layers" and e.data.req == seq, "layers")
        assert ev.data.cycles == []
        result, cycles = client.profile(bytes(hello.input.nbytes))
        assert len(result.output) == hello.output.nbytes
        assert cycles == []  # the fake model calls no tinyml_layer_hook

