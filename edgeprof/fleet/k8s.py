"""Kubernetes manifests for a fleet (`edgeprof fleet --emit-k8s`): one Job per board, for clusters such as
the KubeEdge one Ianvs benchmarks on, where the cluster rather than Ansible runs the suite on each board.

Layout: one multi-document ``fleet.yaml`` holding the Namespace, the ConfigMap and one Job per host, in that
order. ``kubectl apply -f fleet.yaml`` starts the whole fleet and ``kubectl delete -f fleet.yaml`` removes it;
one file per resource would need a folder apply and something (a kustomization) to keep the Namespace first.
A Job's pod template cannot be changed once created: to run again, delete the Jobs and apply again; edgeprof
resumes from what the results volume already holds.

What each Job runs, on the node its host names (``nodeSelector``)::

    edgeprof run /config/models.toml --suite SUITE --device-name DEVICE --no-progress

``/config`` is the ConfigMap (read-only); ``/results`` is the results volume: a PersistentVolumeClaim, or a
hostPath on each node (common on KubeEdge edge nodes, which rarely have network storage). models.toml's
``output_dir`` is relative to models.toml, which would put the outputs in the read-only ``/config``; so the
ConfigMap holds, besides the user's models.toml, one copy per host with only ``output_dir`` replaced by
``/results/<name>``, and each pod sees its own copy as /config/models.toml. Measurements then land in
``/results/<name>/<device>/`` with the converted models (``models/``) and the report (``report/``) beside them.
Hosts get separate folders because Jobs may share one claim, and `edgeprof run` holds the lock of its models
and results folders for the whole run: a second board writing the same folders would be refused. (A subPath
per host would hide the extra level, but kubelet makes subPath folders as root, so a non-root pod could not
write into them.)

Every resource is checked against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: an unknown
field is an error), and names against the rules the schemas leave out (DNS-1123 names, label values), before
anything is written: an invalid manifest is never written.

HF_TOKEN is never written: with ``forward_hf_token`` the pod reads it from a Secret (``secretKeyRef``, optional)
that the user makes: ``kubectl -n edgeprof create secret generic edgeprof-hf-token --from-literal=HF_TOKEN=...``.
Model sources must be reachable from the pod (hub repo ids, or "demo"): a local path names a file here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprof.atomic import atomic_write_text
from edgeprof.errors import fail
from edgeprof.fleet.inventory import Host
from edgeprof.paths import slug

FLEET_FILE = "fleet.yaml"
CONFIG_MAP = "edgeprof-fleet"
CONFIG_MOUNT = "/config"
RESULTS_MOUNT = "/results"
JOB_PREFIX = "edgeprof-"
CONTAINER = "edgeprof"
APP_LABEL = "app.kubernetes.io/name"
DEVICE_LABEL = "edgeprof/device"
EDGE_TAINT = "node-role.kubernetes.io/edge"
GPU_RESOURCE = "nvidia.com/gpu"
HF_TOKEN = "HF_TOKEN"
CONFIG_MAP_LIMIT = 1024 * 1024  # bytes Kubernetes stores in one ConfigMap

# host variables this emitter reads (the inventory's own, next to edgeprof_device)
NODE_VAR = "edgeprof_k8s_node"
IMAGE_VAR = "edgeprof_k8s_image"
GPU_VAR = "edgeprof_gpu"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?")
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", ""}


@dataclass(frozen=True)
class K8sOptions:
    image: str = field(metadata={"help": "container image with edgeprof installed, e.g. ghcr.io/you/edgeprof:0.1.0 "
                                         "(a host's edgeprof_k8s_image overrides it, e.g. a CUDA image for a Jetson)"})
    suite: str = field(metadata={"help": "the bench suite every Job runs: a shipped suite's name (demo, standard), "
                                         "or the name of the suite_toml given"})
    models_toml: str = field(metadata={"help": "the text of the models.toml every Job runs"})
    suite_toml: str | None = field(default=None, metadata={
        "help": "the text of a suite .toml to ship in the ConfigMap (its name is suite); None: a shipped suite"})
    namespace: str = field(default="edgeprof", metadata={"help": "the namespace of every resource"})
    create_namespace: bool = field(default=True, metadata={"help": "write the Namespace too (first in fleet.yaml)"})
    node_label: str = field(default="kubernetes.io/hostname", metadata={
        "help": "node label the Jobs select on; its value is the host's edgeprof_k8s_node, else the host name"})
    results_claim: str = field(default="edgeprof-results", metadata={
        "help": "PersistentVolumeClaim mounted at /results (it must exist; ReadWriteMany when the boards share it)"})
    results_host_path: str | None = field(default=None, metadata={
        "help": "a folder on each node to mount at /results instead of the claim (hostPath, common on KubeEdge); "
                "it must be writable by run_as_user"})
    backoff_limit: int = field(default=2, metadata={
        "help": "retries of a failed pod (each resumes from the results so far)"})
    active_deadline_seconds: int | None = field(default=None, metadata={
        "help": "per-host time limit in seconds, after which the Job is stopped; None: no limit"})
    gpu_runtime_class: str | None = field(default=None, metadata={
        "help": "runtimeClassName of the pods of GPU hosts (edgeprof_gpu=true), e.g. nvidia; None: the default"})
    gpu_supplemental_groups: tuple[int, ...] = field(default=(44,), metadata={
        "help": "extra groups of GPU pods: 44 is the video group of Ubuntu/L4T, which owns a Jetson's GPU devices"})
    edge: bool = field(default=False, metadata={
        "help": f"tolerate KubeEdge edge nodes' {EDGE_TAINT}:NoSchedule taint"})
    forward_hf_token: bool = field(default=False, metadata={
        "help": "give the pods HF_TOKEN from the Secret hf_token_secret (optional: pods start without it)"})
    hf_token_secret: str = field(default="edgeprof-hf-token", metadata={
        "help": f"the Secret whose key {HF_TOKEN} holds the hub token"})
    run_as_user: int | None = field(default=1000, metadata={
        "help": "user (and group, and fsGroup) id of the pods, never root; None: the image's own user"})
    k8s_version: str = field(default="1.30.0", metadata={"help": "the Kubernetes version the manifests are "
                                                                 "validated against"})


@dataclass(frozen=True)
class _Plan:
    """What one host's Job needs, checked."""

    host: Host
    name: str  # DNS-1123 label from the device name: the Job is edgeprof-<name>, its folder /results/<name>
    node: str  # the node_label value that selects its node
    image: str
    gpu: bool

    @property
    def output_dir(self) -> str:
        return f"{RESULTS_MOUNT}/{self.name}"

    @property
    def config_key(self) -> str:
        return f"models.{self.name}.toml"


