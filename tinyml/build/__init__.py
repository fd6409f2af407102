"""Building and flashing: PlatformIO (offline-safe), virtual boards (QEMU)."""
