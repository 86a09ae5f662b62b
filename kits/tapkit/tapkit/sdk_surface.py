"""The singer-sdk names the kit relies on that the SDK does not promise to keep, each with the reason
no public hook serves, and a fingerprint of the SDK source the kit was written against.

Everything else the kit uses is public (``build_prepared_request``, ``get_url``, ``get_batches``,
``finalize_state_progress_markers``, ``state_writer``, ``load_state``, ``cb_config``, ...).
``tests/test_sdk_surface.py`` fails when the installed SDK's source of any name below differs from its
fingerprint, and when the kit's code reaches a private SDK name not listed here: an SDK upgrade that
changes one of them is then a visible decision (read the new source, adapt the kit, record the new
fingerprint), never a feature bypassed in silence as the dry run once was.
"""

from __future__ import annotations

# qualified name in singer-sdk -> (first 16 hex digits of sha256 of its source, why the kit needs it)
PRIVATE: dict[str, tuple[str, str]] = {
    "singer_sdk.streams.core.Stream._sync_records": (
        "8928dc7f50e9bf57",
        "overridden: the fast path writes a page of records in one write; the SDK has no public hook "
        "for writing records in bulk. Everything that needs the SDK's per-record path (stream maps, "
        "flattening, post_process, dry-run limits, incremental state, ACTIVATE_VERSION) is routed back "
        "to it, so a change here can mean a new per-record feature the fast path must route too.",
    ),
    "singer_sdk.streams.core.Stream._generate_record_messages": (
        "9b5f9fbcdedb7a1a",
        "called for BATCH files the SDK's batcher writes (Parquet, and streams off the fast path): the "
        "SDK's get_batches hands the batcher records without deselection, conformance or the stream map; "
        "this is the one step that applies them, as for a RECORD message.",
    ),
    "singer_sdk.tap_base.Tap._handle_termination": (
        "2bb79ae47769883a",
        "overridden: on SIGTERM/SIGINT the tap finishes the line being written, writes its state and "
        "exits non-zero; the SDK exits 0 and may cut a line. There is no public signal hook.",
    ),
    "singer_sdk.plugin_base.PluginBase._handle_termination": (
        "d467c7407cf55b00",
        "what Tap._handle_termination ends in (the kit does not call it, but replaces it).",
    ),
    "singer_sdk.plugin_base.PluginBase._validate_config": (
        "0584b9e347e353fa",
        "overridden: one line per bad setting naming it, numbers from strings and decimals, header "
        "settings checked for control characters, unknown settings named, secrets masked from here on; "
        "the SDK has no public validation hook.",
    ),
    "singer_sdk.plugin_base.PluginBase.config": (
        "cc888b8b4cf16e36",
        "read-only view of PluginBase._config, which _validate_config writes the normalized values to "
        "(the only way to change a setting's value before streams read it).",
    ),
}

# Private modules imported for type hints only: the public get_batches hook is typed with them.
TYPE_ONLY = ("singer_sdk.helpers._batch",)
