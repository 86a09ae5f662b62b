"""Every form a key can take in printed text is masked, in log records and exception text alike."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from urllib.parse import quote, quote_plus

import pytest

from keyguard import MASK, RedactingFilter, Redactor, forms

KEY = "Ab+c/9=Zx-Q_w~K7"  # +, / and = as generated keys often hold


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def pieces(text: str, secret: str = KEY, size: int = 6) -> list[str]:
    """Six-character pieces of the key, raw or URL-encoded, found in ``text``."""
    variants = {secret, quote(secret, safe=""), quote_plus(secret), lower_hex(quote(secret, safe=""))}
    return [v[i : i + size] for v in variants for i in range(len(v) - size + 1) if v[i : i + size] in text]


@pytest.mark.parametrize(
    "text",
    [
        f"raw {KEY} in a message",
        f"GET /v2/leads?token={quote(KEY, safe='')}&offset=0",
        f"GET /v2/leads?token={lower_hex(quote(KEY, safe=''))}",
        f"form {quote_plus(KEY)} body",
        f"json {json.dumps({'key': KEY})}",
        f"repr {KEY.encode()!r} and {KEY!r}",
        f"Authorization: Basic {base64.b64encode(f'user:{KEY}'.encode()).decode()}",
        f"Authorization: Basic {base64.b64encode(f'u:{KEY}'.encode()).decode()}",
        f"Authorization: Basic {base64.b64encode(f'longer-user:{KEY}'.encode()).decode()}",
        f"pasted with a newline {KEY}\n and more",
    ],
)
def test_every_form_is_masked(text):
    redact = Redactor([KEY + "\n"])  # as pasted from a file: the stripped key is a form too
    out = redact(text)
    assert MASK in out
    assert pieces(out) == [], out
    assert base64.b64encode(KEY.encode()).decode()[2:10] not in out


def test_excerpt_masks_before_it_cuts():
    body = "x" * 195 + KEY + "y" * 50  # the key straddles the 200-character cut
    out = Redactor([KEY]).excerpt(body)
    assert pieces(out, size=4) == [] and len(out) <= 201


def test_short_values_are_not_treated_as_secrets():
    assert forms("ab") == set()
    assert Redactor(["ab", None, ""])("abc") == "abc"


def test_log_records_and_their_exceptions_come_out_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(Redactor([KEY])))
    logger = logging.getLogger("keyguard-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("redirect to %s", f"https://other.example/x?k={quote(KEY, safe='')}")
        try:
            raise ValueError(f"Invalid header value {(KEY + chr(10)).encode()!r}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "Invalid header value" in out and "redirect to" in out
    assert pieces(out) == [], out


def test_a_record_without_a_secret_keeps_its_arguments():
    """Formatters may read a record's parts: singer-sdk's structured formatter makes `METRIC: %s` with its
    point argument into the `metric_info` Meltano counts records by. Only a record holding a secret is
    flattened to its masked text."""
    point = ["record_count", 3]  # stands for singer-sdk's metrics.Point
    plain = logging.LogRecord("m", logging.INFO, __file__, 1, "METRIC: %s", (point,), None)
    secret = logging.LogRecord("m", logging.INFO, __file__, 1, "sent %s", (KEY,), None)
    keep = RedactingFilter(Redactor([KEY]))
    assert keep.filter(plain) and keep.filter(secret)
    assert (plain.msg, plain.args) == ("METRIC: %s", (point,))
    assert secret.args is None and pieces(secret.getMessage()) == [] and MASK in secret.getMessage()
