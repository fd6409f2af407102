"""pytest plugin for hardware-in-the-loop tests (registered as ``tinyml`` through ``pytest11``).

Options::

    --tinyml-board ID       the board (repeat for several; a project's manifest names it otherwise)
    --tinyml-port URL       /dev/ttyACM0, socket://HOST:PORT, rfc2217://HOST:PORT (repeat: one board each)
    --tinyml-project PATH   a generated project directory, or a .tflite to generate one from
    --tinyml-no-flash       talk to what is on the board already (its model hash is still checked)

Fixtures: ``dut`` (one ``tinyml.testing.dut.Dut``; with several targets, tests that use it run
once per target) and ``duts`` (all targets at once, for tests that drive several boards). The
boards are flashed and connected once per session, at first use; virtual boards are started by
``tinyml flash`` and stopped at the end. A failing test gets the serial log of its run (every
frame in and out) as a report section and in ``user_properties`` (JUnit XML ``<properties>``).

pytest-xdist: with ``-n N`` each worker takes exactly one target, by worker number (gw0 the
first ``--tinyml-port``/``--tinyml-board``...), so no two workers share a board; tests are spread
over the boards. N must equal the number of targets, except for a single virtual board without
``--tinyml-port``: then each worker starts an emulator of its own.

Nothing here imports tinyml's heavier modules before a test asks for a ``dut``: the plugin is
loaded by every pytest run in an environment with tinyml installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tinyml.testing.dut import Dut

_LOG_KEY = pytest.StashKey[dict[str, int]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tinyml", "tinyml hardware-in-the-loop")
    g.addoption("--tinyml-board", action="append", default=[], metavar="ID",
                help="board id (tinyml boards); repeat for several boards")
    g.addoption("--tinyml-port", action="append", default=[], metavar="URL",
                help="serial port: device path, socket://HOST:PORT or rfc2217://HOST:PORT; repeat for several boards")
    g.addoption("--tinyml-project", default=None, metavar="PATH",
                help="generated project directory, or a .tflite model to generate one from")
    g.addoption("--tinyml-no-flash", action="store_true", default=False,
                help="do not flash; test what runs on the board (its model hash is still checked)")
    g.addoption("--tinyml-timeout", type=float, default=20.0, metavar="S",
                help="seconds to wait for a reply from the device (default 20)")
    g.addoption("--tinyml-baud", type=int, default=None, metavar="BAUD",
                help="serial baud rate (default: the board's)")


@dataclass(frozen=True)
class Target:
    index: int
    board: str | None
    port: str | None

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.board, self._short_port()) if p) or f"target{self.index}"

    def _short_port(self) -> str | None:
        if self.port is None:
            return None
        return self.port.split("://", 1)[-1].replace("/dev/", "").replace("/", "_")


def _project_board(project: str | None) -> str | None:
    if project is None:
        return None
    manifest = Path(project) / "tinyml.json"
    if manifest.is_file():
        with contextlib.suppress(ValueError, OSError):
            board = json.loads(manifest.read_text(encoding="utf-8")).get("board")
            return str(board) if board else None
    return None


def all_targets(config: pytest.Config) -> list[Target]:
    """The boards the options describe (before xdist splits them over workers)."""
    boards: list[str] = list(config.getoption("tinyml_board") or [])
    ports: list[str] = list(config.getoption("tinyml_port") or [])
    if not boards:
        found = _project_board(config.getoption("tinyml_project"))
        if found:
            boards = [found]
    if len(boards) > 1 and len(ports) > 1 and len(boards) != len(ports):
        raise pytest.UsageError(f"{len(boards)} --tinyml-board but {len(ports)} --tinyml-port: give one board id "
                                "for all ports, or one per port")
    n = max(len(boards), len(ports))
    return [Target(i, boards[i] if len(boards) > 1 else (boards[0] if boards else None),
                   ports[i] if len(ports) > 1 else (ports[0] if ports else None)) for i in range(n)]


def _xdist_workers(config: pytest.Config) -> int:
    """Workers xdist will start (controller side), 0 without -n."""
    n = getattr(config.option, "numprocesses", None)
    if not n:
        return 0
    if n == "auto" or n == "logical":
        return os.cpu_count() or 1
    return int(n)


def _worker(config: pytest.Config) -> tuple[int, int] | None:
    """(worker index, worker count) inside an xdist worker."""
    wi = getattr(config, "workerinput", None)
    if wi is None:
        return None
    wid = str(wi.get("workerid", "gw0"))
    return int(wid[2:]) if wid[2:].isdigit() else 0, int(wi.get("workercount", 1))


def _shares_nothing(targets: list[Target]) -> bool:
    """One virtual board and no port: every worker can run an emulator of its own."""
    if len(targets) != 1 or targets[0].port is not None or targets[0].board is None:
        return False
    try:
        from tinyml.boards import get_board

        return bool(get_board(targets[0].board).virtual)
    except Exception:  # an unknown board id is reported when the dut is made
        return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tinyml_boards(n): needs at least n tinyml targets (skipped otherwise)")
    targets = all_targets(config)
    workers = _xdist_workers(config) if _worker(config) is None else 0
    if workers > 1 and targets and not _shares_nothing(targets) and workers != len(targets):
        raise pytest.UsageError(
            f"pytest -n {workers} with {len(targets)} tinyml board(s): each xdist worker needs a board of its own. "
            f"Pass -n {len(targets)}, or one --tinyml-port per worker (a single virtual board without "
            "--tinyml-port may use any -n: each worker starts its own emulator)")


def local_targets(config: pytest.Config) -> list[Target]:
    """The targets this process drives: all of them, or the worker's own under xdist."""
    targets = all_targets(config)
    w = _worker(config)
    if w is None or w[1] <= 1 or not targets:
        return targets
    idx, _count = w
    if _shares_nothing(targets):
        return [Target(0, targets[0].board, None)]
    if idx >= len(targets):
        raise pytest.UsageError(f"xdist worker gw{idx} has no board ({len(targets)} given)")
    return [Target(0, targets[idx].board, targets[idx].port)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Outside xdist every test that takes `dut` runs on every target. Under xdist each worker
    # sees one target, so all workers collect the same tests (xdist requires it).
    if "dut" not in metafunc.fixturenames:
        return
    targets = local_targets(metafunc.config)
    if len(targets) > 1:
        metafunc.parametrize("dut", [t.index for t in targets], ids=[t.name for t in targets], indirect=True,
                             scope="session")


# ---------------------------------------------------------------------- the session's boards

@contextlib.contextmanager
def _flash_lock() -> Iterator[None]:
    """One flash at a time per tinyml cache: xdist workers share PlatformIO's core dir, whose
    package installs are not safe to run concurrently (seen: UnknownPlatform mid-install)."""
    import fcntl

    from tinyml.build import pio

    path = pio.cache_dir() / "hil-flash.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Rig:
    """Flashes and connects the targets on first use; stops what it started at the end."""

    def __init__(self, config: pytest.Config, tmp: Path):
        self.config = config
        self.targets = local_targets(config)
        self.tmp = tmp
        self.duts: dict[int, Dut] = {}
        self.failures: dict[int, str] = {}
        self.started: list[Path] = []  # virtual boards' projects, stopped at the end
        worker = _worker(config)
        self.worker = f"gw{worker[0]}" if worker else "main"

    # -- project per target
    def _project_for(self, t: Target) -> tuple[Path | None, str | None]:
        """(project dir, expected model sha256) for a target; generates one from a .tflite."""
        from tinyml.codegen.project import create_project, read_manifest
        from tinyml.errors import ErrorKind, TinymlError

        src = self.config.getoption("tinyml_project")
        if src is None:
            return None, None
        path = Path(src)
        if path.is_file() and path.suffix == ".tflite":
            if t.board is None:
                raise TinymlError("--tinyml-project is a .tflite but no --tinyml-board was given",
                                  hint="pass --tinyml-board ID", kind=ErrorKind.USAGE)
            dest = self.tmp / f"{path.stem}-{t.board}-{self.worker}-{t.index}"
            if not (dest / "tinyml.json").is_file():
                create_project(path, t.board, dest, force=True)
            proj = dest
        elif path.is_dir():
            proj = path.resolve()
            board = _project_board(str(proj))
            if board is None:
                read_manifest(proj)  # the clear "not a tinyml project" error
            if t.board is not None and board is not None and board != t.board:
                raise TinymlError(f"{proj} was generated for {board}, not {t.board}",
                                  hint="regenerate it for this board, or pass a .tflite as --tinyml-project",
                                  kind=ErrorKind.USAGE)
            if self._needs_copy(t):
                # two emulators cannot run from one project directory (its .tinyml/ holds one board)
                dest = self.tmp / f"{proj.name}-{self.worker}-{t.index}"
                if not dest.exists():
                    shutil.copytree(proj, dest, ignore=shutil.ignore_patterns(".tinyml", ".pio"))
                proj = dest
        elif path.exists():
            raise TinymlError(f"--tinyml-project {path} is neither a project directory nor a .tflite",
                              hint="pass the directory `tinyml generate` wrote, or MODEL.tflite", kind=ErrorKind.INPUT)
        else:
            raise TinymlError(f"--tinyml-project {path} does not exist", kind=ErrorKind.INPUT,
                              hint="pass the directory `tinyml generate` wrote, or MODEL.tflite")
        sha = read_manifest(proj).get("model", {}).get("sha256")
        return proj, str(sha) if sha else None

    def _needs_copy(self, t: Target) -> bool:
        if self.config.getoption("tinyml_no_flash") or t.port is not None:
            return False
        return len(self.targets) > 1 or self.worker != "main"

    def _virtual(self, board: str | None) -> bool:
        from tinyml.boards import get_board

        return board is not None and get_board(board).virtual

    def _bring_up(self, t: Target) -> Dut:
        from tinyml.build import flash as flashing
        from tinyml.errors import ErrorKind, TinymlError
        from tinyml.serial.ports import resolve_port
        from tinyml.testing.dut import Dut

        project, sha = self._project_for(t)
        no_flash = bool(self.config.getoption("tinyml_no_flash"))
        restart = None
        if no_flash:
            if t.port is None and project is None:
                raise TinymlError("--tinyml-no-flash needs --tinyml-port (or a project that recorded its port)",
                                  kind=ErrorKind.USAGE, hint="pass --tinyml-port URL")
            url = resolve_port(project, t.port)
        else:
            if project is None:
                raise TinymlError("nothing to flash: pass --tinyml-project (a project directory or a .tflite)",
                                  hint="or --tinyml-no-flash with --tinyml-port to test what the board runs",
                                  kind=ErrorKind.USAGE)
            virtual = self._virtual(t.board or _project_board(str(project)))
            with _flash_lock():
                res = flashing.flash(project, board=t.board, port=None if virtual else t.port)
            url = res.port
            if virtual:
                self.started.append(project)
                proj = project

                def restart() -> str:
                    with _flash_lock():
                        return flashing.flash(proj, board=t.board).port
        baud = self.config.getoption("tinyml_baud") or self._board_baud(t.board)
        timeout = float(self.config.getoption("tinyml_timeout"))
        dut = Dut(url, project=project, board=t.board, baud=baud, timeout=timeout, name=t.name, restart=restart)
        dut.connect()
        if sha:
            dut.check_model(sha, f"the project {project}")
        return dut

    @staticmethod
    def _board_baud(board: str | None) -> int:
        if board is None:
            return 115200
        from tinyml.boards import get_board

        return int(get_board(board).serial_baud or 115200)

    def get(self, index: int) -> Dut:
        from tinyml.errors import TinymlError

        if not self.targets:
            pytest.skip("no tinyml board: pass --tinyml-board ID and/or --tinyml-port URL")
        if index in self.failures:
            pytest.fail(self.failures[index], pytrace=False)
        if index not in self.duts:
            t = self.targets[index]
            try:
                self.duts[index] = self._bring_up(t)
            except TinymlError as exc:
                msg = f"tinyml target {t.name}: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else "")
                self.failures[index] = msg
                pytest.fail(msg, pytrace=False)
        return self.duts[index]

    def close(self) -> None:
        from tinyml.build import qemu

        for d in self.duts.values():
            d.close()
        for proj in self.started:
            with contextlib.suppress(Exception):
                qemu.stop(proj)


@pytest.fixture(scope="session")
def tinyml_rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Rig]:
    rig = _Rig(request.config, tmp_path_factory.mktemp("tinyml-hil"))
    request.config.stash[_RIG_KEY] = rig
    try:
        yield rig
    finally:
        rig.close()


