"""`tinyml monitor` and `tinyml validate`: talk to a flashed device over its serial port."""

from __future__ import annotations

from pathlib import Path

import typer

from tinyml.cli import app


@app.command("monitor")
def monitor(
    project: Path | None = typer.Argument(None, help="Project directory (its .tinyml/port says where the device is)."),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial port: /dev/ttyACM0, socket://HOST:PORT, "
                                                               "rfc2217://HOST:PORT."),
    jsonl: Path | None = typer.Option(None, "--jsonl", help="Log every result (and link event) as JSON lines."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Log every result as CSV."),
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="Stop after N results."),
    duration: float | None = typer.Option(None, "--duration", "-d", min=0.0, help="Stop after S seconds."),
    rate: float = typer.Option(10.0, "--rate", min=0.0, help="Results per second to ask for (0 = as fast as the "
                                                            "device can)."),
    labels: str | None = typer.Option(None, "--labels", help="Class names, comma separated."),
    no_start: bool = typer.Option(False, "--no-start", help="Only listen; do not ask the device to stream."),
    baud: int = typer.Option(115200, "--baud", help="Baud rate (ignored by socket:// ports)."),
    list_ports: bool = typer.Option(False, "--list-ports", help="List serial ports of known boards and exit."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Live view of the results a device streams; logs them; survives device resets. Ctrl-C ends."""
    import sys

    from rich.console import Console

    from tinyml.cli.output import print_json, print_table
    from tinyml.serial.monitor import Monitor
    from tinyml.serial.ports import list_candidates, resolve_port

    if list_ports:
        rows = [[c.device, c.vid_pid, c.board, c.description] for c in list_candidates()]
        print_table("serial ports of known boards", ["port", "usb id", "board", "description"], rows)
        return
    url = resolve_port(project, port)
    err = Console(stderr=True)
    live_ok = sys.stdout.isatty() and not json_out
    mon = Monitor(url, baud=baud, rate_hz=rate, start=not no_start,
                  labels=[s.strip() for s in labels.split(",")] if labels else None,
                  say=(lambda m: None) if live_ok else (lambda m: err.print(f"monitor: {m}", highlight=False)),
                  resolve=(lambda: resolve_port(project, None)) if project is not None and port is None else None)
    if live_ok:
        from rich.live import Live

        with Live(console=Console(), refresh_per_second=4, transient=False) as live:
            summary = mon.run(jsonl=jsonl, csv_path=csv_path, count=count, duration=duration,
                              refresh=lambda m: live.update(m.view()))
            live.update(mon.view())
    else:
        summary = mon.run(jsonl=jsonl, csv_path=csv_path, count=count, duration=duration)
    if json_out:
        print_json(summary.to_dict())
        return
    lat = summary.latency_us
    h = mon.hello  # which model the device said it runs (the live view is not shown off a terminal)
    device = f"model {h.model} ({h.sha256[:12]}), engine {h.engine}, board {h.board}" if h is not None else "-"
    print_table("monitor summary", ["what", "value"], [
        ["port", summary.port], ["device", device], ["results", summary.results],
        ["seconds", f"{summary.seconds:.1f}"],
        ["rate", f"{summary.rate:.1f}/s"],
        ["latency us (min/median/max)", f"{lat['min']:.0f} / {lat['median']:.0f} / {lat['max']:.0f}" if lat else "-"],
        ["lost / corrupt / out-of-order", f"{summary.lost} / {summary.corrupt} / {summary.out_of_order}"],
        ["resets / reconnects", f"{summary.resets} / {summary.reconnects}"],
        ["device errors", summary.device_errors],
        ["ended by", "Ctrl-C" if summary.interrupted else "count/duration"],
    ])


@app.command("validate")
def validate(
    project: Path | None = typer.Argument(None, help="Project directory (model.tflite, .tinyml/port)."),
    data: Path = typer.Option(..., "--data", "-d", help="Validation data: .npz with x (and y labels) or .npy."),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial port (default: the project's)."),
    model: Path | None = typer.Option(None, "--model", help="Reference .tflite (default: DIR/model.tflite)."),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the metrics as JSON here ('-' = stdout)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N samples."),
    window: int = typer.Option(0, "--window", min=0, max=16, help="Requests in flight; 0 = auto (what the "
                                                                   "device's RX buffer holds; 4 over socket://)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for each reply."),
    baud: int = typer.Option(115200, "--baud", help="Baud rate (ignored by socket:// ports)."),
    require_exact: bool = typer.Option(False, "--require-exact", help="Fail (exit 9) unless every output is "
                                                                     "bit-exact with the TFLM reference."),
) -> None:
    """Run a data set on the device; compare with the TFLM host interpreter and the labels."""
    import json
    import sys

    from tinyml.cli.output import print_json, print_table
    from tinyml.errors import ErrorKind, TinymlError
    from tinyml.serial.validate import summary_rows, validate_project
    from tinyml.writer import check_destination, write_file

    for dest in (report, json_path):
        if dest is not None and str(dest) != "-":
            check_destination(dest)  # before the device run, not after it
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("validating on the device", total=None)
            v = validate_project(project, data, port, model_path=model, baud=baud, timeout=timeout,
                                 window=window, limit=limit,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    else:
        v = validate_project(project, data, port, model_path=model, baud=baud, timeout=timeout, window=window,
                             limit=limit)
    if json_path is not None and str(json_path) == "-":
        print_json(v.to_dict())
    else:
        print_table(f"tinyml validate: {v.device.get('model')} on {v.device.get('board')}", ["metric", "value"],
                    summary_rows(v))
        if json_path is not None:
            write_file(json_path, json.dumps(v.to_dict(), indent=2) + "\n")
    if report is not None:
        from tinyml.serial.report import render

        write_file(report, render(v))
        typer.echo(f"report: {report}", err=True)
    if require_exact and v.metrics.bit_exact != v.metrics.samples:
        raise TinymlError(f"{v.metrics.samples - v.metrics.bit_exact} of {v.metrics.samples} outputs differ from "
                          "the TFLM reference", hint="see the error histogram in --report", kind=ErrorKind.MISMATCH)
