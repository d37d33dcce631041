from __future__ import annotations

import pytest

from skiff.errors import Invalid
from skiff.oci.defaults import MASKED_PATHS, READONLY_PATHS, default_spec
from skiff.oci.runtime_spec import Spec, parse_process


def test_default_spec_round_trips() -> None:
    spec = Spec.parse(default_spec(args=["echo", "hi"], hostname="h"))
    assert spec.process is not None and spec.process.args == ("echo", "hi")
    assert len(spec.linux.masked_paths) == len(MASKED_PATHS) == 12
    assert len(spec.linux.readonly_paths) == len(READONLY_PATHS) == 5
    assert spec.process.capabilities is not None and len(spec.process.capabilities.bounding) == 14
    assert spec.process.capabilities.inheritable == ()
    assert {n.type for n in spec.linux.namespaces} == {"pid", "network", "ipc", "uts", "mount", "cgroup"}
    assert spec.linux.seccomp is not None and spec.linux.seccomp.default_action == "SCMP_ACT_ERRNO"


def causes(doc: object) -> dict[str, str]:
    with pytest.raises(Invalid) as e:
        Spec.parse(doc)
    return {c.field: c.message for c in e.value.causes}


def test_field_paths_name_each_problem() -> None:
    doc = default_spec()
    doc["process"]["user"]["uid"] = "zero"
    doc["mounts"][0]["destination"] = "proc"
    doc["linux"]["resources"]["memory"] = {"limit": 1024}
    doc["linux"]["resources"]["cpu"] = {"period": 5}
    doc["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_EXPLODE"
    doc["process"]["rlimits"] = [{"type": "NOFILE", "soft": 1, "hard": 1}]
    c = causes(doc)
    assert c["process.user.uid"] == "must be an integer"
    assert c["mounts[0].destination"] == "must be an absolute path"
    assert "6 MiB" in c["linux.resources.memory.limit"]
    assert "between 1000 and 1000000" in c["linux.resources.cpu.period"]
    assert "unknown seccomp action" in c["linux.seccomp.syscalls[0].action"]
    assert "unknown rlimit" in c["process.rlimits[0].type"]


def test_namespaces_validation() -> None:
    doc = default_spec()
    doc["linux"]["namespaces"] += [{"type": "pid"}, {"type": "user"}, {"type": "net", "path": "x"}]
    c = causes(doc)
    assert "listed twice" in c["linux.namespaces[6].type"]
    assert "uid and gid mappings" in c["linux.uidMappings"]
    assert "unknown namespace type" in c["linux.namespaces[8].type"]


def test_not_an_object() -> None:
    with pytest.raises(Invalid):
        Spec.parse([1, 2])
    with pytest.raises(Invalid, match="process.args"):
        parse_process({"cwd": "/"})
