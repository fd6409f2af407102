"""`tinyml boards`: list the boards tinyml knows."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("boards")
def boards(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    boards_dir: Path | None = typer.Option(None, "--boards-dir", help="Extra directory of board TOML files."),
) -> None:
    """List the supported boards: architecture, flash, RAM, engines."""
    from tinyml.boards import all_boards
    from tinyml.cli.output import print_json, print_table

    found = all_boards(boards_dir)
    if json_out:
        print_json([b.to_dict() for b in found.values()])
        return
    rows = [[b.id, b.name, b.arch, f"{b.flash_bytes // 1024} KB", f"{b.ram_bytes // 1024} KB",
             ",".join(b.engines), "virtual" if b.virtual else b.upload] for b in found.values()]
    print_table("boards", ["id", "name", "arch", "flash", "RAM", "engines", "upload"], rows)
