"""`tinyml zoo`: list the model zoo, or write one of its models as an int8 .tflite."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("zoo")
def zoo(
    name: str | None = typer.Argument(None, help="Model to write; without it, list the zoo."),
    output: Path | None = typer.Option(None, "--output", "--out", "-o",
                                       help="Where to write it (default NAME.tflite)."),
    float_io: bool = typer.Option(False, "--float-io", help="Keep float32 input/output (QUANTIZE/DEQUANTIZE ops)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
) -> None:
    """The examples' and the MLPerf Tiny reference architectures, seeded random weights, as int8 .tflite."""
    from tinyml import zoo as zoo_lib

    if name is None:
        from tinyml.cli.output import print_table

        rows = [[e.name, f"{e.macs / 1e6:.2f} M" if e.macs else "-", e.description] for e in zoo_lib.ZOO.values()]
        print_table("tinyml zoo (random weights: for engines, sizes and speed, not accuracy)",
                    ["name", "reference MACs", "architecture"], rows)
        return
    path = zoo_lib.export(name, output, float_io=float_io, force=force)
    typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")
