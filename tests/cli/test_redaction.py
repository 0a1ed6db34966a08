"""Issue 12, item 4: a URL reaches no message with its password, on any command that takes one.

Each command gets URLs that fail in different places (a server that refuses the connection,
a malformed port, an unknown scheme, a password with an unescaped ``@``): the error is one line,
exit 2, and the password appears nowhere in what the command printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_main import assert_one_line_error, run_main

from metasearch.errors import redact, redact_url

SECRET = "s3cretPW"
URLS = [
    f"postgresql://user:{SECRET}@127.0.0.1:1/db",  # nothing listens on port 1
    f"postgresql://user:{SECRET}@127.0.0.1:notaport/db",
    f"banana://user:{SECRET}@host/db",
    f"postgresql://user:{SECRET}@x@127.0.0.1:1/db",
]


def _commands(url: str, tmp: Path) -> dict[str, list[str]]:
    db = str(tmp / "w.db")
    return {
        "ingest-optuna": ["warehouse", "ingest-optuna", url, "--study", "s", "-w", db],
        "suggest": ["suggest", "-f", "synthetic", "--storage", url, "--study", "s", "-w", db],
        "run": ["run", "-f", "synthetic", "-t", "synthetic-00", "--trials", "1",
                "--storage", url, "--no-warehouse", "--sampler", "random"],
        "compare": ["compare", "-f", "synthetic", "--storage", url, "--out", str(tmp / "c")],
        "warehouse -w": ["warehouse", "ls", "-w", url],
        "meta-train -w": ["meta-train", "-f", "synthetic", "-w", url, "--out", str(tmp / "m")],
        "export -w": ["warehouse", "export", "-f", "synthetic", "-w", url,
                      "--out", str(tmp / "e.csv")],
        "run -w": ["run", "-f", "synthetic", "-t", "synthetic-00", "--trials", "1", "-w", url,
                   "--sampler", "random"],
    }


@pytest.mark.parametrize("command", list(_commands("u", Path())))
@pytest.mark.parametrize("url", URLS, ids=["refused", "bad-port", "bad-scheme", "at-in-pw"])
def test_no_command_prints_the_password(
        command: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, *_commands(url, tmp_path)[command])
    assert_one_line_error(code, err)
    assert SECRET not in out + err and SECRET[:-2] not in out + err


@pytest.mark.parametrize("url", URLS)
def test_redact_url_hides_the_password_of_any_url(url: str) -> None:
    shown = redact_url(url)
    assert "***" in shown and SECRET not in shown and "s3cr" not in shown


def test_redact_masks_urls_and_keywords_inside_text() -> None:
    text = redact(f"failed: postgresql://u:{SECRET}@h/db, dsn host=h password={SECRET} x")
    assert SECRET not in text and text.count("***") == 2
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert redact_url("plain words") == "plain words"
