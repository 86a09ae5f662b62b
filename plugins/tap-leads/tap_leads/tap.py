"""tap-leads: Singer tap for the leads API."""

from __future__ import annotations

from tap_leads.streams import STREAMS
from tapkit import RestTap


class TapLeads(RestTap):
    """Singer tap for the leads API (v2): 14 streams, X-API-KEY auth, loss-free offset pagination."""

    name = "tap-leads"
    default_base_url = "https://api.example.com/v2"
    stream_types = STREAMS


if __name__ == "__main__":
    TapLeads.cli()
