"""metasearch: meta-learned hyperparameter and architecture search, served through Optuna.

Importing the package is cheap: torch, optuna and the database layer load only when the part
that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metasearch._version import __version__

if TYPE_CHECKING:  # loaded lazily at run time, by __getattr__ below
    from metasearch.samplers import MetaPruner, MetaSampler, WarehouseCallback

__all__ = ["MetaPruner", "MetaSampler", "WarehouseCallback", "__version__"]


def __getattr__(name: str) -> object:
    """``metasearch.MetaSampler``, ``MetaPruner``, ``WarehouseCallback``: no Optuna at import."""
    if name in ("MetaSampler", "MetaPruner", "WarehouseCallback"):
        import metasearch.samplers

        return getattr(metasearch.samplers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
