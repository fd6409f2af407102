"""`tinyml convert`: a .tflite model as a 16-byte aligned C array (model_data.h / model_data.c)."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("convert")
def convert(
    model: Path = typer.Argument(..., help="The .tflite model."),
    out: Path = typer.Option(Path("."), "--out", "--output", "-o",
                           help="Directory for model_data.h/.c (created if needed)."),
    name: str = typer.Option("g_model", "--name", help="C symbol of the array; its length is <name>_len."),
) -> None:
    """Write the model as a C array: model_data.h and model_data.c (other files in DIR are kept)."""
    from tinyml.codegen.c_array import convert_to_c

    for path in convert_to_c(model, out, name):
        typer.echo(f"wrote {path}")
