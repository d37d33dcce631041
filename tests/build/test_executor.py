"""Real builds as root, offline, from the busybox base image (the real image store + runtime)."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from skiff.build.progress import StepError
from skiff.errors import SkiffError
from tests.build.conftest import Env, run_in

pytestmark = pytest.mark.root

EVERYTHING = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ARG BASE
ENV APP=/app PATH_EXTRA="x y"
WORKDIR $APP
RUN echo "$GREETING from $BASE" > greeting && echo to-stderr >&2
RUN ["/bin/sh", "-c", "echo exec-form > exec.txt"]
RUN <<EOF
echo heredoc > heredoc.txt
EOF
COPY --chown=1:2 --chmod=640 src/*.txt texts/
COPY src dir-copy/
COPY <<-EOT /etc/inline.conf
\tvalue=${APP:-none}
\tEOT
ADD archive.tar /unpacked/
RUN --mount=type=cache,target=/cache echo cached >> /cache/log && cat /cache/log > cache-seen
RUN --mount=type=bind,source=src/a.txt,target=/mnt/a.txt cp /mnt/a.txt bound.txt
SHELL ["/bin/sh", "-xc"]
RUN echo shell-changed
USER nobody
RUN id -u > /tmp/uid
USER root
EXPOSE 8080 53/udp
VOLUME /data
LABEL org.example.name="skiff test" version=1
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
ONBUILD RUN echo triggered > /triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting"]
"""


def _context(ctx_dir: Path) -> None:
    (ctx_dir / "src").mkdir()
    (ctx_dir / "src" / "a.txt").write_text("A\n")
    (ctx_dir / "src" / "b.txt").write_text("B\n")
    (ctx_dir / "src" / "c.bin").write_bytes(b"C")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("inner/file")
        ti.size = 6
        tar.addfile(ti, io.BytesIO(b"inner\n"))
    (ctx_dir / "archive.tar").write_bytes(buf.getvalue())


def test_every_instruction(build_env: Env, ctx_dir: Path) -> None:
    _context(ctx_dir)
    result, rec = build_env.build(ctx_dir, EVERYTHING, tags=("everything:1",))
    cfg = result.config["config"]
    assert cfg["WorkingDir"] == "/app"
    assert "APP=/app" in cfg["Env"] and "PATH_EXTRA=x y" in cfg["Env"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat greeting"]
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and cfg["Volumes"] == {"/data": {}}
    assert cfg["Labels"] == {"org.example.name": "skiff test", "version": "1"}
    assert cfg["StopSignal"] == "SIGUSR1" and cfg["Shell"] == ["/bin/sh", "-xc"] and cfg["User"] == "root"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9, "Retries": 2}
    assert cfg["OnBuild"] == ["RUN echo triggered > /triggered"]
    assert not any(e.startswith("GREETING=") for e in cfg["Env"])  # ARGs are not persisted
    history = result.config["history"]
    assert history[-1]["created_by"] == '/bin/sh -c #(nop)  CMD ["cat greeting"]'
    assert sum(1 for h in history if not h.get("empty_layer")) == len(result.config["rootfs"]["diff_ids"])
    assert "to-stderr" in b"".join(e[2] for e in rec.of("output") if e[1] == 2).decode()
    assert [e[2] for e in rec.of("step")] == list(range(1, 28))
    img = result.image_id
    script = ("cat greeting exec.txt heredoc.txt /etc/inline.conf /unpacked/inner/file cache-seen bound.txt /tmp/uid;"
              " stat -c '%u:%g %a %n' texts/a.txt texts/b.txt; ls texts; ls dir-copy;"
              " test ! -e /mnt/a.txt && echo clean")
    lines = run_in(build_env, img, "/bin/sh", "-c", script).split("\n")
    assert lines[:8] == ["hello from busybox", "exec-form", "heredoc", "value=/app", "inner", "cached", "A",
                         "65534"]
    assert lines[8:10] == ["1:2 640 texts/a.txt", "1:2 640 texts/b.txt"]
    assert lines[10:15] == ["a.txt", "b.txt", "a.txt", "b.txt", "c.bin"]
    assert lines[15] == "clean"
    assert build_env.store.resolve_image("everything:1").id == img
    assert build_env.leftovers() == []


def test_onbuild_triggers_run_in_the_child(build_env: Env, ctx_dir: Path) -> None:
    build_env.build(ctx_dir, "FROM busybox\nONBUILD RUN echo fired > /fired\n", tags=("parent:onbuild",))
    result, rec = build_env.build(ctx_dir, "FROM parent:onbuild\nRUN cat /fired\n")
    assert ("message", "# Executing 1 build trigger") in rec.events
    assert rec.text() == "fired\n" and not result.config["config"].get("OnBuild")


