r"""Connectomes from neuPrint/FlyWire-style CSV exports: a neurons table and a connections table.

A directory (or two files) holds

- a **neurons table**: one row per neuron with its id, optional ``x, y, z`` position
  columns and any other columns (cell type, class, side, transmitter, ...), which become
  :attr:`Connectome.node_data <gnnkit.brain.connectome.Connectome.node_data>`;
- a **connections table**: one row per (pre, post[, region]) pair with a synapse count and,
  optionally, a neurotransmitter type.

:func:`read_connectome_csv` returns a :class:`~gnnkit.brain.connectome.Connectome` with one
view per neurotransmitter type (``"acetylcholine"``, ``"gaba"``, ``"glutamate"``, ...),
weights = synapse counts, neurons renumbered ``0..N-1`` in the neurons table's order and
named by their original id (integer ids are also kept as ``node_data["id"]``, int64).
Column names come from a :class:`CsvLayout`: ``"neuprint"`` (``bodyId``, ``bodyId_pre``,
``bodyId_post``, ``weight``; the presynaptic neuron's ``predictedNt`` when the neurons
table has it), ``"flywire"`` (``root_id``, ``pre_root_id``, ``post_root_id``,
``syn_count``, ``nt_type``) or ``"gnnkit"`` (what :meth:`Connectome.write_csv
<gnnkit.brain.connectome.Connectome.write_csv>` writes); ``"auto"`` picks the one whose
columns the connections table has. The connections table is read in chunks, so a
FlyWire-size export (~140k neurons, several million rows) needs memory for the arrays
of ids and counts only. ``.csv.gz`` files are read as they are.

Needs pandas (``pip install gnnkit[brain]``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .connectome import _RESERVED_KEYS, Connectome

__all__ = ["CsvLayout", "CSV_LAYOUTS", "read_connectome_csv", "NT_NAMES"]

# one spelling per transmitter, so FlyWire's abbreviations and neuPrint's names give the same views
NT_NAMES = {
    "ach": "acetylcholine", "acetylcholine": "acetylcholine", "gaba": "gaba", "glut": "glutamate",
    "glutamate": "glutamate", "da": "dopamine", "dopamine": "dopamine", "ser": "serotonin", "5ht": "serotonin",
    "serotonin": "serotonin", "oct": "octopamine", "octopamine": "octopamine", "tyr": "tyramine",
    "tyramine": "tyramine", "his": "histamine", "histamine": "histamine",
}
_UNKNOWN = "unknown"
# only an empty field is missing: pandas' default would also read a neuron named "NA" or "null" as missing
_NA = {"keep_default_na": False, "na_values": [""]}


@dataclass(frozen=True)
class CsvLayout:
    """Column and file names of one export format.

    Attributes:
        id: neuron id column of the neurons table.
        pre, post: presynaptic and postsynaptic neuron id columns of the connections table.
        weight: synapse-count column (None: every row counts 1).
        nt: neurotransmitter column of the connections table (used when present).
        neuron_nt: neurotransmitter column of the neurons table, used for a connections
            table without ``nt``: each synapse takes its presynaptic neuron's transmitter.
        position: position columns of the neurons table (used when all are present); one
            column is read as ``"[x, y, z]"`` or ``"x y z"`` strings (neuPrint's
            ``somaLocation``, FlyWire's ``position``).
        neurons_files, connections_files: file names looked for in a directory, in order.
    """

    id: str
    pre: str
    post: str
    weight: str | None
    nt: str | None = None
    neuron_nt: str | None = None
    position: tuple[str, ...] = ("x", "y", "z")
    neurons_files: tuple[str, ...] = ("neurons.csv", "neurons.csv.gz")
    connections_files: tuple[str, ...] = ("connections.csv", "connections.csv.gz")


CSV_LAYOUTS: dict[str, CsvLayout] = {
    "neuprint": CsvLayout("bodyId", "bodyId_pre", "bodyId_post", "weight", None, "predictedNt",
                          neurons_files=("traced-neurons.csv", "neurons.csv", "neurons.csv.gz"),
                          connections_files=("traced-total-connections.csv", "connections.csv", "connections.csv.gz")),
    "flywire": CsvLayout("root_id", "pre_root_id", "post_root_id", "syn_count", "nt_type", "nt_type"),
    "gnnkit": CsvLayout("name", "pre", "post", "weight", "type",
                        connections_files=("synapses.csv", "connections.csv", "synapses.csv.gz")),
}


def _pandas():
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("read_connectome_csv needs pandas: pip install 'gnnkit[brain]'") from exc
    return pd


def _header(pd, path: str) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path} is empty; expected a CSV header row") from exc


def _pick(directory: str, candidates: Sequence[str], what: str) -> str:
    for name in candidates:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise ValueError(f"{what} table not found in {directory}: looked for {list(candidates)}; pass its path instead")


def _resolve_layout(pd, layout: str | CsvLayout, connections: str | None, directory: str | None) -> CsvLayout:
    if isinstance(layout, CsvLayout):
        return layout
    if layout != "auto":
        if layout not in CSV_LAYOUTS:
            raise ValueError(f"layout must be 'auto', a CsvLayout or one of {sorted(CSV_LAYOUTS)}, got {layout!r}")
        return CSV_LAYOUTS[layout]
    for lay in CSV_LAYOUTS.values():  # the first layout whose connections table is there with its columns
        path = connections
        if path is None:
            found = [os.path.join(directory, f) for f in lay.connections_files if os.path.isfile(os.path.join(directory, f))]
            if not found:
                continue
            path = found[0]
        cols = _header(pd, path)
        if lay.pre in cols and lay.post in cols:
            return lay
    raise ValueError(f"layout='auto' found no known layout: the connections table must have the pre/post columns of "
                     f"one of {[(k, v.pre, v.post) for k, v in CSV_LAYOUTS.items()]}; pass layout= or columns=")


def _require(cols: list[str], needed: Sequence[str | None], path: str) -> None:
    for c in needed:
        if c is not None and c not in cols:
            raise ValueError(f"{path} has no column {c!r}; its columns are {cols} (set the column names with columns=)")


def _show(x: Any) -> str:
    """A value as the file spelled it, for messages (numpy scalars without their ``np.int64(...)`` wrapper)."""
    x = x.item() if isinstance(x, np.generic) else x
    return "nothing (a truncated line?)" if x is None or (isinstance(x, float) and x != x) else repr(x)


def _ids(col: Any, integer: bool, column: str, path: str, offset: int) -> np.ndarray:
    """A chunk's id column (a pandas Series) as int64 (integer ids) or str, with the first bad row named."""
    arr = col.to_numpy()
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64 if integer else str)
    if integer:
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64, copy=False)
        bad = _first_bad_int(arr)
        raise ValueError(f"column {column!r} of {path} must hold integer neuron ids; data row {offset + bad + 1} holds "
                         f"{_show(arr[bad])}")
    missing = np.flatnonzero(col.isna().to_numpy())
    if missing.size:
        raise ValueError(f"column {column!r} of {path} has no value in data row {offset + int(missing[0]) + 1} "
                         f"(a truncated line?)")
    return arr.astype(str)


