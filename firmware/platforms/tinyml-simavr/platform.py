"""tinyml-simavr: a local PlatformIO dev-platform; the work is in builder/main.py (toolchain,
upload = start the virtual Uno) and builder/frameworks/arduino.py (the Arduino AVR core)."""

from platformio.public import PlatformBase


class TinymlsimavrPlatform(PlatformBase):
    pass
