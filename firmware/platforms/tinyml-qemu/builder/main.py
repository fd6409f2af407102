"""SCons build script of the tinyml-qemu platform.

Build: bare-metal C/C++ for the board's Cortex-M core with the system arm-none-eabi-gcc (from
Debian's gcc-arm-none-eabi + libnewlib-arm-none-eabi), linked with the project's linker script.

Upload: starts qemu-system-arm in the background with the ELF as its kernel and UART0 on a TCP
server socket (wait=on: the guest starts only when the first client connects, so the host never
misses the boot banner). The state goes to <project>/.tinyml/qemu.json (pid, port, command) and
the port URL to <project>/.tinyml/port, so `tinyml monitor DIR` and `tinyml stop DIR` find it.
A plain `pio run -t upload` does the same without tinyml; `--upload-port socket://127.0.0.1:N`
picks the TCP port (default: a free one).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

cpu = board.get("build.cpu")
machine_flags = ["-mcpu=%s" % cpu, "-mthumb"]
if board.get("build.fpu", ""):
    machine_flags += ["-mfpu=%s" % board.get("build.fpu"), "-mfloat-abi=%s" % board.get("build.float_abi", "hard")]
else:
    machine_flags += ["-mfloat-abi=soft"]

f_cpu = str(board.get("build.f_cpu", "25000000L")).rstrip("L")

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    LINK="arm-none-eabi-gcc",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

env.Append(
    ASFLAGS=machine_flags + ["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags + ["-Os", "-g", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
    CFLAGS=["-std=gnu11"],
    CXXFLAGS=["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"],
    CPPDEFINES=[("F_CPU", f_cpu), "TINYML_QEMU", ("TINYML_QEMU_MACHINE", '\\"%s\\"' % board.get("build.qemu_machine"))],
    LINKFLAGS=machine_flags + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                               "-Wl,--no-warn-rwx-segments"],
    LIBS=["m"],
)

# The linker script: board_build.ldscript in platformio.ini (relative to the project), else the
# board's default name looked up in the project's ld/ folder. Its folder goes on the library
# path so it can INCLUDE the shared sections script next to it.
ldscript = env.GetProjectOption("board_build.ldscript", "") or os.path.join("ld", board.get("build.ldscript"))
if not os.path.isabs(ldscript):
    ldscript = os.path.join(env.subst("$PROJECT_DIR"), ldscript)
if not os.path.isfile(ldscript):
    sys.stderr.write("Error: linker script %s not found (set board_build.ldscript in platformio.ini)\n" % ldscript)
    env.Exit(1)
env.Replace(LDSCRIPT_PATH=ldscript)
env.Append(LIBPATH=[os.path.dirname(ldscript)])

for tool in ("arm-none-eabi-gcc",):
    if not shutil.which(tool):
        sys.stderr.write("Error: %s not found on PATH (Debian: apt install gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi)\n" % tool)
        env.Exit(1)

target_elf = env.BuildProgram()
target_size = env.AddPlatformTarget(
    "size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"),
    "Program Size", "Calculate program size")


# --------------------------------------------------------------------------- upload = run QEMU

def _state_dir():
    return os.path.join(env.subst("$PROJECT_DIR"), ".tinyml")


def _pid_is_qemu(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"qemu-system-arm" in f.read()
    except OSError:
        return False


def _stop_previous():
    path = os.path.join(_state_dir(), "qemu.json")
    try:
        with open(path) as f:
            pid = int(json.load(f)["pid"])
    except (OSError, ValueError, KeyError):
        return
    if _pid_is_qemu(pid):
        print("Stopping the previous virtual board (pid %d)" % pid)
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _pid_is_qemu(pid):
                break
            time.sleep(0.05)


def _tcp_port():
    value = env.subst("$UPLOAD_PORT").strip()
    if value:
        tail = value.rsplit(":", 1)[-1]
        if not tail.isdigit():
            sys.stderr.write("Error: upload port %r is not a TCP port (use socket://127.0.0.1:PORT)\n" % value)
            env.Exit(1)
        return int(tail)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_qemu(target, source, env):
    qemu = shutil.which("qemu-system-arm")
    if not qemu:
        sys.stderr.write("Error: qemu-system-arm not found on PATH (Debian: apt install qemu-system-arm)\n")
        return 1
    _stop_previous()
    port = _tcp_port()
    elf = os.path.abspath(str(source[0]))
    argv = [
        qemu, "-M", board.get("build.qemu_machine"), "-kernel", elf,
        "-display", "none", "-monitor", "none", "-parallel", "none",
        "-serial", "tcp:127.0.0.1:%d,server=on,wait=on,nodelay=on" % port,
        # Deterministic virtual time: each instruction takes 2^shift ns, so SysTick timings repeat.
        "-icount", "shift=%d" % int(board.get("build.icount_shift", 5)),
        "-semihosting-config", "enable=on,target=native",
    ] + [f for f in env.get("UPLOADERFLAGS", []) if f]
    os.makedirs(_state_dir(), exist_ok=True)
    log_path = os.path.join(_state_dir(), "qemu.log")
    print(" ".join(argv))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    # QEMU announces the listening socket before it starts the guest.
    deadline = time.time() + 10
    ready = False
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        with open(log_path, "rb") as f:
            if b"waiting for connection" in f.read():
                ready = True
                break
        time.sleep(0.02)
    if not ready:
        with open(log_path, "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace"))
        if proc.poll() is None:
            proc.terminate()
        sys.stderr.write("Error: QEMU did not start (see above)\n")
        return 1
    url = "socket://127.0.0.1:%d" % port
    state = {"pid": proc.pid, "port": port, "url": url, "machine": board.get("build.qemu_machine"),
             "elf": elf, "argv": argv, "log": log_path}
    with open(os.path.join(_state_dir(), "qemu.json"), "w") as f:
        json.dump(state, f, indent=2)
    with open(os.path.join(_state_dir(), "port"), "w") as f:
        f.write(url + "\n")
    print("Virtual board %s running (pid %d); serial port: %s" % (state["machine"], proc.pid, url))
    return 0


env.AddPlatformTarget("upload", target_elf, env.VerboseAction(start_qemu, "Starting QEMU"), "Upload")

Default([target_elf, target_size])
AlwaysBuild(target_size)
