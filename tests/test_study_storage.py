"""Storage edge cases of a study file (issue 15): a file that is not a study is left untouched,
SQLite's errors name the study and the next step, and a failed create leaves nothing behind."""

from __future__ import annotations

import sqlite3

import pytest
from hpo_workers import CONSTRAINTS, OBJECTIVES, SPACE, quadratic

import jaxsnn.hpo.study
from jaxsnn.hpo.study import Study, StudyError


def create(path) -> Study:
    return Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS)


@pytest.mark.parametrize("kind", ["empty", "garbage", "foreign"])
def test_a_file_that_is_not_a_study_is_rejected_untouched(tmp_path, kind):
    path = tmp_path / "study.sqlite"
    if kind == "foreign":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
        conn.close()
    else:
        path.write_bytes(b"" if kind == "empty" else bytes(range(256)) * 4)
    before = path.read_bytes()
    with pytest.raises(StudyError, match=f"{path} is not a jaxsnn study"):
        Study.open(path)
    with pytest.raises(StudyError, match="is not a jaxsnn study"):
        Study.create(path, SPACE, OBJECTIVES, CONSTRAINTS, exist_ok=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.sqlite"]  # no WAL or shared memory either


def test_a_failed_create_names_the_path_and_leaves_nothing_behind(tmp_path, monkeypatch):
    def disk_full(conn, durable=False):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(jaxsnn.hpo.study, "_transaction", disk_full)
    path = tmp_path / "study.sqlite"
    with pytest.raises(StudyError, match=f"cannot create study {path} \\(database or disk is full\\)"):
        create(path)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_stops_with_the_path_and_keeps_every_finished_trial(tmp_path):
    with create(tmp_path / "study.sqlite") as study:
        params = {"x": 0.1, "lr": 0.01}
        study.finish_trial(study.start_trial(params), quadratic(params))
        pages = study._conn.execute("PRAGMA page_count").fetchone()[0]
        study._conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
        with pytest.raises(StudyError, match=f"study {study.path}: database or disk is full; free disk space"):
            for _ in range(200):
                study.start_trial({"x": 0.2, "lr": 0.01})
    with Study.open(tmp_path / "study.sqlite") as study:
        assert [t.record.objectives for t in study.finished()] == [quadratic(params).objectives]


def test_an_unreadable_trial_row_names_the_study(tmp_path):
    with create(tmp_path / "study.sqlite") as study:
        study.start_trial({"x": 0.1, "lr": 0.01})
        with sqlite3.connect(study.path) as conn:
            conn.execute("UPDATE trials SET params = 'not json'")
        conn.close()
        with pytest.raises(StudyError, match=f"study {study.path}: Expecting value"):
            study.trials()


def test_a_study_in_a_read_only_folder_opens_read_only_and_says_so(tmp_path, monkeypatch):
    """The folder's permission is what ``os.access`` reports (this test may run as root, whom
    permissions do not stop): the study is read and reported; a write names the reason."""
    with create(tmp_path / "study.sqlite") as study:
        params = {"x": 0.1, "lr": 0.01}
        study.finish_trial(study.start_trial(params), quadratic(params))
    monkeypatch.setattr(jaxsnn.hpo.study.os, "access", lambda path, mode: False)
    with Study.open(tmp_path / "study.sqlite") as study:
        assert study.read_only and len(study.finished()) == 1
        with pytest.raises(StudyError, match="was opened read-only \\(its folder is not writable\\): copy the file"):
            study.start_trial(params)
