"""Which backup `restore` picks, and which it refuses, directly on a synthetic bucket mirror (no Worker run).

A backup is complete only when its manifest says so: the backup Worker writes `complete: true` last, after every
object (workers/backup/index.js); a run that died leaves no manifest or one not marked complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsify_infra.restore import RestoreRefused, RestoreReport, find_backup

OLDER, MIDDLE, NEWER = "2026-11-25T02-15-00-000Z", "2026-11-26T02-15-00-000Z", "2026-11-27T02-15-00-000Z"


def _backup(source: Path, backup_id: str, complete: bool | None) -> None:
    directory = source / "backups" / "core" / backup_id
    directory.mkdir(parents=True)
    if complete is not None:
        schema = {"bytes": 0, "chunkBytes": 1, "chunks": []}
        (directory / "manifest.json").write_text(json.dumps({
            "format": "parsify-d1-backup/3", "complete": complete, "load": ["schema.1-cron.sql"], "tables": {},
            "objects": {"schema.1-cron.sql": schema}}))


def test_the_latest_complete_backup_is_chosen_not_the_oldest(tmp_path: Path) -> None:
    for backup_id in (OLDER, MIDDLE):
        _backup(tmp_path, backup_id, complete=True)
    _backup(tmp_path, NEWER, complete=False)
    assert find_backup(tmp_path, "core").backup_id == MIDDLE
    assert find_backup(tmp_path, "core", on_date="2026-11-25").backup_id == OLDER


@pytest.mark.parametrize("complete", [False, None], ids=["marked incomplete", "no manifest"])
def test_a_backup_not_marked_complete_is_refused_even_when_asked_for_by_id(tmp_path: Path,
                                                                           complete: bool | None) -> None:
    _backup(tmp_path, NEWER, complete=complete)
    with pytest.raises(RestoreRefused, match=r"no complete manifest\.json; the backup is incomplete and is refused"):
        find_backup(tmp_path, "core", backup_id=NEWER)
    with pytest.raises(RestoreRefused, match="no complete backup from 2026-11-27"):
        find_backup(tmp_path, "core", on_date="2026-11-27")
    with pytest.raises(RestoreRefused, match=r"no complete backup \(none has a manifest marked complete\)"):
        find_backup(tmp_path, "core")


def test_the_restore_report_gives_rows_in_all_and_seconds_to_the_millisecond() -> None:
    # The DBA's record of a restore (`restore --format json`): the time is reported to the millisecond.
    report = RestoreReport(database="core", backup_id="2026-11-27T0215Z", tables={"a": 2, "b": 3}, output=None,
                           sqlite="core.sqlite", seconds=12.34567, too_long_for_d1={})
    assert report.as_dict() == {"database": "core", "backupId": "2026-11-27T0215Z", "tables": {"a": 2, "b": 3},
                                "rows": 5, "output": None, "sqlite": "core.sqlite", "seconds": 12.346,
                                "verified": True, "statementsTooLongForD1": {}}
