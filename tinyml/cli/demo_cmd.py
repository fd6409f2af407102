"""`tinyml demo`: the whole pipeline on the sine example, step by step."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("tinyml-demo"), "--workdir", "-w",
                                 help="Folder for the demo's files (reused: an existing model.keras is kept)."),
    board: str = typer.Option("qemu-mps2-an386", "--board", "-b",
                              help="Board to generate for, flash and stream from (default: a QEMU virtual board)."),
) -> None:
    """Sine end to end: train/reuse, quantize, inspect, convert, host run, then generate, build, flash a
    virtual board and stream its results, checked against the TFLM host interpreter."""
    from tinyml.demo import run_demo

    run_demo(workdir, echo=typer.echo, board=board)
