"""Safe graph files: :func:`save` / :func:`load` an ``.npz`` that runs no code on load and is checked first.

The file is a plain ``.npz`` (read with ``allow_pickle=False``: no object can be built from
it) holding a JSON header and one array per field::

    __header__            uint8 [H]: UTF-8 JSON {"format": "gnnkit", "version": 1, "kind": "graph", "graph": {...}}
    graph.src, graph.dst  int64 [E]
    graph.batch_node_ptr  int64 [B + 1]  (batched graphs only: vertex offsets of the graphs, rising from 0 to N)
    graph.batch_edge_ptr  int64 [B + 1]  (edge offsets, rising from 0 to E)
    graph.ndata.<i>       the i-th ndata value; its key, dtype and shape are in the header
    graph.edata.<i>, graph.srcdata.<i>

The ``"graph"`` header section holds ``num_nodes``, ``num_src_nodes`` (``null`` unless
bipartite), ``num_edges``, ``batch_size`` (``null`` unless batched) and, per data mapping,
a list of ``{"key", "dtype", "shape"}``. Data keys live only in the header, so any string
is a valid key. :func:`load` checks the header (format, version, kind, types of every
field), that the members are exactly the ones it declares, and every array (dtype and
shape as declared, ids in range, offsets monotone and adding up) before it builds a
:class:`Graph`; anything wrong is a :class:`ValueError` naming the file and the field.

The zip archive's comment holds the SHA-256 (hex) of every byte before the comment-length
field, so any accidental change (a truncated copy, a flipped bit, even in a zip timestamp
no reader checks) fails :func:`load` before any array is read. The checksum guards
against damage, not against a crafted file (whoever crafts one can recompute it): that is
what the per-array checks are for.

Kinds: ``"graph"`` is written and read by :func:`_encode_graph` / :func:`_decode_graph`,
which take a member-name prefix so that a composite kind can nest several graphs in one
file. ``"hetero"`` (a :class:`HeteroGraph`, or a :class:`MultiViewGraph`, which loads back
as the HeteroGraph it is) stores per node type its count and ``hetero.node.<i>.ndata.<j>``
arrays, and per relation a ``"graph"`` section under ``hetero.rel.<i>.`` holding its edges
and edge data; :func:`load` checks every relation's sizes against its types' counts. A new
kind adds one encoder to :data:`_ENCODERS`, one decoder to :data:`_DECODERS` and a type
check in :func:`_kind_of`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from .checks import check_ids, check_indptr, read_npz
from .graph import Graph
from .hetero import HeteroGraph

__all__ = ["save", "load", "FORMAT", "VERSION"]

FORMAT = "gnnkit"
VERSION = 1
_HEADER = "__header__"
_DIGEST = 64  # hex characters of a SHA-256, the zip comment
_EOCD = b"PK\x05\x06"  # signature of the zip end-of-central-directory record (22 bytes + comment)
_MAX_HEADER = 1 << 24  # bytes of JSON a file may declare; a real header is a few hundred bytes per key

# dtype name in the header -> (torch dtype, numpy dtype it is stored as); bfloat16 has no numpy
# dtype and travels as its raw 16 bits
_DTYPES: dict[str, tuple[torch.dtype, np.dtype]] = {
    "bool": (torch.bool, np.dtype(np.bool_)),
    "uint8": (torch.uint8, np.dtype(np.uint8)),
    "int8": (torch.int8, np.dtype(np.int8)),
    "int16": (torch.int16, np.dtype(np.int16)),
    "int32": (torch.int32, np.dtype(np.int32)),
    "int64": (torch.int64, np.dtype(np.int64)),
    "float16": (torch.float16, np.dtype(np.float16)),
    "bfloat16": (torch.bfloat16, np.dtype(np.uint16)),
    "float32": (torch.float32, np.dtype(np.float32)),
    "float64": (torch.float64, np.dtype(np.float64)),
    "complex64": (torch.complex64, np.dtype(np.complex64)),
    "complex128": (torch.complex128, np.dtype(np.complex128)),
}
_DTYPE_NAME = {torch_dtype: name for name, (torch_dtype, _) in _DTYPES.items()}
_MAPPINGS = ("ndata", "edata", "srcdata")


# -------------------------------------------------------------------- saving
def _to_numpy(value: Tensor, where: str) -> np.ndarray:
    if value.dtype not in _DTYPE_NAME:
        raise TypeError(f"{where} has dtype {value.dtype}, which gnnkit files do not store; "
                        f"supported: {sorted(_DTYPES)}")
    value = value.detach().cpu().contiguous()
    if value.dtype == torch.bfloat16:
        value = value.view(torch.int16)  # raw bits; numpy has no bfloat16
        return value.numpy().view(np.uint16)
    return value.numpy()


def _data_entries(data: Any, prefix: str, where: str, arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The header list ``[{key, dtype, shape}]`` of a data mapping; its arrays go to ``prefix.<i>``."""
    entries = []
    for i, (key, value) in enumerate(data.items()):
        arr = _to_numpy(value, f"{where}[{key!r}]")
        entries.append({"key": key, "dtype": _DTYPE_NAME[value.dtype], "shape": list(arr.shape)})
        arrays[f"{prefix}.{i}"] = arr
    return entries


