"""The pool of freed huge-page buffers behind gnnkit.ops.empty on the CPU."""
import gc

import pytest
import torch

from gnnkit.ops import _cpu

BIG = (64 << 20) // 4 + 1024  # float32 elements: a 64 MB buffer


@pytest.fixture
def pool(monkeypatch):
    p = _cpu._BufferPool(cap=200 << 20)
    monkeypatch.setattr(_cpu, "POOL", p)
    return p


def test_freed_buffer_is_reused_and_live_ones_never_are(pool):
    a = _cpu.empty((BIG,), torch.float32)
    a.fill_(1.0)
    b = _cpu.empty((BIG,), torch.float32)  # a is alive: a fresh mapping
    assert b.data_ptr() != a.data_ptr()
    ptr = a.data_ptr()
    view = a[5:]
    del a
    gc.collect()
    assert pool.bytes == 0  # a view keeps the storage alive
    del view
    gc.collect()
    assert pool.bytes == BIG * 4
    c = _cpu.empty((BIG,), torch.float32)
    assert c.data_ptr() == ptr and pool.bytes == 0
    assert c.shape == (BIG,) and c.dtype == torch.float32


def test_cap_is_respected_whatever_the_buffer_size(pool):
    pool.cap = BIG * 4  # room for one big buffer
    a, b = _cpu.empty((BIG,), torch.float32), _cpu.empty((BIG,), torch.float32)
    del a, b
    gc.collect()
    assert pool.bytes == BIG * 4  # the second one did not fit
    small = _cpu.empty((3 << 20,), torch.float32)  # 12 MB: huge pages, no room left in the cap
    del small
    gc.collect()
    assert pool.bytes == BIG * 4
    pool.clear()
    assert pool.bytes == 0 and not pool.free


def test_any_huge_page_buffer_size_is_pooled(pool):
    # the rule is size-independent: a 12 MB buffer is kept like a 64 MB one
    small = _cpu.empty((3 << 20,), torch.float32)
    ptr = small.data_ptr()
    del small
    gc.collect()
    assert pool.bytes == (3 << 20) * 4
    again = _cpu.empty((3 << 20,), torch.float32)
    assert again.data_ptr() == ptr and pool.bytes == 0


def test_pool_is_off_by_default(monkeypatch):
    monkeypatch.delenv("GNNKIT_BUFFER_POOL_MB", raising=False)
    assert _cpu._pool_cap() == 0


def test_spmm_outputs_from_reused_buffers_are_correct(pool):
    from gnnkit import Graph, ops

    n = BIG // 64 + 1
    g = Graph(torch.arange(n), (torch.arange(n) + 1) % n, n)
    x = torch.randn(n, 64)
    first = ops.spmm(g, x).clone()
    for _ in range(3):  # the output buffer cycles through the pool
        torch.testing.assert_close(ops.spmm(g, x), first)
    torch.testing.assert_close(first, x.roll(1, dims=0))


def test_pool_size_env_is_validated(monkeypatch):
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "lots")
    with pytest.raises(ValueError, match="GNNKIT_BUFFER_POOL_MB must be an integer"):
        _cpu._pool_cap()
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "-1")
    with pytest.raises(ValueError, match="must be >= 0"):
        _cpu._pool_cap()
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "0")
    assert _cpu._pool_cap() == 0


def test_auto_pool_owns_at_most_the_peak_in_use(monkeypatch):
    """``cap=None`` (``GNNKIT_BUFFER_POOL_MB=auto``): kept plus in-use bytes never exceed the most ever in use."""
    p = _cpu._BufferPool(cap=None, round_up=True)
    monkeypatch.setattr(_cpu, "POOL", p)
    a, b = _cpu.empty((BIG,), torch.float32), _cpu.empty((BIG,), torch.float32)
    size = p.size_for(BIG * 4)
    assert p.peak_live_bytes == p.live_bytes == 2 * size
    ptr_a = a.data_ptr()
    del a, b
    gc.collect()
    assert p.bytes == 2 * size and p.live_bytes == 0  # both kept: 2 x size was in use at once
    c = _cpu.empty((BIG - 1000,), torch.float32)  # a little smaller: the rounded size is the same mapping
    assert p.size_for((BIG - 1000) * 4) == size and c.data_ptr() in (ptr_a, c.data_ptr()) and p.bytes == size
    other = _cpu.empty((BIG // 2 + 3000,), torch.float32)  # a miss: room is made under the peak
    assert p.bytes + p.live_bytes <= p.peak_live_bytes == 2 * size
    assert p.bytes == 0  # the kept mapping was unmapped to make room
    del c, other
    gc.collect()
    assert p.bytes + p.live_bytes <= p.peak_live_bytes


def test_auto_pool_env(monkeypatch):
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "auto")
    assert _cpu._pool_cap() is None
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "Auto ")
    assert _cpu._pool_cap() is None
    monkeypatch.setenv("GNNKIT_BUFFER_POOL_MB", "lots")
    with pytest.raises(ValueError, match="or 'auto', got 'lots'"):
        _cpu._pool_cap()
