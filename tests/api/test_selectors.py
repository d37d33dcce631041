"""Label and field selector grammar."""

from __future__ import annotations

import pytest

from skiff.api.selectors import (
    BadSelector,
    format_label_selector,
    labels_match,
    parse_fields,
    parse_labels,
    predicate,
)


@pytest.mark.parametrize("sel,labels,ok", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app in (p,q),!missing", {"app": "q"}, True),
    ("app in (p,q),!missing", {"app": "q", "missing": ""}, False),
    ("app notin (p)", {}, True),
    ("kubernetes.io/cluster-service=true", {"kubernetes.io/cluster-service": "true"}, True),
    ("tier", {"tier": ""}, True),
    ("", {"x": "y"}, True),
])
def test_labels(sel: str, labels: dict[str, str], ok: bool) -> None:
    assert labels_match(parse_labels(sel), labels) is ok


def test_bad_selectors() -> None:
    with pytest.raises(BadSelector):
        parse_labels("a b c")
    with pytest.raises(BadSelector, match="field label not supported: spec.bogus"):
        parse_fields("spec.bogus=1", "Pod")


def test_fields_and_predicate() -> None:
    m = predicate("app=x", "status.phase=Running,metadata.name!=b", "Pod")
    assert m is not None
    pod = {"metadata": {"name": "a", "labels": {"app": "x"}}, "status": {"phase": "Running"}}
    assert m(pod)
    assert not m({**pod, "metadata": {"name": "b", "labels": {"app": "x"}}})
    ev = predicate("", "involvedObject.kind=Deployment,involvedObject.name=x", "Event")
    assert ev is not None and ev({"involvedObject": {"kind": "Deployment", "name": "x"}})
    assert format_label_selector({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "In", "values": ["y", "x"]}]}) == "a=1,b=2,c in (x,y)"