def _encode_graph(g: Graph, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header section and the arrays (member names starting with ``prefix``) of one :class:`Graph`."""
    meta: dict[str, Any] = {
        "num_nodes": g.num_nodes,
        "num_src_nodes": g.num_src_nodes if g.is_bipartite else None,
        "num_edges": g.num_edges,
        "batch_size": None if g.batch_num_nodes is None else g.batch_size,
    }
    arrays = {f"{prefix}src": g.src.cpu().numpy(), f"{prefix}dst": g.dst.cpu().numpy()}
    if g.batch_num_nodes is not None:
        for name, sizes in (("batch_node_ptr", g.batch_num_nodes), ("batch_edge_ptr", g.batch_num_edges)):
            arrays[f"{prefix}{name}"] = np.concatenate([[0], np.cumsum(sizes.cpu().numpy())]).astype(np.int64)
    for mapping in _MAPPINGS:
        # srcdata of a graph over one vertex set is ndata itself: stored once
        data = {} if mapping == "srcdata" and not g.is_bipartite else getattr(g, mapping)
        meta[mapping] = _data_entries(data, f"{prefix}{mapping}", f"g.{mapping}", arrays)
    return meta, arrays


def _encode_hetero(hg: HeteroGraph, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Node types (count, ndata) and relations (each a ``"graph"`` section of its edges and edata)."""
    if hg.is_block:
        raise TypeError("save stores whole heterogeneous graphs, not sampled blocks; save the graph they came from")
    arrays: dict[str, np.ndarray] = {}
    ntypes = [{"name": t, "num_nodes": hg.num_dst_nodes(t),  # not a block: the type's count
               "ndata": _data_entries(hg.ndata[t], f"{prefix}node.{i}.ndata", f"hg.ndata[{t!r}]", arrays)}
              for i, t in enumerate(hg.ntypes)]
    relations = []
    for i, rel in enumerate(hg.relations):
        g = hg[rel]
        # only edges and edge data: the node data of both ends is stored once, per type, above
        bare = Graph(g.src, g.dst, g.num_nodes, num_src_nodes=g.num_src_nodes, edata=dict(g.edata), _validate=False)
        meta, rel_arrays = _encode_graph(bare, f"{prefix}rel.{i}.")
        relations.append({"relation": list(rel), "graph": meta})
        arrays.update(rel_arrays)
    return {"ntypes": ntypes, "relations": relations}, arrays


_ENCODERS: dict[str, Callable[[Any, str], tuple[dict[str, Any], dict[str, np.ndarray]]]] = {
    "graph": _encode_graph, "hetero": _encode_hetero,
}


def _kind_of(obj: Any) -> str:
    if isinstance(obj, Graph):
        return "graph"
    if isinstance(obj, HeteroGraph):
        return "hetero"
    raise TypeError(f"save stores a gnnkit.Graph or gnnkit.HeteroGraph, got {type(obj).__name__}")


def save(path: str | Path, graph: Graph | HeteroGraph) -> None:
    """Write ``graph`` (structure, sizes, batch, ndata/edata/srcdata) to ``path`` as a checked ``.npz``.

    The file is written beside ``path`` and moved into place, so a killed write never
    leaves a half file under ``path``. ``path`` is used as given (no ``.npz`` is appended).

    Args:
        path: the file to write.
        graph: a Graph, or a HeteroGraph (MultiViewGraph included); data tensors of any
            bool/integer/float/complex dtype (moved to CPU).

    Raises:
        TypeError: ``graph`` is not a :class:`Graph`, or a data tensor has an unsupported dtype.
    """
    kind = _kind_of(graph)
    meta, arrays = _ENCODERS[kind](graph, f"{kind}.")
    header = {"format": FORMAT, "version": VERSION, "kind": kind, kind: meta}
    payload = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    write_checked_npz(path, {_HEADER: payload, **arrays})


def write_checked_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` of ``arrays`` with the SHA-256 zip comment :func:`load` verifies, written atomically.

    :func:`save` writes through this; tests use it to craft files whose checksum is right
    but whose arrays are not.
    """
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    body = buf.getvalue()
    if body[-22:-18] != _EOCD or body[-2:] != b"\x00\x00":  # numpy writes no comment, so the record ends the file
        raise RuntimeError("np.savez wrote an archive without a plain end record; cannot add the checksum")
    covered = body[:-2]  # everything up to the comment-length field
    digest = hashlib.sha256(covered).hexdigest().encode("ascii")
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(covered + struct.pack("<H", _DIGEST) + digest)
    os.replace(tmp, path)


def _verified_bytes(path: Path) -> bytes:
    """The file's bytes after its SHA-256 zip comment matched (see the module docstring)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected a file written by gnnkit.save)")
    content = path.read_bytes()
    tail = 22 + _DIGEST
    if len(content) < tail or content[-tail:-tail + 4] != _EOCD or content[-_DIGEST - 2:-_DIGEST] != struct.pack("<H", _DIGEST):
        raise ValueError(f"{path}: not a gnnkit graph file, or truncated (no checksum record at its end; "
                         f"{len(content)} bytes)")
    if hashlib.sha256(content[:-_DIGEST - 2]).hexdigest().encode("ascii") != content[-_DIGEST:]:
        raise ValueError(f"{path}: checksum mismatch: the file was changed or damaged after it was written")
    return content


# ------------------------------------------------------------------- loading
def _field(section: dict, name: str, where: str, kind: type, optional: bool = False) -> Any:
    if name not in section:
        raise ValueError(f"{where}: the header lacks the field {name!r}")
    value = section[name]
    if value is None and optional:
        return None
    # bool is an int subclass in Python: a header true/false must not pass as a size
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}: header field {name!r} must be {kind.__name__}"
                         f"{' or null' if optional else ''}, got {type(value).__name__} ({value!r})")
    return value


def _size(section: dict, name: str, where: str, optional: bool = False) -> int | None:
    value = _field(section, name, where, int, optional)
    if value is not None and not 0 <= value < 1 << 62:
        raise ValueError(f"{where}: header field {name!r} must lie in [0, 2**62), got {value}")
    return value


def _take(arrays: dict[str, np.ndarray], name: str, where: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"{where}: the header declares the field {name!r} but the file has no such array")
    return arrays.pop(name)


def _decode_data(entries: list, arrays: dict[str, np.ndarray], prefix: str, size: int, where: str) -> dict[str, Tensor]:
    """The tensors a header list of ``{key, dtype, shape}`` declares, each checked against its array."""
    out: dict[str, Tensor] = {}
    for i, entry in enumerate(entries):
        field = f"{prefix}.{i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: header entry {field!r} must be an object, got {type(entry).__name__}")
        key = _field(entry, "key", f"{where} ({field})", str)
        dtype = _field(entry, "dtype", f"{where} ({field})", str)
        shape = _field(entry, "shape", f"{where} ({field})", list)
        if key in out:
            raise ValueError(f"{where}: header field {prefix!r} lists the key {key!r} twice")
        if dtype not in _DTYPES:
            raise ValueError(f"{where}: field {field!r} ({key!r}) declares dtype {dtype!r}; supported: {sorted(_DTYPES)}")
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape) or shape[0] != size:
            raise ValueError(f"{where}: field {field!r} ({key!r}) declares shape {shape}; it must be non-negative "
                             f"integers starting with {size}")
        torch_dtype, stored = _DTYPES[dtype]
        arr = _take(arrays, field, where)
        if arr.dtype != stored or list(arr.shape) != shape:
            raise ValueError(f"{where}: field {field!r} ({key!r}) must be {stored} of shape {shape} as the header "
                             f"declares, got {arr.dtype} of shape {list(arr.shape)}")
        value = torch.from_numpy(np.ascontiguousarray(arr))
        out[key] = value.view(torch.bfloat16) if torch_dtype == torch.bfloat16 else value
    return out


def _decode_graph(meta: Any, arrays: dict[str, np.ndarray], prefix: str, where: str) -> Graph:
    """The :class:`Graph` of one header section; consumes its arrays from ``arrays``."""
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: header section {prefix[:-1]!r} must be an object, got {type(meta).__name__}")
    n = _size(meta, "num_nodes", where)
    ns = _size(meta, "num_src_nodes", where, optional=True)
    e = _size(meta, "num_edges", where)
    b = _size(meta, "batch_size", where, optional=True)
    if ns is not None and b is not None:
        raise ValueError(f"{where}: a bipartite graph (num_src_nodes set) cannot be batched (batch_size set)")
    src = check_ids(_take(arrays, f"{prefix}src", where), n if ns is None else ns, f"{where}: field '{prefix}src'")
    dst = check_ids(_take(arrays, f"{prefix}dst", where), n, f"{where}: field '{prefix}dst'")
    for name, ids in (("src", src), ("dst", dst)):
        if ids.dtype != np.int64 or ids.size != e:
            raise ValueError(f"{where}: field '{prefix}{name}' must be int64 of shape [{e}] (num_edges), "
                             f"got {ids.dtype} of shape {list(ids.shape)}")
    batch_nodes = batch_edges = None
    if b is not None:
        ptrs = []
        for name, total in (("batch_node_ptr", n), ("batch_edge_ptr", e)):
            ptr = check_indptr(_take(arrays, f"{prefix}{name}", where), b, total, f"{where}: field '{prefix}{name}'")
            if ptr.dtype != np.int64:
                raise ValueError(f"{where}: field '{prefix}{name}' must be int64, got {ptr.dtype}")
            ptrs.append(torch.from_numpy(np.diff(ptr)))
        batch_nodes, batch_edges = ptrs
        # every edge must join vertices of its own graph (Graph checks it too; here the message names the file)
        graph_of_node = np.repeat(np.arange(b), batch_nodes.numpy())
        graph_of_edge = np.repeat(np.arange(b), batch_edges.numpy())
        if e and ((graph_of_node[src] != graph_of_edge) | (graph_of_node[dst] != graph_of_edge)).any():
            raise ValueError(f"{where}: fields '{prefix}src'/'{prefix}dst' hold an edge joining two graphs of the batch "
                             f"('{prefix}batch_node_ptr'/'{prefix}batch_edge_ptr')")
    data = {}
    for mapping, size in (("ndata", n), ("edata", e), ("srcdata", n if ns is None else ns)):
        entries = _field(meta, mapping, where, list)
        if mapping == "srcdata" and ns is None and entries:
            raise ValueError(f"{where}: header field 'srcdata' must be empty for a graph that is not bipartite")
        data[mapping] = _decode_data(entries, arrays, f"{prefix}{mapping}", size, where)
    try:
        return Graph(torch.from_numpy(src), torch.from_numpy(dst), n, batch_nodes, batch_edges, ns,
                     ndata=data["ndata"], edata=data["edata"], srcdata=data["srcdata"] if ns is not None else None,
                     _copy=False)  # the arrays were just read from the file: nobody else holds them
    except (ValueError, TypeError) as exc:  # all checked above; this names the file if a check was missed
        raise ValueError(f"{where}: {exc}") from exc


def _decode_hetero(meta: Any, arrays: dict[str, np.ndarray], prefix: str, where: str) -> HeteroGraph:
    """The :class:`HeteroGraph` of a ``"hetero"`` header section; consumes its arrays."""
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: header section 'hetero' must be an object, got {type(meta).__name__}")
    counts: dict[str, int] = {}
    ndata: dict[str, dict[str, Tensor]] = {}
    for i, entry in enumerate(_field(meta, "ntypes", where, list)):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: header entry 'ntypes[{i}]' must be an object, got {type(entry).__name__}")
        name = _field(entry, "name", f"{where} (ntypes[{i}])", str)
        if name in counts:
            raise ValueError(f"{where}: header field 'ntypes' lists the node type {name!r} twice")
        counts[name] = _size(entry, "num_nodes", f"{where} (ntypes[{i}])")
        ndata[name] = _decode_data(_field(entry, "ndata", f"{where} (ntypes[{i}])", list), arrays,
                                   f"{prefix}node.{i}.ndata", counts[name], where)
    if not counts:
        raise ValueError(f"{where}: header field 'ntypes' must name at least one node type")
    edges: dict[tuple[str, str, str], tuple[Tensor, Tensor]] = {}
    edata: dict[tuple[str, str, str], dict[str, Tensor]] = {}
    for i, entry in enumerate(_field(meta, "relations", where, list)):
        at = f"{where} (relations[{i}])"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: header entry 'relations[{i}]' must be an object, got {type(entry).__name__}")
        rel = _field(entry, "relation", at, list)
        if len(rel) != 3 or not all(isinstance(p, str) for p in rel):
            raise ValueError(f"{at}: 'relation' must be [src_type, edge_type, dst_type] strings, got {rel!r}")
        rel = tuple(rel)
        if rel in edges:
            raise ValueError(f"{where}: header field 'relations' lists {rel!r} twice")
        for side, t in (("source", rel[0]), ("destination", rel[2])):
            if t not in counts:
                raise ValueError(f"{at}: {side} type {t!r} is not one of the node types {list(counts)}")
        g = _decode_graph(entry.get("graph"), arrays, f"{prefix}rel.{i}.", where)
        if g.num_nodes != counts[rel[2]] or g.num_src_nodes != counts[rel[0]] or g.batch_num_nodes is not None:
            raise ValueError(f"{at}: relation {rel!r} is stored over {g.num_src_nodes} -> {g.num_nodes} vertices, "
                             f"but its types count {counts[rel[0]]} -> {counts[rel[2]]} (and it must not be batched)")
        if len(g.ndata) or (g.is_bipartite and len(g.srcdata)):
            raise ValueError(f"{at}: a relation stores edge data only; node data belongs to 'ntypes'")
        edges[rel], edata[rel] = (g.src, g.dst), dict(g.edata)
    try:
        return HeteroGraph(counts, edges, ndata=ndata, edata=edata)
    except (ValueError, TypeError) as exc:  # all checked above; this names the file if a check was missed
        raise ValueError(f"{where}: {exc}") from exc


_DECODERS: dict[str, Callable[[Any, dict[str, np.ndarray], str, str], Any]] = {
    "graph": _decode_graph, "hetero": _decode_hetero,
}


def _header(arrays: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    raw = arrays.pop(_HEADER, None)
    if raw is None:
        raise ValueError(f"{where}: no {_HEADER!r} array; not a file written by gnnkit.save")
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_HEADER:
        raise ValueError(f"{where}: {_HEADER!r} must be uint8 [H] with H <= {_MAX_HEADER}, got {raw.dtype} {list(raw.shape)}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: {_HEADER!r} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header must be a JSON object, got {type(header).__name__}")
    if header.get("format") != FORMAT:
        raise ValueError(f"{where}: header field 'format' must be {FORMAT!r}, got {header.get('format')!r}")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
        raise ValueError(f"{where}: header field 'version' must be {VERSION} (this gnnkit reads version {VERSION}), "
                         f"got {version!r}")
    kind = header.get("kind")
    if kind not in _DECODERS:
        raise ValueError(f"{where}: header field 'kind' must be one of {sorted(_DECODERS)}, got {kind!r}")
    return header


def load(path: str | Path) -> Graph | HeteroGraph:
    """Read a file written by :func:`save`; no code runs, and every array is checked before use.

    Args:
        path: the file.

    Returns:
        The graph, with its data tensors on the CPU.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: anything else wrong: a checksum mismatch (truncated, damaged), not an npz, a missing or extra
            array, a header of the wrong format/version/kind or with badly typed fields, an
            array whose dtype or shape differs from the header, ids out of range, batch
            offsets that are not monotone or do not add up. The message names the file and
            the field.
    """
    where = str(path)
    arrays = read_npz(path, content=_verified_bytes(Path(path)))
    header = _header(arrays, where)
    kind = header["kind"]
    obj = _DECODERS[kind](header.get(kind), arrays, f"{kind}.", where)
    if arrays:
        raise ValueError(f"{where}: arrays {sorted(arrays)} are not declared by the header")
    return obj
