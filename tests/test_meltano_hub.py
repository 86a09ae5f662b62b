"""Each plugin added to someone else's Meltano project the Meltano Hub way, and its definitions kept honest.

`plugins/<plugin>/meltano-hub.yml` is what a user points `meltano add --from-ref` at. Its pip_url names the
published distributions (`rest-taps-keyguard rest-taps-tapkit tap-crm`). Here those names are installed
two ways a user can today: from this clone (`git+file://...#subdirectory=<member>`, what is committed),
and from the wheels `make dist` builds, found through `UV_FIND_LINKS` with the definition unchanged (the
README's way). The second case adds both taps and both bulk loaders to a brand-new project and loads two
taps whose streams share names (tasks, contacts) into each loader: each tap's rows in its own schema.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import dists
import pytest
from meltano.core.plugin.base import PluginDefinition, PluginType, Variant
from meltano.core.setting_definition import SettingDefinition, SettingKind
from warehouse import duckdb_ids, duckdb_tables, postgres_ids, postgres_tables, tap_env, target_postgres_env

from api_sandbox import run_sandbox

REPO = Path(__file__).resolve().parents[1]
TAPS = ("crm", "projects", "leads")
VENV_BIN = Path(sys.executable).parent

sys.path.insert(0, str(REPO / "dev" / "scripts"))
import plugin_defs  # noqa: E402

PLUGINS = (*(f"tap-{tap}" for tap in TAPS), *plugin_defs.LOADERS)
# Streams tap-crm and tap-projects both have: in one schema, the second tap's rows replace the first's.
SHARED_STREAMS = ("tasks", "contacts")


def _meltano(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    return subprocess.run(
        [str(VENV_BIN / "meltano"), *args],
        cwd=project,
        env={**clean, "PATH": f"{VENV_BIN}{os.pathsep}{clean.get('PATH', '')}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _output(result: Any) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def _committed(path: str) -> bool:
    """Whether `path` exists in HEAD: git+file:// installs what is committed."""
    probe = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"HEAD:{path}"], capture_output=True, check=False
    )
    return probe.returncode == 0


def _definition(plugin: str) -> str:
    return (REPO / "plugins" / plugin / "meltano-hub.yml").read_text()


def _new_project(root: Path, *, init: bool = False) -> Path:
    """A brand-new Meltano project: `meltano init`'s (it works offline), or its meltano.yml alone."""
    if init:
        made = _meltano(root.parent, "init", root.name, "--no_usage_stats")
        assert made.returncode == 0, _output(made)
        return root
    root.mkdir()
    (root / "meltano.yml").write_text(
        "default_environment: dev\nproject_id: someone-else\nsend_anonymous_usage_stats: false\n"
        "environments:\n- name: dev\nplugins: {}\n"
    )
    return root


def _add(
    project: Path, tmp_path: Path, plugin: str, definition: str, env: dict[str, str] | None = None
) -> None:
    """`meltano add --from-ref` of `definition`, which installs the plugin too (meltano 4.4.1)."""
    ref = tmp_path / f"{plugin}.yml"
    ref.write_text(definition)
    kind = "extractor" if plugin.startswith("tap-") else "loader"
    added = _meltano(project, "add", "--plugin-type", kind, plugin, "--from-ref", str(ref), env=env)
    assert added.returncode == 0, _output(added)
    assert f"name: {plugin}" in (project / "meltano.yml").read_text()
    assert (project / ".meltano" / f"{kind}s" / plugin / "venv" / "bin" / plugin).exists()


@pytest.mark.parametrize("tap", TAPS)
def test_add_from_ref_install_and_run(tap: str, tmp_path: Path) -> None:
    """The definition with each published name replaced by its member in this clone (git+file://)."""
    if not _committed(f"plugins/tap-{tap}/tap_{tap}/tap.py"):
        pytest.skip(f"tap-{tap} is not committed yet (git+file:// installs HEAD)")
    directories = {m.project["project"]["name"]: m.directory for m in dists.members()}
    definition = _definition(f"tap-{tap}")
    public = re.search(r"^pip_url: (.*)$", definition, re.M)
    assert public, "the definition has no pip_url"
    local = " ".join(
        f"git+file://{REPO}#subdirectory={directories[name]}" for name in public.group(1).split()
    )
    project = _new_project(tmp_path / "someone-elses-project")
    _add(project, tmp_path, f"tap-{tap}", definition.replace(public.group(1), local))

    with run_sandbox(tap, records=40, seed=3) as sb:
        run = _meltano(project, "invoke", f"tap-{tap}", env=tap_env(tap, sb.base_url))
        assert run.returncode == 0, _output(run)
        truth = sb.truth()
    seen: dict[str, list[Any]] = defaultdict(list)
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("type") == "RECORD":
                seen[message["stream"]].append(message["record"]["id"])
    assert {k: sorted(map(str, v)) for k, v in seen.items()} == {
        k: sorted(map(str, v)) for k, v in truth.items()
    }


