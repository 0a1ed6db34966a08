"""The ``metasearch`` command: one typer app per command group, composed here.

Commands import the library lazily (inside the command's function), so ``metasearch --help``
and the warehouse commands start fast and never import torch; only the errors, names and
output helpers, which import nothing heavy, are imported at the top. Known errors
(:class:`~metasearch.errors.MetasearchError`) print one line and exit with code 2;
``METASEARCH_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

import typer

from metasearch.cli import _compare, _families, _metatrain, _run, _suggest, _warehouse
from metasearch.errors import MetasearchError, redact

__all__ = ["app", "main"]

app = typer.Typer(
    name="metasearch",
    help="Meta-learned hyperparameter and architecture search, served through Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("families")(_families.families)
app.command("evaluate")(_run.evaluate)
app.command("run")(_run.run)
app.add_typer(_warehouse.app, name="warehouse")
app.command("meta-train")(_metatrain.meta_train)
app.command("suggest")(_suggest.suggest)
app.command("compare")(_compare.compare)


def main() -> None:
    """Console-script entry point: run the app, mapping known errors to one line and exit 2."""
    try:
        code = app(standalone_mode=False)
    except MetasearchError as exc:
        if os.environ.get("METASEARCH_DEBUG") == "1":
            raise
        # One line, and never a password, whatever the message quoted (a URL, a driver's text).
        typer.echo("error: " + redact(" ".join(str(exc).split())), err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's usage errors (typer may vendor click: no import here)
        show, status = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(status, int):
            show()
            sys.exit(status)
        raise
    if isinstance(code, int) and code:  # typer returns Exit's code (130 on Ctrl-C) unraised
        sys.exit(code)
