"""Deprecated names and keywords: they still work, warn once per use, and point to the new name."""
import pytest
import torch

from gnnkit._deprecated import deprecated_names, renamed_keyword
from gnnkit.blocks import ACTIVATIONS, activation_fn, make_activation


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