def test_two_taps_into_each_loader_from_the_built_wheels(
    built_wheels: dict[str, Path], pg_database: str, tmp_path: Path
) -> None:
    """From the wheels alone, definitions unchanged (UV_FIND_LINKS, as the README says): tap-crm then
    tap-projects into target-duckdb-bulk and target-postgres-bulk; every id of each shared stream in its
    own tap's schema, nothing overwritten, no table outside those schemas."""
    wheels = {path.parent for path in built_wheels.values()}
    assert len(wheels) == 1, f"the wheels are not in one folder: {wheels}"
    find_links = {"UV_FIND_LINKS": str(wheels.pop()), "PIP_FIND_LINKS": ""}
    project = _new_project(tmp_path / "someone-elses-project", init=True)
    for plugin in ("tap-crm", "tap-projects", *plugin_defs.LOADERS):
        _add(project, tmp_path, plugin, _definition(plugin), env=find_links)

    duckdb_file = tmp_path / "warehouse.duckdb"
    env = {
        "TARGET_DUCKDB_BULK_FILEPATH": str(duckdb_file),
        **target_postgres_env(pg_database, "target-postgres-bulk"),
    }
    truth: dict[str, dict[str, list[str]]] = {}
    with run_sandbox("crm", records=6, seed=5) as crm, run_sandbox("projects", records=6, seed=6) as projects:
        for tap, sb in (("crm", crm), ("projects", projects)):
            env |= tap_env(tap, sb.base_url)
            env[f"TAP_{tap.upper()}__SELECT"] = json.dumps([f"{stream}.*" for stream in SHARED_STREAMS])
            truth[f"tap_{tap}"] = {s: sorted(map(str, sb.truth(s))) for s in SHARED_STREAMS}
        run = _meltano(
            project,
            "run",
            *("tap-crm", "target-duckdb-bulk", "tap-projects", "target-duckdb-bulk"),
            *("tap-crm", "target-postgres-bulk", "tap-projects", "target-postgres-bulk"),
            env=env,
        )
        assert run.returncode == 0, _output(run)

    for schema, streams in truth.items():
        assert all(streams.values()), f"the {schema} sandbox served no records: {streams}"
        for stream, ids in streams.items():
            assert sorted(map(str, duckdb_ids(duckdb_file, schema, stream))) == ids, (
                f"duckdb {schema}.{stream}"
            )
            assert sorted(map(str, postgres_ids(pg_database, schema, stream))) == ids, (
                f"postgres {schema}.{stream}"
            )
    assert duckdb_tables(duckdb_file, "main") == []
    assert postgres_tables(pg_database, "public") == []


@pytest.mark.parametrize("tap", TAPS)
def test_definitions_match_the_tap_about(tap: str) -> None:
    """meltano-hub.yml and meltano.yml declare exactly the tap's settings, kinds, secrecy and defaults.

    On failure: `python dev/scripts/plugin_defs.py` regenerates both from `tap-x --about --format=json`.
    """
    info = plugin_defs.about(tap)
    yaml = plugin_defs._yaml()
    hub = yaml.load((REPO / "plugins" / f"tap-{tap}" / "meltano-hub.yml").read_text())
    project = plugin_defs.meltano_yml_extractors(yaml.load((REPO / "meltano.yml").read_text()))
    problems = plugin_defs.drift(tap, hub, info) + plugin_defs.drift(tap, project[f"tap-{tap}"], info)
    assert not problems, "\n".join(problems) + "\nrun: python dev/scripts/plugin_defs.py"
    assert hub["settings_group_validation"] == [["api_key"]]
    api_key = next(s for s in hub["settings"] if s["name"] == "api_key")
    assert api_key["kind"] == "string" and api_key["sensitive"] is True


@pytest.mark.parametrize("loader", plugin_defs.LOADERS)
def test_loader_definitions_match_the_loader_about(loader: str) -> None:
    """target-x-bulk/meltano-hub.yml and meltano.yml declare exactly the loader's settings.

    On failure: `python dev/scripts/plugin_defs.py` regenerates both from
    `target-x-bulk --about --format=json`.
    """
    info = plugin_defs.about(loader)
    yaml = plugin_defs._yaml()
    hub = yaml.load((REPO / "plugins" / loader / "meltano-hub.yml").read_text())
    project = plugin_defs.meltano_yml_loaders(yaml.load((REPO / "meltano.yml").read_text()))
    problems = plugin_defs.drift(loader, hub, info) + plugin_defs.drift(loader, project[loader], info)
    assert not problems, "\n".join(problems) + "\nrun: python dev/scripts/plugin_defs.py"
    assert hub["pip_url"].split() == ["rest-taps-loaderkit", loader], hub["pip_url"]
    assert "batch_size_rows" in {s["name"] for s in hub["settings"]}
    schema = next(s for s in hub["settings"] if s["name"] == "default_target_schema")
    assert schema["value"] == "$MELTANO_EXTRACT__LOAD_SCHEMA", "two taps would share one schema"


