"""The base of every bulk loader: settings both share, the message reader, and one-line failures."""

from __future__ import annotations

import copy
import functools
import os
import sys
import threading
import typing as t

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidRecord,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.helpers.capabilities import PluginCapabilities

from loaderkit.errors import LoadError, describe_key, short, without_value
from loaderkit.fastpath import fast_stream
from loaderkit.reader import BulkReader
from loaderkit.sink import BulkSink
from loaderkit.warehouse import Warehouse

DEFAULT_BATCH_ROWS = 100_000
DEFAULT_BATCH_SECONDS = 60

# Settings every bulk loader has, after its connection settings.
COMMON_SETTINGS: tuple[th.Property, ...] = (
    th.Property(
        "default_target_schema",
        th.StringType,
        title="Default target schema",
        description="Schema the tables land in. The Meltano definitions set $MELTANO_EXTRACT__LOAD_SCHEMA "
        "(the extractor's load_schema, which Meltano defaults to its namespace): one schema per tap "
        "(tap_crm, tap_projects, ...) or account, so taps whose streams share a name never share a table. "
        "Unset: the part before '-' of a stream named 'schema-table', else the database's "
        "default schema.",
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType,
        title="Batch size rows",
        default=DEFAULT_BATCH_ROWS,
        description="Most records of one stream spooled before they are loaded in one transaction.",
    ),
    th.Property(
        "batch_wait_limit_seconds",
        th.IntegerType,
        title="Batch wait limit seconds",
        default=DEFAULT_BATCH_SECONDS,
        description="Most seconds records wait before every stream is loaded and the STATE they cover "
        "is emitted (checked as messages arrive).",
    ),
    th.Property(
        "batch_files_keep",
        th.BooleanType,
        title="Keep BATCH files",
        default=False,
        description="Keep the files of the tap's BATCH messages after loading them. By default each "
        "file is removed once its load is committed, and when the load fails (the tap's next run "
        "extracts those records again).",
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        title="Validate records",
        default=False,
        description="Also validate every record against its full JSON schema in Python (slow). "
        "Without it the database checks each value's JSON type and format against its column, "
        "set-wise, and refuses a batch with a bad record.",
    ),
)


def loader_settings(*connection: th.Property, own: t.Iterable[th.Property] = ()) -> dict:
    """A loader's `config_jsonschema`: how to reach its database, the settings every bulk loader has
    (COMMON_SETTINGS), then the database's own."""
    return th.PropertiesList(*connection, *COMMON_SETTINGS, *own).to_dict()


