"""Issue 12, item 6: inputs that used to end in a traceback are one line and exit 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from cli_main import assert_one_line_error, run_main

DEEP = "[" * 100_000 + "]" * 100_000
GOOD_CSV = "task,trial,step,value,lr\na,0,1,0.5,0.1\na,1,1,0.6,0.2\n" * 1


def test_evaluate_with_a_deeply_nested_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "evaluate", "-f", "synthetic", "-t", "synthetic-00",
                            "-c", DEEP)
    assert_one_line_error(code, err, "nested too deeply")


def _ingest(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    db = path.parent / "w.db"
    code, _, err = run_main(capsys, "warehouse", "ingest-table", str(path), "-f", "mine",
                            "-w", str(db))
    code_ls, out, _ = run_main(capsys, "warehouse", "stats", "-w", str(db), "--json")
    assert code_ls == 0 and json.loads(out)["rows"]["trials"] == 0  # nothing stored
    return code, err


def test_a_table_config_cell_nested_too_deeply(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f'task,trial,step,value,config\na,0,1,0.5,"{DEEP}"\n')
    code, err = _ingest(capsys, path)
    assert_one_line_error(code, err, "row 1, column 'config'", "nested too deeply")


def test_a_corrupt_csv_gz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = gzip.compress(GOOD_CSV.encode() * 50)
    path = tmp_path / "t.csv.gz"
    path.write_bytes(packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:])
    code, err = _ingest(capsys, path)
    assert_one_line_error(code, err, "cannot be read as a table")


def test_a_truncated_csv_gz_is_not_an_abort(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packed = gzip.compress(GOOD_CSV.encode() * 50)
    path = tmp_path / "t.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    code, err = _ingest(capsys, path)
    assert_one_line_error(code, err, "cannot be read as a table")
    assert "aborted" not in err


STORAGES = {
    "unknown scheme": "banana://x",
    "missing folder": "sqlite:////missing_dir_metasearch/x.db",
    "unreachable server": "postgresql://u:p@127.0.0.1:1/db",
    "malformed port": "postgresql://u:p@127.0.0.1:port/db",
}


@pytest.mark.parametrize("storage", list(STORAGES.values()), ids=list(STORAGES))
@pytest.mark.parametrize("command", ["run", "suggest", "ingest-optuna"])
def test_a_bad_storage(command: str, storage: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    args = {
        "run": ["run", "-f", "synthetic", "-t", "synthetic-00", "--trials", "1",
                "--sampler", "random", "--no-warehouse", "--storage", storage],
        "suggest": ["suggest", "-f", "synthetic", "--storage", storage, "--study", "s",
                    "-w", str(tmp_path / "w.db")],
        "ingest-optuna": ["warehouse", "ingest-optuna", storage, "--study", "s",
                          "-w", str(tmp_path / "w.db")],
    }[command]
    code, _, err = run_main(capsys, *args)
    assert_one_line_error(code, err)
    assert not Path("/missing_dir_metasearch").exists()
