"""The singer-sdk names the loader kit relies on that the SDK does not promise to keep, each with the reason
no public hook serves, and a fingerprint of the SDK source the kit was written against.

Everything else the kit uses is public (``Target.get_sink``, ``sink_exists``, ``drain_one``, ``mapper``,
``Sink.start_batch``/``process_record``/``process_batch``/``process_batch_files``, ``tally_record_read``,
``record_counter_metric``, ``is_full``, ``max_size``, ``GenericSingerReader.process_lines``, ...).
``tests/test_sdk_surface.py`` fails when the installed SDK's source of any name
below differs from its fingerprint, and when the kit's code (or a loader's) reaches a private SDK name
not listed here: an SDK upgrade that changes one of them is then a visible decision (read the new
source, adapt the kit, record the new fingerprint), never a guarantee lost in silence.
"""

from __future__ import annotations

# qualified name in singer-sdk -> (first 16 hex digits of sha256 of its source, why the kit needs it)
PRIVATE: dict[str, tuple[str, str]] = {
    "singer_sdk.target_base.Target._process_record_message": (
        "08aaf4096e2d39e7",
        "overridden: turns the SDK's exceptions for a bad record (no SCHEMA yet, a key property "
        "missing, a schema violation) into one line naming stream, input line and record key. It is "
        "also the SDK's per-record path the fast path must give the same result as: a new step here "
        "(a new per-record feature) may have to make loaderkit.fastpath.fast_stream route records "
        "back to it.",
    ),
    "singer_sdk.target_base.Target._write_state_message": (
        "bf40aa5e36ebef4d",
        "overridden: waits for the loads running in the background before a STATE goes out (the SDK "
        "writes STATE only here, after draining every sink; there is no public hook between the drain "
        "and the write).",
    ),
    "singer_sdk.target_base.Target._handle_max_record_age": (
        "5762750ab1035404",
        "called by the fast path after each run of records it spools, where the SDK calls it after each "
        "record: drains every sink (and writes STATE) once records have waited "
        "batch_wait_limit_seconds. It reads _MAX_RECORD_AGE_IN_MINUTES (below).",
    ),
    "singer_sdk.target_base.Target._process_state_message": (
        "e27158e2b1e7ea6d",
        "keeps the latest STATE message in _latest_state (below), which the kit writes out as soon as "
        "the loads of every record before it are committed (the SDK writes it only after draining every "
        "sink).",
    ),
    "singer_sdk.sinks.core.Sink._validate_and_parse": (
        "970aadabcc4da8c7",
        "overridden: validates (when validate_records is on) without parsing date-time strings into "
        "datetime objects the spool would have to write back as text; the only hook between a record "
        "and its validation. It reads _validator (below).",
    ),
    "singer_sdk.sinks.batch.BatchSink._get_context": (
        "4e0d39040097dc9b",
        "called by the fast path to open a batch exactly as the SDK's record path does (a new batch "
        "context, then start_batch, which opens the spool file).",
    ),
}

# Private attributes the kit reads or sets -> (the listed function whose source uses it, so its
# fingerprint covers the attribute's meaning, and why).
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "_MAX_RECORD_AGE_IN_MINUTES": (
        "singer_sdk.target_base.Target._handle_max_record_age",
        "set per target from batch_wait_limit_seconds: the SDK has no setting for the age at which it "
        "drains every sink.",
    ),
    "_latest_state": (
        "singer_sdk.target_base.Target._process_state_message",
        "the latest STATE message read: the SDK has no public accessor for it.",
    ),
    "_validator": (
        "singer_sdk.sinks.core.Sink._validate_and_parse",
        "the sink's record validator, None unless validate_records is on: the fast path applies only "
        "when records are not validated in Python (the get_validator hook builds it, but the SDK keeps "
        "the result here).",
    ),
}

# Private modules imported for type hints only: the public process_batch_files hook is typed with them.
TYPE_ONLY = ("singer_sdk.helpers._batch",)
