"""gnnkit.brain.connectome_tables: neuPrint/FlyWire-style CSV exports, against a dict oracle, plus corrupt files."""
import gzip

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnnkit.brain import CSV_LAYOUTS, Connectome, read_connectome_csv

pytest.importorskip("pandas", reason="pandas is not installed (pip install 'gnnkit[brain]')")

IDS = [720575940600000001, 720575940600000007, 720575940600000003, 720575940600000042]
FLY_NEURONS = "root_id,group,side,size\n" + "".join(f"{i},G{k % 2},{'LR'[k % 2]},{k * 1.5}\n" for k, i in enumerate(IDS))
FLY_ROWS = [  # pre, post, neuropil, count, nt (one row per region, as FlyWire lists them)
    (IDS[0], IDS[1], "AL_L", 5, "ACH"), (IDS[0], IDS[1], "AL_R", 3, "ACH"), (IDS[1], IDS[2], "MB", 7, "GABA"),
    (IDS[2], IDS[0], "LH", 2, "GLUT"), (IDS[3], IDS[3], "SEZ", 1, "ACH"), (IDS[1], IDS[2], "LH", 4, "ACH"),
]


def write_fly(tmp_path, rows=FLY_ROWS, gz=False):
    text = "pre_root_id,post_root_id,neuropil,syn_count,nt_type\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    (tmp_path / "neurons.csv").write_text(FLY_NEURONS)
    if gz:
        with gzip.open(tmp_path / "connections.csv.gz", "wt") as fh:
            fh.write(text)
    else:
        (tmp_path / "connections.csv").write_text(text)
    return tmp_path


def as_dict(c: Connectome, t: str) -> dict:
    g, w = c.graph(t), c.weight(t)
    return {(c.names[a], c.names[b]): float(x) for a, b, x in zip(g.src.tolist(), g.dst.tolist(), w.tolist())}


def oracle(rows, nt_names={"ACH": "acetylcholine", "GABA": "gaba", "GLUT": "glutamate"}):
    out = {}
    for pre, post, _, n, nt in rows:
        d = out.setdefault(nt_names.get(nt, nt), {})
        d[(str(pre), str(post))] = d.get((str(pre), str(post)), 0.0) + n
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_flywire_export_views_counts_ids_and_node_data(tmp_path, gz):
    c = read_connectome_csv(write_fly(tmp_path, gz=gz))
    assert c.synapse_types == ("acetylcholine", "gaba", "glutamate")  # first appearance, names normalised
    ref = oracle(FLY_ROWS)
    for t in c.synapse_types:
        assert as_dict(c, t) == ref[t]
    assert c.names == tuple(str(i) for i in IDS)  # the neurons table's order, renumbered 0..N-1
    assert c.node_data["id"].tolist() == IDS and c.node_data["id"].dtype == torch.int64
    assert c.node_data["group"] == ("G0", "G1", "G0", "G1") and c.node_data["size"].tolist() == [0, 1.5, 3, 4.5]
    assert c.positions is None


def test_chunked_equals_whole_and_reduce_none_keeps_rows(tmp_path):
    write_fly(tmp_path)
    whole = read_connectome_csv(tmp_path)
    assert read_connectome_csv(tmp_path, chunk_rows=1).equal(whole)
    kept = read_connectome_csv(tmp_path, reduce=None, chunk_rows=2)
    assert kept.graph("acetylcholine").num_edges == 4 and whole.graph("acetylcholine").num_edges == 3
    raw = read_connectome_csv(tmp_path, normalize_nt=False)
    assert raw.synapse_types == ("ACH", "GABA", "GLUT")


def test_neuprint_export_with_positions_and_presynaptic_transmitter(tmp_path):
    (tmp_path / "traced-neurons.csv").write_text(
        "bodyId,type,instance,x,y,z,predictedNt\n10,KC,KC_a,1,2,3,acetylcholine\n30,PN,PN_b,4,5,6,gaba\n"
        "20,KC,KC_c,7,8,9,acetylcholine\n")
    (tmp_path / "traced-total-connections.csv").write_text(
        "bodyId_pre,bodyId_post,weight\n10,30,12\n30,20,4\n20,10,1\n30,10,2\n")
    c = read_connectome_csv(tmp_path)
    assert c.names == ("10", "30", "20") and c.positions.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert c.synapse_types == ("acetylcholine", "gaba")
    assert as_dict(c, "acetylcholine") == {("10", "30"): 12.0, ("20", "10"): 1.0}
    assert as_dict(c, "gaba") == {("30", "20"): 4.0, ("30", "10"): 2.0}
    assert c.node_data["type"] == ("KC", "PN", "KC") and "predictedNt" in c.node_data
    one = read_connectome_csv(tmp_path, layout="neuprint", columns={"neuron_nt": None, "position": ()})
    assert one.synapse_types == ("chemical",) and one.num_edges == 4 and one.positions is None


