"""tap-projects: Singer tap for the projects / jobs API."""

from __future__ import annotations

from tap_projects.streams import STREAMS
from tapkit import RestTap


class TapProjects(RestTap):
    """Singer tap for the projects / jobs API: 5 streams, bearer auth, loss-free from/size pagination."""

    name = "tap-projects"
    default_base_url = "https://api.example.com"
    stream_types = STREAMS


if __name__ == "__main__":
    TapProjects.cli()
