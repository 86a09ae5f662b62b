"""tap-crm: Singer tap for the CRM API."""

from __future__ import annotations

from tap_crm.streams import STREAMS
from tapkit import RestTap


class TapCRM(RestTap):
    """Singer tap for the CRM API: 11 streams, API key auth, loss-free offset pagination."""

    name = "tap-crm"
    default_base_url = "https://api.example.com"
    stream_types = STREAMS


if __name__ == "__main__":
    TapCRM.cli()
