"""The three APIs as read from the seed documents (000 = CRM, 001 = projects, 003 = leads).

Each resource: name, served path, data selector, paging (offset param, page-size param, the document's
page size) and its record fields. This module is the sandbox's own reading of the documents; it imports no
tap code.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from . import fields as f
from .fields import Field

DEFAULT_PAGE_SIZE = 50  # served when the page-size parameter is absent
DEFAULT_MAX_PAGE_SIZE = 1000  # larger requests are clamped silently, as real APIs do
DEFAULT_RECORDS = 300
DEFAULT_API_KEY = "sandbox-key"


@dataclass
class ResourceSpec:
    name: str
    path: str  # full served path, e.g. "/v1/tasks" or "/v2/clients"
    selector: str
    paginated: bool
    offset_param: str | None
    size_param: str | None
    page_size: int | None  # the page size ("limit") the document configures
    max_page_size: int | None


@dataclass(frozen=True)
class ResourceDef:
    name: str
    path: str  # path relative to the API's base URL, as the document writes it
    selector: str
    fields: tuple[Field, ...]
    paging: tuple[str, str, int] | None = None  # (offset_param, size_param, document page size)
    id_prefix: str | None = None  # string ids (leads) are "<prefix>_<zero-padded number>"
    description: str = ""


@dataclass(frozen=True)
class ApiDef:
    name: str
    title: str
    base_path: str  # "" for crm/projects (paths carry /v1), "/v2" for leads
    auth: str  # "raw" | "bearer" | "x-api-key"
    resources: tuple[ResourceDef, ...] = field(default_factory=tuple)

    def resource(self, name: str) -> ResourceDef:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(f"{self.name} has no resource {name!r}")


def small_count(api: str, name: str) -> int:
    """Record count of a non-paginated resource: fixed, deterministic, 7..25 depending on the resource."""
    return 7 + zlib.crc32(f"{api}/{name}".encode()) % 19


def _std(*middle: Field) -> tuple[Field, ...]:
    return (*middle, f.created_at(), f.updated_at())


# ---------------------------------------------------------------------------------------------------------
# CRM (document 000): raw API key in Authorization, data selector "data", offset + limit
# ---------------------------------------------------------------------------------------------------------

_I = None  # integer references
TASK_STATUS = ["open", "in_progress", "done", "cancelled"]
PRIORITY = ["low", "normal", "high", "urgent"]


def _crm() -> ApiDef:
    def pag(limit: int) -> tuple[str, str, int]:
        return ("offset", "limit", limit)

    res = (
        ResourceDef(
            "tasks",
            "/v1/tasks",
            "data",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum("status", TASK_STATUS),
                f.enum("priority", PRIORITY, nullable=True),
                f.timestamp("due_date"),
                f.boolean("completed"),
                f.ref("owner_id", _I, nullable=True),
                f.ref("account_id", _I, nullable=True),
                f.ref("contact_id", _I, nullable=True),
                f.string_array("tags", f.WORDS),
                f.obj(
                    "reminder",
                    [f.timestamp("remind_at", nullable=False), f.enum("channel", ["email", "sms", "push"])],
                    nullable=True,
                ),
            ),
            paging=pag(20),
            description="Tasks and to-dos.",
        ),
        ResourceDef(
            "accounts",
            "/v1/accounts",
            "data",
            _std(
                f.text("name", f.COMPANIES),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum(
                    "industry", ["software", "construction", "retail", "finance", "health"], nullable=True
                ),
                f.url("website"),
                f.phone(),
                f.integer("employee_count", 1, 50000, nullable=True),
                f.number("annual_revenue"),
                f.enum("currency", f.CURRENCIES),
                f.ref("owner_id", _I),
                f.address("billing_address"),
                f.string_array("tags", f.WORDS),
                f.boolean("is_active"),
            ),
            paging=pag(10),
            description="Companies (accounts).",
        ),
        ResourceDef(
            "contacts",
            "/v1/contacts",
            "data",
            _std(
                f.text("name", f.PEOPLE),
                f.text("first_name", [p[0] for p in f.FIRST_LAST]),
                f.text("last_name", [p[1] for p in f.FIRST_LAST]),
                f.email(),
                f.phone(),
                f.text(
                    "job_title", ["CEO", "CTO", "Einkäufer", "購買担当", "Office manager", ""], nullable=True
                ),
                f.ref("account_id", _I, nullable=True),
                f.ref("owner_id", _I),
                f.text("description", f.SENTENCES, nullable=True),
                f.obj_array(
                    "emails",
                    [
                        f.email("address", nullable=False),
                        f.enum("type", ["work", "home", "other"]),
                        f.boolean("primary"),
                    ],
                    max_len=2,
                ),
                f.string_array("tags", f.WORDS),
                f.boolean("do_not_contact"),
            ),
            paging=pag(20),
            description="People at accounts.",
        ),
        ResourceDef(
            "opportunities",
            "/v1/opportunities",
            "data",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.number("amount"),
                f.enum("currency", f.CURRENCIES),
                f.enum(
                    "stage",
                    ["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"],
                ),
                f.integer("probability", 0, 100),
                f.timestamp("expected_close_date"),
                f.ref("pipeline_id", _I, upto=8),
                f.ref("account_id", _I, nullable=True),
                f.ref("owner_id", _I),
                f.boolean("won", nullable=True),
                f.obj_array(
                    "line_items",
                    [
                        f.text("product", ["Licence", "Support plan", "Onboarding", "Hardware 🖥️"]),
                        f.integer("quantity", 1, 100),
                        f.number("unit_price", nullable=False),
                    ],
                ),
            ),
            paging=pag(20),
            description="Sales opportunities (deals).",
        ),
        ResourceDef(
            "workflows",
            "/v1/workflows",
            "data",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.boolean("active"),
                f.obj(
                    "trigger",
                    [
                        f.enum("event", ["created", "updated", "deleted", "stage_changed"]),
                        f.enum("resource", ["task", "account", "contact", "opportunity"]),
                    ],
                ),
                f.obj_array(
                    "steps",
                    [
                        f.integer("position", 1, 10),
                        f.enum("action", ["send_email", "create_task", "update_field", "webhook"]),
                        f.integer("delay_minutes", 0, 1440, nullable=True),
                    ],
                ),
                f.integer("run_count", 0, 100000),
                f.timestamp("last_run_at"),
                f.ref("created_by", _I),
            ),
            paging=pag(20),
            description="Automation workflows.",
        ),
        ResourceDef(
            "tags",
            "/v1/tags",
            "data",
            _std(
                f.text("name", f.WORDS),
                f.text("slug", ["alpha", "beta", "vip", "q3", "ete", "hot"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.text("color", f.COLORS),
                f.integer("usage_count", 0, 5000),
                f.enum_array("resource_types", ["task", "account", "contact", "opportunity"]),
                f.ref("created_by", _I, nullable=True),
                f.boolean("archived"),
            ),
            paging=pag(20),
            description="Tags.",
        ),
        ResourceDef(
            "persons",
            "/v1/persons",
            "data",
            _std(
                f.text("name", f.PEOPLE),
                f.text("first_name", [p[0] for p in f.FIRST_LAST]),
                f.text("last_name", [p[1] for p in f.FIRST_LAST]),
                f.email(),
                f.phone(),
                f.text("job_title", ["Head of Sales", "Ingénieure", "Intern", ""], nullable=True),
                f.obj("organization", [f.ref("id", _I), f.text("name", f.COMPANIES)], nullable=True),
                f.string_array("labels", f.WORDS),
                f.text("description", f.SENTENCES, nullable=True),
            ),
            description="Persons (people not necessarily linked to accounts).",
        ),
        ResourceDef(
            "email_data_sources",
            "/v1/datasources/email",
            "data",
            _std(
                f.text("name", ["Sales inbox", "Support", "Boîte de réception", "受信箱", "Personal 📬"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum("provider", ["gmail", "outlook", "imap", "exchange"]),
                f.email("email_address", nullable=False),
                f.boolean("sync_enabled"),
                f.timestamp("last_synced_at"),
                f.enum("status", ["connected", "error", "paused"]),
                f.text(
                    "error_message",
                    ["", "Token expired", "IMAP login failed: ümlaut in password?"],
                    nullable=True,
                ),
                f.ref("owner_id", _I),
                f.string_array("folders", ["INBOX", "Sent", "Archive", "Entwürfe", "送信済み"]),
            ),
            description="Connected e-mail data sources.",
        ),
        ResourceDef(
            "custom_field_types",
            "/v1/customfields/types",
            "data",
            _std(
                f.text("name", ["Budget", "Région", "業種", "Lead score", "Renewal date", "Size 📏"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.text("key", ["budget", "region", "industry", "lead_score", "renewal_date", "size"]),
                f.enum("data_type", ["text", "number", "date", "boolean", "select", "multiselect"]),
                f.enum("applies_to", ["task", "account", "contact", "opportunity"]),
                f.boolean("required"),
                f.obj_array(
                    "options",
                    [f.text("value", ["a", "b", "c", "ü"]), f.text("label", ["A", "B", "Çé", "ラベル"])],
                ),
                f.text("default_value", ["", "0", "n/a"], nullable=True),
                f.integer("position", 0, 50),
            ),
            description="Custom field type definitions.",
        ),
        ResourceDef(
            "pipelines",
            "/v1/pipelines",
            "data",
            _std(
                f.text("name", ["Sales", "Renewals", "Partenaires", "パイプライン", "Enterprise 🏢"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.boolean("is_default"),
                f.enum("currency", f.CURRENCIES),
                f.obj_array(
                    "stages",
                    [
                        f.ref("id", _I),
                        f.text("name", ["Lead", "Qualified", "Proposal", "Won"]),
                        f.integer("probability", 0, 100),
                        f.integer("position", 1, 8),
                    ],
                    max_len=4,
                ),
                f.integer("deal_count", 0, 900),
                f.ref("owner_id", _I, nullable=True),
            ),
            description="Sales pipelines with their stages.",
        ),
        ResourceDef(
            "users",
            "/v1/users",
            "data",
            _std(
                f.text("name", f.PEOPLE),
                f.email(nullable=False),
                f.enum("role", ["admin", "manager", "member", "viewer"]),
                f.boolean("active"),
                f.enum("timezone", f.TIMEZONES),
                f.enum("locale", f.LOCALES),
                f.phone(),
                f.obj(
                    "team",
                    [f.ref("id", _I, upto=10), f.text("name", ["Sales", "Support", "Ventes", "営業"])],
                    nullable=True,
                ),
                f.timestamp("last_login_at"),
                f.text("description", f.SENTENCES, nullable=True),
            ),
            paging=pag(20),
            description="Users of the CRM account.",
        ),
    )
    return ApiDef("crm", "CRM API (sandbox)", "", "raw", res)


# ---------------------------------------------------------------------------------------------------------
# Projects (document 001): Bearer token, selectors results/activity/files, offset param "from"
# ---------------------------------------------------------------------------------------------------------


def _projects() -> ApiDef:
    # jobs and contacts: the document names the offset param ("from") and a page size of 1000 but no
    # page-size parameter. dlt's offset paginator sends the page size as `limit` unless told otherwise, so the
    # sandbox reads `limit` there. tasks, activities and files name `size_param: "size"`, so they read `size`
    # (and ignore `limit`, like any unknown parameter).
    JOB_STATUS = ["lead", "quoted", "scheduled", "in_progress", "completed", "invoiced", "cancelled"]
    res = (
        ResourceDef(
            "jobs",
            "/v1/jobs",
            "results",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.text("job_number", ["J-1001", "J-2002", "2024/0042", "Ä-7", ""]),
                f.enum("status", JOB_STATUS),
                f.ref("customer_id", _I, nullable=True),
                f.ref("contact_id", _I, nullable=True),
                f.ref("created_by", _I),
                f.ref_array("assigned_to", _I, max_len=3),
                f.address(),
                f.number("estimated_value"),
                f.timestamp("start_date"),
                f.timestamp("end_date"),
                f.string_array("tags", f.WORDS),
            ),
            paging=("from", "limit", 1000),
            description="Jobs (projects).",
        ),
        ResourceDef(
            "contacts",
            "/v1/contacts",
            "results",
            _std(
                f.text("name", f.PEOPLE),
                f.text("first_name", [p[0] for p in f.FIRST_LAST]),
                f.text("last_name", [p[1] for p in f.FIRST_LAST]),
                f.email(),
                f.phone(),
                f.text("company", f.COMPANIES, nullable=True),
                f.enum("type", ["customer", "supplier", "subcontractor", "lead"]),
                f.address(),
                f.ref("created_by", _I),
                f.text("notes", f.SENTENCES, nullable=True),
            ),
            paging=("from", "limit", 1000),
            description="Contacts (customers, suppliers, ...).",
        ),
        ResourceDef(
            "tasks",
            "/v1/tasks",
            "results",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("job_id", _I, nullable=True),
                f.enum("status", TASK_STATUS),
                f.enum("priority", PRIORITY),
                f.timestamp("due_date"),
                f.ref("assignee_id", _I, nullable=True),
                f.ref("created_by", _I),
                f.timestamp("completed_at"),
                f.obj_array(
                    "checklist",
                    [
                        f.text("text", ["Measure", "Order parts", "Photos 📷", "Nachprüfen"]),
                        f.boolean("done"),
                    ],
                ),
            ),
            paging=("from", "size", 100),
            description="Tasks on jobs.",
        ),
        ResourceDef(
            "activities",
            "/v1/activities",
            "activity",
            _std(
                f.text("name", f.TITLES),
                f.enum("type", ["note", "call", "email", "meeting", "status_change"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("job_id", _I, nullable=True),
                f.ref("contact_id", _I, nullable=True),
                f.ref("created_by", _I),
                f.integer("duration_minutes", 0, 480, nullable=True),
                f.obj(
                    "metadata",
                    [
                        f.enum("source", ["web", "mobile", "api", "import"]),
                        f.text("client_version", ["1.2.3", "2.0.0-beta", ""], nullable=True),
                    ],
                ),
            ),
            paging=("from", "size", 1000),
            description="Activity feed entries.",
        ),
        ResourceDef(
            "files",
            "/v1/files",
            "files",
            _std(
                f.text(
                    "name",
                    ["plan.pdf", "Angebot_Müller.docx", "写真_001.jpg", "site photo 📷.png", "notes.txt", ""],
                ),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum(
                    "mime_type",
                    [
                        "application/pdf",
                        "image/jpeg",
                        "image/png",
                        "text/plain",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    ],
                ),
                f.integer("size_bytes", 0, 50_000_000),
                f.url("url", nullable=False),
                f.ref("job_id", _I, nullable=True),
                f.ref("created_by", _I),
                f.text("checksum", ["d41d8cd98f00b204e9800998ecf8427e", "9e107d9d372bb6826bd81d3542a419d6"]),
                f.boolean("is_public"),
                f.string_array("tags", f.WORDS),
            ),
            paging=("from", "size", 1000),
            description="Files attached to jobs.",
        ),
    )
    return ApiDef("projects", "Projects API (sandbox)", "", "bearer", res)


# ---------------------------------------------------------------------------------------------------------
# Leads (document 003): X-API-KEY header, base /v2, selector "data", offset + limit for leads and
# prospecting_lists only; string ids
# ---------------------------------------------------------------------------------------------------------


def _leads() -> ApiDef:
    pag = ("offset", "limit", 100)
    res = (
        ResourceDef(
            "steps",
            "/steps",
            "data",
            _std(
                f.text("name", ["New", "Contacted", "Qualifié", "提案", "Won 🎉", "Lost"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("pipeline_id", "pp", upto=5),
                f.integer("position", 0, 20),
                f.integer("probability", 0, 100),
                f.boolean("is_won"),
                f.boolean("is_lost"),
                f.text("color", f.COLORS),
            ),
            id_prefix="st",
            description="Pipeline steps.",
        ),
        ResourceDef(
            "pipelines",
            "/pipelines",
            "data",
            _std(
                f.text("name", ["Inbound", "Outbound", "Partenaires", "パイプライン", "Events 🎟️"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.boolean("is_default"),
                f.ref_array("step_ids", "st", max_len=5),
                f.ref("owner_id", "us", nullable=True),
                f.enum("currency", f.CURRENCIES),
                f.boolean("archived"),
            ),
            id_prefix="pp",
            description="Lead pipelines.",
        ),
        ResourceDef(
            "clients_folders",
            "/clients",
            "data",
            _std(
                f.text("name", f.COMPANIES),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("parent_id", "cf", nullable=True, upto=5),
                f.text("customer_id", ["C-001", "C-042", "K-ü7", ""], nullable=True),
                f.integer("lead_count", 0, 3000),
                f.ref("owner_id", "us"),
                f.string_array("tags", f.WORDS),
                f.url("website"),
            ),
            id_prefix="cf",
            description="Client folders (served at /clients).",
        ),
        ResourceDef(
            "categories",
            "/categories",
            "data",
            _std(
                f.text("name", ["Hardware", "Logiciel", "サービス", "Consulting", "Other ✨"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.text("color", f.COLORS),
                f.ref("parent_id", "ca", nullable=True, upto=5),
                f.integer("position", 0, 30),
                f.boolean("archived"),
                f.integer("lead_count", 0, 3000),
            ),
            id_prefix="ca",
            description="Lead categories.",
        ),
        ResourceDef(
            "predefined_tags",
            "/predefined_tags",
            "data",
            _std(
                f.text("name", f.WORDS),
                f.text("color", f.COLORS),
                f.text("description", f.SENTENCES, nullable=True),
                f.integer("usage_count", 0, 9000),
                f.ref("created_by", "us"),
                f.enum("scope", ["lead", "client", "all"]),
                f.boolean("archived"),
            ),
            id_prefix="tg",
            description="Predefined tags.",
        ),
        ResourceDef(
            "fields",
            "/fields",
            "data",
            _std(
                f.text("name", ["Budget", "Région", "業種", "Lead score", "Size 📏"]),
                f.text("key", ["budget", "region", "industry", "lead_score", "size"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum("type", ["text", "number", "date", "boolean", "select"]),
                f.boolean("required"),
                f.obj_array("options", [f.text("value", ["a", "b", "ü"]), f.text("label", ["A", "B", "Ü"])]),
                f.integer("position", 0, 40),
                f.boolean("visible"),
            ),
            id_prefix="fd",
            description="Custom fields for leads.",
        ),
        ResourceDef(
            "leads",
            "/leads",
            "data",
            _std(
                f.text("name", f.PEOPLE),
                f.text("description", f.SENTENCES, nullable=True),
                f.text("company", f.COMPANIES, nullable=True),
                f.email(),
                f.phone(),
                f.enum("status", ["new", "contacted", "qualified", "proposal", "won", "lost"]),
                f.ref("step_id", "st", upto=20),
                f.ref("pipeline_id", "pp", upto=5),
                f.ref("owner_id", "us", nullable=True),
                f.text("customer_id", ["C-001", "C-042", "K-ü7", ""], nullable=True),
                f.number("value"),
                f.enum("currency", f.CURRENCIES),
                f.string_array("tags", f.WORDS),
                f.obj_array(
                    "custom_fields",
                    [
                        f.ref("field_id", "fd", upto=20),
                        f.text("value", ["42", "Nord", "", "東京"], nullable=True),
                    ],
                    max_len=2,
                ),
                f.enum("source", ["web", "referral", "event", "cold_call", "import"], nullable=True),
            ),
            paging=pag,
            id_prefix="ld",
            description="Leads.",
        ),
        ResourceDef(
            "follow_ups",
            "/follow_ups",
            "data",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("lead_id", "ld"),
                f.ref("user_id", "us"),
                f.timestamp("due_at", nullable=False),
                f.boolean("done"),
                f.timestamp("done_at"),
                f.enum("type", ["call", "email", "meeting", "task"]),
            ),
            id_prefix="fu",
            description="Follow-ups scheduled on leads.",
        ),
        ResourceDef(
            "users",
            "/users",
            "data",
            _std(
                f.text("name", f.PEOPLE),
                f.email(nullable=False),
                f.enum("role", ["admin", "manager", "sales", "viewer"]),
                f.boolean("active"),
                f.ref("team_id", "tm", nullable=True, upto=8),
                f.phone(),
                f.enum("timezone", f.TIMEZONES),
                f.enum("locale", f.LOCALES),
                f.url("avatar_url"),
                f.timestamp("last_login_at"),
            ),
            id_prefix="us",
            description="Users.",
        ),
        ResourceDef(
            "teams",
            "/teams",
            "data",
            _std(
                f.text("name", ["Sales", "Ventes", "営業", "SDR 🚀", "Partners"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref_array("member_ids", "us", max_len=5),
                f.ref("leader_id", "us", nullable=True),
                f.text("color", f.COLORS),
                f.integer("lead_count", 0, 5000),
                f.boolean("active"),
            ),
            id_prefix="tm",
            description="Teams of users.",
        ),
        ResourceDef(
            "webhooks",
            "/webhooks",
            "data",
            _std(
                f.text("name", ["CRM sync", "Slack notify", "Zapier", "Überwachung", "通知"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.url("url", nullable=False),
                f.enum_array("events", ["lead.created", "lead.updated", "lead.deleted", "follow_up.done"]),
                f.boolean("active"),
                f.text("secret_hint", ["****abcd", "****9f3e", ""]),
                f.ref("created_by", "us"),
                f.timestamp("last_delivery_at"),
                f.integer("failure_count", 0, 50),
            ),
            id_prefix="wh",
            description="Webhook subscriptions.",
        ),
        ResourceDef(
            "webhook_events",
            "/webhook_events",
            "data",
            _std(
                f.text("name", ["lead.created", "lead.updated", "lead.deleted", "follow_up.done"]),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("webhook_id", "wh", upto=10),
                f.enum("event_type", ["lead.created", "lead.updated", "lead.deleted", "follow_up.done"]),
                f.obj(
                    "payload",
                    [
                        f.enum("resource", ["lead", "follow_up"]),
                        f.ref("resource_id", "ld"),
                        f.enum("action", ["created", "updated", "deleted"]),
                    ],
                ),
                f.integer("status_code", 200, 504, nullable=True),
                f.boolean("delivered"),
                f.integer("attempts", 1, 5),
                f.timestamp("delivered_at"),
            ),
            id_prefix="we",
            description="Webhook delivery events.",
        ),
        ResourceDef(
            "activities",
            "/activities",
            "data",
            _std(
                f.text("name", f.TITLES),
                f.text("description", f.SENTENCES, nullable=True),
                f.enum("type", ["call", "email", "meeting", "note", "status_change"]),
                f.ref("lead_id", "ld", nullable=True),
                f.ref("user_id", "us"),
                f.integer("duration_minutes", 0, 240, nullable=True),
                f.enum("outcome", ["positive", "neutral", "negative"], nullable=True),
                f.obj("metadata", [f.enum("source", ["web", "mobile", "api"]), f.boolean("automated")]),
            ),
            id_prefix="ac",
            description="Activities logged on leads.",
        ),
        ResourceDef(
            "prospecting_lists",
            "/spreadsheets",
            "data",
            _std(
                f.text("name", ["Trade fair 2024", "Liste Île-de-France", "東京リスト", "Cold list 🧊", ""]),
                f.text("description", f.SENTENCES, nullable=True),
                f.ref("owner_id", "us"),
                f.integer("row_count", 0, 20000),
                f.obj_array(
                    "columns",
                    [
                        f.text("name", ["Name", "E-mail", "Téléphone", "会社"]),
                        f.enum("type", ["text", "email", "phone", "number"]),
                    ],
                    max_len=4,
                ),
                f.boolean("shared"),
                f.enum("status", ["draft", "active", "archived"]),
                f.string_array("tags", f.WORDS),
                f.timestamp("last_import_at"),
            ),
            paging=pag,
            id_prefix="sp",
            description="Prospecting lists (served at /spreadsheets).",
        ),
    )
    return ApiDef("leads", "Leads API (sandbox)", "/v2", "x-api-key", res)


APIS: dict[str, ApiDef] = {a.name: a for a in (_crm(), _projects(), _leads())}


def record_schema(api: ApiDef, res: ResourceDef) -> dict[str, Any]:
    """JSON Schema 2020-12 of one record of ``res``."""
    id_schema: dict[str, Any] = (
        {"type": "integer", "description": "Primary key; records are served in ascending id order."}
        if res.id_prefix is None
        else {
            "type": "string",
            "pattern": f"^{res.id_prefix}_[0-9]{{{f.ID_WIDTH}}}$",
            "description": "Primary key; records are served in ascending id order.",
        }
    )
    props: dict[str, Any] = {"id": id_schema}
    for fld in res.fields:
        props[fld.name] = fld.schema
    return {
        "type": "object",
        "title": res.name,
        "description": res.description,
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
