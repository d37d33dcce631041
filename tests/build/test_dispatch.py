"""Metadata instructions change the image config as Docker's do."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.build import dispatch
from skiff.build import instructions as ins
from skiff.errors import Invalid


def run(inst: ins.Instruction, cfg: dict[str, Any] | None = None, cmd_set: bool = False) -> dict[str, Any]:
    return dispatch.apply(inst, cfg or {}, cmd_set=cmd_set)[0]


def test_env_keeps_position_and_overrides() -> None:
    cfg = run(ins.Env(pairs=(ins.KeyValue("B", "2"), ins.KeyValue("A", "9"))), {"Env": ["A=1", "C=3"]})
    assert cfg["Env"] == ["A=9", "C=3", "B=2"]


def test_cmd_entrypoint_shell() -> None:
    cfg = run(ins.Cmd(cmd=("echo hi",), shell_form=True))
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    cfg = run(ins.Cmd(cmd=("echo hi",), shell_form=True), {"Shell": ["/bin/bash", "-xc"]})
    assert cfg["Cmd"] == ["/bin/bash", "-xc", "echo hi"]
    # an inherited CMD is reset by ENTRYPOINT; one set in this build is not
    cfg = run(ins.Entrypoint(cmd=("a",), shell_form=False), {"Cmd": ["x"]})
    assert cfg["Entrypoint"] == ["a"] and cfg["Cmd"] is None
    cfg = run(ins.Entrypoint(cmd=("a",), shell_form=False), {"Cmd": ["x"]}, cmd_set=True)
    assert cfg["Cmd"] == ["x"]


def test_expose_volume_label_user_workdir_stopsignal() -> None:
    cfg = run(ins.Expose(ports=("80", "53/udp", "8000-8001")))
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert run(ins.Volume(volumes=("/data",)))["Volumes"] == {"/data": {}}
    assert run(ins.Label(pairs=(ins.KeyValue("a", "b"),)), {"Labels": {"x": "y"}})["Labels"] == {"x": "y", "a": "b"}
    assert run(ins.User(user="nobody"))["User"] == "nobody"
    assert run(ins.Workdir(path="b"), {"WorkingDir": "/a"})["WorkingDir"] == "/a/b"
    assert run(ins.Workdir(path="/c/../d"))["WorkingDir"] == "/d"
    assert run(ins.StopSignal(signal="SIGUSR1"))["StopSignal"] == "SIGUSR1"
    with pytest.raises(Invalid, match="Invalid signal"):
        run(ins.StopSignal(signal="SIGNOPE"))
    with pytest.raises(Invalid, match="invalid containerPort"):
        run(ins.Expose(ports=("http",)))


def test_healthcheck_and_onbuild() -> None:
    hc = run(ins.Healthcheck(test=("CMD-SHELL", "true"), interval=5 * 10**9, retries=3))["Healthcheck"]
    assert hc == {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9, "Retries": 3}
    assert run(ins.Healthcheck(test=("NONE",)))["Healthcheck"] == {"Test": ["NONE"]}
    assert run(ins.Onbuild(expression="RUN x"), {"OnBuild": ["RUN a"]})["OnBuild"] == ["RUN a", "RUN x"]


def test_history_text_is_legacy_nop() -> None:
    _, created_by, _ = dispatch.apply(ins.Env(pairs=(ins.KeyValue("FOO", "bar"),)), {}, cmd_set=False)
    assert created_by == "/bin/sh -c #(nop)  ENV FOO=bar"
    _, created_by, _ = dispatch.apply(ins.Cmd(cmd=("cat", "/x"), shell_form=False), {}, cmd_set=False)
    assert created_by == '/bin/sh -c #(nop)  CMD ["cat" "/x"]'


def test_input_not_mutated() -> None:
    cfg: dict[str, Any] = {"Env": ["A=1"]}
    run(ins.Env(pairs=(ins.KeyValue("A", "2"),)), cfg)
    assert cfg == {"Env": ["A=1"]}
