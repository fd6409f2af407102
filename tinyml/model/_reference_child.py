"""Child process of ``tinyml.model.reference``: run the TFLM host interpreter over a batch.

Usage: ``python -m tinyml.model._reference_child REQUEST.npz RESPONSE.npz``. The request holds
``model`` (the .tflite bytes as uint8) and ``x`` (N, *sample_shape) in the input dtype; the
response holds ``y`` (N, *output_sample_shape) in the output dtype. A failure the interpreter
reports (bad model, unsupported op) is one stderr line starting with ``ERROR_MARK`` and exit code 3;
anything worse (an abort inside the runtime) shows up to the parent as a signal.
"""

from __future__ import annotations

import sys

import numpy as np

from tinyml.model.reference import CHILD_ERROR_EXIT, ERROR_MARK

MIN_ARENA = 64 * 1024
MAX_ARENA = 512 * 1024 * 1024


def _interpreter(model: bytes):  # -> runtime.Interpreter
    from tflite_micro import runtime

    # The arena is scratch on the host, not a measurement: grow it until the model allocates.
    size = max(MIN_ARENA, 10 * len(model))
    while True:
        try:
            return runtime.Interpreter.from_bytes(model, arena_size=size)
        except (RuntimeError, ValueError) as exc:
            if size >= MAX_ARENA:
                raise RuntimeError(f"allocation failed even with a {size} B arena: {exc}") from exc
            size *= 4


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python -m {__spec__.name if __spec__ else 'child'} REQUEST.npz RESPONSE.npz",
              file=sys.stderr)
        return 2
    with np.load(argv[0], allow_pickle=False) as req:
        model = req["model"].tobytes()
        x = req["x"]
    try:
        interp = _interpreter(model)
        outs = []
        for sample in x:
            interp.set_input(np.ascontiguousarray(sample[None, ...]), 0)
            interp.invoke()
            outs.append(np.array(interp.get_output(0))[0])
    except (RuntimeError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{ERROR_MARK}{message[:300]}", file=sys.stderr)
        return CHILD_ERROR_EXIT
    np.savez(argv[1], y=np.stack(outs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
