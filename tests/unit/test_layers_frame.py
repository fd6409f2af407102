"""The 'L' (per-layer cycles) frame of the device protocol: decoding and its error cases."""

from __future__ import annotations

import struct

import pytest

from tinyml.serial import codec

pytestmark = pytest.mark.unit


def test_layers_payload_round_trip() -> None:
    payload = struct.pack("<HH3I", 7, 3, 10, 20, 4_000_000_000)
    assert codec.parse_layers(payload) == codec.Layers(7, [10, 20, 4_000_000_000])
    assert codec.parse_layers(struct.pack("<HH", 9, 0)).cycles == []  # no layer hooks in the firmware


@pytest.mark.parametrize("payload", [b"", b"\x01\x00\x02", struct.pack("<HHI", 1, 2, 5),
                                     struct.pack("<HH2I", 1, 1, 5, 6)])
def test_layers_payload_of_the_wrong_size_is_rejected(payload: bytes) -> None:
    with pytest.raises(codec.PayloadError):
        codec.parse_layers(payload)


def test_client_turns_a_layers_frame_into_an_event() -> None:
    from tinyml.serial.client import DeviceClient

    class Port:
        def __init__(self) -> None:
            self.data = codec.encode_frame(codec.LAYERS, 0, struct.pack("<HH2I", 5, 2, 100, 200))

        def write(self, data: bytes) -> int:
            return len(data)

        def read(self, n: int = 1) -> bytes:
            out, self.data = self.data[:n], self.data[n:]
            return out

        @property
        def in_waiting(self) -> int:
            return len(self.data)

        def close(self) -> None:
            pass

    client = DeviceClient(Port(), url="test://")
    events = client.poll(0.5)
    assert [(e.kind, e.data) for e in events] == [("layers", codec.Layers(5, [100, 200]))]
