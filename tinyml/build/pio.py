"""PlatformIO, run the tinyml way: own core dir, no telemetry, offline-safe.

- The core dir lives in the tinyml cache (``$TINYML_CACHE/platformio``, default
  ``~/.cache/tinyml/platformio``), so tinyml never touches a user's ``~/.platformio``.
- ``tool-scons`` (the one core package ``pio run`` needs) is provisioned from the ``scons``
  Python package installed with tinyml, not downloaded.
- Before ``pio`` runs, :func:`check_installed` looks for the project's platform and libraries in
  the core dir. If something is missing and the registry does not answer within 2 s, it fails
  at once with the exact ``pio pkg install`` command to run on a connected machine, instead of
  PlatformIO's 60-second hang.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tinyml import runner
from tinyml.errors import ErrorKind, TinymlError

# platformio/dependencies.py pins tool-scons ~4.41101.0 (= SCons 4.11.1).
SCONS_PACKAGE_VERSION = "4.41101.0"
REGISTRY_HOST = "api.registry.platformio.org"
REGISTRY_TIMEOUT_S = 2.0


def cache_dir() -> Path:
    env = os.environ.get("TINYML_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tinyml"


def core_dir() -> Path:
    return cache_dir() / "platformio"


def pio_env() -> dict[str, str]:
    """The variables added to the environment of every ``pio`` call (they are logged)."""
    return {
        "PLATFORMIO_CORE_DIR": str(core_dir()),
        "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true",
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650",
        "PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD": "0",
        # Objects shared between projects: every generated project compiles the same runtime and
        # kernels, so the second project for a board links in seconds.
        "PLATFORMIO_BUILD_CACHE_DIR": str(cache_dir() / "build-cache"),
    }


def pio_argv() -> list[str]:
    """PlatformIO as installed with tinyml (same interpreter), not whatever ``pio`` is on PATH."""
    return [sys.executable, "-m", "platformio"]


def ensure_scons() -> Path:
    """Provision ``tool-scons`` in the core dir from the installed ``scons`` package (idempotent)."""
    dest = core_dir() / "packages" / "tool-scons"
    marker = dest / ".piopm"
    if marker.is_file() and (dest / "SCons").is_dir():
        return dest
    try:
        import SCons
    except ImportError as exc:  # pragma: no cover - scons is a dependency of tinyml
        raise TinymlError("the Python package 'scons' is not installed", hint="pip install scons==4.11.1",
                          kind=ErrorKind.TOOL) from exc
    src = Path(SCons.__file__).resolve().parent
    tmp = dest.with_name(".tool-scons.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(src, tmp / "SCons", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "scons.py").write_text(
        "# Written by tinyml: runs the SCons copied next to this file.\n"
        "import os\nimport sys\n\n"
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
        "from SCons.Script import main  # noqa: E402\n\nmain()\n", encoding="utf-8")
    (tmp / "package.json").write_text(json.dumps({
        "name": "tool-scons", "version": SCONS_PACKAGE_VERSION, "system": "*",
        "description": "SCons (copied from the installed Python package by tinyml)",
    }, indent=2), encoding="utf-8")
    (tmp / ".piopm").write_text(json.dumps({
        "type": "tool", "name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
        "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None},
    }), encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


# --------------------------------------------------------------------------- project config

@dataclass
class EnvConfig:
    name: str
    platform: str
    board: str = ""
    framework: str = ""
    lib_deps: list[str] = field(default_factory=list)
    upload_protocol: str = ""


def read_project(project: Path) -> list[EnvConfig]:
    ini = project / "platformio.ini"
    if not ini.is_file():
        raise TinymlError(f"{project} is not a PlatformIO project (no platformio.ini)",
                          hint="generate one with: tinyml generate MODEL.tflite --board BOARD -o DIR",
                          kind=ErrorKind.INPUT)
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        raise TinymlError(f"{ini} cannot be parsed: {exc}", kind=ErrorKind.INPUT) from exc
    envs = []
    for section in cp.sections():
        if not section.startswith("env:"):
            continue
        s = cp[section]
        libs = [x.strip() for x in re.split(r"[\n,]", s.get("lib_deps", "")) if x.strip()]
        envs.append(EnvConfig(name=section[4:], platform=s.get("platform", "").strip(),
                              board=s.get("board", "").strip(), framework=s.get("framework", "").strip(),
                              lib_deps=libs, upload_protocol=s.get("upload_protocol", "").strip()))
    if not envs:
        raise TinymlError(f"{ini} has no [env:...] section", kind=ErrorKind.INPUT)
    return envs


def _local_platform_path(spec: str, project: Path) -> Path | None:
    for scheme in ("symlink://", "file://"):
        if spec.startswith(scheme):
            raw = spec[len(scheme):].replace("${PROJECT_DIR}", str(project)).replace("${platformio.workspace_dir}",
                                                                                       str(project / ".pio"))
            p = Path(raw)
            return p if p.is_absolute() else project / p
    return None


def _registry_name(spec: str) -> str:
    """'platformio/espressif32@^6.5.0' -> 'espressif32'."""
    name = spec.split("@", 1)[0].strip()
    return name.rsplit("/", 1)[-1]


def _installed_platform(name: str) -> Path | None:
    root = core_dir() / "platforms"
    if not root.is_dir():
        return None
    for d in root.iterdir():
        if d.name == name or d.name.startswith(name + "@"):
            return d
    return None


def _missing_packages(platform_dir: Path) -> list[str]:
    """The platform's non-optional packages not in the core dir (toolchains, frameworks)."""
    try:
        manifest = json.loads((platform_dir / "platform.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    installed = {d.name.split("@")[0] for d in (core_dir() / "packages").glob("*")} if (
        core_dir() / "packages").is_dir() else set()
    return [n for n, opts in manifest.get("packages", {}).items()
            if not opts.get("optional", False) and n not in installed]


def _lib_name(dep: str) -> str:
    return dep.split("@", 1)[0].strip().rsplit("/", 1)[-1]


def _missing_libs(project: Path, env: EnvConfig) -> list[str]:
    where = [project / ".pio" / "libdeps" / env.name, core_dir() / "lib"]
    have = {d.name.lower() for root in where if root.is_dir() for d in root.iterdir()}
    return [dep for dep in env.lib_deps if _lib_name(dep).lower() not in have and "://" not in dep]


def missing_dependencies(project: Path) -> list[str]:
    """What ``pio run`` in ``project`` would try to download (empty: it can run offline)."""
    missing: list[str] = []
    for env in read_project(project):
        if not env.platform:
            missing.append(f"[env:{env.name}] has no platform")
            continue
        local = _local_platform_path(env.platform, project)
        if local is not None:
            if not (local / "platform.json").is_file():
                raise TinymlError(f"local platform {local} (platform = {env.platform}) does not exist",
                                  hint="regenerate the project with tinyml generate --force", kind=ErrorKind.INPUT)
        else:
            installed = _installed_platform(_registry_name(env.platform))
            if installed is None:
                missing.append(f"platform {env.platform}")
            else:
                missing += [f"package {p}" for p in _missing_packages(installed)]
        missing += [f"library {dep}" for dep in _missing_libs(project, env)]
    return missing


def registry_reachable(timeout: float = REGISTRY_TIMEOUT_S) -> bool:
    """A TCP connect to the registry, bounded in time even when DNS hangs."""
    if os.environ.get("TINYML_OFFLINE") == "1":
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((REGISTRY_HOST, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(result and result[0])


def install_command(project: Path) -> str:
    return f"PLATFORMIO_CORE_DIR={core_dir()} pio pkg install -d {project}"


def check_installed(project: Path) -> None:
    """Fail fast (< 5 s) when ``pio`` would need the registry and the registry is unreachable."""
    missing = missing_dependencies(project)
    if not missing or registry_reachable():
        return
    are = "is" if len(missing) == 1 else "are"
    raise TinymlError(
        f"PlatformIO needs {', '.join(missing)}, which {are} not installed, and the registry "
        f"({REGISTRY_HOST}) is unreachable",
        hint=f"on a machine with network run: {install_command(project)} (then copy {core_dir()} here)",
        kind=ErrorKind.OFFLINE)


# --------------------------------------------------------------------------- running pio

def run_pio(project: Path, targets: list[str] | None = None, *, upload_port: str | None = None,
            environment: str | None = None, timeout: float = 1800, what: str = "pio run") -> runner.Result:
    """``pio run`` in ``project`` with the tinyml environment, after the offline check."""
    project = Path(project).resolve()
    check_installed(project)  # first: the offline failure must come in well under 5 s
    ensure_scons()
    argv = [*pio_argv(), "run", "-d", str(project)]
    for t in targets or []:
        argv += ["-t", t]
    if environment:
        argv += ["-e", environment]
    if upload_port:
        argv += ["--upload-port", upload_port]
    return runner.run(argv, env=pio_env(), timeout=timeout, what=what)


def program_path(project: Path, environment: str | None = None) -> Path | None:
    """The built firmware (ELF for virtual boards, else .bin/.hex), if a build exists."""
    envs = read_project(project)
    name = environment or envs[0].name
    build = project / ".pio" / "build" / name
    for fname in ("firmware.elf", "firmware.bin", "firmware.hex"):
        if (build / fname).is_file():
            return build / fname
    return None