_RIG_KEY = pytest.StashKey[_Rig]()


@pytest.fixture(scope="session")
def dut(request: pytest.FixtureRequest, tinyml_rig: _Rig) -> Dut:
    """The device under test (flashed and connected once per session)."""
    return tinyml_rig.get(getattr(request, "param", 0))


@pytest.fixture(scope="session")
def duts(tinyml_rig: _Rig) -> list[Dut]:
    """Every target of this process at once (under xdist: the worker's one)."""
    return [tinyml_rig.get(t.index) for t in tinyml_rig.targets]


# ---------------------------------------------------------------------- serial logs in reports

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    rig = item.config.stash.get(_RIG_KEY, None)
    marks = {d.name: d.log.position for d in rig.duts.values()} if rig else {}
    item.stash[_LOG_KEY] = marks
    m = item.get_closest_marker("tinyml_boards")
    if m is not None and m.args:
        n = len(local_targets(item.config))
        if n < int(m.args[0]):
            pytest.skip(f"needs {m.args[0]} tinyml boards, {n} given")


TAIL_LINES = 60  # what a failing test that did not talk to its board itself still gets


def _used_duts(item: pytest.Item, rig: _Rig) -> list[Dut]:
    """The boards a test uses: all of them with `duts`, else the one its `dut` parameter names."""
    names = getattr(item, "fixturenames", ())
    if "duts" in names:
        return list(rig.duts.values())
    if "dut" in names:
        callspec = getattr(item, "callspec", None)
        index = callspec.params.get("dut", 0) if callspec is not None else 0
        return [rig.duts[index]] if index in rig.duts else []
    return []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    rig = item.config.stash.get(_RIG_KEY, None)
    if not report.failed or rig is None:
        return report
    marks = item.stash.get(_LOG_KEY, {})
    for d in _used_duts(item, rig):
        since = marks.get(d.name, 0)
        title = f"tinyml serial log {d.name} ({report.when})"
        if d.log.position == since:
            # nothing said during this test (it checked results a shared fixture fetched): the
            # last lines before it are still the most useful context
            since = max(0, since - TAIL_LINES)
            title += f", last {TAIL_LINES} lines before the test"
        text = d.log.text(since=since)
        if not text:
            continue
        report.sections.append((title, text))
        prop = (f"tinyml_serial_log:{d.name}", text)
        item.user_properties.append(prop)
        if report.user_properties is not item.user_properties:
            report.user_properties.append(prop)
    return report
