"""services/ownership.py: one Owner, written as labels, pid-file fields and text markers; one liveness."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_kit.postgres.janitor import comment_owner, owner_comment
from integration_kit.services import ownership
from integration_kit.services.ownership import Owner, host_name

pytestmark = pytest.mark.unit

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=40)
OWNERS = st.builds(
    Owner,
    run_id=_TOKEN,
    host=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=30),
    pid=st.integers(min_value=1, max_value=2**22),
    pid_start=st.one_of(st.none(), st.integers(min_value=1, max_value=2**40).map(str)),
)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@given(OWNERS)
def test_every_form_reads_back_the_same_owner(owner: Owner) -> None:
    assert Owner.parse(owner.text) == owner
    assert Owner.parse(owner.text.encode()) == owner
    assert comment_owner(owner_comment(owner)) == owner
    from_labels = Owner.from_labels(owner.labels())
    assert from_labels == owner
    from_marker = Owner.from_marker(owner.marker())
    assert from_marker is not None and from_marker.same_process(owner)


@given(st.text(max_size=60))
def test_text_that_is_not_a_marker_names_no_owner(text: str) -> None:
    parsed = Owner.parse(text)
    assert parsed is None or (text.strip().startswith("run=") and Owner.parse(parsed.text) == parsed)


def _forms(owner: Owner) -> list[bool]:
    """The liveness each written form reports (they must agree: one check)."""
    return [
        owner.alive(),
        ownership.owner_alive(owner.labels()),
        ownership.marker_alive(owner.marker()),
        (Owner.parse(owner.text) or owner).alive(),
    ]


def test_liveness_is_one_check_whatever_the_form() -> None:
    me = Owner.current()
    assert me.host == host_name() and me.pid == os.getpid() and me.pid_start is not None
    dead = dataclasses.replace(me, pid=_dead_pid())
    reused = dataclasses.replace(me, pid_start=str(int(me.pid_start or 0) + 1))  # pid recycled
    unknown_start = dataclasses.replace(me, pid_start=None)
    elsewhere = dataclasses.replace(dead, host="another-host")
    assert _forms(me) == [True] * 4
    assert _forms(dead) == [False] * 4
    assert _forms(reused) == [False] * 4
    assert _forms(unknown_start) == [True] * 4  # pid runs, start unknown: not provably dead
    assert _forms(elsewhere) == [True] * 4  # another machine's run is never judged from here
    assert "dead" in dead.describe() and "on another host" in elsewhere.describe()


def test_unreadable_records_count_as_alive_and_a_half_written_pid_file_as_dead() -> None:
    assert ownership.owner_alive({}) and ownership.owner_alive({ownership.LABEL_PID: "x"})
    assert ownership.marker_alive({"owner_pid": "x"})
    assert not ownership.marker_alive({"pid": 0, "owner_pid": 0})  # runtime.reap_stale's half-created dir
    assert not ownership.marker_alive({})


def test_a_session_owner_gets_a_run_id_of_its_own_and_data_owners_share_the_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Owner.for_session().run_id != Owner.for_session().run_id
    assert Owner.current() == Owner.current()
    monkeypatch.setenv(ownership.RUN_ID_ENV, "a1b2c3")
    assert Owner.current().run_id == "a1b2c3" == ownership.this_run_id()
    monkeypatch.setenv(ownership.RUN_ID_ENV, "not safe!")
    assert Owner.current().run_id != "not safe!"
