"""ops.spmm_csr: a raw-CSR sum with int32 or int64 indices, kernel and reference against dense float64."""
from __future__ import annotations

import pytest
import torch
from conftest import DEVICES
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit import Graph, ops
from gnnkit.ops import _dispatch, reference
from gnnkit.graph import CSR

F64 = torch.float64


def _csr(rows: int, cols: int, counts: list[int], seed: int, dtype: torch.dtype = torch.int32):
    gen = torch.Generator().manual_seed(seed)
    indptr = torch.zeros(rows + 1, dtype=torch.int64)
    indptr[1:] = torch.tensor(counts, dtype=torch.int64).cumsum(0)
    indices = torch.randint(0, cols, (int(indptr[-1]),), generator=gen).to(dtype)
    return indptr, indices


def _dense(indptr, indices, w, rows, cols):
    row = torch.repeat_interleave(torch.arange(rows), indptr.diff())
    return torch.zeros(rows, cols, dtype=F64).index_put_((row, indices.long()), w.to(F64), accumulate=True)


# empty rows (0), a row with repeated columns and a long row
COUNTS = [2, 0, 5, 1, 0, 9, 3]


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("device", DEVICES)
def test_spmm_csr_equals_dense_reference(index_dtype, dtype, device) -> None:
    indptr, indices = _csr(7, 4, COUNTS, seed=0, dtype=index_dtype)  # 7 rows read 4 source rows: bipartite
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(indices.numel(), dtype=dtype, generator=gen)
    x = torch.randn(4, 3, dtype=dtype, generator=gen)
    want = _dense(indptr, indices, w, 7, 4) @ x.to(F64)
    got = ops.spmm_csr(indptr.to(device), indices.to(device), x.to(device), w.to(device))
    tol = {} if dtype == F64 else {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(got.cpu().to(F64), want, **tol)
    assert got.dtype == dtype and got.shape == (7, 3)


def test_spmm_csr_kernel_equals_reference_and_graph_spmm() -> None:
    g = Graph(torch.tensor([0, 1, 2, 2, 4, 4, 3]), torch.tensor([1, 1, 0, 3, 3, 3, 3]), 6)  # duplicates, self-loop
    csr = g.csr_in()
    gen = torch.Generator().manual_seed(2)
    w, x = torch.randn(g.num_edges, dtype=F64, generator=gen), torch.randn(6, 5, dtype=F64, generator=gen)
    w_rows = w if csr.eid is None else w[csr.eid]  # CSR order
    for indices in (csr.indices, csr.indices.int()):
        got = ops.spmm_csr(csr.indptr, indices, x, w_rows)
        ref, _ = reference.spmm_csr(CSR(csr.indptr, indices, None), x.view(6, 1, 5), w_rows.view(-1, 1), "sum")
        torch.testing.assert_close(got, ref.view(6, 5))
        torch.testing.assert_close(got, ops.spmm(g, x, w))
    if ops.HAS_KERNELS:
        assert _dispatch.backend("spmm_csr", x) == "cpu"


def test_spmm_csr_unweighted_vector_and_noncontiguous() -> None:
    indptr, indices = _csr(7, 6, COUNTS, seed=3)
    x = torch.randn(5, 6, dtype=F64).T  # [6, 5], not contiguous
    want = _dense(indptr, indices, torch.ones(indices.numel()), 7, 6) @ x
    torch.testing.assert_close(ops.spmm_csr(indptr, indices, x), want)
    torch.testing.assert_close(ops.spmm_csr(indptr, indices, x[:, 0]), want[:, 0])


def test_spmm_csr_zero_entries() -> None:
    indptr = torch.zeros(4, dtype=torch.int64)
    out = ops.spmm_csr(indptr, torch.zeros(0, dtype=torch.int32), torch.ones(2, 3))
    torch.testing.assert_close(out, torch.zeros(3, 3))


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.integers(0, 6), min_size=1, max_size=8), cols=st.integers(1, 6), seed=st.integers(0, 99))
def test_spmm_csr_property_random(counts: list[int], cols: int, seed: int) -> None:
    indptr, indices = _csr(len(counts), cols, counts, seed)
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(indices.numel(), dtype=F64, generator=gen)
    x = torch.randn(cols, 2, dtype=F64, generator=gen)
    torch.testing.assert_close(ops.spmm_csr(indptr, indices, x, w), _dense(indptr, indices, w, len(counts), cols) @ x)


def test_spmm_csr_rejects_bad_input() -> None:
    indptr, indices = _csr(7, 4, COUNTS, seed=0)
    x, w = torch.randn(4, 2), torch.randn(indices.numel())
    with pytest.raises(TypeError, match="indptr must be a 1-D int64 tensor"):
        ops.spmm_csr(indptr.int(), indices, x)
    with pytest.raises(TypeError, match="indices must be a 1-D int32 or int64 tensor"):
        ops.spmm_csr(indptr, indices.float(), x)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.spmm_csr(indptr, indices, [1.0])
    with pytest.raises(ValueError, match=r"x must have shape \[M\] or \[M, F\]"):
        ops.spmm_csr(indptr, indices, x.view(4, 1, 2))
    with pytest.raises(ValueError, match=r"edge_weight must have shape \[nnz\]"):
        ops.spmm_csr(indptr, indices, x, w[:-1])
    with pytest.raises(ValueError, match="edge_weight must have shape .* and x's dtype"):
        ops.spmm_csr(indptr, indices, x, w.double())
    with pytest.raises(ValueError, match="has no backward"):
        ops.spmm_csr(indptr, indices, x.requires_grad_(), w)
    x = x.detach()
    bad = indptr.clone()
    bad[-1] += 1
    with pytest.raises(ValueError, match="indptr must start at 0, never decrease and end at nnz"):
        ops.spmm_csr(bad, indices, x, w)
    bad = indptr.clone()
    bad[2] = int(indptr[3]) + 1  # row 2 would end before it starts
    with pytest.raises(ValueError, match="indptr must start at 0, never decrease"):
        ops.spmm_csr(bad, indices, x, w)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        ops.spmm_csr(indptr, indices, x[:3], w)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        ops.spmm_csr(indptr, indices - 1, x, w)
