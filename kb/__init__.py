"""kb: an offline-first knowledge-base bot that answers with checked citations."""

__version__ = "0.1.0"
