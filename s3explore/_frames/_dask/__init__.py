"""Analysis on Dask: ``store.to_dask`` (a Dask DataFrame) and ``store.map_objects`` (a bag).

Dask schedules; s3explore only cuts the work. Partitions are key ranges computed in the
index store (``_plan``); each task queries its slice of the index and fetches its objects in
parallel inside the worker (``s3_workers`` threads, as ``query_df`` does in one process).
Stores travel to workers copied without their clients and reconnect there (``_workers``);
an index that lives in this process's memory is refused before any task runs when the
workers are other processes. With ``fetch=``, derived columns (functions, structure recipes)
are computed in the tasks, the meta's sample included, and partitions are sized by the bytes
they download and the cluster's threads (``_sizing``).

Progress: in a notebook, ``client.dashboard_link`` and
``distributed.progress(frame.persist())`` (a widget; text in a terminal); with the local
schedulers, ``with dask.diagnostics.ProgressBar(): frame.compute()``.

Warnings raised inside a task (a missing object, an unknown fetch path) are issued in the
worker that ran it: in a distributed cluster they appear in its log
(``client.get_worker_logs()``), not in the notebook.
"""

from __future__ import annotations

from typing import Any

from s3explore._checks import ON_ERROR_READ, deprecated_choice, one_of
from s3explore._errors import ConfigurationError, MissingDependencyError, QueryError, warn
from s3explore._frames._columns import setting
from s3explore._frames._dask._meta import build_meta, conform, covered, gaps
from s3explore._frames._dask._plan import Slice, plan
from s3explore._frames._dask._sizing import PARTITION_BYTES, PARTITION_SIZE, sizer
from s3explore._frames._dask._workers import StoreRef, check_travel
from s3explore._frames._inventory import inventory
from s3explore._frames._read import BATCH_SIZE, fetch_spec, index_of, index_query
from s3explore._query import check_fields

_MISSING = "to_dask and map_objects need Dask: pip install 's3explore[dask]'"
try:
    import dask
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(_MISSING) from exc

__all__ = ["PARTITION_BYTES", "PARTITION_SIZE", "Slice", "map_objects", "plan", "to_dask"]

MAP_PARTITION_SIZE = 1_000
META_SAMPLE = 100


def _query_df(store: Any, criteria: Any, fields: Any, limit: int, fetch: Any, flatten: bool,
              batch_size: int) -> Any:
    from s3explore._frames import query_df

    key = index_of(store).key
    return query_df(store, criteria, fields, {key: 1}, 0, limit, fetch=fetch, flatten=flatten,
                    batch_size=batch_size, parse_dates=False)


def _collections() -> tuple[Any, Any]:
    """dask.dataframe and dask.bag, imported when a graph is built: a worker unpickling this
    module's tasks needs neither (about a second of imports saved on its first task)."""
    try:
        import dask.bag as db
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(_MISSING) from exc
    return dd, db


def _meta(store: Any, criteria: Any, sample: Any, fields: list[str] | None,
          fetch: list[str], flatten: bool) -> Any:
    """The frame's meta: from the sample and a few counts when it shows every field asked
    for, else from the sample and the index's inventory (which reads the whole index)."""
    index = index_of(store)
    if covered(sample, fields, flatten):
        criteria = index_query(index, criteria, None, None, 0, 0).criteria
        try:
            sparse = gaps(index, criteria, sample, fetch)
        except QueryError:  # an index without null matches: the inventory tells instead
            pass
        else:
            return build_meta(sample, None, index.key, fields, fetch, flatten, sparse)
    table = inventory(store, None)
    if not table.attrs.get("complete", True) and fields is None:
        warn(f"the columns come from a sample of {table.attrs.get('sampled')} index entries; "
             "a field that none of them has is left out of the frame, with a warning from "
             "the partition that meets it: pass fields= to choose the columns")
    return build_meta(sample, table, index.key, fields, fetch, flatten)


def read_partition(part: Slice, ref: StoreRef, fields: list[str] | None, fetch: Any,
                   flatten: bool, batch_size: int, meta: Any) -> Any:
    """One partition, run in a worker: its slice of the index, its objects fetched and its
    derived fetch columns computed there."""
    with ref.use() as store:
        frame = _query_df(store, part.criteria, fields, 0, fetch, flatten, batch_size)
    return conform(frame, meta, part.start, f"partition {part.number} ({part!r})")


def read_sample(criteria: Any, ref: StoreRef, fields: list[str] | None, fetch: Any,
                flatten: bool, batch_size: int) -> Any:
    """The first entries, read (objects fetched, fetch columns computed) where tasks run."""
    with ref.use() as store:
        return _query_df(store, criteria, fields, META_SAMPLE, fetch, flatten, batch_size)


def _sample(store: Any, ref: StoreRef, criteria: Any, fields: list[str] | None, fetch: Any,
            flatten: bool, batch_size: int, client: Any) -> Any:
    """The sample the meta is taken from. With fetch=, it is a task of its own, so objects
    are read and fetch functions and recipes run on the workers, as for the partitions."""
    if not fetch:
        return _query_df(store, criteria, fields, META_SAMPLE, fetch, flatten, batch_size)
    task = dask.delayed(read_sample, pure=True)(criteria, ref, fields, fetch, flatten,
                                                batch_size, dask_key_name="s3explore-sample-"
                                                + dask.base.tokenize(ref, criteria, fields,
                                                                     fetch, flatten))
    return client.compute(task).result() if client is not None else task.compute()


