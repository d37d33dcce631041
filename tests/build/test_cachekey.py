"""Cache keys and chain IDs are pure functions of their inputs."""

from __future__ import annotations

import hashlib

from skiff.build.cachekey import SourceFile, StepResult, chain_id, chain_ids, sources_digest, step_key


def test_chain_ids_follow_the_oci_formula() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_id("", a) == a
    assert chain_id(a, b) == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, chain_id(a, b)]


def test_step_key_depends_on_every_input() -> None:
    base = step_key("p", {"Env": ["A=1"]}, "RUN x", "c")
    assert base == step_key("p", {"Env": ["A=1"]}, "RUN x", "c")
    assert len({base, step_key("q", {"Env": ["A=1"]}, "RUN x", "c"), step_key("p", {"Env": ["A=2"]}, "RUN x", "c"),
                step_key("p", {"Env": ["A=1"]}, "RUN y", "c"), step_key("p", {"Env": ["A=1"]}, "RUN x", "d")}) == 5
    # no ambiguity from concatenation
    assert step_key("ab", {}, "c") != step_key("a", {}, "bc")


def test_sources_digest() -> None:
    f = SourceFile("/a", "file", 0o644, 0, 0, 3, "x")
    assert sources_digest([f]) == sources_digest([f])
    assert sources_digest([f]) != sources_digest([f._replace(mode=0o755)])
    assert sources_digest([f]) != sources_digest([f._replace(digest="y")])


def test_step_result_roundtrip() -> None:
    assert StepResult.decode(StepResult("sha256:x").encode()) == StepResult("sha256:x")
    assert StepResult.decode(StepResult("").encode()) == StepResult("")
