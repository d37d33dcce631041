"""``skiff image …`` and the Docker-style shortcuts, end to end on a private state root."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from skiff.cli.app import cli
from tests.imagekit import RegistryProc


@pytest.fixture
def sk(state_root: str) -> Any:
    runner = CliRunner(mix_stderr=False)

    def run(*args: str, ok: bool = True, input: bytes | None = None) -> Result:
        r = runner.invoke(cli, [args[0], *args[1:]] if args[0] != "image" else list(args),
                          env={"SKIFF_ROOT": state_root}, input=input, catch_exceptions=False)
        if ok:
            assert r.exit_code == 0, (r.output, r.stderr)
        return r

    return run


def test_import_list_tag_inspect_rm(sk: Any, busybox_tar: str, tmp_path: Any) -> None:
    image_id = sk("import", "-c", 'CMD ["/bin/sh"]', "-m", "from a tarball", busybox_tar, "bb:1").stdout.strip()
    assert image_id.startswith("sha256:")
    sk("tag", "bb:1", "localhost:5000/team/bb:v2")
    table = sk("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert {tuple(line.split()[:3]) for line in table[1:]} == {("bb", "1", image_id[7:19]),
                                                              ("localhost:5000/team/bb", "v2", image_id[7:19])}
    rows = [json.loads(line) for line in sk("image", "ls", "--format", "json").stdout.splitlines()]
    assert {r["Repository"] for r in rows} == {"bb", "localhost:5000/team/bb"}
    assert sk("images", "-q").stdout.split() == [image_id[7:19]]
    [doc] = json.loads(sk("image", "inspect", "bb:1").stdout)
    assert doc["Id"] == image_id and doc["Config"]["Cmd"] == ["/bin/sh"] and doc["Comment"] == "from a tarball"
    assert "localhost:5000/team/bb:v2" in doc["RepoTags"]
    assert "skiff import" in sk("image", "history", "bb:1").stdout
    r = sk("rmi", image_id[7:19], ok=False)
    assert r.exit_code == 1 and "multiple repositories" in r.stderr
    assert sk("rmi", "localhost:5000/team/bb:v2").stdout == "Untagged: localhost:5000/team/bb:v2\n"
    assert sk("image", "rm", "bb:1").stdout.splitlines() == ["Untagged: bb:1", f"Deleted: {image_id}"]
    assert sk("images", "-q").stdout == "\n"
    r = sk("image", "inspect", "bb:1", ok=False)
    assert r.exit_code == 1 and "No such image" in r.stderr


def test_save_load_prune(sk: Any, busybox_tar: str, tmp_path: Any, state_root: str) -> None:
    sk("import", busybox_tar, "bb")
    out = str(tmp_path / "bb.tar")
    sk("save", "-o", out, "bb")
    archive = sk("image", "save", "bb").stdout_bytes  # to stdout
    assert archive[:512].startswith(b"oci-layout")
    sk("rmi", "bb")
    assert sk("load", "-i", out).stdout == "Loaded image: bb:latest\n"
    sk("rmi", "bb")
    assert sk("image", "load", input=archive).stdout == "Loaded image: bb:latest\n"
    sk("import", busybox_tar)  # untagged: dangling
    assert "<none>" in sk("images").stdout
    pruned = sk("image", "prune", "-f").stdout
    assert pruned.startswith("Deleted: sha256:") and "Total reclaimed space" in pruned
    assert "<none>" not in sk("images").stdout
    sk("image", "prune", "-a")
    assert sk("images", "-q").stdout == "\n"


@pytest.mark.root
def test_push_pull_shortcuts(sk: Any, busybox_tar: str, registry: RegistryProc) -> None:
    name = f"{registry.host}/cli/bb:1"
    sk("import", busybox_tar, name)
    pushed = sk("push", "--insecure", name)
    assert "Pushed" in pushed.stderr and pushed.stdout.startswith(f"{name}: digest: sha256:")
    digest = pushed.stdout.split("digest: ")[1].strip()
    sk("rmi", name)
    pulled = sk("pull", "--tls-verify=false", name)
    assert "Pull complete" in pulled.stderr and f"Digest: {digest}" in pulled.stderr
    assert pulled.stdout == f"{name}\n"
    assert sk("image", "push", "-q", name, f"{registry.host}/cli/copy:2").stdout.strip() == digest


def test_main_dispatches_image_verbs_without_click(state_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    from skiff.cli.main import main

    assert main(["images", "--root", state_root, "-q"]) == 0
    assert main(["image", "ls", "--root", state_root]) == 0
    assert capsys.readouterr().out.startswith("\nREPOSITORY")
    assert main(["image", "inspect", "--root", state_root, "nope"]) == 1
    assert "No such image" in capsys.readouterr().err
