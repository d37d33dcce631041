"""JSON patch, merge patch and strategic merge patch (pure functions)."""

from __future__ import annotations

import pytest

from skiff.api.patch import (
    PatchError,
    PatchTestFailed,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from skiff.api.scheme import builtin_data

SCHEMAS = builtin_data()["schemas"]


def resolve(s: dict) -> dict:  # type: ignore[type-arg]
    while "$ref" in s:
        s = {**SCHEMAS[s["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in s.items() if k != "$ref"}}
    return s


DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x",
          "finalizers": ["a"]},
          "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
              "maxSurge": 1}},
              "template": {"spec": {"containers": [
                  {"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}],
                   "args": ["x"]},
                  {"name": "d", "image": "j:1"}]}}}}


def smp(patch: dict) -> dict:  # type: ignore[type-arg]
    return apply_strategic_merge_patch(DEPLOY, patch, SCHEMAS["Deployment"], resolve)  # type: ignore[no-any-return]


def test_json_patch_ops() -> None:
    doc = {"a": {"b": [1, 2]}, "c~d": 1, "e/f": 2}
    out = apply_json_patch(doc, [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "replace", "path": "/a/b/0", "value": 0},
        {"op": "remove", "path": "/c~0d"},
        {"op": "move", "from": "/e~1f", "path": "/g"},
        {"op": "copy", "from": "/g", "path": "/h"},
        {"op": "test", "path": "/h", "value": 2}])
    assert out == {"a": {"b": [0, 2, 3]}, "g": 2, "h": 2}
    assert doc["a"]["b"] == [1, 2]                   # input untouched
    with pytest.raises(PatchTestFailed):
        apply_json_patch(doc, [{"op": "test", "path": "/a/b/0", "value": 9}])
    with pytest.raises(PatchError):
        apply_json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(PatchError):
        apply_json_patch(doc, {"op": "add"})


def test_merge_patch() -> None:
    assert apply_merge_patch({"a": 1, "b": {"c": 2, "d": 3}, "l": [1]},
                             {"a": None, "b": {"c": 9}, "l": [2]}) == \
        {"b": {"c": 9, "d": 3}, "l": [2]}


def test_smp_merges_lists_by_key() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i:2"}]}}}})
    cs = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["c", "d"] and cs[0]["image"] == "i:2"
    assert cs[0]["env"] == [{"name": "A", "value": "1"}] and cs[0]["args"] == ["x"]


def test_smp_replaces_atomic_lists_and_deletes() -> None:
    out = smp({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "args": ["y"], "env": [{"name": "B", "value": "2"}]},
        {"name": "d", "$patch": "delete"}]}}}})
    cs = out["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1 and cs[0]["args"] == ["y"]
    assert cs[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_smp_directives() -> None:
    out = smp({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    out = smp({"metadata": {"finalizers": ["b"]}})
    assert out["metadata"]["finalizers"] == ["a", "b"]            # primitive merge list
    out = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == []
    out = smp({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "d"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "i:3"}]}}}})
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["d", "c"]
    out = smp({"spec": {"template": {"$patch": "replace", "spec": {"containers": []}}}})
    assert out["spec"]["template"] == {"spec": {"containers": []}}
    assert "$patch" not in str(out) and "$setElementOrder" not in str(out)
