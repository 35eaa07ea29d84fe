"""Americano Research Analytics: evidence for N-of-1 self-experiments."""

from americano_pipelines.config import configure_pytensor_cache

__version__ = "0.1.0"

# Before anything imports pytensor (pymc, causalpy): its compile cache lives under AMERICANO_HOME.
configure_pytensor_cache()
