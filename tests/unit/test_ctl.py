"""Process tracking of emulators/ctl.py with real (harmless) processes: stop exactly what was started,
including children, and never a PID that has been reused."""

import json
import os
import subprocess
import time
from dataclasses import replace

import pytest

from emulators import ctl
from shared.config import settings_from


@pytest.fixture
def cfg(tmp_path):
    return replace(settings_from({"LEDGERLINE_ENV": "local"}), run_dir=tmp_path)


def svc(name="probe"):
    # A parent with a child in the same process group, like gcloud -> java.
    return ctl.Service(name, ["bash", "-c", "sleep 60 & wait"], "tcp:127.0.0.1:1")


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return ctl._alive_group(pgid)


def test_start_track_stop_kills_the_whole_group(cfg):
    service = svc()
    pid = ctl.start(cfg, service)
    assert ctl.tracked_pid(cfg, service) == pid
    time.sleep(0.2)
    assert group_alive(pid)
    assert ctl.stop(cfg, service, grace=5) is True
    assert not group_alive(pid)
    assert ctl.tracked_pid(cfg, service) is None
    assert ctl.stop(cfg, service) is False  # nothing left to stop


def test_reused_pid_is_never_treated_as_ours(cfg):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        path = cfg.run_dir / "pids" / "probe.json"
        path.parent.mkdir(parents=True)
        # A PID file that names a live process with a different start time: the PID was reused.
        path.write_text(json.dumps({"pid": bystander.pid, "start_ticks": 1}))
        assert ctl.tracked_pid(cfg, svc()) is None
        assert not path.exists()
        assert ctl.stop(cfg, svc()) is False
        assert bystander.poll() is None  # the bystander still runs
    finally:
        bystander.kill()
        bystander.wait()


def test_wait_healthy_reports_an_early_exit_with_its_log(cfg):
    dead = ctl.Service("dead", ["bash", "-c", "echo boom-from-the-log; exit 3"], "tcp:127.0.0.1:1")
    ctl.start(cfg, dead)
    time.sleep(0.3)
    with pytest.raises(ctl.StackError, match="dead exited during start-up") as info:
        ctl.wait_healthy(cfg, [dead])
    assert "boom-from-the-log" in str(info.value)


def test_children_left_by_a_dead_leader_are_still_stopped(cfg):
    service = ctl.Service("wrapper", ["bash", "-c", "sleep 60 & sleep 60 & wait"], "tcp:127.0.0.1:1")
    pid = ctl.start(cfg, service)
    time.sleep(0.3)
    os.kill(pid, 9)  # the wrapper dies, its children (same group) live on
    ctl._reap(pid)
    time.sleep(0.2)
    assert ctl._group_members(pid), "children should still run"
    assert ctl.tracked_pid(cfg, service) == pid
    assert ctl.stop(cfg, service, grace=5) is True
    assert ctl._group_members(pid) == []


def test_a_fresh_stack_shares_no_port_project_or_run_dir_with_the_dev_stack(tmp_path):
    dev_env = {"LEDGERLINE_ENV": "local", "LEDGERLINE_RUN_DIR": str(tmp_path), "DATASTORE_EMULATOR_HOST": "x:1"}
    dev = settings_from(dev_env)
    changes = ctl.isolated_environ(dev_env)
    isolated = settings_from(
        {**dev_env, **{k: v for k, v in changes.items() if v is not None}}
        | {k: "" for k, v in changes.items() if v is None}
    )
    assert set(isolated.ports.values()).isdisjoint(dev.ports.values())
    assert len(set(isolated.ports.values())) == len(dev.ports)
    assert isolated.project != dev.project
    assert isolated.run_dir == dev.run_dir / "test"
    assert not set(isolated.function_urls.values()) & set(dev.function_urls.values())
    assert changes["DATASTORE_EMULATOR_HOST"] is None  # derived again from the shifted port
    assert changes["LEDGERLINE_DATASTORE_ON_DISK"] == "false"


def test_the_port_offset_is_configurable_and_checked():
    changes = ctl.isolated_environ({"LEDGERLINE_ENV": "local", "LEDGERLINE_TEST_PORT_OFFSET": "20000"})
    assert changes["DATASTORE_PORT"] == "28081"
    with pytest.raises(ctl.StackError):
        ctl.isolated_environ({"LEDGERLINE_ENV": "local", "LEDGERLINE_TEST_PORT_OFFSET": "60000"})


def test_a_fresh_stack_in_use_by_another_live_run_is_refused_not_stopped(tmp_path, monkeypatch):
    base = {"LEDGERLINE_ENV": "local", "LEDGERLINE_RUN_DIR": str(tmp_path)}
    env = dict(base)  # isolate() rewrites it, as it does os.environ

    class Settings:  # ctl.settings() reads os.environ; here it reads the test's environment
        def __call__(self):
            return settings_from(env)

        def cache_clear(self):
            pass

    monkeypatch.setattr(ctl, "settings", Settings())
    other = subprocess.Popen(["sleep", "30"])
    try:
        run_dir = tmp_path / "test"
        run_dir.mkdir()
        (run_dir / "owner.json").write_text(json.dumps({"pid": other.pid, "start_ticks": ctl._start_ticks(other.pid)}))
        (run_dir / "keep").write_text("the other run's data")
        with pytest.raises(ctl.StackError, match="another run"):
            ctl.isolate(env)
        assert (run_dir / "keep").exists()  # nothing of the other run was touched
        other.kill()
        other.wait()
        env.clear()
        env.update(base)
        cfg = ctl.isolate(env)  # its owner is gone: an interrupted run's leftovers are cleared
        assert cfg.run_dir == run_dir and not (run_dir / "keep").exists()
        assert json.loads((run_dir / "owner.json").read_text())["pid"] == os.getpid()
    finally:
        other.kill()
        other.wait()
    assert ctl.isolated_environ({"LEDGERLINE_ENV": "local", "LEDGERLINE_TEST_PORT_OFFSET": "11000"})[
        "LEDGERLINE_RUN_DIR"
    ].endswith("test-11000")
