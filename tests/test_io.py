"""gnnkit.save / gnnkit.load: round trips, and damaged or crafted files that must all be a ValueError."""
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gnnkit
from gnnkit import Graph
from gnnkit.graph.io import write_checked_npz

ROOT = Path(__file__).resolve().parents[1]

# Loads each file named on stdin (one JSON list) in a child process and prints one outcome per file:
# "OK", or "<exception type>: <message>". A segfault kills the child, and the test sees its return code.
_LOADER = """
import json, sys
import gnnkit
out = []
for p in json.load(sys.stdin):
    try:
        gnnkit.load(p)
        out.append("OK")
    except Exception as exc:
        out.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


def load_in_subprocess(paths: list[Path]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _LOADER], input=json.dumps([str(p) for p in paths]),
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, f"the loader crashed (return code {proc.returncode}): {proc.stderr[-2000:]}"
    outcomes = json.loads(proc.stdout)
    assert len(outcomes) == len(paths)
    return outcomes


def assert_same(a: Graph, b: Graph) -> None:
    assert a.equal(b) and a.is_bipartite == b.is_bipartite
    for name in ("batch_num_nodes", "batch_num_edges"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None) and (x is None or torch.equal(x, y)), name
    for mapping in ("ndata", "edata", "srcdata"):
        da, db = getattr(a, mapping), getattr(b, mapping)
        assert list(da) == list(db), mapping
        for key in da:
            assert da[key].dtype == db[key].dtype and da[key].shape == db[key].shape, (mapping, key)
            torch.testing.assert_close(da[key], db[key], rtol=0, atol=0, equal_nan=True)


# ----------------------------------------------------------------- round trips
_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
           torch.float32, torch.float64, torch.complex64, torch.complex128]


def _random_tensor(shape: tuple, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    if dtype == torch.bool:
        return torch.rand(shape, generator=gen) < 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype) if not dtype.is_complex \
            else torch.randn(shape, generator=gen, dtype=dtype)
    return torch.randint(0, 100, shape, generator=gen, dtype=torch.int64).to(dtype)


@st.composite
def graphs_with_data(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    kind = draw(st.sampled_from(["plain", "bipartite", "batched"]))
    n = draw(st.integers(0 if kind != "batched" else 1, 8))
    ns = draw(st.integers(0, 8)) if kind == "bipartite" else n
    if kind == "bipartite" and ns == n:
        ns = n + 1  # equal sizes make an ordinary graph
    e = draw(st.integers(0, 12)) if min(n, ns) > 0 else 0
    src = torch.randint(0, max(ns, 1), (e,), generator=gen)
    dst = torch.randint(0, max(n, 1), (e,), generator=gen)

    def data(size: int) -> dict:
        keys = draw(st.lists(st.text(min_size=0, max_size=4), max_size=3, unique=True))
        return {k: _random_tensor((size, *draw(st.lists(st.integers(0, 3), max_size=2))),
                                  draw(st.sampled_from(_DTYPES)), gen) for k in keys}

    if kind == "batched":
        parts = []
        for size in draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)):
            m = draw(st.integers(0, 5)) if size else 0
            parts.append(Graph(torch.randint(0, max(size, 1), (m,), generator=gen),
                               torch.randint(0, max(size, 1), (m,), generator=gen), size))
        b = Graph.batch(parts)
        return Graph(b.src, b.dst, b.num_nodes, b.batch_num_nodes, b.batch_num_edges,
                     ndata=data(b.num_nodes), edata=data(b.num_edges))
    if kind == "bipartite":
        return Graph(src, dst, n, num_src_nodes=ns, ndata=data(n), edata=data(e), srcdata=data(ns))
    return Graph(src, dst, n, ndata=data(n), edata=data(e))


@settings(max_examples=40, deadline=None)
@given(g=graphs_with_data())
def test_save_load_round_trip_property(tmp_path_factory, g):
    path = tmp_path_factory.mktemp("rt") / "g.gnk"
    gnnkit.save(path, g)
    assert_same(gnnkit.load(path), g)


def test_round_trip_every_dtype_odd_keys_and_nan(tmp_path):
    gen = torch.Generator().manual_seed(0)
    ndata = {f"k/{i} ü": _random_tensor((4, 2), dt, gen) for i, dt in enumerate(_DTYPES)}
    ndata["nan"] = torch.tensor([float("nan"), float("inf"), -0.0, 1.0])
    ndata[""] = torch.zeros(4, 0, 3)
    g = Graph([0, 1, 3], [1, 2, 0], 4, ndata=ndata, edata={"edge_weight": torch.tensor([0.5, 1.0, 2.0])})
    gnnkit.save(tmp_path / "g.npz", g)
    assert_same(gnnkit.load(tmp_path / "g.npz"), g)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]  # written in place, no temporary file left


def test_round_trip_empty_graph_and_noncontiguous_data(tmp_path):
    g = Graph([], [], 0)
    gnnkit.save(tmp_path / "e", g)  # no suffix is added
    assert_same(gnnkit.load(tmp_path / "e"), g)
    x = torch.arange(12.0).view(3, 4).t()  # [4, 3], not contiguous
    h = Graph([0], [3], 4, ndata={"x": x})
    gnnkit.save(tmp_path / "h", h)
    assert_same(gnnkit.load(tmp_path / "h"), h)


def test_file_holds_only_plain_arrays(tmp_path):
    g = Graph([0, 1], [1, 0], 2, ndata={"x": torch.ones(2, 3)})
    gnnkit.save(tmp_path / "g.npz", g)
    with np.load(tmp_path / "g.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["__header__", "graph.dst", "graph.ndata.0", "graph.src"]
        header = json.loads(z["__header__"].tobytes())
    assert header["format"] == "gnnkit" and header["version"] == 1 and header["kind"] == "graph"
    assert header["graph"]["ndata"] == [{"key": "x", "dtype": "float32", "shape": [2, 3]}]


def test_save_rejects_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="save stores a gnnkit.Graph or gnnkit.HeteroGraph, got dict"):
        gnnkit.save(tmp_path / "x", {"src": [0]})
    g = Graph([0], [0], 1, ndata={"u": torch.zeros(1, dtype=torch.uint16)})
    with pytest.raises(TypeError, match=r"g\.ndata\['u'\] has dtype torch.uint16"):
        gnnkit.save(tmp_path / "x", g)


def test_load_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz does not exist"):
        gnnkit.load(tmp_path / "nowhere.npz")


def test_load_moves_nothing_to_the_gpu_and_reports_the_path(tmp_path):
    (tmp_path / "bad").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad: not a gnnkit graph file, or truncated"):
        gnnkit.load(tmp_path / "bad")


# ------------------------------------------------------------- the mutation fuzz
def _base_graph() -> Graph:
    parts = [Graph([0, 1, 2], [1, 2, 0], 3), Graph([0, 1], [1, 0], 2), Graph([], [], 1)]
    b = Graph.batch(parts)
    return Graph(b.src, b.dst, b.num_nodes, b.batch_num_nodes, b.batch_num_edges,
                 ndata={"x": torch.randn(6, 2), "train_mask": torch.tensor([1, 0, 1, 0, 1, 0], dtype=torch.bool)},
                 edata={"edge_weight": torch.rand(5, dtype=torch.float64)})


def _arrays_of(path: Path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop("__header__").tobytes()), arrays


def _write(path: Path, header, arrays: dict) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    write_checked_npz(path, {"__header__": np.frombuffer(raw, dtype=np.uint8), **arrays})
    return path


def _crafted(tmp_path: Path, base: Path) -> list[tuple[Path, str]]:
    """Files with a correct checksum whose header or arrays are wrong: (path, regex the error must match)."""
    header, arrays = _arrays_of(base)
    cases = []

    def case(name: str, match: str, header_fn=None, arrays_fn=None, raw_header: bytes | None = None):
        h, a = json.loads(json.dumps(header)), dict(arrays)
        if header_fn:
            header_fn(h)
        if arrays_fn:
            arrays_fn(a)
        cases.append((_write(tmp_path / f"crafted_{name}.npz", raw_header if raw_header is not None else h, a), match))

    def setter(section_path, value):
        def fn(h):
            target = h
            for k in section_path[:-1]:
                target = target[k]
            target[section_path[-1]] = value
        return fn

    def put(name, value):
        return lambda a: a.__setitem__(name, value)

    # wrong dtypes
    case("src_int32", r"'graph\.src' must be int64", arrays_fn=put("graph.src", arrays["graph.src"].astype(np.int32)))
    case("src_float", r"'graph\.src' must have a dtype of kind 'iu'", arrays_fn=put("graph.src", arrays["graph.src"].astype(np.float64)))
    case("src_2d", r"'graph\.src' must have 1 dimension", arrays_fn=put("graph.src", arrays["graph.src"].reshape(1, -1)))
    case("ndata_dtype", r"'graph\.ndata\.0' \('x'\) must be float32", arrays_fn=put("graph.ndata.0", arrays["graph.ndata.0"].astype(np.float64)))
    case("header_dtype", r"declares dtype 'object'", setter(["graph", "ndata", 0, "dtype"], "object"))
    case("ndata_big_endian", r"'graph\.ndata\.0' \('x'\) must be float32", arrays_fn=put("graph.ndata.0", arrays["graph.ndata.0"].astype(">f4")))
    case("ptr_float", r"batch_node_ptr.* must have a dtype of kind 'iu'", arrays_fn=put("graph.batch_node_ptr", np.array([0.0, 3, 5, 6])))
    cases.append((tmp_path / "crafted_header_uint16.npz", r"'__header__' must be uint8"))
    write_checked_npz(cases[-1][0], {"__header__": np.frombuffer(json.dumps(header).encode().ljust(1000), dtype=np.uint16),
                                     **arrays})
    # out-of-range ids and sizes
    case("src_too_big", r"'graph\.src' holds ids in \[0, 6\] but they must lie in \[0, 6\)",
         arrays_fn=put("graph.src", np.array([0, 1, 2, 3, 6])))
    case("dst_negative", r"'graph\.dst' holds ids in \[-1, 4\]", arrays_fn=put("graph.dst", np.array([1, 2, 0, 4, -1])))
    case("edge_across_graphs", r"edge joining two graphs", arrays_fn=put("graph.dst", np.array([1, 2, 3, 4, 3])))
    case("short_src", r"'graph\.src' must be int64 of shape \[5\]", arrays_fn=put("graph.src", np.array([0, 1, 2, 3])))
    case("ndata_rows", r"'graph\.ndata\.0' \('x'\) must be float32 of shape \[6, 2\]", arrays_fn=put("graph.ndata.0", np.zeros((5, 2), np.float32)))
    case("declared_shape", r"declares shape \[7, 2\]", setter(["graph", "ndata", 0, "shape"], [7, 2]))
    case("negative_shape", r"declares shape \[6, -2\]", setter(["graph", "ndata", 0, "shape"], [6, -2]))
    case("num_nodes_small", r"holds ids in .* must lie in \[0, 4\)", setter(["graph", "num_nodes"], 4))
    case("num_edges_big", r"must be int64 of shape \[9\]", setter(["graph", "num_edges"], 9))
    # non-monotone or inconsistent offsets
    case("ptr_decreasing", r"batch_node_ptr' must be non-decreasing",
         arrays_fn=put("graph.batch_node_ptr", np.array([0, 4, 3, 6])))
    case("ptr_wrong_end", r"batch_edge_ptr' must run from 0 to 5", arrays_fn=put("graph.batch_edge_ptr", np.array([0, 3, 5, 7])))
    case("ptr_wrong_start", r"batch_node_ptr' must run from 0 to 6", arrays_fn=put("graph.batch_node_ptr", np.array([1, 3, 5, 6])))
    case("ptr_length", r"batch_node_ptr' must have num_rows \+ 1 = 4 entries", arrays_fn=put("graph.batch_node_ptr", np.array([0, 6])))
    # crafted headers
    case("not_json", r"'__header__' is not UTF-8 JSON", raw_header=b"{not json")
    case("not_utf8", r"'__header__' is not UTF-8 JSON", raw_header=b"\xff\xfe")
    case("json_list", r"the header must be a JSON object, got list", raw_header=b"[1, 2]")
    case("deep_json", r"'__header__' is not UTF-8 JSON", raw_header=b"[" * 100000)
    case("format", r"'format' must be 'gnnkit', got 'pickle'", setter(["format"], "pickle"))
    case("version", r"'version' must be 1 .*got 2", setter(["version"], 2))
    case("version_bool", r"'version' must be 1 .*got True", setter(["version"], True))
    case("kind", r"'kind' must be one of \['graph', 'hetero'\], got 'tree'", setter(["kind"], "tree"))
    case("section_list", r"header section 'graph' must be an object", setter(["graph"], [1]))
    case("num_nodes_negative", r"'num_nodes' must lie in \[0, 2\*\*62\), got -1", setter(["graph", "num_nodes"], -1))
    case("num_nodes_string", r"'num_nodes' must be int, got str", setter(["graph", "num_nodes"], "6"))
    case("num_nodes_bool", r"'num_nodes' must be int, got bool", setter(["graph", "num_nodes"], True))
    case("num_nodes_huge", r"'num_nodes' must lie in \[0, 2\*\*62\)", setter(["graph", "num_nodes"], 2**70))
    case("num_nodes_float", r"'num_nodes' must be int, got float", setter(["graph", "num_nodes"], 6.0))
    case("missing_field", r"lacks the field 'num_edges'", lambda h: h["graph"].pop("num_edges"))
    case("ndata_not_list", r"header field 'ndata' must be list, got dict", setter(["graph", "ndata"], {"x": 1}))
    case("entry_not_object", r"header entry 'graph\.ndata\.0' must be an object", setter(["graph", "ndata", 0], "x"))
    case("key_not_str", r"'key' must be str, got int", setter(["graph", "ndata", 0, "key"], 3))
    case("duplicate_key", r"lists the key 'x' twice", setter(["graph", "ndata", 1, "key"], "x"))
    case("srcdata_on_square", r"'srcdata' must be empty", setter(["graph", "srcdata"], [{"key": "h", "dtype": "float32", "shape": [6]}]))
    case("bipartite_batch", r"cannot be batched", setter(["graph", "num_src_nodes"], 6))
    case("extra_array", r"arrays \['graph\.evil'\] are not declared", arrays_fn=put("graph.evil", np.zeros(1)))
    case("missing_array", r"declares the field 'graph\.ndata\.1' but the file has no such array",
         arrays_fn=lambda a: a.pop("graph.ndata.1"))
    cases.append((tmp_path / "crafted_no_header.npz", r"no '__header__' array"))
    write_checked_npz(cases[-1][0], dict(arrays))
    # a pickled member, and a non-zip body, behind a correct checksum
    cases.append((tmp_path / "crafted_object.npz", r"not a readable \.npz file"))
    write_checked_npz(cases[-1][0], {"__header__": np.frombuffer(json.dumps(header).encode(), np.uint8),
                                     **arrays, "graph.ndata.0": np.array([object()] * 6, dtype=object)})
    return cases


def test_mutation_fuzz_every_damaged_or_crafted_file_is_a_value_error(tmp_path):
    base = tmp_path / "base.npz"
    gnnkit.save(base, _base_graph())
    content = base.read_bytes()
    rng = np.random.default_rng(12)
    files: list[tuple[Path, str]] = []
    for cut in sorted({0, 1, 21, 22, len(content) - 1, *rng.integers(0, len(content), 25).tolist()}):
        files.append((tmp_path / f"truncated_{cut}.npz", r"not a gnnkit graph file, or truncated|checksum mismatch"))
        files[-1][0].write_bytes(content[:cut])
    for i in range(300):  # 1 to 3 flipped bits anywhere: zip headers, timestamps, JSON, arrays, the checksum itself
        buf = bytearray(content)
        for pos in rng.integers(0, len(buf), rng.integers(1, 4)).tolist():
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        if bytes(buf) == content:
            continue  # two flips of one bit cancel
        files.append((tmp_path / f"flipped_{i}.npz", r"checksum mismatch|not a gnnkit graph file"))
        files[-1][0].write_bytes(bytes(buf))
    files += _crafted(tmp_path, base)
    outcomes = load_in_subprocess([p for p, _ in files] + [base])
    assert outcomes[-1] == "OK"  # the harness itself loads a good file
    for (path, match), outcome in zip(files, outcomes):
        assert outcome.startswith("ValueError: "), (path.name, outcome)
        assert str(path) in outcome, (path.name, outcome)  # the message names the file
        assert re.search(match, outcome), (path.name, match, outcome)


def _seal(body: bytes) -> bytes:
    """The checksum record of the format (see gnnkit.graph.io): SHA-256 of all bytes before the comment length."""
    return body + struct.pack("<H", 64) + hashlib.sha256(body).hexdigest().encode("ascii")


def test_mutation_fuzz_behind_valid_crc_and_checksum_never_crashes(tmp_path):
    # Flip bits inside the .npy members (headers, dtypes, shapes, ids, offsets, the JSON) and rebuild the
    # archive with correct CRCs and checksum, so only the array and header checks stand between the bytes
    # and numpy/torch: each file must load or be a ValueError, never crash or raise anything else.
    base = tmp_path / "base.npz"
    gnnkit.save(base, _base_graph())
    with zipfile.ZipFile(base) as z:
        members = {name: z.read(name) for name in z.namelist()}
    names = sorted(members)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(300):
        target = names[int(rng.integers(0, len(names)))]
        buf = bytearray(members[target])
        for pos in rng.integers(0, len(buf), rng.integers(1, 3)).tolist():
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for name in names:
                z.writestr(name, bytes(buf) if name == target else members[name])
        paths.append(tmp_path / f"member_{i}.npz")
        paths[-1].write_bytes(_seal(out.getvalue()[:-2]))  # drop the empty comment's length field, then seal
    outcomes = load_in_subprocess(paths)
    others = [(p.name, o) for p, o in zip(paths, outcomes) if o != "OK" and not o.startswith("ValueError: ")]
    assert not others
    assert sum(o.startswith("ValueError: ") for o in outcomes) > 200  # most mutations are caught, not loaded


# ------------------------------------------------------------------- HeteroGraph
def _hetero() -> gnnkit.HeteroGraph:
    gen = torch.Generator().manual_seed(3)
    edges = {
        ("user", "follows", "user"): ([0, 1, 2], [1, 2, 0]),
        ("user", "buys", "item"): ([0, 0, 2, 3], [0, 1, 1, 4]),
        ("item", "bought_by", "user"): ([0, 1, 1, 4], [0, 0, 2, 3]),
        ("shop", "sells", "item"): ([], []),
    }
    return gnnkit.HeteroGraph(
        {"user": 4, "item": 5, "shop": 2}, edges,
        ndata={"user": {"x": torch.randn(4, 3, generator=gen)}, "item": {"x": torch.randn(5, 3, generator=gen),
                                                                       "y": torch.arange(5)}},
        edata={("user", "buys", "item"): {"edge_weight": torch.rand(4, generator=gen)}},
    )


def test_hetero_round_trip_keeps_types_relations_and_data(tmp_path):
    hg = _hetero()
    gnnkit.save(tmp_path / "h.npz", hg)
    back = gnnkit.load(tmp_path / "h.npz")
    assert isinstance(back, gnnkit.HeteroGraph) and back.equal(hg)
    assert back.ntypes == hg.ntypes and back.relations == hg.relations
    torch.testing.assert_close(back[("user", "buys", "item")].srcdata["x"], hg.ndata["user"]["x"])


def test_multiview_graph_saves_as_the_hetero_graph_it_is(tmp_path):
    mvg = gnnkit.MultiViewGraph({"a": Graph([0, 1], [1, 2], 3), "b": Graph([2], [0], 3)})
    gnnkit.save(tmp_path / "m.npz", mvg)
    back = gnnkit.load(tmp_path / "m.npz")
    assert isinstance(back, gnnkit.HeteroGraph) and len(back.relations) == 2
    for rel, view in zip(back.relations, ("a", "b")):
        assert back[rel].equal(mvg[view], data=False)


def _hetero_crafted(tmp_path: Path, base: Path) -> list[tuple[Path, str]]:
    header, arrays = _arrays_of(base)
    out = []

    def case(name, match, header_fn=None, arrays_fn=None):
        h, a = json.loads(json.dumps(header)), dict(arrays)
        if header_fn:
            header_fn(h)
        if arrays_fn:
            arrays_fn(a)
        out.append((_write(tmp_path / f"hetero_{name}.npz", h, a), match))

    def dst_out_of_type(a):  # in range of nothing: a user id past the item count
        a["hetero.rel.1.dst"] = np.array([0, 1, 1, 9], dtype=np.int64)

    case("dst_out_of_range", r"hetero\.rel\.1\.dst", arrays_fn=dst_out_of_type)
    case("count_mismatch", r"stored over .* but its types count",
         header_fn=lambda h: h["hetero"]["ntypes"][2].__setitem__("num_nodes", 3))  # shops: 2 in 'sells' 
    case("unknown_type", r"not one of the node types",
         header_fn=lambda h: h["hetero"]["relations"][0].__setitem__("relation", ["robot", "follows", "user"]))
    case("duplicate_type", r"twice", header_fn=lambda h: h["hetero"]["ntypes"][2].__setitem__("name", "user"))
    case("relation_not_triple", r"'relation' must be",
         header_fn=lambda h: h["hetero"]["relations"][0].__setitem__("relation", ["user", "user"]))
    case("no_types", r"at least one node type|'ntypes'",
         header_fn=lambda h: h["hetero"].__setitem__("ntypes", []))
    case("section_not_object", r"must be an object", header_fn=lambda h: h.__setitem__("hetero", [1]))
    case("undeclared_array", r"not declared by the header",
         arrays_fn=lambda a: a.__setitem__("hetero.node.9.ndata.0", np.zeros(1)))
    return out


def test_hetero_crafted_files_are_value_errors(tmp_path):
    base = tmp_path / "base.npz"
    gnnkit.save(base, _hetero())
    files = _hetero_crafted(tmp_path, base)
    content = base.read_bytes()
    rng = np.random.default_rng(5)
    for i in range(60):
        buf = bytearray(content)
        buf[int(rng.integers(0, len(buf)))] ^= 1 << int(rng.integers(0, 8))
        files.append((tmp_path / f"hetero_flipped_{i}.npz", r"checksum mismatch|not a gnnkit graph file"))
        files[-1][0].write_bytes(bytes(buf))
    outcomes = load_in_subprocess([p for p, _ in files] + [base])
    assert outcomes[-1] == "OK"
    for (path, match), outcome in zip(files, outcomes):
        assert outcome.startswith("ValueError: ") and str(path) in outcome, (path.name, outcome)
        assert re.search(match, outcome), (path.name, match, outcome)
