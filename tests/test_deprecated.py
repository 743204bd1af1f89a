"""Deprecated names and keywords: they still work, warn once per use, and point to the new name."""
import pytest
import torch

from torch import nn

from gnnkit import Graph
from gnnkit._deprecated import deprecated_names, renamed_keyword
from gnnkit.blocks import ACTIVATIONS, activation_fn, make_activation
from gnnkit.nn import MPNN, EdgeWeighted, GINConv, GNNLayer, LinearSource, SAGEConv, SoftmaxAggregation


def test_activation_table_is_the_one_table():
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)
    for name, cls in ACTIVATIONS.items():
        assert type(make_activation(name)) is cls
        torch.testing.assert_close(activation_fn(name)(z), cls()(z))
    assert activation_fn("relu") is activation_fn("relu")  # one shared stateless instance
    assert make_activation("relu") is not make_activation("relu")  # a fresh module per call
    with pytest.raises(ValueError, match=r"activation must be one of \('identity', .*\), got 'swish'"):
        activation_fn("swish")


@pytest.mark.parametrize("module, name", [("gnnkit.nn.neurons", "NEURON_ACTIVATIONS"),
                                          ("gnnkit.brain.network", "RNN_ACTIVATIONS")])
def test_old_activation_tables_warn_and_give_functions(module, name):
    import importlib

    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{module}.{name} is deprecated.*gnnkit.blocks.ACTIVATIONS"):
        table = getattr(mod, name)
    z = torch.tensor([-1.0, 0.5])
    torch.testing.assert_close(table["tanh"](z), torch.tanh(z))
    assert set(table) == set(ACTIVATIONS)
    with pytest.raises(AttributeError, match="has no attribute 'NOT_THERE'"):
        getattr(mod, "NOT_THERE")


def test_deprecated_names_serves_only_the_listed_names():
    getattr_ = deprecated_names("pkg.mod", {"OLD": ("pkg.NEW", lambda: 42)})
    with pytest.warns(DeprecationWarning, match="pkg.mod.OLD is deprecated and will be removed; use pkg.NEW instead"):
        assert getattr_("OLD") == 42
    with pytest.raises(AttributeError, match="module 'pkg.mod' has no attribute 'OTHER'"):
        getattr_("OTHER")


def test_renamed_keyword_cases(recwarn):
    assert renamed_keyword("F", "aggr", "reduce", None, "max", "mean") == "max"  # new keyword: no warning
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
    with pytest.warns(DeprecationWarning, match="F: the keyword 'aggr' is deprecated and will be removed; use reduce= instead"):
        assert renamed_keyword("F", "aggr", "reduce", "sum", "mean", "mean") == "sum"
    with pytest.raises(TypeError, match="F got both 'reduce' and its deprecated name 'aggr'; pass only reduce="):
        renamed_keyword("F", "aggr", "reduce", "sum", "max", "mean")


def small_graph() -> Graph:
    return Graph([0, 1, 2, 2, 3], [1, 2, 0, 3, 3], 4)


@pytest.mark.parametrize("make_old, make_new, attr", [
    (lambda: SAGEConv(3, 2, aggr="max"), lambda: SAGEConv(3, 2, reduce="max"), "reduce"),
    (lambda: GINConv(nn.Linear(3, 2), aggr="mean"), lambda: GINConv(nn.Linear(3, 2), reduce="mean"), "reduce"),
    (lambda: GNNLayer(LinearSource(3, 2), aggregator="max"), lambda: GNNLayer(LinearSource(3, 2), "max"), "reduce"),
    (lambda: MPNN(3, 4, 2, aggregator="mean"), lambda: MPNN(3, 4, 2, reduce="mean"), "reduce"),
])
def test_old_reduce_keywords_warn_and_build_the_same_layer(make_old, make_new, attr):
    with pytest.warns(DeprecationWarning, match="is deprecated and will be removed; use reduce= instead"):
        old = make_old()
    new = make_new()
    assert getattr(old, attr) == getattr(new, attr)
    old.load_state_dict(new.state_dict())
    g, x = small_graph(), torch.randn(4, 3)
    torch.testing.assert_close(old(g, x), new(g, x))


def test_old_edge_data_keyword_e_warns_and_equals_edge_weight():
    layer, g, x, w = GNNLayer(EdgeWeighted(), "sum"), small_graph(), torch.randn(4, 3), torch.rand(5)
    with pytest.warns(DeprecationWarning, match="GNNLayer.forward: the keyword 'e' is deprecated"):
        old = layer(g, x, e=w)
    torch.testing.assert_close(old, layer(g, x, edge_weight=w))
    with pytest.raises(TypeError, match="GNNLayer.forward got both 'edge_weight' and its deprecated name 'e'"):
        layer(g, x, w, e=w)
    mpnn = MPNN(3, 4, 2, message="mlp", edge_features=2)
    we = torch.randn(5, 2)
    with pytest.warns(DeprecationWarning, match="MPNN.forward: the keyword 'e' is deprecated"):
        torch.testing.assert_close(mpnn(g, x, e=we), mpnn(g, x, we))


def test_gnn_layer_loads_a_state_dict_saved_under_aggregator():
    layer = GNNLayer(LinearSource(3, 2), SoftmaxAggregation(t=2.0, learn=True))
    old_keys = {k.replace("reduce.", "aggregator."): v for k, v in layer.state_dict().items()}
    assert "aggregator.t" in old_keys
    fresh = GNNLayer(LinearSource(3, 2), SoftmaxAggregation(learn=True))
    fresh.load_state_dict(old_keys)
    assert fresh.reduce.t.item() == 2.0


def test_gnn_layer_needs_a_reduce():
    with pytest.raises(TypeError, match="GNNLayer needs reduce"):
        GNNLayer(LinearSource(3, 2))


def test_old_aggregators_constant_warns():
    import gnnkit.nn

    with pytest.warns(DeprecationWarning, match="gnnkit.nn.AGGREGATORS is deprecated.*gnnkit.nn.LAYER_REDUCES"):
        assert gnnkit.nn.AGGREGATORS == gnnkit.nn.LAYER_REDUCES == ("sum", "mean", "max", "min", "softmax")
