"""`tinyml run`: run a .tflite on the host (TFLM interpreter or the aot engine's C) and print its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyml.cli import app

MAX_ROWS = 20  # rows printed in the table; --output / --json carry everything


def _fmt(a: Any) -> str:
    import numpy as np

    arr = np.asarray(a).reshape(-1)
    if np.issubdtype(arr.dtype, np.floating):
        return " ".join(f"{v:.4g}" for v in arr)
    return " ".join(str(int(v)) for v in arr)


def print_run(result: Any) -> None:
    import numpy as np

    from tinyml.cli.output import print_table

    y, deq = result.outputs, result.dequantized
    columns = ["#", f"output ({y.dtype})"] + (["dequantized"] if deq is not None else [])
    flat = y.reshape(len(y), -1)
    if flat.shape[1] > 1:
        columns.append("argmax")
    rows = []
    for i in range(min(len(y), MAX_ROWS)):
        row = [i, _fmt(y[i])] + ([_fmt(deq[i])] if deq is not None else [])
        if flat.shape[1] > 1:
            row.append(int(np.argmax(flat[i])))
        rows.append(row)
    typer.echo(f"{result.engine} on the host, {len(y)} sample(s):")
    print_table(None, columns, rows)
    if len(y) > MAX_ROWS:
        typer.echo(f"... {len(y) - MAX_ROWS} more; use --output y.npy or --json for all of them")


@app.command("run")
def run(
    model: Path = typer.Argument(..., help="The .tflite model."),
    input: Path = typer.Option(..., "--input", "-i", help="Samples: .npy, or .npz with array x."),
    output: Path | None = typer.Option(None, "--output", "--out", "-o", help="Save the raw outputs as .npy."),
    engine: str = typer.Option("tflm", "--engine", "-e", help="tflm (TFLite Micro interpreter) or aot."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Run a .tflite on the host over samples and print the outputs (and dequantized values)."""
    from tinyml.model.reference import run_file

    result = run_file(model, input, engine=engine, output=output)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if json_out:
        from tinyml.cli.output import print_json

        print_json(result.to_dict())
    else:
        print_run(result)
