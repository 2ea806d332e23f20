"""`edgeprof fleet` without boards: inventories read by Ansible itself, bad input as one line, the wheel the
boards install, the Kubernetes path of the command."""

from __future__ import annotations

import base64
import hashlib
import zipfile

import yaml
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.fleet.inventory import read_inventory
from edgeprof.fleet.wheel import build_wheel

INVENTORY = """\
[pis]
pi5-a ansible_host=10.0.0.11 edgeprof_device=pi5-4gb
pi5-b ansible_host=10.0.0.12 edgeprof_device="Pi 5 8GB"

[jetsons]
orin ansible_host=10.0.0.20 edgeprof_gpu=true

[jetsons:vars]
edgeprof_cmake_args=-DGGML_CUDA=on
"""


def _models(tmp_path, extra: str = "") -> str:
    path = tmp_path / "models.toml"
    path.write_text(f'[[models]]\nname = "m"\nsource = "demo"\nquant = ["Q8_0"]\n{extra}')
    return str(path)


def test_inventory_is_read_by_ansible_with_groups_vars_and_limit(tmp_path):
    (tmp_path / "boards.ini").write_text(INVENTORY)
    hosts = read_inventory(tmp_path / "boards.ini")
    assert [(h.name, h.device) for h in hosts] == [("pi5-a", "pi5-4gb"), ("pi5-b", "pi-5-8gb"), ("orin", "orin")]
    orin = hosts[2]
    assert orin.groups == ("jetsons",) and orin.vars["edgeprof_cmake_args"] == "-DGGML_CUDA=on"
    assert [h.name for h in read_inventory(tmp_path / "boards.ini", "pis")] == ["pi5-a", "pi5-b"]


def test_bad_inventories_are_one_line(tmp_path):
    (tmp_path / "same.ini").write_text("a edgeprof_device=pi\nb edgeprof_device=pi\n")
    (tmp_path / "empty.ini").write_text("# nothing\n")
    runner = CliRunner()
    for name, expected in (("same.ini", "hosts a and b both give device name 'pi'"),
                           ("empty.ini", "no hosts; give an inventory with at least one board"),
                           ("missing.ini", "no hosts")):
        result = runner.invoke(cli, ["fleet", str(tmp_path / name), _models(tmp_path)])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and expected in result.output, result.output
        assert "Traceback" not in result.output
    result = runner.invoke(cli, ["fleet", str(tmp_path / "empty.ini"), _models(tmp_path), "--limit", "pis"])
    assert "no hosts matching --limit pis" in result.output


def test_fleet_mode_in_models_toml_is_checked(tmp_path):
    (tmp_path / "boards.ini").write_text(INVENTORY)
    result = CliRunner().invoke(cli, ["fleet", str(tmp_path / "boards.ini"), _models(tmp_path, 'fleet = "ssh"\n')])
    assert result.exit_code == 1
    assert "models[0].fleet = 'ssh'; use \"copy\"" in result.output, result.output


def test_the_boards_wheel_holds_the_code_the_playbook_and_the_data(tmp_path):
    path, version = build_wheel(tmp_path)
    assert path.name == f"edgeprof-{version}-py3-none-any.whl" and "+g" in version
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        assert {"edgeprof/cli/main.py", "edgeprof/fleet/playbook.yml", "edgeprof/_data/bench/suites/demo.toml",
                "edgeprof/_data/quantize/demo.toml"} <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        dist = f"edgeprof-{version}.dist-info"
        assert f"Version: {version}" in wheel.read(f"{dist}/METADATA").decode()
        assert "edgeprof = edgeprof.cli:main" in wheel.read(f"{dist}/entry_points.txt").decode()
        for line in wheel.read(f"{dist}/RECORD").decode().splitlines():  # every hash as pip checks it
            name, digest, size = line.split(",")
            if digest:
                data = wheel.read(name)
                expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert digest == f"sha256={expected}" and int(size) == len(data), name
    assert build_wheel(tmp_path) == (path, version)  # the same code: the same wheel, reused


def test_playbook_is_valid_ansible(tmp_path):
    import subprocess

    from edgeprof.fleet.engine import PLAYBOOK
    from edgeprof.fleet.inventory import ansible_tool

    plays = yaml.safe_load(PLAYBOOK.read_text())
    assert plays[0]["strategy"] == "free"
    (tmp_path / "boards.ini").write_text(INVENTORY)
    done = subprocess.run([ansible_tool("ansible-playbook"), "--syntax-check", "-i", str(tmp_path / "boards.ini"),
                           str(PLAYBOOK)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_emit_k8s_from_the_command(tmp_path):
    (tmp_path / "boards.ini").write_text(INVENTORY)
    runner = CliRunner()
    result = runner.invoke(cli, ["fleet", str(tmp_path / "boards.ini"), _models(tmp_path), "--emit-k8s",
                                 str(tmp_path / "k8s")])
    assert result.exit_code == 2 and "--emit-k8s needs --image" in result.output
    result = runner.invoke(cli, ["fleet", str(tmp_path / "boards.ini"), _models(tmp_path), "--emit-k8s",
                                 str(tmp_path / "k8s"), "--image", "ghcr.io/me/edgeprof:0.1.0"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all((tmp_path / "k8s" / "fleet.yaml").read_text()))
    jobs = {d["metadata"]["name"]: d for d in docs if d and d["kind"] == "Job"}
    assert sorted(jobs) == ["edgeprof-orin", "edgeprof-pi-5-8gb", "edgeprof-pi5-4gb"]
    gpu = jobs["edgeprof-orin"]["spec"]["template"]["spec"]["containers"][0].get("resources", {})
    assert gpu.get("limits", {}).get("nvidia.com/gpu") == 1
