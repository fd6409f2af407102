"""`tinyml profile`: per-layer time of the model on a flashed device."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("profile")
def profile(
    project: Path | None = typer.Argument(None, help="Project directory (its model.tflite and .tinyml/port)."),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial port: /dev/ttyACM0, socket://HOST:PORT."),
    model: Path | None = typer.Option(None, "--model", "-m", help="The .tflite the device runs (default: DIR's)."),
    runs: int = typer.Option(3, "--runs", min=1, help="Inferences; each layer's fastest time is reported."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Seconds to wait for one inference."),
    json_out: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Per-layer cycles on the device (instructions on a QEMU board), MACs and MACs per cycle."""
    from tinyml.cli.output import print_json, print_table
    from tinyml.profile.device import profile_project

    prof = profile_project(project, port, model_path=model, runs=runs, timeout=timeout)
    if json_out:
        print_json(prof.to_dict())
        return
    virtual = prof.instructions_per_cycle is not None
    head = ["#", "op", "MACs", "cycles", *(["≈instructions"] if virtual else []), "MACs/cycle", "share"]
    rows = [[str(r.index), r.op, f"{r.macs:,}", f"{r.cycles:,}",
             *([f"{r.instructions:,}"] if virtual and r.instructions is not None else []),
             f"{r.macs_per_cycle:.3f}", f"{100 * r.share:.1f}%"] for r in prof.layers]
    print_table(f"{prof.engine} on {prof.board or prof.port}: {prof.total_cycles:,} cycles, {prof.total_us:,} us "
                "per inference", head, rows)