def test_one_position_column_of_coordinate_strings(tmp_path):
    (tmp_path / "traced-neurons.csv").write_text('bodyId,somaLocation\n1,"[1, 2, 3]"\n2,"[4.5, 5, 6]"\n')
    (tmp_path / "traced-total-connections.csv").write_text("bodyId_pre,bodyId_post,weight\n1,2,3\n")
    c = read_connectome_csv(tmp_path, columns={"position": ("somaLocation",)})
    assert c.positions.tolist() == [[1, 2, 3], [4.5, 5, 6]] and "somaLocation" not in c.node_data
    (tmp_path / "traced-neurons.csv").write_text('bodyId,somaLocation\n1,"[1, 2, 3]"\n2,\n')
    with pytest.raises(ValueError, match="neuron 2 .* has no finite position"):
        read_connectome_csv(tmp_path, columns={"position": ("somaLocation",)})


def test_string_ids_and_explicit_files(tmp_path):
    (tmp_path / "cells.csv").write_text("cell,kind\nNA,motor\nAVAL,inter\n")
    (tmp_path / "edges.csv").write_text("src,dst,n\nAVAL,NA,3\n")
    lay = {"id": "cell", "pre": "src", "post": "dst", "weight": "n", "nt": None}
    c = read_connectome_csv(tmp_path / "cells.csv", tmp_path / "edges.csv", layout="gnnkit", columns=lay)
    assert c.names == ("NA", "AVAL") and "id" not in c.node_data  # "NA" is a name, not a missing value
    assert as_dict(c, "chemical") == {("AVAL", "NA"): 3.0}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 50), st.sampled_from(["ACH", "GABA", "DA"])),
                max_size=12), st.integers(1, 5))
def test_random_exports_match_the_dict_oracle(tmp_path_factory, rows, chunk_rows):
    tmp = tmp_path_factory.mktemp("fly")
    full = [(IDS[a], IDS[b], "R", n, nt) for a, b, n, nt in rows]
    c = read_connectome_csv(write_fly(tmp, full), chunk_rows=chunk_rows)
    ref = oracle(full, {"ACH": "acetylcholine", "GABA": "gaba", "DA": "dopamine"})
    assert {t: as_dict(c, t) for t in c.synapse_types} == (ref or {"chemical": {}})  # no rows: one empty view
    assert c.num_nodes == 4


# --------------------------------------------------------------- corrupt and mutated files
def corrupt(tmp_path, connections=None, neurons=None):
    write_fly(tmp_path)
    if connections is not None:
        (tmp_path / "connections.csv").write_text(connections)
    if neurons is not None:
        (tmp_path / "neurons.csv").write_text(neurons)
    return tmp_path


HEAD = "pre_root_id,post_root_id,neuropil,syn_count,nt_type\n"
GOOD = f"{IDS[0]},{IDS[1]},AL,5,ACH\n"


@pytest.mark.parametrize("text, match", [
    (HEAD + GOOD + f"{IDS[1]},{IDS[2]}\n", r"column 'syn_count' .* data row 2 holds nothing"),  # truncated line
    (HEAD + GOOD + f"{IDS[1]},{IDS[2]},AL,five,ACH\n", r"must hold synapse counts; data row 2 holds 'five'"),
    (HEAD + GOOD + f"{IDS[1]},{IDS[2]},AL,-3,ACH\n", r"must be >= 0 \(synapse counts\); data row 2 holds -3"),
    (HEAD + GOOD + f"{IDS[1]},12345,AL,3,ACH\n", r"column 'post_root_id' .* names neuron 12345 \(data row 2\), which "
                                                r"is not in the neurons table"),
    (HEAD + GOOD + f"abc,{IDS[2]},AL,3,ACH\n", r"column 'pre_root_id' .* must hold integer neuron ids; data row 2 "
                                              r"holds 'abc'"),
    (HEAD + GOOD + f"{IDS[1]},{IDS[2]},AL,3,ACH,extra,fields\n", r"is not a well-formed CSV table"),
    ("pre_root_id,syn_count\n1,2\n", r"has no column 'post_root_id'"),
    ("", r"is empty; expected a CSV header row"),
])
def test_corrupt_connections_give_clear_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_connectome_csv(corrupt(tmp_path, connections=text), layout="flywire")


