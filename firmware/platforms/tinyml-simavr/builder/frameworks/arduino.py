"""The Arduino framework of tinyml-simavr: the REAL Arduino AVR core from the system.

Debian's ``arduino-core-avr`` installs it in /usr/share/arduino/hardware/arduino/avr (override
with ``board_build.arduino_core_dir`` in platformio.ini or $TINYML_ARDUINO_AVR). The core is
compiled with the Arduino IDE's Uno flags (platform.txt / boards.txt) into a static library
archived with avr-gcc-ar (with -flto a plain ar loses the core's main()); its main() calls the
sketch's setup() and loop().
"""

import os
import sys

from SCons.Script import Import

Import("env")

board = env.BoardConfig()
DEFAULT_CORE_DIR = "/usr/share/arduino/hardware/arduino/avr"
core_root = (env.GetProjectOption("board_build.arduino_core_dir", "") or os.environ.get("TINYML_ARDUINO_AVR")
             or DEFAULT_CORE_DIR)
core_dir = os.path.join(core_root, "cores", board.get("build.core", "arduino"))
variant_dir = os.path.join(core_root, "variants", board.get("build.variant", "standard"))
if not os.path.isfile(os.path.join(core_dir, "Arduino.h")) or not os.path.isdir(variant_dir):
    sys.stderr.write("Error: the Arduino AVR core is not in %s (Debian: apt install arduino-core-avr, or set "
                     "board_build.arduino_core_dir)\n" % core_root)
    env.Exit(1)

# What the Arduino IDE 1.8 defines for an Uno (recipe.c.o.pattern with boards.txt's uno.build.*).
env.Append(
    CPPDEFINES=[("ARDUINO", "10807"), "ARDUINO_%s" % board.get("build.board", "AVR_UNO"), "ARDUINO_ARCH_AVR"],
    CPPPATH=[core_dir, variant_dir],
)

core_env = env.Clone()
# gcc-avr 5.4's <float.h> lacks DECIMAL_DIG, which the core's WString.cpp uses; the core is not
# our code, so its warnings are silenced as the IDE does by default (compiler.warning_flags=-w).
core_env.Append(CPPDEFINES=[("DECIMAL_DIG", "__DECIMAL_DIG__")], CCFLAGS=["-w"])
core_env.Replace(CCFLAGS=[f for f in core_env["CCFLAGS"] if f not in ("-Wall", "-Wextra")])
core_lib = core_env.BuildLibrary(os.path.join("$BUILD_DIR", "FrameworkArduino"), core_dir)
env.Prepend(LIBS=[core_lib])
