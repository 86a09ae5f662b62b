"""Which numbers DECIMAL(38,18) holds exactly: the check that refuses the rest instead of rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from target_duckdb_bulk.warehouse import SUSPECT_NUMBER, fits_number


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        (Decimal("1234567890.123456789"), True),
        (Decimal("0.123456789012345678"), True),
        (Decimal("0.1234567890123456789"), False),
        (Decimal("1.50000000000000000000000"), True),  # trailing zeros lose nothing
        (Decimal("99999999999999999999.5"), True),
        (Decimal("100000000000000000000"), False),
        (Decimal("1E-7"), True),
        (Decimal("1E-19"), False),
        (Decimal("1E+19"), True),
        (10**19, True),
        (10**20, False),
        ("not a number", True),  # the type check reports it, not this one
    ],
)
def test_fits_number(value: object, fits: bool) -> None:
    assert fits_number(value) is fits


@pytest.mark.parametrize(
    ("line", "suspect"),
    [
        ('{"a":1.5,"b":"x"}', False),
        ('{"a":0.1234567890123456789}', True),
        ('{"a":123456789012345678901}', True),
        ('{"a":1e-7}', True),
        ('{"a":[1,2.5E3]}', True),
        ('{"a":"3e4 in a string, not after a colon"}', False),
    ],
)
def test_suspect_lines(line: str, suspect: bool) -> None:
    import re

    assert bool(re.search(SUSPECT_NUMBER, line)) is suspect
