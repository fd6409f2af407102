"""SCons build script of the tinyml-simavr platform (the virtual Arduino Uno).

Build: the sketch (with ``framework = arduino``: the real Arduino AVR core, see
frameworks/arduino.py) with the system avr-gcc (Debian: gcc-avr + avr-libc) and the Arduino
IDE's Uno flags (-mmcu=atmega328p -DF_CPU=16000000L -Os -flto ...).

Upload: starts the virtual Uno in the background: bridge/simavr_uart_bridge.c (libsimavr),
compiled with the host gcc on first use into the tinyml cache, runs the ELF on an ATmega328P at
16 MHz with UART0 on a TCP server socket. The state goes to <project>/.tinyml/simavr.json (pid,
port, command) and the port URL to <project>/.tinyml/port, exactly like the tinyml-qemu
platform, so `tinyml monitor DIR`, `tinyml validate DIR` and `tinyml stop DIR` work unchanged.
`--upload-port socket://127.0.0.1:N` picks the TCP port (default: a free one); `upload_flags =
--realtime` in platformio.ini keeps the simulation at real-time speed.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

mcu = board.get("build.mcu", "atmega328p")
f_cpu = str(board.get("build.f_cpu", "16000000L"))

env.Replace(
    AR="avr-gcc-ar",
    AS="avr-gcc",
    CC="avr-gcc",
    CXX="avr-g++",
    LINK="avr-gcc",
    GDB="avr-gdb",
    OBJCOPY="avr-objcopy",
    RANLIB="avr-gcc-ranlib",
    SIZETOOL="avr-size",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    ARFLAGS=["rcs"],
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.bootloader)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -C --mcu=%s $SOURCES" % mcu,
)

# The Arduino IDE 1.8 Uno recipes (platform.txt), plus -Wall -Wextra for our own sources.
env.Append(
    ASFLAGS=["-mmcu=%s" % mcu, "-x", "assembler-with-cpp", "-flto"],
    CCFLAGS=["-mmcu=%s" % mcu, "-Os", "-g", "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections",
             "-flto", "-fno-fat-lto-objects"],
    CFLAGS=["-std=gnu11"],
    CXXFLAGS=["-std=gnu++11", "-fpermissive", "-fno-exceptions", "-fno-threadsafe-statics",
              "-Wno-error=narrowing"],
    CPPDEFINES=[("F_CPU", f_cpu), "TINYML_SIMAVR"],
    LINKFLAGS=["-mmcu=%s" % mcu, "-Os", "-g", "-flto", "-fuse-linker-plugin", "-Wl,--gc-sections"],
    LIBS=["m"],
)

for tool in ("avr-gcc", "avr-g++", "avr-gcc-ar"):
    if not shutil.which(tool):
        sys.stderr.write("Error: %s not found on PATH (Debian: apt install gcc-avr avr-libc)\n" % tool)
        env.Exit(1)

target_elf = env.BuildProgram()
# The same image for a real Uno (same core, same flags): avrdude -p m328p -c arduino -P PORT -b 115200
# -U flash:w:firmware.hex. TINYML_SIMAVR only adds a 2-byte counter that nothing reads there.
env.Append(BUILDERS=dict(ElfToHex=Builder(
    action=env.VerboseAction("$OBJCOPY -O ihex -R .eeprom $SOURCES $TARGET", "Building $TARGET"), suffix=".hex")))
target_hex = env.ElfToHex(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
target_size = env.AddPlatformTarget(
    "size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"),
    "Program Size", "Calculate program size")


# --------------------------------------------------------------------------- upload = run the virtual Uno

BRIDGE_NAME = "simavr-uart-bridge"
PLATFORM_DIR = env.PioPlatform().get_dir()
BRIDGE_SRC = os.path.join(PLATFORM_DIR, "bridge", "simavr_uart_bridge.c")


def _state_dir():
    return os.path.join(env.subst("$PROJECT_DIR"), ".tinyml")


def _cache_dir():
    root = os.environ.get("TINYML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tinyml")
    return os.path.join(root, "simavr")


def _pid_is_bridge(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return BRIDGE_NAME.encode() in f.read()
    except OSError:
        return False


def _stop_previous():
    path = os.path.join(_state_dir(), "simavr.json")
    try:
        with open(path) as f:
            pid = int(json.load(f)["pid"])
    except (OSError, ValueError, KeyError):
        return
    if _pid_is_bridge(pid):
        print("Stopping the previous virtual board (pid %d)" % pid)
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _pid_is_bridge(pid):
                break
            time.sleep(0.05)


def bridge_binary():
    """The compiled bridge in the tinyml cache, keyed by the source's hash (built once)."""
    with open(BRIDGE_SRC, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    out = os.path.join(_cache_dir(), "%s-%s" % (BRIDGE_NAME, digest))
    if os.path.isfile(out):
        return out
    gcc = shutil.which("gcc")
    if not gcc:
        sys.stderr.write("Error: the host C compiler gcc is not on PATH (Debian: apt install gcc)\n")
        return None
    if not os.path.isfile("/usr/include/simavr/sim_avr.h"):
        sys.stderr.write("Error: libsimavr headers not found in /usr/include/simavr "
                         "(Debian: apt install libsimavr-dev libelf-dev)\n")
        return None
    os.makedirs(_cache_dir(), exist_ok=True)
    tmp = "%s.%d.tmp" % (out, os.getpid())
    argv = [gcc, "-O2", "-Wall", "-Wextra", "-I/usr/include/simavr", BRIDGE_SRC, "-o", tmp, "-lsimavr", "-lelf"]
    print(" ".join(argv))
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        sys.stderr.write(res.stdout.decode(errors="replace"))
        sys.stderr.write("Error: building the simavr UART bridge failed (needs libsimavr-dev and libelf-dev)\n")
        return None
    os.replace(tmp, out)
    return out


def _tcp_port():
    value = env.subst("$UPLOAD_PORT").strip()
    if not value:
        return 0  # the bridge picks a free port and prints it
    tail = value.rsplit(":", 1)[-1]
    if not tail.isdigit():
        sys.stderr.write("Error: upload port %r is not a TCP port (use socket://127.0.0.1:PORT)\n" % value)
        env.Exit(1)
    return int(tail)


def start_simavr(target, source, env):
    bridge = bridge_binary()
    if bridge is None:
        return 1
    _stop_previous()
    elf = os.path.abspath(str(source[0]))
    argv = [bridge, elf, "--port", str(_tcp_port()), "--mcu", mcu, "--freq", f_cpu.rstrip("L")]
    argv += [f for f in env.get("UPLOADERFLAGS", []) if f]
    os.makedirs(_state_dir(), exist_ok=True)
    log_path = os.path.join(_state_dir(), "simavr.log")
    print(" ".join(argv))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    # The bridge announces its socket before it waits for the first client.
    deadline = time.time() + 10
    port = None
    while time.time() < deadline and port is None:
        if proc.poll() is not None:
            break
        with open(log_path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("listening on 127.0.0.1:"):
                    port = int(line.rsplit(":", 1)[1])
        time.sleep(0.02)
    if port is None:
        with open(log_path, "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace"))
        if proc.poll() is None:
            proc.terminate()
        sys.stderr.write("Error: the simavr virtual board did not start (see above)\n")
        return 1
    url = "socket://127.0.0.1:%d" % port
    state = {"pid": proc.pid, "port": port, "url": url, "machine": mcu, "elf": elf, "argv": argv, "log": log_path}
    with open(os.path.join(_state_dir(), "simavr.json"), "w") as f:
        json.dump(state, f, indent=2)
    with open(os.path.join(_state_dir(), "port"), "w") as f:
        f.write(url + "\n")
    print("Virtual board %s running (pid %d); serial port: %s" % (mcu, proc.pid, url))
    return 0


env.AddPlatformTarget("upload", target_elf, env.VerboseAction(start_simavr, "Starting the virtual Uno (simavr)"),
                      "Upload")

Default([target_elf, target_hex, target_size])
AlwaysBuild(target_size)
