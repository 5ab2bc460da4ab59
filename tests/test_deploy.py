"""Deployment files (Dockerfile, .dockerignore, compose.yaml, systemd unit) checked so they cannot rot.

Static checks tie each file to the code it deploys: the commands they run must parse with the real CLI,
the token variable must be the one the app reads, stop timeouts must outlast the app's own shutdown
deadline. ``docker build`` runs only where a Docker engine answers; ``systemd-analyze verify`` where
systemd's tools are installed.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import EXIT_USAGE, build_parser
from bot.cli import health as cli_health
from bot.cli import run as cli_run
from bot.config import Secrets
from bot.ops.leadership import EXIT_LEASE_LOST
from bot.ops.shutdown import DEFAULT_DEADLINE_S
from tests.conftest import ROOT
from tests.yaml_subset import SubsetError, parse

TOKEN_FILE_VAR = "TRIPWIRE_DISCORD_TOKEN_FILE"


def _duration_s(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min)?", text.strip())
    assert match, f"cannot read duration {text!r}"
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "min": 60}[unit]


# --- Dockerfile ------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            word, _, rest = pending.strip().partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
        pending = ""
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec form (a JSON array) so signals reach tripwire: {args}"
    return [part.strip().strip('"') for part in args.strip("[]").split(",")]


def _parse_cli(argv: list[str]) -> Any:
    assert argv[0].endswith("tripwire"), argv
    return build_parser().parse_args(argv[1:])


def test_dockerfile_runs_tripwire_as_a_non_root_user_with_the_database_on_a_volume() -> None:
    stage = _final_stage()
    assert all(args.split()[0] == "python:3.11-slim" for word, args in _dockerfile() if word == "FROM")
    users = [args for word, args in stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    words = [word for word, _ in stage]
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN"), "USER after the last RUN"
    volumes = [v.strip('[]" ') for word, args in stage if word == "VOLUME" for v in args.split(",")]
    assert "/data" in volumes
    assert ("WORKDIR", "/data") in stage, "the relative default storage.path must land on the volume"
    assert any(word == "RUN" and "chown tripwire:tripwire /data" in args for word, args in stage)
    assert ("STOPSIGNAL", "SIGTERM") in stage


def test_dockerfile_commands_parse_with_the_real_cli() -> None:
    stage = dict(_final_stage())
    run = _parse_cli(_exec_form(stage["CMD"]))
    assert run.handler is cli_run.cmd_run and run.config == "/config/tripwire.toml"
    options, _, command = stage["HEALTHCHECK"].partition(" CMD ")
    assert "--interval=" in options and "--start-period=" in options
    health = _parse_cli(_exec_form(command))
    assert health.handler is cli_health.cmd_healthcheck and health.config == run.config


def test_no_secret_is_baked_into_the_image() -> None:
    for word, args in _dockerfile():
        if word in ("ENV", "ARG"):
            assert "TOKEN" not in args.upper(), (
                f"{word} {args}: secrets come from the environment at run time"
            )


def _included(path: str, patterns: list[str]) -> bool:
    """Apply .dockerignore rules (the last matching pattern wins; '!' re-includes) to a path."""
    included = True
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if body.startswith("**/"):
            hit = any(fnmatch.fnmatch(p, body[3:]) for p in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, body) for prefix in prefixes)
        if hit:
            included = negate
    return included


def test_the_build_context_holds_the_packages_and_never_secrets_or_databases() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = {
        source.rstrip("/")
        for word, args in _dockerfile()
        if word == "COPY" and "--from" not in args
        for source in args.split()[:-1]  # every argument but the destination
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"the Dockerfile must COPY every package: {packages - copied}"
    assert pyproject["project"]["readme"] in copied, "the build reads the README named in pyproject.toml"
    for path in ("pyproject.toml", "README.md", "bot/__main__.py", "storage/migrations/0001_initial.sql"):
        assert _included(path, patterns), f"{path} must be in the build context"
    for path in (
        ".env",
        "tripwire.db",
        "tripwire.db-wal",
        "tripwire.toml",
        "secrets/discord_token",
        ".git/config",
        "bot/__pycache__/config.cpython-311.pyc",
        "tests/data/x.csv",
    ):
        assert not _included(path, patterns), f"{path} must stay out of the build context"
    for source in copied - {"pyproject.toml", "README.md"}:
        assert (ROOT / source).is_dir(), f"COPY {source}: no such directory"


# --- compose.yaml ----------------------------------------------------------------------------------


def _compose_service() -> tuple[dict[str, Any], dict[str, Any]]:
    compose = parse((ROOT / "compose.yaml").read_text())
    (service,) = compose["services"].values()
    return compose, service


def test_compose_mounts_the_volume_config_and_secret_and_restarts() -> None:
    compose, service = _compose_service()
    assert service["restart"] == "unless-stopped"
    assert service["init"] == "true"
    stage = _final_stage()
    data_volume = next(v.strip('[]" ') for word, v in stage if word == "VOLUME")
    mounts = [m.split(":") for m in service["volumes"]]
    named = [m for m in mounts if m[1] == data_volume]
    assert named and named[0][0] in compose["volumes"], "the database volume must be a named volume"
    config_path = _parse_cli(_exec_form(dict(stage)["CMD"])).config
    config_mount = [m for m in mounts if m[1] == config_path]
    assert config_mount and config_mount[0][2:] == ["ro"], "the config is mounted read-only"
    (secret,) = service["secrets"]
    assert compose["secrets"][secret]["file"]
    assert service["environment"] == {TOKEN_FILE_VAR: f"/run/secrets/{secret}"}
    assert _duration_s(service["stop_grace_period"]) > DEFAULT_DEADLINE_S
    assert service["read_only"] == "true" and "/tmp" in service["tmpfs"]


def test_the_token_variables_are_the_ones_the_app_reads() -> None:
    prefix = Secrets.model_config.get("env_prefix", "")
    names = {f"{prefix}{name}".upper() for name in Secrets.model_fields}
    assert TOKEN_FILE_VAR in names and "TRIPWIRE_DISCORD_TOKEN" in names


def test_the_yaml_reader_refuses_what_it_does_not_understand() -> None:
    for text in ("a: [1, 2]\n", "a: &x 1\n", "a: |\n  text\n", "a:\n\tb: 1\n", "a: 1\na: 2\n"):
        with pytest.raises(SubsetError):
            parse(text)


# --- systemd unit ----------------------------------------------------------------------------------

UNIT = ROOT / "deploy" / "tripwire.service"
MARKET_UNIT = ROOT / "deploy" / "tripwire-market@.service"
DISCORD_UNIT = ROOT / "deploy" / "tripwire-discord@.service"


def _unit(path: Path = UNIT) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[] "), {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_restarts_runs_as_its_own_user_and_outlasts_the_shutdown_deadline() -> None:
    unit = _unit()
    service = unit["Service"]
    assert service["Restart"] == ["on-failure"]
    assert _duration_s(service["RestartSec"][0]) >= 1
    assert str(EXIT_USAGE) in service["RestartPreventExitStatus"][0].split()
    assert service["User"][0] not in ("root", "0")
    assert _duration_s(service["TimeoutStopSec"][0]) > DEFAULT_DEADLINE_S
    run = _parse_cli(service["ExecStart"][0].split())
    assert run.handler is cli_run.cmd_run and run.config.startswith("/etc/")
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_is_hardened_and_can_write_only_its_state_directory() -> None:
    service = _unit()["Service"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert service[key] == [value], key
    state_dir = f"/var/lib/{service['StateDirectory'][0]}"
    assert service["WorkingDirectory"] == [state_dir]
    assert service["ReadWritePaths"] == [state_dir]


def test_unit_hands_the_token_over_as_a_credential() -> None:
    service = _unit()["Service"]
    (credential,) = service["LoadCredential"]
    name, _, source = credential.partition(":")
    assert source.startswith("/etc/")
    assert f"{TOKEN_FILE_VAR}=%d/{name}" in service["Environment"]
    assert not any(env.startswith("TRIPWIRE_DISCORD_TOKEN=") for env in service["Environment"])


def _verify(path: Path) -> list[str]:
    done = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    # The unit names where a production install puts tripwire; that path does not exist on test machines.
    return [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/opt/tripwire/venv/bin/tripwire is not executable" not in line
    ]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_every_line_of_the_unit(tmp_path: Path) -> None:
    assert _verify(UNIT) == []
    # The check can fail: a misspelt key or a bad value in a copy is reported.
    broken = tmp_path / "tripwire.service"
    broken.write_text(
        UNIT.read_text().replace("RestartSec=", "RestartSecs=").replace("=strict", "=strictest")
    )
    problems = "\n".join(_verify(broken))
    assert "Unknown key" in problems and "strictest" in problems


# --- the multi-process layout: compose.multiprocess.yaml and the systemd template units ---------------

MULTI = ROOT / "compose.multiprocess.yaml"


def _role(argv: list[str]) -> Any:
    """Parse a ``tripwire run`` command line with the real CLI, skipping visibly a role not built here."""
    if "discord" in argv and "discord" not in cli_run.ROLES:
        pytest.skip("the Discord cluster role (--role discord) is not in this tree yet")
    run = _parse_cli(argv)
    assert run.handler is cli_run.cmd_run, argv
    return run


def _covers(ranges: list[str], shard_count: int) -> bool:
    """Return whether inclusive ranges "A-B" cover shards 0..shard_count-1 once each, in order."""
    bounds = [tuple(int(x) for x in r.split("-")) for r in ranges]
    expected = 0
    for first, last in bounds:
        if first != expected or last < first:
            return False
        expected = last + 1
    return expected == shard_count


def test_the_multiprocess_compose_runs_two_market_processes_and_clusters_covering_every_shard() -> None:
    compose = parse(MULTI.read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith(
        "redis:"
    )
    market = services["market"]
    assert int(market["deploy"]["replicas"]) >= 2, "a standby market process"
    assert _role(market["command"]).role == "market"
    assert "discord_token" not in market["secrets"], "the market role never talks to Discord"
    clusters = {name: s for name, s in services.items() if name.startswith("discord-")}
    parsed = {name: _role(s["command"]) for name, s in clusters.items()}
    assert {run.role for run in parsed.values()} == {"discord"}
    (count,) = {run.shard_count for run in parsed.values()}
    assert _covers(
        [run.shards for run in sorted(parsed.values(), key=lambda r: int(r.shards.split("-")[0]))], count
    )
    for name, service in [("market", market), *clusters.items()]:
        assert service["restart"] == "unless-stopped", name
        assert _duration_s(service["stop_grace_period"]) > DEFAULT_DEADLINE_S, name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert (
            service["environment"]["PGPASSFILE"] == "/run/secrets/pgpass" and "pgpass" in service["secrets"]
        )
        assert "./tripwire.toml:/config/tripwire.toml:ro" in service["volumes"], name
        assert service["read_only"] == "true", name
    for name, service in clusters.items():
        assert service["environment"][TOKEN_FILE_VAR] == "/run/secrets/discord_token", name
    assert set(compose["secrets"]) == {"discord_token", "pgpass", "pg_password"}
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/pg_password"


def _multiprocess_unit_basics(service: dict[str, list[str]]) -> None:
    assert service["User"][0] not in ("root", "0")
    assert _duration_s(service["TimeoutStopSec"][0]) > DEFAULT_DEADLINE_S
    assert "PGPASSFILE=%d/pgpass" in service["Environment"]
    assert any(c.startswith("pgpass:/etc/") for c in service["LoadCredential"])
    assert service["ProtectSystem"] == ["strict"] and service["NoNewPrivileges"] == ["yes"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"][0].split() == [str(EXIT_USAGE)]


def test_the_market_template_unit_runs_the_market_role_and_restarts_it_after_a_lost_lease() -> None:
    market = _unit(MARKET_UNIT)["Service"]
    run = _role(market["ExecStart"][0].replace("%i", "1").split())
    assert run.role == "market" and run.config.startswith("/etc/")
    _multiprocess_unit_basics(market)
    # Losing the lease (exit 3) restarts it as a standby; only a configuration error (2) does not.
    assert str(EXIT_LEASE_LOST) not in market["RestartPreventExitStatus"][0].split()
    assert not any(c.startswith("discord_token") for c in market["LoadCredential"])


def test_the_discord_template_unit_runs_the_shard_range_of_its_instance() -> None:
    discord = _unit(DISCORD_UNIT)["Service"]
    _multiprocess_unit_basics(discord)
    assert f"{TOKEN_FILE_VAR}=%d/discord_token" in discord["Environment"]
    assert discord["EnvironmentFile"] == ["/etc/tripwire/shards.env"]
    argv = discord["ExecStart"][0].replace("%i", "0-3").replace("${TRIPWIRE_SHARD_COUNT}", "8").split()
    run = _role(argv)
    assert (run.role, run.shards, run.shard_count) == ("discord", "0-3", 8)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_every_line_of_the_template_units(tmp_path: Path) -> None:
    for template, instance in ((MARKET_UNIT, "1"), (DISCORD_UNIT, "0-3")):
        unit = tmp_path / template.name.replace("@.", f"@{instance}.")
        unit.write_text(template.read_text())
        assert _verify(unit) == [], template.name


# --- docker build (only where an engine answers) -------------------------------------------------------


def _docker_engine() -> str | None:
    """Return why Docker cannot build here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine (`docker info` failed: {reason})"
    return None


def test_docker_image_builds_and_runs_as_non_root() -> None:
    reason = _docker_engine()
    if reason is not None:
        pytest.skip(reason)
    tag = "tripwire-test:ci"
    build = subprocess.run(
        ["docker", "build", "--tag", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    uid = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert uid.stdout.strip() == "10001"
    helped = subprocess.run(
        ["docker", "run", "--rm", tag, "tripwire", "--help"], capture_output=True, timeout=120
    )
    assert helped.returncode == 0