def test_multistage_copy_from_target_and_pruning(build_env: Env, ctx_dir: Path) -> None:
    df = """\
FROM busybox AS one
RUN echo one > /one
FROM busybox AS two
RUN echo two > /two
FROM busybox AS broken
RUN exit 3
FROM one AS final
COPY --from=two /two /from-two
COPY --from=busybox /bin/busybox /copied-busybox
RUN cat /one /from-two
"""
    result, rec = build_env.build(ctx_dir, df)
    assert rec.text() == "one\ntwo\n"  # "broken" was never built
    assert {e[1] for e in rec.of("step")} == {"one", "two", "final"}
    assert rec.of("step")[0][3] == 8
    partial, _ = build_env.build(ctx_dir, df, target="two")
    out = run_in(build_env, partial.image_id, "/bin/sh", "-c", "cat /two; test -e /one || echo no-one")
    assert out == "two\nno-one\n"
    out = run_in(build_env, result.image_id, "/bin/sh", "-c", "cmp /copied-busybox /bin/busybox && echo same")
    assert out == "same\n"


def test_cache_hit_and_exact_invalidation(build_env: Env, ctx_dir: Path) -> None:
    (ctx_dir / "a").write_text("1")
    (ctx_dir / "b").write_text("1")
    df = "FROM busybox\nRUN echo r1 > /r1\nCOPY a /a\nRUN echo r2 > /r2\nCOPY b /b\nRUN cat /a /b\nENV X=1\n"
    first, rec1 = build_env.build(ctx_dir, df)
    again, rec2 = build_env.build(ctx_dir, df)
    assert len(rec1.of("cached")) == 0 and len(rec2.of("cached")) == 5 and not rec2.of("running")
    assert again.image_id == first.image_id  # an unchanged rebuild is the same image
    (ctx_dir / "b").write_text("2")
    changed, rec3 = build_env.build(ctx_dir, df)
    seq = [e for e in rec3.events if e[0] in ("step", "cached")]
    hits = [seq[i][4] for i in range(len(seq) - 1) if seq[i][0] == "step" and seq[i + 1][0] == "cached"]
    assert hits == ["RUN echo r1 > /r1", "COPY a /a", "RUN echo r2 > /r2"]
    assert rec3.text() == "12" and changed.image_id != first.image_id
    _, rec4 = build_env.build(ctx_dir, df, no_cache=True)
    assert not rec4.of("cached") and len(rec4.of("running")) == 3


def test_env_change_invalidates_run(build_env: Env, ctx_dir: Path) -> None:
    _, rec1 = build_env.build(ctx_dir, "FROM busybox\nENV V=1\nRUN echo $V\n")
    _, rec2 = build_env.build(ctx_dir, "FROM busybox\nENV V=2\nRUN echo $V\n")
    assert rec1.text() == "1\n" and rec2.text() == "2\n"


def test_dockerignore(build_env: Env, ctx_dir: Path) -> None:
    (ctx_dir / "keep.txt").write_text("k")
    (ctx_dir / "secret.txt").write_text("s")
    (ctx_dir / "logs").mkdir()
    (ctx_dir / "logs" / "a.log").write_text("a")
    (ctx_dir / "logs" / "important.log").write_text("i")
    (ctx_dir / ".dockerignore").write_text("secret.txt\nlogs\n!logs/important.log\nDockerfile\n")
    _, rec = build_env.build(ctx_dir, "FROM busybox\nCOPY . /ctx/\nRUN find /ctx | sort\n")
    assert rec.text().split() == ["/ctx", "/ctx/.dockerignore", "/ctx/keep.txt", "/ctx/logs",
                                  "/ctx/logs/important.log"]
    with pytest.raises(StepError, match="secret.txt"):
        build_env.build(ctx_dir, "FROM busybox\nCOPY secret.txt /\n")


def test_build_args(build_env: Env, ctx_dir: Path) -> None:
    df = ("ARG TAG=latest\nARG UNUSED_META\nFROM busybox:$TAG\nARG TAG\nARG WHO=world\nARG EMPTY\n"
          "ENV FROM_ARG=${WHO:+set-$WHO}\nRUN echo \"$TAG $WHO [${EMPTY:-none}] $FROM_ARG $HTTP_PROXY\"\n")
    result, rec = build_env.build(ctx_dir, df, build_args={"WHO": "you", "HTTP_PROXY": "http://p", "NOPE": "1"},
                                  labels={"team": "build"})
    assert result.config["config"]["Labels"] == {"team": "build"}
    assert rec.text() == "latest you [none] set-you http://p\n"
    assert "FROM_ARG=set-you" in result.config["config"]["Env"]
    assert not any("http://p" in h["created_by"] for h in result.config["history"])
    assert result.warnings == ("[Warning] One or more build-args [NOPE] were not consumed",)