def emit_k8s(hosts: Sequence[Host], options: K8sOptions, out_dir: Path) -> list[Path]:
    """Write ``out_dir/fleet.yaml``: the Namespace (when asked), the ConfigMap, one Job per host; validated
    first, so nothing invalid is written. Returns the files written."""
    resources = build_resources(hosts, options)
    validate(resources, options.k8s_version)
    path = out_dir / FLEET_FILE
    atomic_write_text(path, render(resources, _header(options)))
    return [path]


def build_resources(hosts: Sequence[Host], options: K8sOptions) -> list[dict[str, Any]]:
    """The resources as dicts, in apply order (not yet schema-validated: ``validate`` does that)."""
    _check_options(options)
    plans = _plans(hosts, options)
    resources = [_namespace(options)] if options.create_namespace else []
    resources.append(_config_map(plans, options))
    resources.extend(_job(plan, options) for plan in plans)
    return resources


def validate(resources: Iterable[dict[str, Any]], k8s_version: str = "1.30.0") -> None:
    """Check every resource against the Kubernetes schemas of ``k8s_version`` (strict: unknown fields are
    errors); raise an EdgeprofError naming the resource and the schema's complaint."""
    import kubernetes_validate

    version = _schema_version(k8s_version)
    for resource in resources:
        for key in ("apiVersion", "kind"):  # kubernetes-validate picks the schema by them
            if not isinstance(resource.get(key), str):
                raise fail("k8s_invalid", resource=_resource_name(resource), version=k8s_version,
                           where="the top level", detail=f"{key!r} is a required string")
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise fail("k8s_invalid", resource=_resource_name(resource), version=k8s_version,
                       where=_json_path(exc.absolute_path), detail=exc.message) from None
        except kubernetes_validate.SchemaNotFoundError:
            raise fail("k8s_no_schema", resource=_resource_name(resource), kind=resource.get("kind"),
                       api_version=resource.get("apiVersion"), version=k8s_version) from None


