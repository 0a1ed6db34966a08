"""Run ``metasearch`` the way the console script does (``metasearch.cli.main``), in-process.

CliRunner's ``invoke`` bypasses ``main``, which is where known errors become one line and
exit 2; these tests need that path, without the cost of a subprocess per case.
"""

from __future__ import annotations

import sys

import pytest

from metasearch.cli import main


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``metasearch ARGS`` run through ``main``."""
    capsys.readouterr()
    saved = sys.argv
    sys.argv = ["metasearch", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """Exit 2 and exactly one ``error: ...`` line on stderr that holds every fragment."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
