"""metasearch: meta-learned hyperparameter and architecture search, served through Optuna.

Importing the package is cheap: torch, optuna and the database layer load only when the part
that needs them is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["MetaSampler", "__version__"]


def __getattr__(name: str) -> object:
    """``metasearch.MetaSampler`` without making ``import metasearch`` load Optuna."""
    if name == "MetaSampler":
        from metasearch.samplers import MetaSampler

        return MetaSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