def render(resources: Sequence[dict[str, Any]], header: str = "") -> str:
    """The resources as one multi-document YAML text (multi-line strings as literal blocks)."""
    import yaml

    return header + yaml.dump_all(resources, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                                  allow_unicode=True, explicit_start=True, width=120)


# ---- options and hosts


def _check_options(options: K8sOptions) -> None:
    _require_dns_label("namespace", options.namespace)
    _require_dns_subdomain("results_claim", options.results_claim)
    _require_dns_subdomain("hf_token_secret", options.hf_token_secret)
    _require_image("image", options.image)
    _require_label_key("node_label", options.node_label)
    if not _KEY_NAME.fullmatch(options.suite) or len(options.suite) > 200:
        raise fail("k8s_option", option="suite", value=options.suite, problem="a pod can run a shipped suite's "
                   "name (demo, standard) or a suite_toml shipped under this name (letters, digits, '-', '_', '.')")
    if options.results_host_path is not None and not options.results_host_path.startswith("/"):
        raise fail("k8s_option", option="results_host_path", value=options.results_host_path,
                   problem="a hostPath must be an absolute path on the node")
    if options.gpu_runtime_class is not None:
        _require_dns_subdomain("gpu_runtime_class", options.gpu_runtime_class)
    _require_whole("backoff_limit", options.backoff_limit, 0)
    if options.active_deadline_seconds is not None:
        _require_whole("active_deadline_seconds", options.active_deadline_seconds, 1)
    if options.run_as_user is not None:
        _require_whole("run_as_user", options.run_as_user, 1)


def _plans(hosts: Sequence[Host], options: K8sOptions) -> list[_Plan]:
    if not hosts:
        raise fail("k8s_no_hosts")
    plans = [_plan(host, options) for host in hosts]
    seen: dict[str, Host] = {}
    for plan in plans:
        if plan.name in seen:
            raise fail("k8s_name_clash", first=seen[plan.name].name, second=plan.host.name,
                       name=JOB_PREFIX + plan.name)
        seen[plan.name] = plan.host
    return plans


def _plan(host: Host, options: K8sOptions) -> _Plan:
    node = str(host.vars.get(NODE_VAR) or host.name)
    if not _is_label_value(node):
        raise fail("k8s_host_var", host=host.name, var=NODE_VAR if host.vars.get(NODE_VAR) else "node", value=node,
                   problem=f"not a value {options.node_label} can have (at most 63 letters, digits, '-', '_' "
                   f"or '.', starting and ending with a letter or digit); set {NODE_VAR} to its node's name")
    image = host.vars.get(IMAGE_VAR) or options.image
    if IMAGE_VAR in host.vars:
        _require_image(f"host {host.name}: {IMAGE_VAR}", image)
    return _Plan(host, _dns_name(host), node, str(image), _flag(host, GPU_VAR))


def _dns_name(host: Host) -> str:
    """The device name as a DNS-1123 label: lower case, runs of other characters as one '-'."""
    name = re.sub(r"[^a-z0-9]+", "-", host.device.lower()).strip("-")
    if not name:
        raise fail("k8s_device_name", host=host.name, device=host.device, problem="no letter or digit")
    if len(JOB_PREFIX + name) > 63:
        raise fail("k8s_device_name", host=host.name, device=host.device,
                   problem=f"a Job name is at most 63 characters, and {JOB_PREFIX}{name} has {len(JOB_PREFIX + name)}")
    return name


def _flag(host: Host, var: str) -> bool:
    """A true/false host variable: INI inventories give strings ('true', 'yes'), YAML ones booleans."""
    value = host.vars.get(var, False)
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise fail("k8s_host_var", host=host.name, var=var, value=value, problem="not true or false")


# ---- resources


