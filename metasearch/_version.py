"""The version of metasearch, where every layer may read it (the root package imports upward)."""

__version__ = "0.1.0"
