"""target-postgres-bulk's settings to libpq's parameters: pasted connection strings refused without their
password, TLS settings as MeltanoLabs target-postgres names them, certificates given as text kept private."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from loaderkit import LoadError
from target_postgres_bulk.warehouse import PostgresWarehouse

SECRET = "Pw-never-printed"


def _params(**config: Any) -> dict[str, Any]:
    warehouse = PostgresWarehouse({"user": "u", "database": "d", **config}, logging.getLogger("test"))
    try:
        return warehouse.connect_params()
    finally:
        warehouse.close()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("host", f"postgresql://u:{SECRET}@db.example:5432/d"),
        ("host", f"u:{SECRET}@db.example"),
        ("database", f"dbname=d password={SECRET}"),
        ("user", f"u password={SECRET}"),
    ],
)
def test_a_connection_string_in_a_setting_is_refused_without_its_value(setting: str, value: str) -> None:
    with pytest.raises(LoadError) as refused:
        _params(**{setting: value})
    assert f"setting {setting!r} holds a connection string" in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_user_name_with_an_at_sign_is_a_user_name() -> None:
    assert _params(user="loader@myserver")["user"] == "loader@myserver"


def test_tls_off_leaves_libpq_its_default_and_on_means_verify_full() -> None:
    assert not {"sslmode", "sslrootcert", "sslcert", "sslkey"} & set(_params())
    on = _params(ssl_enable=True, ssl_certificate_authority="~/ca.pem")
    assert on["sslmode"] == "verify-full" and on["sslrootcert"] == str(Path("~/ca.pem").expanduser())


def test_tls_settings_that_would_be_ignored_are_refused() -> None:
    with pytest.raises(LoadError, match="'ssl_mode' is set but 'ssl_enable' is off"):
        _params(ssl_mode="verify-full")
    with pytest.raises(LoadError, match="'ssl_client_private_key' is not set"):
        _params(ssl_client_certificate_enable=True, ssl_client_certificate="/c.pem")


def test_certificates_given_as_text_go_to_private_files() -> None:
    """MeltanoLabs takes a certificate itself or a path; text lands in a 0600 file of a 0700 folder."""
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    config = {
        "user": "u",
        "database": "d",
        "ssl_enable": True,
        "ssl_mode": "verify-ca",
        "ssl_certificate_authority": pem.replace("PRIVATE KEY", "CERTIFICATE"),
        "ssl_client_certificate_enable": True,
        "ssl_client_certificate": pem.replace("PRIVATE KEY", "CERTIFICATE"),
        "ssl_client_private_key": pem,
    }
    warehouse = PostgresWarehouse(config, logging.getLogger("test"))
    try:
        params = warehouse.connect_params()
        assert params["sslmode"] == "verify-ca"
        for key in ("sslrootcert", "sslcert", "sslkey"):
            path = Path(params[key])
            assert path.stat().st_mode & 0o777 == 0o600, key
            assert path.parent.stat().st_mode & 0o777 == 0o700, key
        assert Path(params["sslkey"]).read_text() == pem
    finally:
        warehouse.close()
    assert not Path(params["sslkey"]).exists()
