"""Protobuf request bodies: the envelope and field decoding (kubectl's typed clients)."""

from __future__ import annotations

from skiff.apiserver.protobuf import MAGIC, ProtobufDecoder


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(num << 3) + _varint(payload)
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def test_decode_configmap_and_deployment() -> None:
    meta = _field(1, b"cm1") + _field(7, 0)                        # name, generation 0
    entry = _field(1, b"a") + _field(2, b"b")
    cm = _field(1, meta) + _field(2, entry)
    body = MAGIC + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap")) + _field(2, cm)
    assert ProtobufDecoder().decode(body) == {"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": "cm1"}, "data": {"a": "b"}}
    spec = _field(1, 0) + _field(2, _field(1, _field(1, b"app") + _field(2, b"x")))
    dep = _field(1, _field(1, b"d")) + _field(2, spec)
    body = MAGIC + _field(1, _field(1, b"apps/v1") + _field(2, b"Deployment")) + _field(2, dep)
    out = ProtobufDecoder().decode(body)
    assert out["spec"] == {"replicas": 0, "selector": {"matchLabels": {"app": "x"}}}
