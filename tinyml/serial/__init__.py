"""Talking to a tinyml device: the protocol codec, ports, the DUT client, monitor and validate."""
