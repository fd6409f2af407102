"""`tinyml demo`: the whole pipeline on the sine example, step by step."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("demo")
def demo(
    workdir: Path = typer.Option(Path("tinyml-demo"), "--workdir", "-w",
                                 help="Folder for the demo's files (reused: an existing model.keras is kept)."),
) -> None:
    """Train (or reuse) the sine model, quantize, inspect, convert and run it on the host."""
    from tinyml.demo import run_demo

    run_demo(workdir, echo=typer.echo)
