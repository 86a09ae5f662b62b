"""Meltano plugin definitions of the taps and the bulk loaders, derived from what each says about itself.

`tap-x --about --format=json` (`target-x --about ...`) is the source of truth for a plugin's settings.
From it this script renders:
- `tap-x/meltano-hub.yml`, `target-x/meltano-hub.yml`: definitions in Meltano Hub's extractor and loader
  formats, for `meltano add --from-ref`;
- the `settings`, `capabilities` and `settings_group_validation` of each plugin in the root `meltano.yml`,
  every plugin written in the shape Meltano itself writes (its key order, through Meltano's own plugin
  classes), so Meltano's next write (`meltano config set`, `meltano select`) changes only what it means to.

    python dev/scripts/plugin_defs.py           # rewrite both from the installed taps
    python dev/scripts/plugin_defs.py --check   # exit 1 and print the differences when they drifted

tests/test_meltano_hub.py runs the same comparison, so a setting added to a tap without regenerating
fails the suite.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
TAPS = ("crm", "projects", "leads")
LOADERS = ("target-duckdb-bulk", "target-postgres-bulk")
LOADER_LABELS = {"target-duckdb-bulk": "DuckDB (bulk)", "target-postgres-bulk": "PostgreSQL (bulk)"}
LOADER_DESCRIPTIONS = {
    "target-duckdb-bulk": "DuckDB loader on DuckDB's own JSON reader: spooled batches, set-wise merge "
    "on the key",
    "target-postgres-bulk": "PostgreSQL loader on COPY: staged batches, one set-based upsert per batch",
}

ROOT_PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Where the repository is published (the definitions' `repo` and `docs`): one setting in the root pyproject.
PUBLIC_REPO = ROOT_PROJECT["tool"]["rest-taps"]["repository"].rstrip("/")
VARIANT = "rest-taps"
# Values the Meltano definitions give where the plugin's own default differs: each tap's tables in a schema
# of its own (tap_crm, tap_projects, ...). Without it two taps with a stream of one name (tasks, contacts)
# merge into one table, each overwriting the other's rows on `id`.
MELTANO_VALUES = {"default_target_schema": "$MELTANO_EXTRACT__LOAD_SCHEMA"}

LABELS = {"crm": "CRM", "projects": "Projects", "leads": "Leads"}
DESCRIPTIONS = {
    "crm": "CRM API: tasks, accounts, contacts, opportunities, workflows, tags, persons, email data "
    "sources, custom field types, pipelines and users",
    "projects": "Projects API: jobs, contacts, tasks, activities and files",
    "leads": "Leads API: steps, pipelines, clients, categories, predefined tags, fields, leads, follow-ups, "
    "users, teams, webhooks, webhook events, activities and prospecting lists",
}
JSON_TYPE_TO_KIND = {
    "string": "string",
    "integer": "integer",
    # Not "decimal": Meltano 4.4.1 turns an env override of a decimal setting (TAP_CRM_BACKOFF_FACTOR=0.5)
    # into a Decimal and then crashes writing the tap's config ("Object of type Decimal is not JSON
    # serializable"). As a string the value reaches the tap, which reads numeric strings as numbers.
    "number": "string",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def about(tap: str) -> dict[str, Any]:
    """`tap-<tap> --about --format=json` (or `<loader> --about ...`), from the workspace venv (or PATH)."""
    name = _plugin(tap)
    exe = REPO / ".venv" / "bin" / name
    command = str(exe) if exe.exists() else shutil.which(name)
    if command is None:
        raise SystemExit(f"{name} is not installed: run `uv sync` first")
    out = subprocess.run(
        [command, "--about", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def _plugin(name: str) -> str:
    """The plugin name: taps are named by their API (`crm`), loaders in full."""
    return name if name.startswith(("tap-", "target-")) else f"tap-{name}"


def _kind(prop: dict[str, Any]) -> str:
    # A secret is `kind: string` with `sensitive: true`: Meltano 4 reads `kind: password` as deprecated
    # and writes it back that way.
    if "enum" in prop:
        return "options"
    types = prop.get("type", "string")
    if isinstance(types, str):
        types = [types]
    types = [t for t in types if t != "null"] or ["string"]
    return JSON_TYPE_TO_KIND.get(types[0], "string")


def settings_from_about(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions for every property of the plugin's config schema, in its order, each
    with its keys in the order Meltano writes them (name, kind, value, label, description, options,
    sensitive)."""
    settings = []
    for name, prop in info["settings"]["properties"].items():
        kind = _kind(prop)
        setting: dict[str, Any] = {"name": name, "kind": kind}
        value = MELTANO_VALUES.get(name, prop.get("default"))
        if value is not None:
            setting["value"] = value
        setting["label"] = prop.get("title") or name
        if prop.get("description"):
            setting["description"] = prop["description"]
        if kind == "options":
            setting["options"] = [{"label": str(v), "value": v} for v in prop["enum"]]
        if prop.get("secret"):
            setting["sensitive"] = True
        settings.append(setting)
    return settings


