"""A tiny field DSL: each field carries its JSON Schema (2020-12) and a seeded value generator.

Generators take ``(rng, ctx)``; ``ctx`` is a per-record scratch dict (used so that ``updated_at`` is never
before ``created_at``). Values deliberately cover what real data has: nulls, unicode (accents, CJK, emoji),
empty strings and arrays, timestamps with several offsets, decimal amounts, booleans, nested objects.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

Gen = Callable[[random.Random, dict[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    name: str
    schema: dict[str, Any]
    gen: Gen


# ---------------------------------------------------------------------------------------------------------
# value pools
# ---------------------------------------------------------------------------------------------------------

PEOPLE = [
    "Ana Souza",
    "José Álvarez",
    "Zoë Ødegård",
    "François Lefèvre",
    "Łukasz Wróbel",
    "李伟",
    "山田 太郎",
    "김민준",
    "Ahmed Al-Farsi",
    "Olivia O'Brien",
    "Nguyễn Thị Hoa",
    "Björn Þórsson",
    'Renée "Ree" Dubois',
    "Priya Raman",
    "Chloé 🌸 Martin",
    "Søren Kierkegaard",
    "Mary-Jane Watson",
    "Дмитрий Иванов",
    "Ελένη Παππά",
    "John Smith",
    "Émile Zola",
    "Fatima Zahra",
    "Carlos Peña",
    "Aiko 🐱 Tanaka",
]
FIRST_LAST = [p.split(" ", 1) if " " in p else [p, ""] for p in PEOPLE]
COMPANIES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella GmbH",
    "Müller & Söhne",
    "株式会社サンプル",
    "Café Olé S.A.",
    "Northwind Traders",
    "Soylent Ltd",
    "Tyrell Corporation",
    "Ñandú Logística",
    "Wayne Enterprises",
    "Stark Industries",
    "Duff Brewing 🍺",
    "Łódź Fabryka",
    "Hooli",
    "Pied Piper",
    "Vandelay Industries",
]
TITLES = [
    "Follow up",
    "Quarterly review",
    "Onboarding call",
    "Renewal",
    "Kick-off 🚀",
    "Démo produit",
    "見積もり送付",
    "Contract sign-off",
    "Budget approval",
    "Site visit",
    "Bug triage",
    "Réunion d'équipe",
    "Angebot prüfen",
    "年度計画",
    "Send invoice",
    "Close deal ✅",
    'Call back re: "pricing"',
    "Update CRM notes",
    "Prepare proposal",
    "Roof inspection",
    "Kitchen remodel",
    "Install solar panels",
]
SENTENCES = [
    "",
    "Customer asked for a revised quote.",
    "Línea de crédito aprobada; esperar firma.",
    "お客様から折り返しの電話を希望。",
    "Needs review before Friday 🙏",
    "Multi-line note:\nfirst line\nsecond line",
    "Tab\tseparated and a backslash \\ inside",
    "Budget ~ 10k€, decision maker is the CFO.",
    "Ünïcödé everywhere — “smart quotes” too.",
    "Imported from legacy system",
    "Prospect met at trade fair 🏢",
    "Short.",
]
WORDS = [
    "alpha",
    "beta",
    "vip",
    "urgent",
    "renewal",
    "q3",
    "partner",
    "churn-risk",
    "été",
    "新規",
    "🔥hot",
    "",
]
EMAIL_LOCALS = [
    "ana",
    "jose.alvarez",
    "zoe",
    "f.lefevre",
    "lukasz",
    "li.wei",
    "olivia",
    "priya",
    "info",
    "sales",
]
DOMAINS = ["example.com", "example.org", "example.net", "müller.example", "mail.example.co.uk"]
CITIES = [
    "São Paulo",
    "München",
    "Tōkyō",
    "New York",
    "Zürich",
    "Kraków",
    "Montréal",
    "Reykjavík",
    "Lagos",
    "",
]
COUNTRIES = ["BR", "DE", "JP", "US", "CH", "PL", "CA", "IS", "NG", "FR"]
STREETS = ["1 Main St", "Rua das Flores 22", "Königstraße 5", "3-1-1 Marunouchi", "Apt. 4B, 55 Elm Ave", ""]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "BRL", "CHF"]
TIMEZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Sao_Paulo", "Asia/Kolkata"]
LOCALES = ["en-US", "de-DE", "ja-JP", "pt-BR", "fr-FR", "es-ES"]
COLORS = ["#FF5733", "#33FF57", "#3357FF", "#000000", "#FFFFFF", "#A1B2C3", "#FFC0CB"]
AMOUNTS = [0.1, 1234.5, 0.0, 99.99, 1000000.0, 19.95, 250.0, 0.01, 7.5]

OFFSETS = [
    (0, "Z"),
    (0, "+00:00"),
    (-5 * 3600, "-05:00"),
    (2 * 3600, "+02:00"),
    (19800, "+05:30"),
    (-8 * 3600, "-08:00"),
]
EPOCH_START = 1577836800  # 2020-01-01T00:00:00Z
EPOCH_SPAN = 5 * 365 * 86400


def format_ts(epoch: int, rng: random.Random) -> str:
    off, label = rng.choice(OFFSETS)
    dt = datetime.fromtimestamp(epoch, tz=timezone(timedelta(seconds=off)))
    if rng.random() < 0.3:
        dt = dt.replace(microsecond=rng.randrange(1_000_000))
    text = dt.isoformat()
    return text[:-6] + "Z" if label == "Z" else text


# ---------------------------------------------------------------------------------------------------------
# schema helpers
# ---------------------------------------------------------------------------------------------------------


def _null_schema(schema: dict[str, Any], nullable: bool) -> dict[str, Any]:
    if not nullable:
        return schema
    out = dict(schema)
    typ = out["type"]
    out["type"] = [typ, "null"] if isinstance(typ, str) else [*typ, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _maybe_null(gen: Gen, nullable: bool, p: float = 0.2) -> Gen:
    if not nullable:
        return gen

    def g(rng: random.Random, ctx: dict[str, Any]) -> Any:
        return None if rng.random() < p else gen(rng, ctx)

    return g


def field(name: str, schema: dict[str, Any], gen: Gen, nullable: bool = False, p_null: float = 0.2) -> Field:
    return Field(name, _null_schema(schema, nullable), _maybe_null(gen, nullable, p_null))


def choice(pool: Sequence[Any]) -> Gen:
    return lambda rng, ctx: rng.choice(pool)


def text(name: str, pool: Sequence[str], nullable: bool = False, desc: str | None = None) -> Field:
    schema: dict[str, Any] = {"type": "string"}
    if desc:
        schema["description"] = desc
    return field(name, schema, choice(pool), nullable)


def enum(name: str, values: Sequence[str], nullable: bool = False) -> Field:
    return field(name, {"type": "string", "enum": list(values)}, choice(values), nullable)


def integer(name: str, lo: int, hi: int, nullable: bool = False) -> Field:
    return field(name, {"type": "integer"}, lambda rng, ctx: rng.randint(lo, hi), nullable)


def number(name: str, nullable: bool = True) -> Field:
    def gen(rng: random.Random, ctx: dict[str, Any]) -> float:
        if rng.random() < 0.4:
            return rng.choice(AMOUNTS)
        return round(rng.uniform(0, 250_000), rng.choice([0, 1, 2]))

    return field(name, {"type": "number"}, gen, nullable)


def boolean(name: str, nullable: bool = False) -> Field:
    return field(name, {"type": "boolean"}, lambda rng, ctx: rng.random() < 0.5, nullable)


def created_at() -> Field:
    def gen(rng: random.Random, ctx: dict[str, Any]) -> str:
        ctx["created"] = EPOCH_START + rng.randrange(EPOCH_SPAN)
        return format_ts(ctx["created"], rng)

    return field("created_at", {"type": "string", "format": "date-time"}, gen)


def updated_at() -> Field:
    def gen(rng: random.Random, ctx: dict[str, Any]) -> str:
        base = ctx.get("created", EPOCH_START)
        return format_ts(base + rng.choice([0, rng.randrange(1, 400 * 86400)]), rng)

    return field("updated_at", {"type": "string", "format": "date-time"}, gen)


def timestamp(name: str, nullable: bool = True) -> Field:
    return field(
        name,
        {"type": "string", "format": "date-time"},
        lambda rng, ctx: format_ts(EPOCH_START + rng.randrange(EPOCH_SPAN), rng),
        nullable,
        p_null=0.3,
    )


def email(name: str = "email", nullable: bool = True) -> Field:
    return field(
        name,
        {"type": "string", "format": "email"},
        lambda rng, ctx: f"{rng.choice(EMAIL_LOCALS)}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}",
        nullable,
    )


def phone(name: str = "phone", nullable: bool = True) -> Field:
    return field(
        name,
        {"type": "string"},
        lambda rng, ctx: (
            rng.choice(["+1 555-01", "+49 30 1234", "+81 3-1234-", "(11) 9876-", ""])
            + (str(rng.randint(10, 99)) if rng.random() < 0.9 else "")
        ),
        nullable,
    )


def url(name: str, nullable: bool = True) -> Field:
    return field(
        name,
        {"type": "string", "format": "uri"},
        lambda rng, ctx: (
            f"https://{rng.choice(['www.example.com', 'files.example.org', 'example.net'])}"
            f"/{rng.choice(['a', 'docs', 'x/y'])}/{rng.randint(1, 99999)}"
        ),
        nullable,
    )


def string_array(name: str, pool: Sequence[str], max_len: int = 4) -> Field:
    def gen(rng: random.Random, ctx: dict[str, Any]) -> list[str]:
        return rng.sample(list(pool), rng.randint(0, min(max_len, len(pool))))

    return field(name, {"type": "array", "items": {"type": "string"}}, gen)


def enum_array(name: str, values: Sequence[str], max_len: int = 3) -> Field:
    def gen(rng: random.Random, ctx: dict[str, Any]) -> list[str]:
        return rng.sample(list(values), rng.randint(0, min(max_len, len(values))))

    return field(name, {"type": "array", "items": {"type": "string", "enum": list(values)}}, gen)


def obj(name: str, fields: Sequence[Field], nullable: bool = False) -> Field:
    schema = {
        "type": "object",
        "properties": {f.name: f.schema for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }

    def gen(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
        return {f.name: f.gen(rng, ctx) for f in fields}

    return field(name, schema, gen, nullable)


def obj_array(name: str, fields: Sequence[Field], max_len: int = 3) -> Field:
    item = obj("item", fields)

    def gen(rng: random.Random, ctx: dict[str, Any]) -> list[dict[str, Any]]:
        return [item.gen(rng, ctx) for _ in range(rng.randint(0, max_len))]

    return field(name, {"type": "array", "items": item.schema}, gen)


def address(name: str = "address", nullable: bool = True) -> Field:
    return obj(
        name,
        [
            text("street", STREETS),
            text("city", CITIES),
            text("postal_code", ["10115", "01310-100", "100-0005", "10001", "", "SW1A 1AA"], nullable=True),
            text("country", COUNTRIES),
        ],
        nullable,
    )


# ---------------------------------------------------------------------------------------------------------
# reference ids: integers (CRM, projects) or prefixed strings (leads)
# ---------------------------------------------------------------------------------------------------------

ID_STEP = 10  # generated ids leave gaps so churn can insert records between them
ID_WIDTH = 9


def format_str_id(prefix: str, key: int) -> str:
    return f"{prefix}_{key:0{ID_WIDTH}d}"


def ref(name: str, prefix: str | None, nullable: bool = False, upto: int = 50) -> Field:
    """A reference to another record: an integer id, or a string id with ``prefix`` (leads)."""
    if prefix is None:
        return field(name, {"type": "integer"}, lambda rng, ctx: rng.randint(1, upto) * ID_STEP, nullable)
    return field(
        name,
        {"type": "string"},
        lambda rng, ctx: format_str_id(prefix, rng.randint(1, upto) * ID_STEP),
        nullable,
    )


def ref_array(name: str, prefix: str | None, max_len: int = 4) -> Field:
    item = ref("item", prefix)

    def gen(rng: random.Random, ctx: dict[str, Any]) -> list[Any]:
        return [item.gen(rng, ctx) for _ in range(rng.randint(0, max_len))]

    return field(name, {"type": "array", "items": item.schema}, gen)
