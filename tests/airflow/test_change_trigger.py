"""The change trigger on file stores: what it yields, what it keeps as its cursor, and the run it starts.

The trigger's loop runs for real (``interval`` of a few milliseconds); only Airflow's asset state store,
which the triggerer injects, is stood in for by a dict with the same two async methods. The real one is
used by the end-to-end test in ``tests/e2e/test_6_events.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.changes import keys_pattern, watches
from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.events import SourceChangeTrigger, changed_keys_filter
from airflow_secret_sync.spec.patterns import compile_pattern

CONFIG = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: src}
spec:
  provider: {file: {path: ./src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./dst}}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: watched}
spec:
  source: src
  targets: [dst]
  trigger:
    schedule: '@daily'
    onChange: {interval: 30s, maxKeys: 600}
  plan:
    - query: {path: app/}
    - secret: {key: single}
"""


class StateStore:
    """Airflow's per-asset state store as the triggerer hands it to a trigger: ``aget``/``aset``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = value


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "jobs.yaml").write_text(CONFIG)
    (tmp_path / "dst").mkdir()
    write(tmp_path, "app/one", "value-one-aaaaaaaa")
    write(tmp_path, "app/two", "value-two-bbbbbbbb")
    write(tmp_path, "single", "value-single-cccccc")
    write(tmp_path, "elsewhere", "value-elsewhere-ddd")
    return tmp_path


def write(folder: Path, key: str, value: str) -> None:
    path = folder / "src" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)


def trigger(config_dir: Path, state: StateStore, max_keys: int = 600) -> SourceChangeTrigger:
    made = SourceChangeTrigger(
        config_dir=str(config_dir), job_name="watched", interval=0.01, max_keys=max_keys
    )
    made.asset_state_store = state  # type: ignore[assignment]
    return made


def next_event(
    made: SourceChangeTrigger, change: Any = None, timeout: float = 10, *, settle: bool = True
) -> dict[str, Any]:
    """Start the trigger, let it take its first snapshot, apply ``change``, return the first event.

    With ``settle`` the trigger goes on polling a moment after the event (and saves its cursor) before it
    is stopped; without, it is stopped right after the event, before the cursor is saved.
    """

    async def go() -> dict[str, Any]:
        events = made.run().__aiter__()
        waiting = asyncio.ensure_future(events.__anext__())
        # a change must come after the trigger's baseline: its first poll's cursor, or one stored before
        # (a restarted trigger, which may find nothing to save); bounded, so a broken trigger fails
        deadline = asyncio.get_running_loop().time() + timeout
        while await made.load_cursor() is None and not waiting.done():
            assert asyncio.get_running_loop().time() < deadline, "the trigger took no first snapshot"
            await asyncio.sleep(0.005)
        if change is not None:
            change()
        try:
            event = await asyncio.wait_for(waiting, timeout)
            if settle:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(events.__anext__(), 0.3)
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return event.payload  # type: ignore[no-any-return]

    return asyncio.run(go())


def test_a_changed_source_key_yields_one_event_naming_it_and_no_value(config_dir: Path) -> None:
    payload = next_event(
        trigger(config_dir, StateStore()), lambda: write(config_dir, "app/two", "new-two-value-xyz")
    )
    assert payload["job"] == "watched"
    assert payload["keys"] == ["app/two"]
    assert payload["full"] is False and payload["cursor"]
    assert "new-two-value-xyz" not in str(payload) and "value-two" not in str(payload)


def test_changes_outside_the_plan_start_nothing_but_new_and_deleted_keys_do(config_dir: Path) -> None:
    def change() -> None:
        write(config_dir, "elsewhere", "changed-elsewhere-value")
        write(config_dir, "app/three", "value-three-eeeeeee")
        (config_dir / "src" / "single").unlink()

    payload = next_event(trigger(config_dir, StateStore()), change)
    assert payload["keys"] == ["app/three", "single"]


def test_a_restarted_trigger_reports_what_changed_while_it_was_down_and_nothing_else(
    config_dir: Path,
) -> None:
    state = StateStore()
    next_event(trigger(config_dir, state), lambda: write(config_dir, "app/one", "first-change-value"))
    # the triggerer is down: a change happens; a new trigger instance starts from the stored cursor
    write(config_dir, "app/two", "changed-while-down-value")
    payload = next_event(trigger(config_dir, state))
    assert payload["keys"] == ["app/two"]


def test_a_trigger_stopped_between_an_event_and_saving_its_cursor_reports_those_keys_again(
    config_dir: Path,
) -> None:
    state = StateStore()
    next_event(
        trigger(config_dir, state), lambda: write(config_dir, "app/one", "first-change-value"), settle=False
    )
    write(config_dir, "app/two", "changed-while-down-value")
    assert next_event(trigger(config_dir, state))["keys"] == ["app/one", "app/two"]


def test_500_keys_changed_at_once_are_one_event_and_above_max_keys_one_full_sync(config_dir: Path) -> None:
    def burst() -> None:
        for number in range(500):
            write(config_dir, f"app/burst-{number:03d}", f"burst-value-{number:03d}-zzzz")

    state = StateStore()
    payload = next_event(trigger(config_dir, state), burst)
    assert payload["changed"] == 500 and len(payload["keys"]) == 500
    # the next poll finds nothing new: no second event for the same burst
    made = trigger(config_dir, state)
    with pytest.raises(TimeoutError):
        next_event(made, timeout=0.5)
    state_small = StateStore()
    payload = next_event(
        trigger(config_dir, state_small, max_keys=100),
        lambda: [write(config_dir, f"app/burst-{n:03d}", f"again-{n:03d}-yyyyyy") for n in range(500)],
    )
    assert payload["full"] is True and payload["keys"] == [] and payload["changed"] == 500


def test_a_run_started_by_change_events_syncs_their_keys_merged_and_a_full_request_syncs_all() -> None:
    class Event:
        def __init__(self, payload: dict[str, Any]) -> None:
            self.extra = {"from_trigger": True, "payload": payload}

    events = {"asset": [Event({"job": "j", "keys": ["a/x"]}), Event({"job": "j", "keys": ["b y", "a/x"]})]}
    pattern = changed_keys_filter(events, "j")
    assert pattern == keys_pattern(["a/x", "b y"])
    assert changed_keys_filter(events | {"other": [Event({"job": "j", "full": True})]}, "j") is None
    assert changed_keys_filter({}, "j") is None  # a scheduled or manual run: everything


@pytest.mark.parametrize(
    "key", ["a/x", "b y", "dots.and-dashes", "ünïcode/ключ", "(paren)[x]*+?", "back\\slash"]
)
def test_the_keys_filter_of_changed_keys_matches_exactly_those_keys(key: str) -> None:
    pattern = compile_pattern(keys_pattern([key, "other"]))
    assert pattern.search(key)
    assert not pattern.search(key + "-suffix") and not pattern.search("prefix-" + key)


def test_watches_cover_the_plan_with_the_fewest_paths(config_dir: Path) -> None:
    job = load_config(config_dir).jobs["watched"].job
    watch = watches(job)["src"]
    assert watch.paths == ("app/", "single")
    assert watch.wanted("app/deep/key") and watch.wanted("single")
    assert not watch.wanted("elsewhere") and not watch.wanted("single-not")
