"""Performance measurement: exact instruction counts on QEMU (icount) and per-layer device profiles."""
