"""`tinyml generate`, `build`, `flash`, `stop`: firmware projects onto real and virtual boards."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app

BOARDS_DIR = typer.Option(None, "--boards-dir", help="Extra directory of board TOML files.")


@app.command("generate")
def generate(
    model: Path = typer.Argument(..., help="The int8 .tflite model."),
    board: str = typer.Option(..., "--board", "-b", help="Board id (see `tinyml boards`)."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="aot or tflm (default: the board's first)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Project directory (default ./MODEL-BOARD)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing project directory."),
    samples: Path | None = typer.Option(None, "--samples", help=".npz/.npy whose x the device streams."),
    name: str | None = typer.Option(None, "--name", help="Model name in the device banner (default: the file "
                                    "stem, or its folder for a generic stem like model.tflite)."),
    optimize: str = typer.Option("speed", "--optimize", help="aot kernels: speed (fast paths, the default) or "
                                 "size (reference loops only: less flash and stack, slower)."),
    boards_dir: Path | None = BOARDS_DIR,
    json_out: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Generate a complete PlatformIO project (firmware runtime + model) for a board."""
    from tinyml.cli.output import print_json
    from tinyml.codegen.project import create_project

    dest, manifest = create_project(model, board, out, engine=engine, force=force, samples_path=samples,
                                    boards_dir=boards_dir, name=name, optimize=optimize)
    if json_out:
        print_json({"project": str(dest), **manifest})
        return
    fit = manifest["fit"]
    typer.echo(f"wrote {dest}: {manifest['engine']} engine for {manifest['board']}")
    typer.echo(f"  arena {manifest['arena_bytes']:,} B ({fit['arena_source']}); "
               f"RAM {fit['ram_used_bytes']:,} of {fit['ram_bytes']:,} B, "
               f"flash ~{fit['flash_used_bytes']:,} of {fit['flash_bytes']:,} B")
    typer.echo(f"  {manifest['samples']['count']} stream samples ({manifest['samples']['source']})")
    typer.echo(f"next: tinyml flash {dest}")