# Fields of Meltano Hub's definitions that Meltano's classes keep as presentation attributes or extras.
HUB_FIELDS = {"label", "hidden", "logo_url", "keywords", "maintenance_status", "quality", "domain_url"}
NOT_IN_A_DEFINITION = {"self", "plugin_type", "variants", "is_default_variant", "extras", "original"}
# Meltano 4 reads these kinds as deprecated aliases and rewrites them (password -> string + sensitive).
DEPRECATED_KINDS = {"password", "oauth", "hidden"}
VALUE_TYPES: dict[str, tuple[type, ...]] = {
    # JSON numbers are declared kind string (test_numbers_stay_strings_while_...), their defaults numbers.
    "string": (str, int, float),
    "integer": (int,),
    "decimal": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _fields(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - NOT_IN_A_DEFINITION  # type: ignore[misc]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_definition_has_the_fields_of_meltanos_own(plugin: str) -> None:
    """Only fields Meltano's plugin and setting definitions carry (meltano/core/plugin/base.py,
    setting_definition.py) or Meltano Hub adds; none empty; kinds Meltano knows, not deprecated ones;
    values of their kind; links under the repository the root pyproject names."""
    text = _definition(plugin)
    hub = plugin_defs._yaml().load(text)
    unknown = set(hub) - (_fields(PluginDefinition) | _fields(Variant) | HUB_FIELDS | {"variant"})
    assert not unknown, f"{plugin}: fields Meltano does not know: {sorted(unknown)}"
    for key in ("name", "namespace", "variant", "label", "description", "repo", "docs", "pip_url",
                "executable", "capabilities", "settings_group_validation", "settings", "keywords",
                "maintenance_status", "quality"):  # fmt: skip
        assert key in hub, f"{plugin}: no {key}"
    empty = [key for key, value in hub.items() if value in ("", None, [], {})]
    assert not empty, f"{plugin}: empty fields {empty}"
    assert "your-org" not in text and "example.com" not in hub.get("domain_url", "")
    assert hub["repo"] == plugin_defs.PUBLIC_REPO and hub["docs"].startswith(f"{hub['repo']}/blob/")
    assert hub["pip_url"].split()[-1] == plugin, "pip_url must end with the plugin's own distribution"

    kinds = {kind.value for kind in SettingKind} - DEPRECATED_KINDS
    names = {s["name"] for s in hub["settings"]}
    for setting in hub["settings"]:
        where = f"{plugin}: setting {setting.get('name')!r}"
        assert set(setting) <= _fields(SettingDefinition), f"{where}: {sorted(set(setting))}"
        assert setting["kind"] in kinds, f"{where}: kind {setting['kind']!r}"
        assert setting.get("label") and setting.get("description"), f"{where}: no label or description"
        if "value" in setting and setting["kind"] in VALUE_TYPES:
            value = setting["value"]
            assert isinstance(value, VALUE_TYPES[setting["kind"]]), (
                f"{where}: {value!r} is no {setting['kind']}"
            )
            assert setting["kind"] == "boolean" or not isinstance(value, bool), f"{where}: {value!r}"
        if setting["kind"] == "options" and "value" in setting:
            assert setting["value"] in {o["value"] for o in setting["options"]}, where
    for group in hub["settings_group_validation"]:
        assert set(group) <= names, f"{plugin}: settings_group_validation names {set(group) - names}"
    # Meltano reads the whole definition without losing a field.
    kind = PluginType.EXTRACTORS if plugin.startswith("tap-") else PluginType.LOADERS
    read = dict(PluginDefinition(kind, **dict(hub)).canonical())
    assert set(hub) <= set(read), f"{plugin}: Meltano drops {sorted(set(hub) - set(read))}"


def test_numbers_stay_strings_while_meltano_cannot_write_a_decimal() -> None:
    """The definitions declare JSON numbers (backoff_factor, request_timeout, ...) `kind: string`, not
    `decimal`: Meltano 4.4.1 parses an env override of a decimal setting (TAP_CRM_BACKOFF_FACTOR=0.5)
    into a Decimal, then fails writing the plugin's config with it ("Object of type Decimal is not JSON
    serializable"), so every run with such a variable fails. When this test fails, Meltano writes them:
    switch plugin_defs.JSON_TYPE_TO_KIND["number"] to "decimal" and regenerate."""
    from meltano.core.setting_definition import json_dumps

    parsed = SettingDefinition(name="backoff_factor", kind="decimal").cast_value("0.5")
    with pytest.raises(TypeError, match="Decimal is not JSON serializable"):
        json_dumps({"backoff_factor": parsed})
    assert plugin_defs.JSON_TYPE_TO_KIND["number"] == "string"
