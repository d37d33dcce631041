#!/usr/bin/env python3
"""Generate ``src/skiff/apiserver/data/proto-tables.json.gz`` from ``tools/proto/``.

``tools/proto/`` carries the upstream ``generated.proto`` files of
k8s.io/api and k8s.io/apimachinery (Apache-2.0), with comments stripped.
This script parses them into a compact table the API server's protobuf
decoder uses at run time: for every message, its fields by number
(name, label, type), and for every kind, its message name per group-version.

Run ``make proto`` (or this script) after updating the .proto files;
``tests/apiserver/test_protobuf.py`` checks that the committed table matches.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO = ROOT / "tools/proto"
OUT = ROOT / "src/skiff/apiserver/data/proto-tables.json.gz"
_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)")
_MAP = re.compile(r"^\s*map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)")
# k8s.io/api/<dir>/<version> -> API group
_GROUPS = {"core": "", "rbac": "rbac.authorization.k8s.io", "networking": "networking.k8s.io",
           "storage": "storage.k8s.io", "coordination": "coordination.k8s.io",
           "discovery": "discovery.k8s.io", "events": "events.k8s.io",
           "certificates": "certificates.k8s.io", "scheduling": "scheduling.k8s.io",
           "node": "node.k8s.io", "authentication": "authentication.k8s.io",
           "authorization": "authorization.k8s.io",
           "admissionregistration": "admissionregistration.k8s.io",
           "flowcontrol": "flowcontrol.apiserver.k8s.io", "resource": "resource.k8s.io",
           "storagemigration": "storagemigration.k8s.io",
           "apiserverinternal": "internal.apiserver.k8s.io"}


def parse(path: pathlib.Path) -> tuple[str, dict[str, dict[str, list[str]]]]:
    text = path.read_text()
    package = re.search(r"^package ([\w.]+);", text, re.M)[1]  # type: ignore[index]
    messages: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        m = re.match(r"^message (\w+) \{", line)
        if m:
            current = messages.setdefault(f"{package}.{m[1]}", {})
            continue
        if line.startswith("}"):
            current = None
            continue
        if current is None:
            continue
        mm = _MAP.match(line)
        if mm:
            current[mm[4]] = [mm[3], "map", _qualify(mm[1], package), _qualify(mm[2], package)]
            continue
        fm = _FIELD.match(line)
        if fm:
            current[fm[4]] = [fm[3], fm[1] or "optional", _qualify(fm[2], package)]
    return package, messages


_SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float",
            "sint32", "sint64", "fixed32", "fixed64"}


def _qualify(t: str, package: str) -> str:
    if t in _SCALARS:
        return t
    if t.startswith("."):
        return t[1:]
    return f"{package}.{t}"


def main() -> None:
    messages: dict[str, dict[str, list[str]]] = {}
    kinds: dict[str, str] = {}
    for path in sorted(PROTO.rglob("generated.proto")):
        package, msgs = parse(path)
        messages.update(msgs)
        m = re.match(r"k8s\.io\.api\.(\w+)\.(v\w+)$", package)
        if (m and m[1] in _GROUPS) or (m and m[1] not in _GROUPS):
            assert m is not None
            group = _GROUPS.get(m[1], f"{m[1]}.k8s.io" if m[1] not in ("apps", "batch", "policy",
                                                                        "autoscaling") else m[1])
            gv = f"{group}/{m[2]}" if group else m[2]
            for name in msgs:
                kinds[f"{gv}/{name.rsplit('.', 1)[1]}"] = name
    doc = {"generator": "tools/gen_proto_tables.py", "messages": messages, "kinds": kinds}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(messages)} messages, {len(kinds)} kinds, "
          f"{OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