def test_failing_run_reports_code_and_line_and_cleans_up(build_env: Env, ctx_dir: Path) -> None:
    with pytest.raises(StepError) as e:
        build_env.build(ctx_dir, "FROM busybox\nRUN echo partial > /p\n\nRUN echo out; exit 7\n")
    assert e.value.code == 7 and e.value.line == 4 and e.value.location == "Dockerfile:4"
    assert e.value.message == "The command '/bin/sh -c echo out; exit 7' returned a non-zero code: 7"
    assert build_env.leftovers() == []


def test_copy_escaping_the_context_is_rejected(build_env: Env, ctx_dir: Path) -> None:
    (ctx_dir.parent / "outside").write_text("secret")
    os.symlink("../outside", ctx_dir / "link")
    with pytest.raises(StepError, match="forbidden path outside the build context") as e:
        build_env.build(ctx_dir, "FROM busybox\nCOPY ../outside /x\n")
    assert e.value.line == 2
    with pytest.raises(SkiffError, match="file not found"):
        build_env.build(ctx_dir, "FROM busybox\nCOPY link/ /x\n")  # the link is re-rooted inside the context
    assert build_env.leftovers() == []


def test_add_url(build_env: Env, ctx_dir: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.txt").write_text("from http\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(served), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/file.txt"
        good = hashlib.sha256(b"from http\n").hexdigest()
        _, rec = build_env.build(ctx_dir, f"FROM busybox\nADD --checksum=sha256:{good} {url} /dl/\n"
                                 "RUN cat /dl/file.txt; stat -c %a /dl/file.txt\n")
        with pytest.raises(StepError, match="digest mismatch"):
            build_env.build(ctx_dir, f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /dl/\n")
    finally:
        server.shutdown()
    assert rec.text() == "from http\n600\n"
    assert build_env.leftovers() == []


def test_run_network_host_or_none(build_env: Env, ctx_dir: Path) -> None:
    _, rec = build_env.build(ctx_dir, "FROM busybox\nRUN --network=none ip -o link | wc -l\n"
                             "RUN ip -o link | wc -l\n")
    counts = rec.text().split()
    assert counts[0] == "1"  # only lo in a network namespace of its own
    assert int(counts[1]) == len(os.listdir("/sys/class/net"))  # the host's own interfaces
    with pytest.raises(StepError, match="not supported"):
        build_env.build(ctx_dir, "FROM busybox\nRUN --network=bridge true\n")


def test_scratch_and_syntax_error(build_env: Env, ctx_dir: Path) -> None:
    (ctx_dir / "f").write_text("x")
    result, _ = build_env.build(ctx_dir, "FROM scratch\nCOPY f /f\nCMD [\"/f\"]\n")
    assert len(result.config["rootfs"]["diff_ids"]) == 1
    with pytest.raises(SkiffError, match="Dockerfile:3: unknown instruction: RUNN"):
        build_env.build(ctx_dir, "FROM busybox\n\nRUNN x\n")


def test_run_inputs_invalidate_its_cache(build_env: Env, ctx_dir: Path) -> None:
    (ctx_dir / "in.txt").write_text("v1")
    df = ("FROM busybox\nRUN --mount=type=bind,source=in.txt,target=/in.txt cat /in.txt\n"
          "RUN <<EOS\n#!/bin/sh\necho script-{v}\nEOS\n")
    _, rec = build_env.build(ctx_dir, df.format(v=1))
    assert rec.text() == "v1script-1\n"
    _, rec = build_env.build(ctx_dir, df.format(v=2))
    assert rec.text() == "script-2\n" and len(rec.of("cached")) == 1
    (ctx_dir / "in.txt").write_text("v2")
    _, rec = build_env.build(ctx_dir, df.format(v=2))
    assert rec.text() == "v2"  # only the RUN that reads the changed file (it wrote no layer: same parent after)


def test_independent_stages_run_concurrently(build_env: Env, ctx_dir: Path) -> None:
    """Each stage waits for the other's marker in a shared cache mount: only concurrency lets both finish."""
    sync = "sync-" + os.urandom(6).hex()
    wait = ("RUN --mount=type=cache,id={id},target=/sync touch /sync/{me} && "
            "for i in $(seq 100); do [ -e /sync/{other} ] && exit 0; sleep 0.1; done; exit 1\n")
    df = ("FROM busybox AS a\n" + wait.format(id=sync, me="a", other="b") +
          "FROM busybox AS b\n" + wait.format(id=sync, me="b", other="a") +
          "FROM busybox\nCOPY --from=a /etc/hostname /a\nCOPY --from=b /etc/hostname /b\n")
    build_env.build(ctx_dir, df)