def to_dask(store: Any, criteria: dict | None = None, fields: list[str] | None = None, *,
            fetch: list[str] | dict | None = None, flatten: bool = True,
            partition_size: int | None = None, partition_bytes: int = PARTITION_BYTES,
            batch_size: int = BATCH_SIZE, client: Any = None) -> Any:
    """A Dask DataFrame of the index entries matching ``criteria``, in key order.

    The same columns and conventions as ``query_df(criteria, fields, fetch=fetch,
    flatten=flatten, parse_dates=False)`` (ISO 8601 text stays text: each partition would
    decide alone whether a column holds only dates), derived fetch columns (functions,
    ``(path, recipe)`` pairs) included; its rows are those of
    ``query_df(..., sort={key: 1})`` and so is its index (0..n-1). Objects are fetched, and
    fetch functions and recipes run, in the tasks (on the workers of a cluster): functions
    travel serialized by Dask (which handles lambdas and closures too), and recipes need
    pymatgen where the tasks run.
    Fetch columns of integers or booleans are nullable (``Int64``, ``boolean``): any object
    may be missing.

    Partitions are key ranges, each read by one task. Without fetch=, ``partition_size``
    entries each (default 10,000). With fetch=, unless ``partition_size`` is given, each
    partition holds as many entries as fit in ``partition_bytes`` of stored objects (the
    mean size estimated from a few HEAD requests; default 64 MiB), at most 10,000, and at
    least one partition per thread of the active distributed cluster. ``client``: the
    distributed Client it will run on, when not the default one.

    Raises before any task runs: QueryError for bad criteria or an unknown field,
    ConfigurationError for fetch= on an index store, a bad fetch spec or an index the
    workers cannot read.
    """
    fields = check_fields(fields)
    paths, derived = fetch_spec(store, fetch)
    names = paths + [n for n in derived if n not in paths]  # the fetch columns
    flatten = bool(flatten)
    batch_size = setting(batch_size, "batch_size")
    partition_bytes = setting(partition_bytes, "partition_bytes")
    if partition_size is not None or not names:
        slices = plan(store, criteria, PARTITION_SIZE if partition_size is None
                      else partition_size)
    else:
        slices = plan(store, criteria, None, sizer(store, partition_bytes, client))
    check_travel(store, client)
    ref = StoreRef(store)
    first = slices[0].criteria if slices else criteria
    sample = _sample(store, ref, first, fields, fetch if names else None, flatten, batch_size,
                     client)
    meta = _meta(store, criteria, sample, fields, names, flatten)
    dd, _ = _collections()
    with dask.config.set({"dataframe.convert-string": False}):  # keep query_df's dtypes
        if not slices:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(read_partition, slices, args=[ref, fields, fetch if names else None,
                                                         flatten, batch_size, meta],
                           meta=meta, label="s3explore-read", enforce_metadata=False)


def map_partition(part: Slice, ref: StoreRef, func: Any, properties: list[str] | None,
                  on_missing: str, on_error: str) -> list:
    with ref.use() as store:
        key = index_of(store).key
        options = {"on_missing": on_missing, "on_error": on_error} if hasattr(
            store, "get_many") else {}
        docs = store.query(part.criteria, properties, {key: 1}, **options)
        out = []
        for doc in docs:
            try:
                out.append(func(doc))
            except Exception as exc:
                _note_key(exc, func, key, doc, store)
                raise
        return out


def _note_key(exc: Exception, func: Any, key: str, doc: Any, store: Any) -> None:
    """``exc`` stays as raised (its type kept, so callers' ``except`` still match), with a
    note naming the document it was raised for and ``exc.s3explore_key`` holding its key."""
    value = doc.get(key) if isinstance(doc, dict) else None
    name = getattr(func, "__qualname__", None) or type(func).__name__
    exc.s3explore_key = value  # type: ignore[attr-defined]
    exc.add_note(f"raised by map_objects' func {name} for the document with {key} = "
                 f"{value!r:.100} in {getattr(store, 'name', 'the store')}")


def map_objects(store: Any, func: Any, criteria: dict | None = None, *,
                properties: list[str] | None = None,
                partition_size: int = MAP_PARTITION_SIZE, on_missing: str = "skip",
                on_error: str = "raise", client: Any = None) -> Any:
    """``func(doc)`` for every document matching ``criteria``, in key order, on Dask.

    Documents are decoded whole (or projected onto ``properties``) in the worker, fetched
    in parallel there; ``on_missing``/``on_error`` as in ``S3Store.query``. Returns a
    ``dask.bag.Bag`` with one partition per ``partition_size`` entries; with ``client=``
    (a ``distributed.Client``), the work is submitted at once and a list of futures comes
    back, one per partition, each holding the list of that partition's results.
    """
    if not callable(func):
        raise ConfigurationError(f"func must be callable, such as a function of one "
                                 f"document, got {type(func).__name__}")
    properties = check_fields(properties, "properties")
    # checked here, not in every task: "none" is the deprecated spelling of "null"
    on_missing = deprecated_choice(on_missing, "on_missing", "none", "null")
    one_of(on_missing, "on_missing", ("skip", "raise", "null"))
    one_of(on_error, "on_error", ON_ERROR_READ)
    slices = plan(store, criteria, partition_size)
    check_travel(store, client)
    ref = StoreRef(store)
    token = dask.base.tokenize(ref, func, properties, on_missing, on_error,
                               [part.criteria for part in slices])
    parts = [dask.delayed(map_partition, pure=True)(
        part, ref, func, properties, on_missing, on_error,
        dask_key_name=("s3explore-map-" + token, part.number)) for part in slices]
    _, db = _collections()
    bag = db.from_delayed(parts) if parts else db.from_sequence([], npartitions=1)
    if client is None:
        return bag
    return client.compute(bag.to_delayed())