class BulkTarget(Target):
    """A singer-sdk Target whose sinks spool to files and load them through the database's bulk path."""

    message_reader_class = BulkReader
    default_sink_class = BulkSink
    warehouse_class: type[Warehouse]
    default_schema_name = "public"
    # BulkSink loads a tap's BATCH files straight into the database.
    capabilities = [*Target.capabilities, PluginCapabilities.BATCH]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        # The reader asks loaderkit.fastpath, once per stream, whether its records take the fast path.
        kwargs.setdefault("message_reader", BulkReader(route=functools.partial(fast_stream, self)))
        super().__init__(*args, **kwargs)
        # One load at a time on the one connection; the database parallelises each load itself.
        self.max_parallelism = 1
        seconds = self.config.get("batch_wait_limit_seconds") or DEFAULT_BATCH_SECONDS
        # The SDK drains every sink (and only then emits STATE) when records are older than this.
        self._MAX_RECORD_AGE_IN_MINUTES = float(seconds) / 60
        self.warehouse = self.warehouse_class(self.config, self.logger)
        self.bulk_sinks: list[BulkSink] = []
        self.sdk_path_records = 0  # RECORD messages that took singer-sdk's record path
        # STATE owed once a load commits: (the load's number in the queue, the STATE), oldest first.
        self._owed_states: list[tuple[int, dict]] = []
        self._last_state_out: dict | None = None
        self._state_lock = threading.Lock()  # STATE goes out from the main or the load thread
        self.warehouse.loads.on_done = self._load_committed

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        super().append_builtin_config(config_jsonschema)
        # Records with key properties are always merged, without them appended: no load_method to choose.
        config_jsonschema["properties"].pop("load_method", None)

    @property
    def _line(self) -> int:
        return getattr(self.message_reader, "line_number", 0)

    def _process_record_message(self, message_dict: dict) -> None:
        self.sdk_path_records += 1
        record = message_dict.get("record", {})
        if not isinstance(record, dict):
            what = "null" if record is None else "an array" if isinstance(record, list) else short(record)
            raise LoadError(
                f"stream {message_dict.get('stream')!r}: line {self._line}: the record is {what}, "
                "not a JSON object"
            )
        try:
            super()._process_record_message(message_dict)
        except RecordsWithoutSchemaException:
            record = message_dict.get("record")
            raise LoadError(
                f"stream {message_dict.get('stream')!r}: line {self._line}: record "
                f"{describe_key(record, ['id'])} came before any SCHEMA message for the stream"
            ) from None
        except MissingKeyPropertiesError:
            stream = message_dict["stream"]
            keys = self._keys_of(stream)
            record = message_dict.get("record") or {}
            missing = [k for k in keys if k not in record]
            raise LoadError(
                f"stream {stream!r}: line {self._line}: record {describe_key(record, keys)} lacks key "
                f"propert{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))}"
            ) from None
        except InvalidRecord as exc:
            stream = message_dict["stream"]
            keys = self._keys_of(stream)
            raise LoadError(
                f"stream {stream!r}: line {self._line}: record "
                f"{describe_key(message_dict.get('record'), keys)} does not match its schema: "
                f"{str(exc).splitlines()[0]}"
            ) from None

    def _keys_of(self, stream: str) -> list[str]:
        return list(self.get_sink(stream).key_properties) if self.sink_exists(stream) else []

    def _write_state_message(self, state: dict) -> None:
        # Every load submitted so far must be committed before the STATE that covers it goes out. (The
        # SDK writes STATE only here, after draining every sink; overriding its private method is the
        # one way to wait for loads that run in the background.)
        self.warehouse.loads.wait()
        with self._state_lock:
            self._owed_states.clear()  # every load is committed: this STATE covers them all
            self._emit_state(state)

    # -- STATE for each committed load, as soon as it commits ------------------------------------
    #
    # The SDK writes STATE only after draining every sink (at the end, or when records have waited
    # batch_wait_limit_seconds), never after a full batch is loaded alone. So a run that fails after some
    # batches committed would end without the STATE covering them, and the next run would load them
    # again (twice, for a stream without key properties). Instead, whenever no sink holds spooled records,
    # every record read so far is in a load already submitted: the latest STATE is owed once that load
    # commits, and goes out from the load thread then, before the next load (which may fail) runs.

    def owe_state(self) -> None:
        """Called on the main thread after a load was submitted or a sink drained."""
        state = self._latest_state
        if state is None or any(sink.current_size for sink in self.bulk_sinks):
            return
        with self._state_lock:
            if state == self._last_state_out or (self._owed_states and self._owed_states[-1][1] == state):
                return
            self._owed_states.append((self.warehouse.loads.submitted, copy.deepcopy(state)))

    def _load_committed(self, number: int) -> None:
        """On the load thread, once load `number` and every load before it are committed."""
        with self._state_lock:
            ready = [state for owed, state in self._owed_states if owed <= number]
            if ready:
                self._owed_states = [(owed, s) for owed, s in self._owed_states if owed > number]
                self._emit_state(ready[-1])

    def _emit_state(self, state: dict) -> None:
        if state != self._last_state_out:  # (the same STATE twice in a row says nothing new)
            super()._write_state_message(state)
            self._last_state_out = copy.deepcopy(state)

    def process_endofpipe(self) -> None:
        fast = getattr(self.message_reader, "fast_records", 0)
        self.logger.info(
            "%d records spooled as the tap sent them (the fast path), %d through singer-sdk's record path",
            fast,
            self.sdk_path_records,
        )
        try:
            super().process_endofpipe()
            self.warehouse.loads.wait()
        finally:
            self.warehouse.close()

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; a failure we can explain ends with one line on stderr and exit code 1.

        Every file and directory the loader creates (spools, a DuckDB file and its folder) is for its
        owner alone (0600/0700), whatever umask it was started with: they hold records."""
        os.umask(os.umask(0o077) | 0o077)
        try:
            super().invoke(*args, **kwargs)
        except LoadError as exc:
            cls.logger.error("%s: %s", cls.name, exc)
            sys.exit(1)
        except ConfigValidationError as exc:
            errors = "; ".join(map(without_value, exc.errors)) or str(exc)
            cls.logger.error("%s: invalid config: %s", cls.name, errors)
            sys.exit(1)
