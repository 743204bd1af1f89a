"""gnnkit.brain.celegans on the real data shipped by cect: the same neurons and synapse counts as cect reports."""
import contextlib
import importlib
import io
import subprocess
import sys

import numpy as np
import pytest
import torch

from gnnkit.brain import Connectome, celegans_datasets, load_celegans, read_connectome_csv

cect = pytest.importorskip("cect", reason="cect is not installed (pip install 'gnnkit[brain]'); CI runs these via the dev extra")


def cect_reader(name: str):
    info = next(d for d in celegans_datasets() if d.name == name)
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(f"cect.readers.{info.reader}").get_instance(from_cache=True)


@pytest.mark.parametrize("name", [d.name for d in celegans_datasets()])
def test_load_celegans_matches_cect_counts(name):
    c = load_celegans(name)
    ref = cect_reader(name)
    assert c.num_nodes == len(ref.nodes) and set(c.names) == set(ref.nodes)
    assert c.synapse_types == ("chemical", "electrical")
    for view, cls in (("chemical", "Generic_CS"), ("electrical", "Generic_GJ")):
        a = np.asarray(ref.connections[cls])
        assert c.graph(view).num_edges == np.count_nonzero(a)
        assert float(c.weight(view).double().sum()) == pytest.approx(float(a.sum()))


def test_chemical_weights_equal_cect_entry_by_entry():
    c, ref = load_celegans("witvliet_1"), cect_reader("witvliet_1")
    a = np.asarray(ref.connections["Generic_CS"])
    pos = {x: i for i, x in enumerate(ref.nodes)}
    g = c.graph("chemical")
    rows = [pos[c.names[i]] for i in g.src.tolist()]
    cols = [pos[c.names[i]] for i in g.dst.tolist()]
    np.testing.assert_array_equal(a[rows, cols], c.weight("chemical").numpy())


def test_gap_junctions_symmetric_and_classes_present():
    c = load_celegans("cook_2019_herm")
    g, w = c.graph("electrical"), c.weight("electrical")
    fwd = dict(zip(zip(g.src.tolist(), g.dst.tolist()), w.tolist()))
    assert all(fwd[(b, a)] == x for (a, b), x in fwd.items())
    assert {"sensory", "interneuron", "motor", "other"} == set(c.node_data["type"])
    assert c.node_data["type"][c.names.index("AVAL")] == "interneuron"
    assert c.node_data["type"][c.names.index("ASHL")] == "sensory"
    assert c.node_data["group"][c.names.index("DA01" if "DA01" in c.names else "DA1")] == "motor neuron"
    neurons = load_celegans("cook_2019_herm", cells="neurons")
    assert neurons.num_nodes == 302  # the hermaphrodite's 302 neurons
    assert set(neurons.node_data["kind"]) == {"neuron"} and neurons.positions is None


def test_witvliet_series_by_stage_and_age():
    series = celegans_datasets("witvliet")
    assert [d.age_hours for d in series] == [0, 5, 8, 16, 23, 27, 50, 50]
    assert [d.stage for d in series] == ["L1"] * 4 + ["L2", "L3", "adult", "adult"]
    assert load_celegans("witvliet", age_hours=16).equal(load_celegans("witvliet_4"))
    assert load_celegans("witvliet", stage="L3").equal(load_celegans(series[5]))


def test_round_trip_through_the_writers(tmp_path):
    c = load_celegans("witvliet_8", cells="neurons")
    c.write_json(tmp_path / "w8.json")
    assert Connectome.read_json(tmp_path / "w8.json").equal(c)
    c.write_csv(tmp_path / "synapses.csv", neurons_path=tmp_path / "neurons.csv")
    back = read_connectome_csv(tmp_path, layout="gnnkit")
    assert back.views.equal(c.views) and back.names == c.names and back.node_data == c.node_data


def test_load_celegans_bad_input():
    with pytest.raises(ValueError, match="dataset must be one of .*'witvliet_1'.*got 'worm'"):
        load_celegans("worm")
    with pytest.raises(ValueError, match="needs stage= .* or age_hours="):
        load_celegans("witvliet")
    with pytest.raises(ValueError, match=r"match 2 \(witvliet_7, witvliet_8\) Witvliet datasets"):
        load_celegans("witvliet", stage="adult")
    with pytest.raises(ValueError, match="match no Witvliet datasets"):
        load_celegans("witvliet", age_hours=3)
    with pytest.raises(ValueError, match="stage and age_hours select within dataset='witvliet'"):
        load_celegans("cook_2019_herm", stage="L1")
    with pytest.raises(ValueError, match="cells must be one of"):
        load_celegans("witvliet_1", cells="glia")
    with pytest.raises(ValueError, match="series must be None or 'witvliet'"):
        celegans_datasets("cook")


def test_missing_file_is_refused_not_downloaded(tmp_path):
    from gnnkit.brain.celegans import CelegansDataset

    ghost = CelegansDataset("ghost", "WitvlietDataReader1", "no_such_file.xlsx", "absent", "hermaphrodite", "L1", 0.0)
    with pytest.raises(ValueError, match="does not ship .*no_such_file.xlsx.*never downloads"):
        load_celegans(ghost, from_cache=False)


def test_missing_cect_names_the_extra():
    # a fresh interpreter where importing cect fails, as on an install without the extra
    code = ("import sys; sys.modules['cect'] = None\n"
            "from gnnkit.brain import load_celegans\n"
            "try:\n    load_celegans('witvliet_1')\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'gnnkit[brain]'" in out.stdout, out.stderr


def test_original_spreadsheet_equals_cache():
    fresh = load_celegans("witvliet_1", from_cache=False)
    assert fresh.equal(load_celegans("witvliet_1"))
    assert torch.equal(fresh.weight("electrical"), load_celegans("witvliet_1").weight("electrical"))


def test_positions_by_name_for_the_loaded_cells_only():
    names = load_celegans("witvliet_1", cells="neurons").names
    c = load_celegans("witvliet_1", cells="neurons", positions={x: [float(i), 0.0, 1.0] for i, x in enumerate(names)})
    assert c.positions.shape == (len(names), 3) and c.positions[3].tolist() == [3.0, 0.0, 1.0]
    assert c.spatial("chemical").edge_lengths().shape == (c.graph("chemical").num_edges,)
