"""moto's state kept on disk (`local.persistence`): a write the emulator acknowledged survives a
kill -9, with the same ids (a user's `sub`, a pool's id, so a token issued before still verifies);
a clean stop folds the journal into the snapshot; a write cut short by the kill is dropped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.persistence import JOURNAL, SNAPSHOT, changes_state, read_journal
from local.platform import PROVISIONED, hold_state_dir

CHILD = [sys.executable, "-m", "tests.integration.aws_state_child"]


def _run(mode: str, directory: Path) -> dict[str, Any]:
    command = [*CHILD, mode, str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@dataclass(frozen=True)
class Killed:
    directory: Path
    written: dict[str, Any]  # what the writer printed: every write in it was acknowledged
    whole: int  # the journal's length before the torn entry


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    """A writer killed with SIGKILL after its writes were answered, and killed again in the middle
    of its next one (half an entry at the journal's end: that answer never left)."""
    directory = tmp_path_factory.mktemp("aws-state")
    child = subprocess.Popen(
        [*CHILD, "write", str(directory)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    journal = directory / JOURNAL
    whole = journal.stat().st_size
    with journal.open("ab") as file:
        file.write(b"\x00\x00\x01\x00half an entry")
    return Killed(directory, json.loads(line), whole)


def test_acknowledged_writes_survive_a_kill_with_the_same_ids(killed: Killed) -> None:
    written = killed.written
    assert written["items"] == [["item-0", "10"], ["item-1", "1"]]
    _, entries, _ = read_journal(killed.directory / JOURNAL)
    assert len(entries) >= 8  # the writes after the snapshot, journaled only

    after = _run("read", killed.directory)

    assert after["refused"] == 0 and after["replayed"] == len(entries)
    # The pool keeps its id, so a token issued before the kill names a pool the gateway trusts
    # (moto signs every token with one bundled key: the id is what could change).
    assert after["pool"] == written["pool"]
    assert after["items"] == written["items"]
    assert after["sub"] == written["sub"]  # drawn again from the seed it was first made with
    assert after["messages"] == 1 and after["object"] == "kept object"
    # The entry cut short by the kill is dropped, and cut off the journal.
    assert (killed.directory / JOURNAL).stat().st_size == killed.whole


def test_a_clean_stop_folds_the_journal_into_the_snapshot(killed: Killed) -> None:
    journal = killed.directory / JOURNAL
    folded = journal.read_bytes()
    first = _run("read-and-stop", killed.directory)
    assert first["replayed"] > 0
    assert read_journal(journal)[1] == [] and (killed.directory / SNAPSHOT).exists()

    # Killed after the snapshot was written and before the journal was emptied: a copy of the
    # stopped state with the journal as it was. Each start is a process of its own, so the two
    # run side by side.
    cut_short = killed.directory.with_name(f"{killed.directory.name}-cut-short")
    shutil.copytree(killed.directory, cut_short)
    (cut_short / JOURNAL).write_bytes(folded)
    with ThreadPoolExecutor(max_workers=2) as pool:
        second, third = pool.map(lambda directory: _run("read", directory), (killed.directory, cut_short))

    assert second["replayed"] == 0
    assert second["items"] == killed.written["items"] and second["sub"] == killed.written["sub"]
    # The journal's writes are in the snapshot already, and are not applied twice (item-0 would
    # gain 10 again).
    assert third["replayed"] == 0 and third["items"] == killed.written["items"]


def test_reads_and_effects_that_end_with_the_process_are_not_journaled() -> None:
    for operation in ("PutItem", "TransactWriteItems", "AdminCreateUser", "CreateUserPool"):
        assert changes_state(operation), operation
    assert changes_state("PUT /kept/a/b.txt") and changes_state("POST /2015-03-31/functions")
    assert changes_state("InitiateAuth")  # it keeps the refresh token it issues
    reads = ("GetItem", "Query", "DescribeTable", "ListUserPools", "AdminGetUser", "Decrypt", "GET /kept/a")
    for operation in reads:
        assert not changes_state(operation), operation
    for operation in ("StartExecution", "SendTaskSuccess", "PutEvents", "ReceiveMessage", "DeleteMessage"):
        assert not changes_state(operation), operation
    assert not changes_state("POST /2015-03-31/functions/f/invocations")


def _local(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_kept_data_of_another_shape_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "state"
    (data / "aws").mkdir(parents=True)
    (data / "aws" / JOURNAL).write_bytes(b"a journal of another stack")
    (data / PROVISIONED).write_text(json.dumps({"shape": "another", "tenants": {}}))

    refused = _local("--state-dir", str(tmp_path), "--port", "0")

    assert refused.returncode != 0 and "FRESH=1" in refused.stderr
    assert "Traceback" not in refused.stderr  # said, not crashed
    assert (data / "aws" / JOURNAL).read_bytes() == b"a journal of another stack"
    assert not (data / "aws" / SNAPSHOT).exists()


def test_one_platform_per_state_directory_and_reset_waits_for_it(tmp_path: Path) -> None:
    (tmp_path / "state" / "aws").mkdir(parents=True)
    lock = hold_state_dir(tmp_path)  # as a running platform holds it
    assert lock is not None
    try:
        second = _local("--state-dir", str(tmp_path), "--port", "0")
        assert second.returncode != 0 and "Another platform is running" in second.stderr
        assert "Traceback" not in second.stderr
        reset = _local("--reset", "--state-dir", str(tmp_path))
        assert reset.returncode != 0 and (tmp_path / "state").exists()
    finally:
        lock.close()

    reset = _local("--reset", "--state-dir", str(tmp_path))

    assert reset.returncode == 0 and not (tmp_path / "state").exists()