@pytest.mark.parametrize("text, match", [
    (f"root_id,group\n{IDS[0]},a\n{IDS[0]},b\n", r"lists neuron 720575940600000001 twice"),
    ("group,side\na,L\n", r"has no column 'root_id'"),
    (f"root_id,x,y,z\n{IDS[0]},1,2,\n", r"neuron 720575940600000001 .* has no finite position"),
    (f"root_id,x,y,z\n{IDS[0]},1,2,east\n", r"position columns \['x', 'y', 'z'\] .* must hold numbers"),
    (f"root_id,name\n{IDS[0]},a\n", r"neurons column 'name' .* is named like a reserved node_data key"),
    (f"root_id,id\n{IDS[0]},4\n", r"has a column 'id' besides the id column 'root_id' and it differs"),
    (f"root_id,group\n{IDS[0]},a\n,b\n", r"column 'root_id' .* has no value in data row 2"),
    (f"root_id\n{IDS[0]}\n{IDS[1]},b\n", r"neurons.csv is not a well-formed CSV table"),
])
def test_corrupt_neurons_give_clear_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_connectome_csv(corrupt(tmp_path, neurons=text), layout="flywire")


@pytest.mark.parametrize("seed", range(8))
def test_fuzzed_bytes_give_value_errors_or_a_connectome(tmp_path, seed):
    rng = np.random.default_rng(seed)
    text = bytearray((HEAD + "".join(",".join(map(str, r)) + "\n" for r in FLY_ROWS)).encode())
    for pos in rng.integers(len(HEAD), len(text), 4):  # flip bytes in the data rows, keep the header
        text[pos] = int(rng.choice(list(b"0123456789,x-\n.")))
    write_fly(tmp_path)
    (tmp_path / "connections.csv").write_bytes(bytes(text))
    try:
        c = read_connectome_csv(tmp_path)
    except ValueError as exc:
        assert "connections.csv" in str(exc)
    else:
        assert all((c.weight(t) >= 0).all() for t in c.synapse_types)


def test_layout_and_argument_errors(tmp_path):
    write_fly(tmp_path)
    with pytest.raises(ValueError, match="layout must be 'auto', a CsvLayout or one of"):
        read_connectome_csv(tmp_path, layout="hemibrain")
    with pytest.raises(ValueError, match="columns names unknown layout field 'count'"):
        read_connectome_csv(tmp_path, columns={"count": "n"})
    with pytest.raises(ValueError, match="path must be a directory holding both tables"):
        read_connectome_csv(tmp_path / "neurons.csv")
    with pytest.raises(ValueError, match="with connections=... given, path must be the neurons table file"):
        read_connectome_csv(tmp_path, tmp_path / "connections.csv")
    with pytest.raises(ValueError, match="chunk_rows must be a positive int"):
        read_connectome_csv(tmp_path, chunk_rows=0)
    with pytest.raises(ValueError, match=r"neurons table not found in .*looked for \['traced-neurons.csv'"):
        read_connectome_csv(tmp_path / "none" if (tmp_path / "none").mkdir() is None else tmp_path, layout="neuprint")
    (tmp_path / "connections.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="layout='auto' found no known layout"):
        read_connectome_csv(tmp_path)
    assert set(CSV_LAYOUTS) == {"neuprint", "flywire", "gnnkit"}


def test_benchmark_export_loads_like_pandas_groupby(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_connectome_csv",
                                                  Path(__file__).resolve().parents[1] / "benchmarks" / "connectome_csv.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    directory = bench.make_export(tmp_path, neurons=300, rows=3000)
    rows = {e: bench.worker(e, directory) for e in bench.ENGINES}
    assert rows["gnnkit"]["edges"] == rows["gnnkit_one_chunk"]["edges"] == rows["pandas"]["edges"]