@app.command("build")
def build(
    project: Path = typer.Argument(..., help="A project directory (from `tinyml generate`)."),
    bundle: bool = typer.Option(False, "--bundle", help="Also write a firmware bundle (zip: images, manifest, "
                                "flash offsets) for `tinyml flash --bundle`."),
    out: Path | None = typer.Option(None, "--out", "-o", help="The bundle's path (default DIR/DIR-BOARD-bundle.zip)."),
    prebuilt: bool = typer.Option(False, "--prebuilt", help="With --bundle: zip the existing .pio/build images "
                                  "without running PlatformIO (e.g. built on another machine)."),
    boards_dir: Path | None = BOARDS_DIR,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Build a project with PlatformIO (offline-safe: fails fast if packages are missing)."""
    from tinyml.build.flash import build as do_build
    from tinyml.cli.output import print_json

    if (out is not None or prebuilt) and not bundle:
        from tinyml.errors import ErrorKind, TinymlError

        raise TinymlError("--out and --prebuilt go with --bundle", hint="add --bundle", kind=ErrorKind.USAGE)
    if bundle:
        from tinyml.build.bundle import make_bundle

        if not prebuilt:
            do_build(project, boards_dir=boards_dir)
        made = make_bundle(project, out, boards_dir=boards_dir)
        if json_out:
            print_json(made.to_dict())
            return
        typer.echo(f"wrote {made.path}: {made.info['board']}, {len(made.info['images'])} image(s)")
        for e in made.info["images"]:
            where = f"at {e['offset']:#x}" if e["offset"] is not None else ""
            typer.echo(f"  {e['file']} {e['bytes']:,} B {where}".rstrip())
        typer.echo(f"next: tinyml flash --bundle {made.path} --port PORT")
        return
    res = do_build(project, boards_dir=boards_dir)
    if json_out:
        print_json(res.to_dict())
        return
    typer.echo(f"built {res.firmware or res.project}")
    for line in res.usage:
        typer.echo(f"  {line}")


@app.command("flash")
def flash(
    target: Path | None = typer.Argument(None, help="A project directory, or a .tflite model (with --board)."),
    board: str | None = typer.Option(None, "--board", "-b", help="Board id (needed for a model)."),
    port: str | None = typer.Option(None, "--port", "-p", help="Upload port (default: auto-detect; virtual: a free "
                                    "TCP port)."),
    engine: str | None = typer.Option(None, "--engine", "-e", help="aot or tflm, when flashing a model."),
    esptool: bool = typer.Option(False, "--esptool", help="ESP32: write the prebuilt image in .pio/build with "
                                 "esptool (no PlatformIO needed)."),
    bundle: Path | None = typer.Option(None, "--bundle", help="Write a firmware bundle (from `tinyml build "
                                       "--bundle`) without PlatformIO; virtual boards start from its ELF."),
    model_only: bool = typer.Option(False, "--model-only", help="ESP32 + tflm: write just the model partition "
                                    "with esptool (no rebuild)."),
    model: Path | None = typer.Option(None, "--model", help="With --model-only: the new .tflite (checked against "
                                      "the firmware's ops, I/O and arena first)."),
    boards_dir: Path | None = BOARDS_DIR,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Build if needed and upload; on a virtual board, start QEMU in the background."""
    from tinyml.build.flash import flash as do_flash
    from tinyml.cli.output import print_json
    from tinyml.errors import ErrorKind, TinymlError

    if model is not None and not model_only:
        raise TinymlError("--model goes with --model-only", hint="add --model-only", kind=ErrorKind.USAGE)
    if bundle is not None:
        if target is not None or model_only or esptool:
            raise TinymlError("--bundle takes no project, --model-only or --esptool",
                              hint="tinyml flash --bundle FILE.zip --port PORT", kind=ErrorKind.USAGE)
        from tinyml.build.bundle import flash_bundle

        res = flash_bundle(bundle, port=port, board=board, boards_dir=boards_dir)
    elif target is None:
        raise TinymlError("nothing to flash", hint="tinyml flash DIR | MODEL.tflite --board B | --bundle FILE.zip",
                          kind=ErrorKind.USAGE)
    elif model_only:
        if esptool:
            raise TinymlError("--model-only already uses esptool", hint="drop --esptool", kind=ErrorKind.USAGE)
        from tinyml.build.model_update import update_model

        res = update_model(target, model_path=model, port=port, boards_dir=boards_dir)
    else:
        res = do_flash(target, board=board, port=port, engine=engine, boards_dir=boards_dir, use_esptool=esptool)
    if json_out:
        print_json(res.to_dict())
        return
    if res.virtual:
        typer.echo(f"virtual board {res.board} running (emulator pid {res.pid})")
        typer.echo(f"port: {res.port}")
        typer.echo(f"next: tinyml monitor {res.project}   (stop it with: tinyml stop {res.project})")
    else:
        typer.echo(f"flashed {res.board} on {res.port}")
        typer.echo(f"next: tinyml monitor {res.project}")


@app.command("stop")
def stop(
    project: Path = typer.Argument(Path("."), help="The project whose virtual board to stop."),
) -> None:
    """Stop a running virtual board (QEMU) started by `tinyml flash`."""
    from tinyml.build.qemu import stop as do_stop
    from tinyml.errors import ErrorKind, TinymlError

    if not project.is_dir():
        raise TinymlError(f"project directory {project} does not exist", hint="pass the directory you flashed",
                          kind=ErrorKind.INPUT)
    stopped = do_stop(project)
    if stopped is None:
        typer.echo(f"no virtual board is running for {project}")
    else:
        typer.echo(f"stopped {stopped.machine} (emulator pid {stopped.pid}, {stopped.url})")