def _first_bad_int(arr: np.ndarray) -> int:
    """Index of the first entry that is not an integer (only on the failure path)."""
    for i, x in enumerate(arr.tolist()):
        try:
            if isinstance(x, float) and not x.is_integer():
                return i
            int(x)
        except (TypeError, ValueError, OverflowError):
            return i
    return 0


def _lookup(ids: np.ndarray, index: Any, column: str, path: str, offset: int) -> np.ndarray:
    """Row numbers of ``ids`` in the neurons table (a hash lookup in a pandas Index), unknown ids named."""
    pos = index.get_indexer(ids)  # [m], -1 where the id is not in the table
    bad = np.flatnonzero(pos < 0)
    if bad.size:
        raise ValueError(f"column {column!r} of {path} names neuron {_show(ids[bad[0]])} (data row "
                         f"{offset + int(bad[0]) + 1}), which is not in the neurons table")
    # int32 row numbers while the chunks pile up: half the memory of int64
    return pos.astype(np.int32 if len(index) < 2**31 else np.int64)


def _nt_label(x: Any, normalize: bool) -> str:
    if x is None or (isinstance(x, float) and x != x) or str(x).strip() == "":
        return _UNKNOWN
    s = str(x).strip()
    return NT_NAMES.get(s.lower(), s) if normalize else s


