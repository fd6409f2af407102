"""Cross-compiling generated aot C and running it on simavr / QEMU: shared by the target tests.

Each test writes its own ``main.c`` (it decides what to feed and how to print ``<hex>``); these
helpers hold the compiler flags, the link lines and the emulator command lines once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyml.codegen.aot.host import kernel_sources
from tinyml.resources import resource_dir

WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Os"]
LINK = ["-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"]
TARGETS = {
    "host": ["gcc"],
    "cortex-m4": ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m0plus": ["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb"],
    "atmega328p": ["avr-gcc", "-mmcu=atmega328p"],
}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def includes(d: Path) -> list[str]:
    return [f"-I{d}", f"-I{resource_dir('firmware') / 'include'}"]


def printed_hex(text: str) -> bytes:
    """The bytes a test main printed as ``<hex>`` (simavr colours its UART output)."""
    m = re.search(r"<([0-9a-f]+)>", re.sub(r"\x1b\[[0-9;]*m", "", text))
    assert m, f"no output printed:\n{text[-2000:]}"
    return bytes.fromhex(m.group(1))


def build_avr(d: Path, main_c: str, tmp_path: Path, libs: tuple[str, ...] = ()) -> Path:
    """``main_c`` + the generated ``d/model.c`` + every kernel, for an ATmega328P."""
    cc = need("avr-gcc")
    (tmp_path / "main.c").write_text(main_c)
    elf = tmp_path / "m.elf"
    subprocess.run([cc, "-mmcu=atmega328p", *WARN, *includes(d), str(tmp_path / "main.c"), str(d / "model.c"),
                    *map(str, kernel_sources()), *LINK, "-o", str(elf), *libs], check=True, capture_output=True)
    return elf


def run_simavr(elf: Path, timeout: float = 60) -> bytes:
    sim = need("simavr")
    res = subprocess.run([sim, "-m", "atmega328p", "-f", "16000000", str(elf)], capture_output=True, text=True,
                         timeout=timeout)
    return printed_hex(res.stdout + res.stderr)


def build_m4(d: Path, main_c: str, tmp_path: Path, libs: tuple[str, ...] = ()) -> Path:
    """``main_c`` + ``d/model.c`` + every kernel + the Cortex-M startup, for QEMU mps2-an386."""
    cc = need("arm-none-eabi-gcc")
    port = resource_dir("firmware") / "ports" / "cortex_m"
    if not (port / "startup.c").exists():
        pytest.skip("no Cortex-M startup code in firmware/ports/cortex_m")
    (tmp_path / "main.c").write_text(main_c)
    elf = tmp_path / "m.elf"
    subprocess.run([cc, *TARGETS["cortex-m4"][1:], *WARN, "-DF_CPU=25000000", *includes(d), f"-I{port}",
                    str(tmp_path / "main.c"), str(d / "model.c"), str(port / "startup.c"),
                    *map(str, kernel_sources()), f"-T{port / 'mps2-an386.ld'}", f"-L{port}", "-nostartfiles",
                    "--specs=nano.specs", "--specs=nosys.specs", *LINK, "-o", str(elf), *libs],
                   check=True, capture_output=True)
    return elf


def run_qemu_m4(elf: Path, timeout: float = 60) -> bytes:
    qemu = need("qemu-system-arm")
    res = subprocess.run([qemu, "-M", "mps2-an386", "-display", "none", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=timeout)
    return printed_hex(res.stdout + res.stderr)
