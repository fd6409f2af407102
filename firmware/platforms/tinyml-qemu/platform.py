"""tinyml-qemu: a local PlatformIO dev-platform; all the work is in builder/main.py."""

from platformio.public import PlatformBase


class TinymlqemuPlatform(PlatformBase):
    pass
