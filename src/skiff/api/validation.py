"""Per-kind validation as pure functions returning field errors (upstream messages).

``validate(kind, obj, old=None)`` returns a list of :class:`FieldError`; the
API server raises ``Invalid`` (422) with them as ``details.causes``. Messages
follow upstream's ``field.Error`` format so kubectl prints the familiar
``spec.template.spec.containers[0].image: Required value``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from skiff.api import meta as m
from skiff.api.selectors import labels_match, selector_from_label_selector
from skiff.errors import FieldError

Obj = dict[str, Any]
Errs = list[FieldError]

REQUIRED = "Required value"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_ANNOTATIONS = 256 * 1024


def reason_of(message: str) -> str:
    """Map an upstream message prefix to its ``details.causes[].reason``."""
    for prefix, reason in (("Required value", "FieldValueRequired"),
                           ("Unsupported value", "FieldValueNotSupported"),
                           ("Duplicate value", "FieldValueDuplicate"),
                           ("Forbidden", "FieldValueForbidden"),
                           ("Too long", "FieldValueTooLong"),
                           ("Too many", "FieldValueTooMany"),
                           ("Not found", "FieldValueNotFound")):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, f"Invalid value: {_fmt(value)}: {detail}", value)


def unsupported(path: str, value: Any, allowed: list[str]) -> FieldError:
    vals = ", ".join(json.dumps(a) for a in allowed)
    return FieldError(path, f"Unsupported value: {_fmt(value)}: supported values: {vals}", value)


def required(path: str) -> FieldError:
    return FieldError(path, REQUIRED)


def _dns_msg(kind: str, n: int) -> str:
    if kind == "label":
        return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            "'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def dns_label(path: str, value: Any, errs: Errs) -> None:
    if not isinstance(value, str) or not value:
        errs.append(required(path))
    elif len(value) > 63:
        errs.append(invalid(path, value, "must be no more than 63 characters"))
    elif not m.DNS1123_LABEL.match(value):
        errs.append(invalid(path, value, _dns_msg("label", 63)))


def dns_subdomain(path: str, value: Any, errs: Errs) -> None:
    if not isinstance(value, str) or not value:
        errs.append(required(path))
    elif len(value) > 253:
        errs.append(invalid(path, value, "must be no more than 253 characters"))
    elif not m.DNS1123_SUBDOMAIN.match(value):
        errs.append(invalid(path, value, _dns_msg("subdomain", 253)))


def _label_key(path: str, key: str, errs: Errs) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _QUALIFIED.match(name):
        errs.append(invalid(path, key, "name part must consist of alphanumeric characters, '-', "
                                       "'_' or '.', and must start and end with an alphanumeric "
                                       "character"))
    elif prefix and not m.DNS1123_SUBDOMAIN.match(prefix):
        errs.append(invalid(path, key, "prefix part " + _dns_msg("subdomain", 253)))


def object_meta(obj: Obj, namespaced: bool, name_check: str = "subdomain") -> Errs:
    errs: Errs = []
    md = obj.get("metadata") or {}
    name = md.get("name")
    if name_check == "label":
        dns_label("metadata.name", name, errs)
    elif name_check == "subdomain":
        dns_subdomain("metadata.name", name, errs)
    elif not name:
        errs.append(required("metadata.name"))
    if namespaced and not md.get("namespace"):
        errs.append(required("metadata.namespace"))
    for k, v in (md.get("labels") or {}).items():
        _label_key("metadata.labels", k, errs)
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            errs.append(invalid("metadata.labels", v, "a valid label must be an empty string or "
                                "consist of alphanumeric characters, '-', '_' or '.', and must "
                                "start and end with an alphanumeric character"))
    ann = md.get("annotations") or {}
    for k in ann:
        _label_key("metadata.annotations", k, errs)
    if sum(len(k) + len(str(v)) for k, v in ann.items()) > MAX_ANNOTATIONS:
        errs.append(FieldError("metadata.annotations", "Too long: must have at most 262144 bytes"))
    for i, ref in enumerate(md.get("ownerReferences") or []):
        for f in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(f):
                errs.append(required(f"metadata.ownerReferences[{i}].{f}"))
    return errs


def _containers(path: str, items: Any, errs: Errs, need_one: bool) -> None:
    if not items:
        if need_one:
            errs.append(required(path))
        return
    seen: set[str] = set()
    for i, c in enumerate(items):
        p = f"{path}[{i}]"
        dns_label(f"{p}.name", c.get("name"), errs)
        if c.get("name") in seen:
            errs.append(FieldError(f"{p}.name", f"Duplicate value: {_fmt(c.get('name'))}"))
        seen.add(c.get("name"))
        if not c.get("image"):
            errs.append(required(f"{p}.image"))
        for j, port in enumerate(c.get("ports") or []):
            cp = port.get("containerPort")
            if cp is None:
                errs.append(required(f"{p}.ports[{j}].containerPort"))
            elif not isinstance(cp, int) or not 0 < cp < 65536:
                errs.append(invalid(f"{p}.ports[{j}].containerPort", cp,
                                    "must be between 1 and 65535, inclusive"))
            proto = port.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                errs.append(unsupported(f"{p}.ports[{j}].protocol", proto, ["SCTP", "TCP", "UDP"]))
        pol = c.get("imagePullPolicy")
        if pol and pol not in ("Always", "IfNotPresent", "Never"):
            errs.append(unsupported(f"{p}.imagePullPolicy", pol,
                                    ["Always", "IfNotPresent", "Never"]))


def pod_spec(path: str, spec: Any, errs: Errs, restart: tuple[str, ...] = ()) -> None:
    if not isinstance(spec, dict):
        errs.append(required(path))
        return
    _containers(f"{path}.containers", spec.get("containers"), errs, True)
    _containers(f"{path}.initContainers", spec.get("initContainers"), errs, False)
    rp = spec.get("restartPolicy", "Always")
    allowed = restart or ("Always", "OnFailure", "Never")
    if rp not in allowed:
        errs.append(unsupported(f"{path}.restartPolicy", rp, list(allowed)))
    names: set[str] = set()
    for i, v in enumerate(spec.get("volumes") or []):
        dns_label(f"{path}.volumes[{i}].name", v.get("name"), errs)
        if v.get("name") in names:
            errs.append(FieldError(f"{path}.volumes[{i}].name",
                                   f"Duplicate value: {_fmt(v['name'])}"))
        names.add(v.get("name"))
    dp = spec.get("dnsPolicy", "ClusterFirst")
    if dp not in ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"):
        errs.append(unsupported(f"{path}.dnsPolicy", dp,
                                ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]))


_POD_UPDATE = ("Forbidden: pod updates may not change fields other than "
               "`spec.containers[*].image`, `spec.initContainers[*].image`,"
               "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing "
               "tolerations), `spec.terminationGracePeriodSeconds`")


def pod(obj: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    pod_spec("spec", obj.get("spec"), errs)
    if old is not None:
        # Pod updates may only change images, activeDeadlineSeconds, tolerations (upstream).
        a, b = dict(old.get("spec") or {}), dict(obj.get("spec") or {})
        for s in (a, b):
            s.pop("activeDeadlineSeconds", None)
            s.pop("tolerations", None)
            s["containers"] = [{k: v for k, v in c.items() if k != "image"}
                               for c in s.get("containers") or []]
            s["initContainers"] = [{k: v for k, v in c.items() if k != "image"}
                                   for c in s.get("initContainers") or []]
            if not old.get("spec", {}).get("nodeName"):
                a.pop("nodeName", None)
                b.pop("nodeName", None)
        if a != b:
            errs.append(FieldError("spec", _POD_UPDATE))
    return errs


def _selector_template(obj: Obj, old: Obj | None, errs: Errs,
                       restart: tuple[str, ...] = ()) -> None:
    spec = obj.get("spec") or {}
    sel = spec.get("selector")
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        errs.append(required("spec.selector"))
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        errs.append(required("spec.template"))
        return
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if sel and (sel.get("matchLabels") or sel.get("matchExpressions")) and \
            not labels_match(selector_from_label_selector(sel), labels):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    pod_spec("spec.template.spec", tmpl.get("spec"), errs, restart)
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    if old is not None and (old.get("spec") or {}).get("selector") != sel and \
            obj.get("kind") != "ReplicaSet":
        errs.append(invalid("spec.selector", sel, "field is immutable"))


def workload(obj: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    _selector_template(obj, old, errs, ("Always",))
    st = ((obj.get("spec") or {}).get("strategy") or {}).get("type")
    if obj.get("kind") == "Deployment" and st not in (None, "RollingUpdate", "Recreate"):
        errs.append(unsupported("spec.strategy.type", st, ["Recreate", "RollingUpdate"]))
    if st == "Recreate" and (obj["spec"].get("strategy") or {}).get("rollingUpdate"):
        errs.append(FieldError("spec.strategy.rollingUpdate",
                               "Forbidden: may not be specified when strategy `type` is "
                               "'Recreate'"))
    return errs


def job(obj: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    tmpl = spec.get("template")
    if not isinstance(tmpl, dict):
        return [required("spec.template")]
    if tmpl.get("spec", {}).get("restartPolicy") not in ("OnFailure", "Never"):
        errs.append(unsupported("spec.template.spec.restartPolicy",
                                tmpl.get("spec", {}).get("restartPolicy", "Always"),
                                ["OnFailure", "Never"]))
        return errs
    pod_spec("spec.template.spec", tmpl.get("spec"), errs, ("OnFailure", "Never"))
    return errs


def cron_job(obj: Obj, old: Obj | None) -> Errs:
    spec = obj.get("spec") or {}
    errs: Errs = []
    if not spec.get("schedule"):
        errs.append(required("spec.schedule"))
    if not isinstance(spec.get("jobTemplate"), dict):
        errs.append(required("spec.jobTemplate"))
    return errs


def service(obj: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    spec = obj.get("spec") or {}
    typ = spec.get("type", "ClusterIP")
    if typ not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errs.append(unsupported("spec.type", typ,
                                ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if not ports and typ != "ExternalName" and spec.get("clusterIP") != "None":
        errs.append(required("spec.ports"))
    for i, p in enumerate(ports):
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            errs.append(invalid(f"spec.ports[{i}].port", port,
                                "must be between 1 and 65535, inclusive"))
        if len(ports) > 1 and not p.get("name"):
            errs.append(required(f"spec.ports[{i}].name"))
    if old is not None:
        was = (old.get("spec") or {}).get("clusterIP")
        if was and spec.get("clusterIP") not in (None, "", was):
            errs.append(invalid("spec.clusterIPs[0]", spec.get("clusterIP"),
                                "may not change once set"))
    return errs


def config_data(obj: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    total = 0
    for field in ("data", "binaryData", "stringData"):
        for k, v in (obj.get(field) or {}).items():
            if not _CONFIG_KEY.match(k) or len(k) > 253:
                errs.append(invalid(f"{field}[{k}]", k, "a valid config key must consist of "
                                    "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                                    "or 'KEY_NAME',  or 'key-name', regex used for validation is "
                                    "'[-._a-zA-Z0-9]+')"))
            total += len(str(v))
    if total > 1024 * 1024:
        errs.append(FieldError("data", "Too long: must have at most 1048576 bytes"))
    if old is not None and old.get("immutable") and any(
            obj.get(f) != old.get(f) for f in ("data", "binaryData", "immutable")):
        errs.append(FieldError("data", "Forbidden: field is immutable when `immutable` is set"))
    return errs


VALIDATORS: dict[str, Callable[[Obj, Obj | None], Errs]] = {
    "Pod": pod, "Deployment": workload, "ReplicaSet": workload, "StatefulSet": workload,
    "DaemonSet": workload, "Job": job, "CronJob": cron_job, "Service": service,
    "ConfigMap": config_data, "Secret": config_data,
}
NAME_CHECK = {"Namespace": "label", "Service": "label", "Node": "subdomain", "Event": "any",
              "Role": "path", "ClusterRole": "path", "RoleBinding": "path",
              "ClusterRoleBinding": "path"}


def validate(kind: str, obj: Obj, namespaced: bool, old: Obj | None = None) -> Errs:
    errs = object_meta(obj, namespaced, NAME_CHECK.get(kind, "subdomain"))
    fn = VALIDATORS.get(kind)
    if fn is not None:
        errs += fn(obj, old)
    return errs