def members() -> dict[str, tuple[str, list[str]]]:
    """The workspace members' distributions: {name: (directory, names of the dependencies)}."""
    found = {}
    for glob in ROOT_PROJECT["tool"]["uv"]["workspace"]["members"]:
        for pyproject in sorted(REPO.glob(f"{glob}/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text())["project"]
            names = [re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] for d in project.get("dependencies", [])]
            found[project["name"]] = (str(pyproject.parent.relative_to(REPO)), names)
    return found


def published_names(plugin: str) -> list[str]:
    """The pip_url of a plugin: its distribution after the ones of this repository it needs, by their
    published names (`rest-taps-keyguard rest-taps-tapkit tap-crm`), dependencies first."""
    ours = members()
    order: list[str] = []

    def visit(name: str) -> None:
        for dependency in ours[name][1]:
            if dependency in ours and dependency not in order:
                visit(dependency)
        if name not in order:
            order.append(name)

    visit(plugin)
    return order


def group_validation(info: dict[str, Any]) -> list[list[str]]:
    required = info["settings"].get("required") or []
    return [list(required)] if required else []


def _definition(
    name: str, namespace: str, label: str, description: str, keywords: list[str], info: dict[str, Any]
) -> dict[str, Any]:
    """A Hub-style definition, the fields in the order Meltano Hub's carry them."""
    return {
        "name": name,
        "namespace": namespace,
        "variant": VARIANT,
        "label": label,
        "description": description,
        "repo": PUBLIC_REPO,
        "docs": f"{PUBLIC_REPO}/blob/main/plugins/{name}/README.md",
        "pip_url": " ".join(published_names(name)),
        "executable": name,
        "capabilities": sorted(info["capabilities"]),
        "settings_group_validation": group_validation(info),
        "settings": settings_from_about(info),
        "keywords": keywords,
        "maintenance_status": "active",
        "quality": "silver",
    }


def hub_definition(tap: str, info: dict[str, Any]) -> dict[str, Any]:
    keywords = ["meltano_sdk", "rest", "api", tap]
    return _definition(f"tap-{tap}", f"tap_{tap}", LABELS[tap], DESCRIPTIONS[tap], keywords, info)


def loader_hub_definition(name: str, info: dict[str, Any]) -> dict[str, Any]:
    keywords = ["meltano_sdk", "bulk", name.split("-")[1]]
    return _definition(
        name, name.replace("-", "_"), LOADER_LABELS[name], LOADER_DESCRIPTIONS[name], keywords, info
    )


def meltano_yml_loaders(doc: Any) -> dict[str, Any]:
    return {p["name"]: p for p in doc["plugins"]["loaders"]}


def _yaml() -> YAML:
    y = YAML()
    y.indent(mapping=2, sequence=2, offset=0)
    y.width = 4096
    y.preserve_quotes = True
    return y


def render_hub(name: str, info: dict[str, Any]) -> str:
    """The meltano-hub.yml of a tap ("crm") or a loader ("target-duckdb-bulk"), under a comment saying
    where it comes from and how to add it."""
    plugin = _plugin(name)
    if name in LOADERS:
        plugin_type, definition = "loader", loader_hub_definition(name, info)
    else:
        plugin_type, definition = "extractor", hub_definition(name, info)
    buf = io.StringIO()
    buf.write(
        f"# Meltano Hub-style definition of {plugin}, generated by dev/scripts/plugin_defs.py from\n"
        f"# `{plugin} --about --format=json`. Add it to any Meltano project with:\n"
        f"#   meltano add --plugin-type {plugin_type} {plugin} --from-ref <url or path of this file>\n"
        f"# pip_url names the published distributions; to install from wheels built with `make dist`,\n"
        f"# set UV_FIND_LINKS (or PIP_FIND_LINKS) to that folder (README: the Meltano Hub way).\n"
    )
    _yaml().dump(definition, buf)
    return buf.getvalue()


def meltano_yml_extractors(doc: Any) -> dict[str, Any]:
    return {p["name"]: p for p in doc["plugins"]["extractors"]}


def meltano_shape(plugin_type: str, plugin: dict[str, Any]) -> dict[str, Any]:
    """The plugin as Meltano writes it into meltano.yml: its keys in Meltano's order, a setting's too
    (through Meltano's own ProjectPlugin; the workspace venv has Meltano)."""
    from meltano.core.plugin.base import PluginType
    from meltano.core.plugin.project_plugin import ProjectPlugin

    shaped = ProjectPlugin(PluginType(plugin_type), **dict(plugin)).canonical()
    assert isinstance(shaped, dict)
    return shaped


def update_meltano_yml(text: str, infos: dict[str, dict[str, Any]]) -> str:
    """meltano.yml with each plugin's capabilities, settings and settings_group_validation from its
    --about, and every plugin in the shape Meltano writes (comments inside a plugin do not survive
    Meltano's next write, so notes belong in `description` fields)."""
    y = _yaml()
    doc = y.load(text)
    plugins = {**meltano_yml_extractors(doc), **meltano_yml_loaders(doc)}
    for tap, info in infos.items():
        plugin = plugins[_plugin(tap)]
        plugin["capabilities"] = sorted(info["capabilities"])
        plugin["settings"] = settings_from_about(info)
        plugin["settings_group_validation"] = group_validation(info)
    for plugin_type, listed in doc["plugins"].items():
        for i, plugin in enumerate(listed):
            listed[i] = meltano_shape(plugin_type, plugin)
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def comparable(plugin: dict[str, Any]) -> dict[str, Any]:
    """What must agree between a definition and the tap: setting names, kinds, secrecy, defaults."""
    return {
        "capabilities": sorted(plugin.get("capabilities") or []),
        "settings_group_validation": [list(g) for g in plugin.get("settings_group_validation") or []],
        "settings": {
            s["name"]: {
                "kind": s.get("kind", "string"),
                "sensitive": bool(s.get("sensitive")),
                "value": s.get("value"),
            }
            for s in plugin.get("settings") or []
        },
    }


def drift(tap: str, plugin: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """Human-readable differences between a plugin definition and the tap's --about."""
    want = comparable(
        {
            "capabilities": info["capabilities"],
            "settings_group_validation": group_validation(info),
            "settings": settings_from_about(info),
        }
    )
    have = comparable(plugin)
    problems = []
    tap = _plugin(tap).removeprefix("tap-")
    if have["capabilities"] != want["capabilities"]:
        problems.append(f"tap-{tap}: capabilities {have['capabilities']} != {want['capabilities']}")
    if have["settings_group_validation"] != want["settings_group_validation"]:
        problems.append(
            f"tap-{tap}: settings_group_validation {have['settings_group_validation']} "
            f"!= {want['settings_group_validation']}"
        )
    for name in sorted(set(have["settings"]) | set(want["settings"])):
        if name not in want["settings"]:
            problems.append(f"tap-{tap}: setting {name!r} is declared but the tap does not have it")
        elif name not in have["settings"]:
            problems.append(f"tap-{tap}: setting {name!r} of the tap is not declared")
        elif have["settings"][name] != want["settings"][name]:
            problems.append(
                f"tap-{tap}: setting {name!r} is {have['settings'][name]}, the tap says "
                f"{want['settings'][name]}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)
    infos = {name: about(name) for name in (*TAPS, *LOADERS)}
    meltano_yml = REPO / "meltano.yml"
    if args.check:
        doc = _yaml().load(meltano_yml.read_text())
        plugins = {**meltano_yml_extractors(doc), **meltano_yml_loaders(doc)}
        problems = []
        for tap, info in infos.items():
            problems += [f"meltano.yml: {p}" for p in drift(tap, plugins[_plugin(tap)], info)]
            hub_file = REPO / "plugins" / _plugin(tap) / "meltano-hub.yml"
            if not hub_file.exists():
                problems.append(f"{hub_file.relative_to(REPO)} is missing")
                continue
            hub = _yaml().load(hub_file.read_text())
            problems += [f"{hub_file.relative_to(REPO)}: {p}" for p in drift(tap, hub, info)]
        print("\n".join(problems) or "plugin definitions match the taps")
        return 1 if problems else 0
    for tap, info in infos.items():
        (REPO / "plugins" / _plugin(tap) / "meltano-hub.yml").write_text(render_hub(tap, info))
    meltano_yml.write_text(update_meltano_yml(meltano_yml.read_text(), infos))
    print("wrote meltano.yml, plugins/tap-*/meltano-hub.yml and plugins/target-*-bulk/meltano-hub.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
