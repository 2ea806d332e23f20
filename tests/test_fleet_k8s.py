"""`edgeprof fleet --emit-k8s`: one Job per board, validated against the Kubernetes schemas, no secret written."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from edgeprof.errors import EdgeprofError
from edgeprof.fleet import k8s
from edgeprof.fleet.inventory import Host
from edgeprof.fleet.k8s import K8sOptions, build_resources, emit_k8s, validate
from edgeprof.workflow.models_file import load_models_file

MODELS_TOML = """\
# the fleet's models
output_dir = "results"   # replaced per pod
suite = "demo"

[[models]]
name = "SmolLM2-135M-Instruct"
source = "demo"
quant = "demo"

[[models]]
name = "qwen"
source = "Qwen/Qwen2.5-0.5B-Instruct"
quant = ["Q4_K_M", "Q8_0"]
"""
SENTINEL = "hf_SENTINEL_never_written_0123456789"

HOSTS = (
    Host("pi5-a.lab", "pi5-a", ("pis",), {"edgeprof_k8s_node": "pi5-a"}),
    Host("pi5-b", "Pi5 B", ("pis",), {}),
    Host("orin.lab", "jetson-orin", ("jetsons",), {"edgeprof_gpu": True, "edgeprof_k8s_node": "orin-01"}),
)
NODES = {"edgeprof-pi5-a": "pi5-a", "edgeprof-pi5-b": "pi5-b", "edgeprof-jetson-orin": "orin-01"}
DEVICES = {"edgeprof-pi5-a": "pi5-a", "edgeprof-pi5-b": "Pi5 B", "edgeprof-jetson-orin": "jetson-orin"}


def options(**changes) -> K8sOptions:
    base = K8sOptions(image="ghcr.io/you/edgeprof:0.1.0", suite="standard", models_toml=MODELS_TOML,
                      gpu_runtime_class="nvidia", forward_hf_token=True)
    return dataclasses.replace(base, **changes)


def emitted(tmp_path: Path, opts: K8sOptions | None = None, hosts=HOSTS) -> list[dict]:
    paths = emit_k8s(hosts, opts or options(), tmp_path / "k8s")
    assert paths == [tmp_path / "k8s" / "fleet.yaml"]
    return [doc for doc in yaml.safe_load_all(paths[0].read_text(encoding="utf-8")) if doc]


def jobs(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}


def pod(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def config_map(docs: list[dict]) -> dict:
    (found,) = [d for d in docs if d["kind"] == "ConfigMap"]
    return found


def test_one_job_per_host_on_its_node(tmp_path):
    docs = emitted(tmp_path)
    assert [d["kind"] for d in docs] == ["Namespace", "ConfigMap", "Job", "Job", "Job"]
    by_name = jobs(docs)
    assert set(by_name) == set(NODES)
    for name, job in by_name.items():
        spec = pod(job)
        assert spec["nodeSelector"] == {"kubernetes.io/hostname": NODES[name]}
        assert spec["restartPolicy"] == "Never"
        assert job["metadata"]["namespace"] == "edgeprof"
        assert job["metadata"]["labels"] == {"app.kubernetes.io/name": "edgeprof",
                                             "edgeprof/device": name.removeprefix("edgeprof-")}
        (container,) = spec["containers"]
        assert container["command"] == ["edgeprof", "run", "/config/models.toml", "--suite", "standard",
                                        "--device-name", DEVICES[name], "--no-progress"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/config"] == "config" and mounts["/results"] == "results"
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_command_is_one_edgeprof_run_accepts(tmp_path):
    from edgeprof.cli.run import run

    for job in jobs(emitted(tmp_path)).values():
        command = pod(job)["containers"][0]["command"]
        params = run.make_context("run", command[2:]).params
        assert params["models_file"] == Path("/config/models.toml")
        assert params["suite"] == "standard" and params["no_progress"] is True


def test_gpu_only_on_the_jetson(tmp_path):
    for name, job in jobs(emitted(tmp_path)).items():
        spec, container = pod(job), pod(job)["containers"][0]
        if name == "edgeprof-jetson-orin":
            assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
            assert spec["runtimeClassName"] == "nvidia"
        else:
            assert "resources" not in container and "runtimeClassName" not in spec
            assert "nvidia" not in yaml.safe_dump(job)


def test_config_map_holds_models_toml_and_each_pod_gets_its_own_output_dir(tmp_path):
    docs = emitted(tmp_path)
    data = config_map(docs)["data"]
    assert data["models.toml"] == MODELS_TOML
    assert data["suite"] == "standard"
    original = tomllib.loads(MODELS_TOML)
    for name, job in jobs(docs).items():
        (config,) = [v for v in pod(job)["volumes"] if v["name"] == "config"]
        (item,) = config["configMap"]["items"]
        assert config["configMap"]["name"] == config_map(docs)["metadata"]["name"] and item["path"] == "models.toml"
        folder = f"/results/{name.removeprefix('edgeprof-')}"
        assert tomllib.loads(data[item["key"]]) == {**original, "output_dir": folder}
        # what edgeprof itself reads from the file the pod sees
        seen = tmp_path / name / "models.toml"
        seen.parent.mkdir()
        seen.write_text(data[item["key"]], encoding="utf-8")
        models = load_models_file(seen)
        assert models.output_dir == Path(folder) and [m.name for m in models.models] == ["SmolLM2-135M-Instruct",
                                                                                           "qwen"]


def test_models_toml_without_output_dir_gets_one():
    text = k8s.with_output_dir('[[models]]\nname = "a"\nsource = "demo"\n', "/results/x", "x")
    assert tomllib.loads(text)["output_dir"] == "/results/x"


def test_every_resource_passes_the_kubernetes_schemas_strictly(tmp_path):
    for opts in (options(), options(results_host_path="/var/lib/edgeprof", edge=True, run_as_user=None,
                                    forward_hf_token=False, create_namespace=False, active_deadline_seconds=3600,
                                    suite="mine", suite_toml="[[scenario]]\nname = \"x\"\n")):
        docs = emitted(tmp_path, opts)
        for doc in docs:
            for version in ("1.30.0", kubernetes_validate.latest_version()):
                kubernetes_validate.validate(doc, version, strict=True)


def test_no_literal_secret_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SENTINEL)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SENTINEL)
    docs = emitted(tmp_path)
    for path in (tmp_path / "k8s").rglob("*"):
        assert SENTINEL not in path.read_text(encoding="utf-8"), path
    for job in jobs(docs).values():
        (token,) = [e for e in pod(job)["containers"][0]["env"] if e["name"] == "HF_TOKEN"]
        assert token == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": "edgeprof-hf-token", "key": "HF_TOKEN", "optional": True}}}


def test_no_token_unless_asked(tmp_path):
    for job in jobs(emitted(tmp_path, options(forward_hf_token=False))).values():
        assert "HF_TOKEN" not in [e["name"] for e in pod(job)["containers"][0]["env"]]


def test_host_path_edge_tolerations_and_shipped_suite(tmp_path):
    opts = options(results_host_path="/var/lib/edgeprof", edge=True, suite="mine", suite_toml="[[scenario]]\n")
    docs = emitted(tmp_path, opts)
    assert config_map(docs)["data"]["suite.mine.toml"] == "[[scenario]]\n"
    for job in jobs(docs).values():
        spec = pod(job)
        assert spec["tolerations"] == [{"key": "node-role.kubernetes.io/edge", "operator": "Exists",
                                        "effect": "NoSchedule"}]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["results"]["hostPath"]["path"] == "/var/lib/edgeprof"
        assert {"key": "suite.mine.toml", "path": "mine.toml"} in volumes["config"]["configMap"]["items"]
        assert spec["containers"][0]["command"][3:5] == ["--suite", "/config/mine.toml"]
    assert all("tolerations" not in pod(j) for j in jobs(emitted(tmp_path, options())).values())


@pytest.mark.parametrize("break_it, where", [
    (lambda job: pod(job)["containers"][0].update(comand=["edgeprof"]), "comand"),
    (lambda job: job["spec"].update(backoffLimit="two"), "backoffLimit"),
    (lambda job: pod(job).update(restartPolicy=["Never"]), "restartPolicy"),
    (lambda job: pod(job)["containers"][0].pop("name"), "name"),
])
def test_validate_catches_a_broken_resource(break_it, where):
    resources = build_resources(HOSTS, options())
    validate(resources)  # the unbroken ones pass
    broken = copy.deepcopy(resources)
    break_it(broken[2])
    with pytest.raises(EdgeprofError, match=rf"^Job/edgeprof-pi5-a: not valid for Kubernetes 1\.30\.0 .*{where}"):
        validate(broken)


def test_nothing_invalid_is_written(tmp_path, monkeypatch):
    real = k8s._container

    def with_typo(plan, opts):
        return {**real(plan, opts), "imagePullPolcy": "Always"}

    monkeypatch.setattr(k8s, "_container", with_typo)
    with pytest.raises(EdgeprofError, match="imagePullPolcy"):
        emit_k8s(HOSTS, options(), tmp_path / "k8s")
    assert not (tmp_path / "k8s" / "fleet.yaml").exists()


@pytest.mark.parametrize("hosts, message", [
    ((), "no hosts"),
    ((Host("a", "___"),), "no letter or digit"),
    ((Host("a", "x" * 60),), "at most 63 characters"),
    ((Host("a", "Pi5-A"), Host("b", "pi5_a")), "hosts a and b would both be the Job edgeprof-pi5-a"),
    ((Host("10.0.0.7:22", "pi"),), "set edgeprof_k8s_node"),
    ((Host("a", "pi", (), {"edgeprof_gpu": "maybe"}),), "edgeprof_gpu='maybe': not true or false"),
])
def test_hosts_kubernetes_cannot_take_are_refused(hosts, message):
    with pytest.raises(EdgeprofError, match=message):
        build_resources(hosts, options())


@pytest.mark.parametrize("changes, message", [
    ({"namespace": "Edge_Prof"}, "namespace 'Edge_Prof': not a DNS-1123 label"),
    ({"image": ""}, "image '': not a container image"),
    ({"suite": "../x.toml"}, "suite"),
    ({"results_host_path": "data"}, "absolute path"),
    ({"backoff_limit": -1}, "backoff_limit -1"),
    ({"models_toml": "output_dir = [\n"}, "invalid TOML"),
])
def test_options_kubernetes_cannot_take_are_refused(changes, message):
    with pytest.raises(EdgeprofError, match=message):
        build_resources(HOSTS, options(**changes))


def test_ini_inventory_flags_are_strings():
    (job,) = [r for r in build_resources((Host("j", "j", (), {"edgeprof_gpu": "yes"}),), options())
              if r["kind"] == "Job"]
    assert pod(job)["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}


def test_unknown_kubernetes_version_is_refused():
    with pytest.raises(EdgeprofError, match="Kubernetes 1.10: kubernetes-validate has schemas for 1.25 to"):
        validate(build_resources(HOSTS, options()), "1.10")


def test_a_host_can_name_its_own_image():
    hosts = (Host("j", "j", (), {"edgeprof_k8s_image": "ghcr.io/you/edgeprof:0.1.0-l4t"}), Host("p", "p"))
    images = {r["metadata"]["name"]: pod(r)["containers"][0]["image"] for r in build_resources(hosts, options())
              if r["kind"] == "Job"}
    assert images == {"edgeprof-j": "ghcr.io/you/edgeprof:0.1.0-l4t", "edgeprof-p": "ghcr.io/you/edgeprof:0.1.0"}