def read_connectome_csv(
    path: str | os.PathLike,
    connections: str | os.PathLike | None = None,
    *,
    layout: str | CsvLayout = "auto",
    columns: Mapping[str, Any] | None = None,
    reduce: str | None = "sum",
    normalize_nt: bool = True,
    node_columns: Sequence[str] | None = None,
    chunk_rows: int = 250_000,
) -> Connectome:
    """A connectome from a neurons table and a connections table (see the module docstring).

    Args:
        path: a directory holding both tables (file names from the layout), or the neurons
            table itself when ``connections`` is given.
        connections: the connections table (with ``path`` the neurons table).
        layout: ``"auto"``, ``"neuprint"``, ``"flywire"``, ``"gnnkit"`` or a :class:`CsvLayout`.
        columns: overrides of the layout's fields, e.g. ``{"weight": "count", "nt": None}``.
        reduce: how rows with the same (pre, post, transmitter) merge: ``"sum"`` (FlyWire
            lists one row per brain region) or None to keep them as parallel edges.
        normalize_nt: map transmitter spellings to one lower-case name (``NT_NAMES``:
            ``ACH`` and ``acetylcholine`` both give ``"acetylcholine"``); an empty value is
            ``"unknown"``. Without a transmitter column every synapse is ``"chemical"``.
        node_columns: neurons-table columns to keep as ``node_data`` (default: all but the
            id, the position columns and ``x``/``y``/``z``).
        chunk_rows: connections rows parsed at a time (bounds the parser's memory).

    Returns:
        A :class:`Connectome`: views in order of first appearance, float32 weights, names =
        the original ids as strings, ``node_data["id"]`` the int64 ids when they are integers.

    Raises:
        ImportError: pandas is missing.
        ValueError: a missing file or column, an unknown layout, duplicate or missing neuron
            ids, connections naming a neuron the neurons table lacks, non-numeric, missing or
            negative counts, non-integer ids, a malformed CSV line, positions with gaps,
            a ``node_data`` column named like a reserved key.
    """
    pd = _pandas()
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
    path = os.fspath(path)
    directory = None
    if connections is None:
        if not os.path.isdir(path):
            raise ValueError(f"path must be a directory holding both tables, or the neurons table with connections=..., "
                             f"got {path!r}")
        directory = path
    elif not os.path.isfile(path):
        raise ValueError(f"with connections=... given, path must be the neurons table file, got {path!r}")
    lay = _resolve_layout(pd, layout, None if connections is None else os.fspath(connections), directory)
    if columns:
        unknown = set(columns) - set(CsvLayout.__dataclass_fields__)
        if unknown:
            raise ValueError(f"columns names unknown layout field {sorted(unknown)[0]!r}; fields: "
                             f"{list(CsvLayout.__dataclass_fields__)}")
        lay = replace(lay, **{k: tuple(v) if k == "position" and v is not None else v for k, v in columns.items()})
    neurons_path = _pick(directory, lay.neurons_files, "neurons") if directory else path
    conn_path = _pick(directory, lay.connections_files, "connections") if directory else os.fspath(connections)

    # ---- neurons: ~10^5 rows, read whole
    ncols = _header(pd, neurons_path)
    _require(ncols, [lay.id], neurons_path)
    try:
        table = pd.read_csv(neurons_path, low_memory=False, **_NA)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{neurons_path} is not a well-formed CSV table: {exc}") from exc
    raw = table[lay.id].to_numpy()
    integer = raw.dtype.kind in "iu"
    if not integer and raw.dtype.kind == "f" and np.isfinite(raw).all() and (raw == np.round(raw)).all() and raw.size:
        raise ValueError(f"column {lay.id!r} of {neurons_path} holds floats; neuron ids must be integers or strings")
    ids = _ids(table[lay.id], integer, lay.id, neurons_path, 0)
    index = pd.Index(ids)  # built once; every chunk's ids are looked up in its hash table
    if not index.is_unique:
        dup = ids[index.duplicated()][0]
        raise ValueError(f"column {lay.id!r} of {neurons_path} lists neuron {_show(dup)} twice; ids must be unique")
    names = ids.astype(str).tolist()
    positions = None
    if lay.position and all(c in ncols for c in lay.position):
        try:
            if len(lay.position) == 1:  # one column of "[x, y, z]" / "x y z" strings (neuPrint somaLocation, FlyWire)
                parts = table[lay.position[0]].astype(str).str.strip().str.strip("[]()").str.split(r"[,\s]+", regex=True,
                                                                                                 expand=True)
                positions = parts.replace({"nan": np.nan, "": np.nan}).to_numpy(dtype=np.float64)
            else:
                positions = table[list(lay.position)].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"position columns {list(lay.position)} of {neurons_path} must hold numbers: {exc}") from exc
        gaps = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        if gaps.size:
            raise ValueError(f"neuron {names[gaps[0]]} of {neurons_path} has no finite position ({gaps.size} such "
                             f"neurons); fill them or pass columns={{'position': ()}} to load without positions")
    # position-like columns never become node data (they may be left out on purpose with position=())
    used = {lay.id, "x", "y", "z"} | set(lay.position or ())
    keep = [c for c in ncols if c not in used] if node_columns is None else list(node_columns)
    _require(ncols, keep, neurons_path)
    node_data: dict[str, Any] = {}
    for c in keep:  # a handful of columns, each converted whole
        if c in _RESERVED_KEYS:
            raise ValueError(f"neurons column {c!r} of {neurons_path} is named like a reserved node_data key "
                             f"{_RESERVED_KEYS}; choose the columns to keep with node_columns=")
        col = table[c]
        if col.dtype.kind in "biuf":
            node_data[c] = torch.from_numpy(col.to_numpy().copy())
        else:
            node_data[c] = col.fillna("").astype(str).tolist()
    if integer:
        given, id_tensor = node_data.get("id"), torch.from_numpy(ids.copy())
        if given is not None and not (isinstance(given, torch.Tensor) and torch.equal(given, id_tensor)):
            raise ValueError(f"{neurons_path} has a column 'id' besides the id column {lay.id!r} and it differs from it; "
                             f"the original ids are kept as node_data['id']: leave that column out with node_columns=")
        node_data["id"] = id_tensor

    # ---- connections: chunked
    ccols = _header(pd, conn_path)
    _require(ccols, [lay.pre, lay.post, lay.weight], conn_path)
    nt_col = lay.nt if lay.nt is not None and lay.nt in ccols else None
    neuron_nt = lay.neuron_nt if nt_col is None and lay.neuron_nt is not None and lay.neuron_nt in ncols else None
    types: dict[str, int] = {}
    src_parts, dst_parts, w_parts, code_parts = [], [], [], []
    offset = 0
    # every column is parsed (not usecols) so that a row with extra fields is an error, not silently cut
    reader = pd.read_csv(conn_path, chunksize=chunk_rows, low_memory=False,
                         dtype={nt_col: str} if nt_col else None, **_NA)
    try:
        for chunk in reader:  # one chunk of rows at a time; everything inside is vectorised
            m = len(chunk)
            src_parts.append(_lookup(_ids(chunk[lay.pre], integer, lay.pre, conn_path, offset), index, lay.pre,
                                     conn_path, offset))
            dst_parts.append(_lookup(_ids(chunk[lay.post], integer, lay.post, conn_path, offset), index, lay.post,
                                     conn_path, offset))
            if lay.weight is None:
                w = np.ones(m)
            else:
                w = pd.to_numeric(chunk[lay.weight], errors="coerce").to_numpy(dtype=np.float64)  # [m]
                bad = np.flatnonzero(~np.isfinite(w))
                if bad.size:
                    raise ValueError(f"column {lay.weight!r} of {conn_path} must hold synapse counts; data row "
                                     f"{offset + int(bad[0]) + 1} holds {_show(chunk[lay.weight].iloc[bad[0]])}")
                neg = np.flatnonzero(w < 0)
                if neg.size:
                    raise ValueError(f"column {lay.weight!r} of {conn_path} must be >= 0 (synapse counts); data row "
                                     f"{offset + int(neg[0]) + 1} holds {w[neg[0]]:g}")
            w_parts.append(w)
            if nt_col is not None:
                inv, labels = pd.factorize(chunk[nt_col].fillna("").astype(str))  # labels in order of first appearance
                local = np.asarray([types.setdefault(_nt_label(x, normalize_nt), len(types)) for x in labels.tolist()],
                                   dtype=np.int32)  # a handful of distinct labels per chunk
                code_parts.append(local[inv] if len(labels) else np.zeros(0, dtype=np.int32))
            offset += m
    except pd.errors.ParserError as exc:
        raise ValueError(f"{conn_path} is not a well-formed CSV table near data row {offset + 1}: {exc}") from exc
    finally:
        reader.close()
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, dtype=np.int64)
    weight = np.concatenate(w_parts) if w_parts else np.zeros(0)
    if nt_col is not None:
        code = np.concatenate(code_parts) if code_parts else np.zeros(0, dtype=np.int64)
    elif neuron_nt is not None:  # the presynaptic neuron's transmitter
        per_neuron = table[neuron_nt].to_numpy()
        labels, inv = np.unique(np.asarray([_nt_label(x, normalize_nt) for x in per_neuron.tolist()]), return_inverse=True)
        edge_label = inv.reshape(-1)[src]  # [E] label index of each synapse
        seen, first = np.unique(edge_label, return_index=True)
        seen = seen[np.argsort(first)]  # views in order of first appearance among the synapses
        types = {str(labels[i]): k for k, i in enumerate(seen.tolist())}
        lut = np.full(len(labels), -1, dtype=np.int64)
        lut[seen] = np.arange(seen.size)
        code = lut[edge_label]
    else:
        types = {"chemical": 0}
        code = np.zeros(src.size, dtype=np.int64)
    return Connectome.from_edges(src, dst, weight=weight, synapse_type=code, names=names,
                                 types=list(types) or ["chemical"], positions=positions, reduce=reduce,
                                 node_data=node_data)
