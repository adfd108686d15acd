"""The daemon: one cycle per (topic, nonce), the scheduler, the lifecycle, health and metrics."""
