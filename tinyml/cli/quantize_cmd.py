"""`tinyml quantize`: a Keras model or SavedModel -> int8 .tflite, with how much it cost in accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyml.cli import app


def _size(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KB)"


def print_quantize_report(report: Any) -> None:
    from tinyml.cli.output import print_table

    rows: list[list[Any]] = [
        ["model size", _size(report.float_bytes), _size(report.int8_bytes),
         f"{report.int8_bytes / report.float_bytes:.2f}x" if report.float_bytes else "-"],
    ]
    c = report.comparison
    if c is not None:
        if c.metric == "accuracy":
            rows.append([f"accuracy ({c.samples} samples)", f"{100 * c.float_value:.2f} %",
                         f"{100 * c.int8_value:.2f} %", f"{100 * (c.int8_value - c.float_value):+.2f} pp"])
        else:
            rel = f"{100 * (c.int8_value / c.float_value - 1):+.1f} %" if c.float_value else "-"
            rows.append([f"RMSE ({c.samples} samples)", f"{c.float_value:.5f}", f"{c.int8_value:.5f}", rel])
        rows.append(["|int8 - float| output", "-", f"max {c.max_abs_diff:.5f}", f"mean {c.mean_abs_diff:.5f}"])
    print_table(f"{report.output}  (sha256 {report.sha256[:16]}...)", ["", "float32", "int8", "change"], rows)
    tin, tout = report.input_tensor, report.output_tensor
    for label, t in (("input", tin), ("output", tout)):
        q = f"scale {t['scale']:.6g}, zero point {t['zero_point']}" if t["scale"] is not None else "not quantized"
        typer.echo(f"{label}: {t['dtype']} {tuple(t['shape'])}, {q}")
    if c is not None:
        typer.echo("int8 measured with the TFLite Micro host interpreter, float with Keras.")


@app.command("quantize")
def quantize(
    model: Path = typer.Argument(..., help="Keras model (.keras / .h5) or SavedModel directory."),
    data: Path = typer.Option(..., "--data", "-d", help="Representative inputs: .npz with array x, or .npy."),
    output: Path = typer.Option(..., "--output", "--out", "-o", help="Where to write the int8 .tflite."),
    val: Path | None = typer.Option(None, "--val", help="Held-out .npz with x and y (int labels or float targets)."),
    float_io: bool = typer.Option(False, "--float-io", help="Keep float32 input/output (QUANTIZE/DEQUANTIZE ops)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Quantize a Keras model to a full-integer int8 .tflite (batch 1, per-channel weights)."""
    from tinyml.model.quantize import quantize_file

    report = quantize_file(model, data, output, val_path=val, float_io=float_io)
    if json_out:
        from tinyml.cli.output import print_json

        print_json(report.to_dict())
    else:
        print_quantize_report(report)
