"""`tinyml inspect`: what a .tflite costs (ops, MACs, flash, arena) and whether it fits a board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyml.cli import app


def _kb(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KB)"


def _quant(t: Any) -> str:
    if t.scale is None:
        return "-"
    if len(t.scale) > 1:
        return f"per-channel x{len(t.scale)} (axis {t.axis})"
    return f"scale {t.scale[0]:.6g}, zero point {t.zero_point[0]}"


def _print_report(report: Any) -> None:
    from rich.console import Console

    from tinyml.cli.output import print_table

    console = Console()
    console.print(f"[bold]{report.path}[/bold]  {report.model_bytes:,} bytes  sha256 {report.sha256[:16]}...")
    console.print(f"quantization: {report.scheme} ({report.scheme_detail})", highlight=False)
    print_table("inputs / outputs", ["", "name", "shape", "dtype", "quantization"],
                [["in", t.name, t.shape, t.dtype, _quant(t)] for t in report.inputs]
                + [["out", t.name, t.shape, t.dtype, _quant(t)] for t in report.outputs])
    rows = []
    for o in report.ops:
        ins = " ".join(t.short() for t in o.inputs) or "-"
        outs = " ".join(t.short() for t in o.outputs) or "-"
        rows.append([o.index, o.opcode, f"{ins} -> {outs}", f"{o.macs:,}", f"{o.param_bytes:,}"])
    print_table("operators (execution order)", ["#", "op", "inputs -> outputs", "MACs", "param bytes"], rows)
    t = report.totals
    arena = _kb(report.arena_bytes) if report.arena_bytes is not None else "-"
    print_table("totals", ["", "value"], [
        ["operators", t.ops], ["MACs per inference", f"{t.macs:,}"], ["weights (flash)", _kb(t.weight_bytes)],
        ["model file", _kb(t.model_bytes)], ["peak live activations", _kb(t.activation_peak_bytes)],
        ["TFLM arena", f"{arena}  {report.arena_note}"],
    ])
    console.print(f"TFLM resolver: tflite::MicroMutableOpResolver<{len(report.resolver)}> resolver;", highlight=False)
    for call in report.resolver:
        console.print(f"  resolver.{call}();", highlight=False)
    if report.fit is not None:
        f = report.fit
        verdict = "[green]fits[/green]" if f.fits else "[red]does NOT fit[/red]"
        print_table(f"{f.board_name} ({f.board}), engine {f.engine}: {'fits' if f.fits else 'does NOT fit'}",
                    ["", "used", "of", "margin"], [
                        ["flash", f"{f.flash_used_bytes:,} B (model {f.flash_model_bytes:,} + runtime and "
                                  f"framework {f.flash_runtime_bytes:,})", f"{f.flash_bytes:,} B",
                         f"{f.flash_margin_bytes:,} B ({f.flash_margin_pct}%)"],
                        ["RAM", f"{f.ram_used_bytes:,} B (arena {f.arena_bytes:,} + reserved "
                                f"{f.ram_reserved_bytes:,})", f"{f.ram_bytes:,} B",
                         f"{f.ram_margin_bytes:,} B ({f.ram_margin_pct}%)"],
                    ])
        console.print(f"board fit: {verdict}; arena {f.arena_source}")
        for note in f.notes:
            console.print(f"note: {note}", highlight=False)


@app.command("inspect")
def inspect(
    model: Path = typer.Argument(..., help="The .tflite model."),
    board: str | None = typer.Option(None, "--board", "-b", help="Check the int8 model against this board."),
    boards_dir: Path | None = typer.Option(None, "--boards-dir", help="Extra directory of board TOML files."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="aot or tflm (default: the board's first engine)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    no_arena: bool = typer.Option(False, "--no-arena", help="Skip the TFLM arena measurement."),
) -> None:
    """Ops, MACs, weights, arena and TFLM resolver of a model; with --board, whether it fits.

    Exits 4 when --board is given and the model is not full-integer int8 (float, hybrid, uint8),
    5 when it does not fit the board (after printing the report).
    """
    from tinyml.cli.output import print_json
    from tinyml.model.analysis import inspect_model

    report = inspect_model(model, board=board, boards_dir=boards_dir, engine=engine, measure=not no_arena)
    aot_plan, aot_why = None, None
    if engine == "aot":  # the aot engine's static memory plan
        from tinyml.codegen.aot.report import plan_report, plan_rows

        aot_plan, aot_why = plan_report(model)
    if json_out:
        print_json({**report.to_dict(), **({"aot_plan": aot_plan} if engine == "aot" else {})})
    else:
        _print_report(report)
        if aot_plan is not None:
            from tinyml.cli.output import print_table

            print_table(f"aot memory plan: arena {aot_plan['arena_bytes']:,} B "
                        f"({aot_plan['naive_bytes']:,} B without reuse)",
                        ["offset", "bytes", "ops", "tensors"], plan_rows(aot_plan))
    if aot_why:
        typer.echo(f"warning: {aot_why}", err=True)
    if not report.deployable:
        typer.echo(f"warning: not deployable as int8: {report.scheme_detail}", err=True)
        if report.hint:
            typer.echo(f"hint: {report.hint}", err=True)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if report.unsupported_ops:
        typer.echo(f"warning: TFLite Micro has no kernel for: {', '.join(report.unsupported_ops)}", err=True)
    report.check()
