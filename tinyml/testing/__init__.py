"""Test helpers for hardware-in-the-loop runs: the ``Dut`` handle the pytest plugin hands out
(``tinyml/testing/dut.py``) and a fault-injecting TCP proxy (``tinyml/testing/faultproxy.py``)."""