def _meta(name: str, options: K8sOptions, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": options.namespace, "labels": {APP_LABEL: "edgeprof", **(labels or {})}}


def _namespace(options: K8sOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": options.namespace, "labels": {APP_LABEL: "edgeprof"}}}


def _config_map(plans: Sequence[_Plan], options: K8sOptions) -> dict[str, Any]:
    data = {"models.toml": options.models_toml, "suite": options.suite}
    if options.suite_toml is not None:
        data[_suite_key(options)] = options.suite_toml
    for plan in plans:
        data[plan.config_key] = with_output_dir(options.models_toml, plan.output_dir, plan.host.device)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    if size > CONFIG_MAP_LIMIT:
        raise fail("k8s_too_large", name=CONFIG_MAP, size=size)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(CONFIG_MAP, options), "data": data}


def _suite_key(options: K8sOptions) -> str:
    return f"suite.{options.suite}.toml"


def _job(plan: _Plan, options: K8sOptions) -> dict[str, Any]:
    labels = {DEVICE_LABEL: plan.name}
    results = f"{plan.output_dir}/{slug(plan.host.device)}"
    metadata = _meta(JOB_PREFIX + plan.name, options, labels)
    metadata["annotations"] = {"edgeprof/device-name": plan.host.device, "edgeprof/host": plan.host.name,
                               "edgeprof/results": results}
    spec: dict[str, Any] = {"backoffLimit": options.backoff_limit}
    if options.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = options.active_deadline_seconds
    spec["template"] = {"metadata": {"labels": {APP_LABEL: "edgeprof", **labels}}, "spec": _pod_spec(plan, options)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def _pod_spec(plan: _Plan, options: K8sOptions) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": "Never", "automountServiceAccountToken": False,
                            "nodeSelector": {options.node_label: plan.node}}
    if options.edge:
        spec["tolerations"] = [{"key": EDGE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
    if plan.gpu and options.gpu_runtime_class:
        spec["runtimeClassName"] = options.gpu_runtime_class
    if security := _pod_security(plan, options):
        spec["securityContext"] = security
    spec["containers"] = [_container(plan, options)]
    spec["volumes"] = _volumes(plan, options)
    return spec


def _pod_security(plan: _Plan, options: K8sOptions) -> dict[str, Any]:
    security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if options.run_as_user is not None:
        uid = options.run_as_user
        security |= {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
                     "fsGroupChangePolicy": "OnRootMismatch"}
    if plan.gpu and options.gpu_supplemental_groups:
        security["supplementalGroups"] = list(options.gpu_supplemental_groups)
    return security


def _container(plan: _Plan, options: K8sOptions) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER, "image": plan.image, "command": _command(plan, options), "workingDir": RESULTS_MOUNT,
        "env": _env(plan, options),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                         {"name": "results", "mountPath": RESULTS_MOUNT},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if plan.gpu:
        container["resources"] = {"limits": {GPU_RESOURCE: 1}}
    return container


def _command(plan: _Plan, options: K8sOptions) -> list[str]:
    suite = f"{CONFIG_MOUNT}/{options.suite}.toml" if options.suite_toml is not None else options.suite
    return ["edgeprof", "run", f"{CONFIG_MOUNT}/models.toml", "--suite", suite, "--device-name", plan.host.device,
            "--no-progress"]


def _env(plan: _Plan, options: K8sOptions) -> list[dict[str, Any]]:
    """Caches on the results volume, beside the host's outputs (a rerun reuses the downloads); HOME in /tmp
    (the root file system is read-only); the hub token only by reference to a Secret."""
    cache = f"{plan.output_dir}/.cache"
    env: list[dict[str, Any]] = [{"name": "HOME", "value": "/tmp"}, {"name": "XDG_CACHE_HOME", "value": cache},
                                 {"name": "HF_HOME", "value": f"{cache}/huggingface"}]
    if options.forward_hf_token:
        env.append({"name": HF_TOKEN, "valueFrom": {"secretKeyRef": {
            "name": options.hf_token_secret, "key": HF_TOKEN, "optional": True}}})
    return env


def _volumes(plan: _Plan, options: K8sOptions) -> list[dict[str, Any]]:
    items = [{"key": plan.config_key, "path": "models.toml"}]
    if options.suite_toml is not None:
        items.append({"key": _suite_key(options), "path": f"{options.suite}.toml"})
    if options.results_host_path is not None:
        results: dict[str, Any] = {"hostPath": {"path": options.results_host_path, "type": "DirectoryOrCreate"}}
    else:
        results = {"persistentVolumeClaim": {"claimName": options.results_claim}}
    return [{"name": "config", "configMap": {"name": CONFIG_MAP, "items": items, "defaultMode": 0o444}},
            {"name": "results", **results},
            {"name": "tmp", "emptyDir": {}}]


# ---- models.toml for one pod


def with_output_dir(models_toml: str, output_dir: str, device: str) -> str:
    """``models_toml`` with its top-level ``output_dir`` (if any) commented out and ``output_dir`` set first;
    checked by parsing both: everything else must read the same."""
    original = _parse_models(models_toml)
    header_end = _first_table_line(models_toml)
    lines = models_toml.splitlines(keepends=True)
    for i, line in enumerate(lines[:header_end]):
        if re.match(r"\s*output_dir\s*=", line):
            lines[i] = f"# (replaced for the cluster) {line}"
    text = (f"# edgeprof fleet --emit-k8s: the models.toml below, with output_dir set for {device}'s pod\n"
            f"output_dir = {_toml_string(output_dir)}\n" + "".join(lines))
    if _parse_models(text) != {**original, "output_dir": output_dir}:
        raise fail("k8s_models_toml", detail="its output_dir could not be replaced (write it as one line "
                   "`output_dir = \"...\"` before the first [[models]] table)")
    return text


def _parse_models(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail("k8s_models_toml", detail=f"invalid TOML: {exc}") from None


def _first_table_line(text: str) -> int:
    for i, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("["):
            return i
    return len(text.splitlines())


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- names and values Kubernetes accepts (the schemas do not check them)


def _require_dns_label(option: str, value: str) -> None:
    if not (len(value) <= 63 and _DNS_LABEL.fullmatch(value)):
        raise fail("k8s_option", option=option, value=value, problem="not a DNS-1123 label (at most 63 lower-case "
                   "letters, digits and '-', starting and ending with a letter or digit)")


def _require_dns_subdomain(option: str, value: str) -> None:
    if not (len(value) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in value.split("."))):
        raise fail("k8s_option", option=option, value=value, problem="not a DNS-1123 name (lower-case letters, "
                   "digits, '-' and '.', starting and ending with a letter or digit)")


def _require_label_key(option: str, value: str) -> None:
    prefix, _, name = value.rpartition("/")
    if prefix:
        _require_dns_subdomain(option, prefix)
    if not (len(name) <= 63 and _KEY_NAME.fullmatch(name)):
        raise fail("k8s_option", option=option, value=value, problem="not a label key ([prefix/]name, the name "
                   "at most 63 letters, digits, '-', '_' or '.')")


def _require_image(option: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise fail("k8s_option", option=option, value=value, problem="not a container image reference "
                   "(e.g. ghcr.io/you/edgeprof:0.1.0)")


def _require_whole(option: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise fail("k8s_option", option=option, value=value, problem=f"not a whole number of at least {low}")


def _is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.fullmatch(value))


# ---- validation and YAML


def _schema_version(k8s_version: str) -> str:
    """``k8s_version`` as kubernetes-validate wants it; refused when it carries no schemas for it (its own
    version lookup compares strings, and fails obscurely below its oldest)."""
    from kubernetes_validate.utils import all_versions

    have = sorted({tuple(int(n) for n in v.split(".")[:2]) for v in all_versions()})
    found = _VERSION.fullmatch(k8s_version.strip())
    wanted = (int(found.group(1)), int(found.group(2))) if found else None
    if wanted not in have:
        choices = f"{have[0][0]}.{have[0][1]} to {have[-1][0]}.{have[-1][1]}"
        raise fail("k8s_version", version=k8s_version, choices=choices)
    return f"{wanted[0]}.{wanted[1]}.0"


def _resource_name(resource: dict[str, Any]) -> str:
    metadata = resource.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    return f"{resource.get('kind', '?')}/{name}"


def _json_path(path: Iterable[object]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "the top level"


def _header(options: K8sOptions) -> str:
    volume = (f"hostPath {options.results_host_path} on each node" if options.results_host_path is not None
              else f"PersistentVolumeClaim {options.results_claim}")
    return (f"# edgeprof fleet --emit-k8s: suite {options.suite}, namespace {options.namespace}\n"
            f"# kubectl apply -f {FLEET_FILE}   (results: {volume}, at {RESULTS_MOUNT}/<name>/<device>/ in the pods)\n"
            f"# to run again: kubectl delete -f {FLEET_FILE}, then apply (edgeprof resumes from the volume)\n")


def _dumper():
    """A SafeDumper writing multi-line strings as literal blocks and quoting y/n, which YAML 1.1 readers
    (Kubernetes' own, go-yaml) take for booleans."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        if "\n" in value:
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        if value in {"y", "Y", "n", "N"}:
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        return dumper.represent_str(value)

    Dumper.add_representer(str, text)
    return Dumper
