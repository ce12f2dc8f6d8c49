"""A short run of the fault-injection suite (bench/faults.py runs it longer): kills, full disks, removed folders."""

import random
import sys

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO / "bench"))
import faults  # noqa: E402


def assert_sound(outcomes) -> None:
    assert faults.failures(outcomes) == [], faults.table(outcomes)


def test_random_sigkills_of_the_writer_leave_intact_gap_free_runs():
    assert_sound(faults.run_suite(kills=3, fulls=0, rmdirs=0, seed=13))


@pytest.mark.parametrize("try_mount", [True, False], ids=["tmpfs-if-allowed", "injected-enospc"])
def test_a_full_disk_then_freed_resumes_writing_and_accounts_for_every_row(tmp_path, try_mount):
    outcome = faults.full_trial(tmp_path, random.Random(1), try_mount=try_mount)
    assert_sound([outcome])
    assert outcome.committed == outcome.logged, "with the default backlog bound nothing is dropped"


@pytest.mark.parametrize("try_mount", [True, False], ids=["tmpfs-if-allowed", "injected-enospc"])
def test_a_disk_freed_with_less_room_than_the_backlog_still_commits_in_batches(tmp_path, try_mount):
    outcome = faults.full_trial(tmp_path, random.Random(4), try_mount=try_mount, tight=True)
    assert_sound([outcome])
    assert outcome.committed_after_fault > 0


def test_a_full_disk_with_an_overflowing_backlog_records_exactly_what_it_dropped(tmp_path):
    outcome = faults.full_trial(tmp_path, random.Random(2), max_pending=20_000, try_mount=False)
    assert_sound([outcome])
    assert outcome.recorded_lost > 0 and outcome.committed + outcome.recorded_lost == outcome.logged


def test_a_run_folder_removed_mid_run_is_recreated_with_everything_logged_after(tmp_path):
    outcome = faults.rmdir_trial(tmp_path, random.Random(3))
    assert_sound([outcome])
    assert "event=True" in outcome.note and "warned=True" in outcome.note
