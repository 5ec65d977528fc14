"""Fault injection against real processes: servers lost, a worker killed, two pipelines at once."""
