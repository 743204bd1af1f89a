"""Compile every kernel variant for a GPU target on a machine without a GPU.

Triton's frontend, its MLIR passes and the bundled ``ptxas`` need no device, so this
catches what the interpreter cannot: type errors in loop-carried values, constexpr
misuse, layouts the backend rejects. The test suite runs it in a subprocess (the
interpreter and the compiler cannot share a process: ``TRITON_INTERPRET`` is read when
triton is first imported).

    python -m gnnkit_kernels.triton.aot            # sm_90 (H100), every variant
    python -m gnnkit_kernels.triton.aot --arch 80  # A100
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

# Each variant: (kernel name, {argument: type or constexpr value}). Types use Triton's
# signature strings: "*fp32" a pointer, "i32"/"i64" an integer, "fp32" a float.


def _variants() -> list[tuple[str, str, dict]]:
    import triton.language as tl

    out = []

    def idx(i):
        return f"*{i}"

    for reduce, has_w, gather, fdt, idt in (
        (0, True, False, "fp32", "i32"),
        (0, False, False, "bf16", "i32"),
        (1, False, True, "fp16", "i32"),
        (2, True, False, "fp32", "i64"),
        (3, False, True, "fp64", "i64"),
    ):
        acc = tl.float64 if fdt == "fp64" else tl.float32
        accs = "fp64" if fdt == "fp64" else "fp32"
        out.append((
            "spmm_chunk_kernel", f"reduce={reduce} w={has_w} gather={gather} {fdt} {idt}",
            dict(indptr=idx(idt), indices=idx(idt), eid=idx(idt), w=f"*{fdt}", x=f"*{fdt}", out=f"*{fdt}",
                 arg="*i64", part=f"*{accs}", part_arg="*i64", chunk_row=idx(idt), chunk_begin=idx(idt),
                 chunk_slot=idx(idt), D="i32", F="i32", HW="i32", NFT="i32",
                 REDUCE=reduce, HAS_EID=True, HAS_W=has_w, GATHER_EDGE=gather, CHUNK=512, BLOCK_E=32, BLOCK_F=128, ACC=acc),
        ))
    for reduce, fdt, idt in ((0, "fp32", "i32"), (3, "fp64", "i64")):
        acc = tl.float64 if fdt == "fp64" else tl.float32
        out.append((
            "spmm_combine_kernel", f"reduce={reduce} {fdt} {idt}",
            dict(indptr=idx(idt), part=f"*{fdt}", part_arg="*i64", split_row=idx(idt), split_ptr=idx(idt),
                 out=f"*{fdt}", arg="*i64", D="i32", NFT="i32", REDUCE=reduce, BLOCK_F=128, ACC=acc),
        ))
    for op, fdt, idt in ((0, "fp32", "i32"), (1, "fp64", "i64")):
        acc = tl.float64 if fdt == "fp64" else tl.float32
        out.append((
            "sddmm_kernel", f"op={op} {fdt} {idt}",
            dict(rows=idx(idt), indices=idx(idt), eid=idx(idt), a=f"*{fdt}", b=f"*{fdt}", out=f"*{fdt}",
                 nnz="i64", H="i32", F="i32", OP=op, HAS_EID=True, BLOCK_E=64, BLOCK_F=64, ACC=acc),
        ))
    for mode, fdt, idt in ((0, "fp32", "i32"), (1, "fp64", "i64")):
        acc, accs = (tl.float64, "fp64") if fdt == "fp64" else (tl.float32, "fp32")
        out.append((
            "softmax_stats_kernel", f"mode={mode} {fdt} {idt}",
            dict(indptr=idx(idt), eid=idx(idt), y=f"*{fdt}", grad=f"*{fdt}", stat=f"*{accs}", part_m=f"*{accs}",
                 part_l=f"*{accs}", chunk_row=idx(idt), chunk_begin=idx(idt), chunk_slot=idx(idt), H="i32",
                 MODE=mode, HAS_EID=True, CHUNK=512, BLOCK_E=64, BLOCK_H=8, ACC=acc),
        ))
        out.append((
            "softmax_apply_kernel", f"mode={mode} {fdt} {idt}",
            dict(rows=idx(idt), eid=idx(idt), y=f"*{fdt}", grad=f"*{fdt}", stat=f"*{accs}", out=f"*{fdt}",
                 nnz="i32", H="i32", MODE=mode, HAS_EID=False, BLOCK_E=128, BLOCK_H=8, ACC=acc),
        ))
    for drop, fdt, idt in ((True, "fp32", "i32"), (False, "fp64", "i64")):
        acc, accs = (tl.float64, "fp64") if fdt == "fp64" else (tl.float32, "fp32")
        common = dict(HAS_EID=True, DROPOUT=drop, CHUNK=512, BLOCK_E=32, BLOCK_F=64, ACC=acc)
        sched = dict(chunk_row=idx(idt), chunk_begin=idx(idt), chunk_slot=idx(idt))
        out.append((
            "gat_forward_kernel", f"dropout={drop} {fdt} {idt}",
            dict(indptr=idx(idt), indices=idx(idt), eid=idx(idt), x=f"*{fdt}", a_src=f"*{fdt}", a_dst=f"*{fdt}",
                 out=f"*{fdt}", lse=f"*{accs}", part_m=f"*{accs}", part_l=f"*{accs}", part_acc=f"*{accs}", **sched,
                 H="i32", F="i32", NFT="i32", slope="fp32", P="fp32", seed="i32", **common),
        ))
        out.append((
            "gat_backward_dst_kernel", f"dropout={drop} {fdt} {idt}",
            dict(indptr=idx(idt), indices=idx(idt), eid=idx(idt), x=f"*{fdt}", a_src=f"*{fdt}", a_dst=f"*{fdt}",
                 out=f"*{fdt}", lse=f"*{accs}", dout=f"*{fdt}", dp=f"*{accs}", da_dst=f"*{fdt}", part=f"*{accs}",
                 **sched, H="i32", F="i32", slope="fp32", P="fp32", seed="i32", **common),
        ))
        out.append((
            "gat_backward_src_kernel", f"dropout={drop} {fdt} {idt}",
            dict(indptr=idx(idt), indices=idx(idt), eid=idx(idt), a_src=f"*{fdt}", a_dst=f"*{fdt}", lse=f"*{accs}",
                 dout=f"*{fdt}", dp=f"*{accs}", dx=f"*{fdt}", da_src=f"*{fdt}", part_x=f"*{accs}", part_a=f"*{accs}",
                 **sched, H="i32", F="i32", NFT="i32", slope="fp32", P="fp32", seed="i32", **common),
        ))
    for has_acc, bf in ((True, 64), (False, 1)):
        out.append((
            "lse_combine_kernel", f"acc={has_acc}",
            dict(part_m="*fp32", part_l="*fp32", part_acc="*fp32", split_row="*i32", split_ptr="*i32", lse="*fp32",
                 out="*fp32", H="i32", F="i32", NFT="i32", HAS_ACC=has_acc, BLOCK_F=bf, ACC=tl.float32),
        ))
    out.append(("dropout_mask_kernel", "fp32", dict(out="*fp32", E="i32", H="i32", P="fp32", seed="i32", BLOCK=1024)))
    return out


def compile_variant(name: str, label: str, args: dict, arch: int) -> tuple[str, str, str | None, float]:
    """Compile one variant to a cubin; returns ``(name, label, error or None, seconds)``."""
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    import gnnkit_kernels.triton as k

    fn = getattr(k, name)
    signature, constexprs = {}, {}
    for arg, value in args.items():
        if isinstance(value, str):
            signature[arg] = value
        else:
            signature[arg] = "constexpr"
            constexprs[arg] = value
    # what the JIT specialises on at launch for fresh torch tensors and feature widths such as
    # 64 or 128: 16-byte aligned pointers and widths divisible by 16 (this gives 128-bit loads)
    names = list(signature)
    attrs = {(names.index(a),): [["tt.divisibility", 16]] for a, t in signature.items()
             if t.startswith("*") or (a in ("D", "F") and t.startswith("i"))}
    start = time.perf_counter()
    try:
        triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs),
                       target=GPUTarget("cuda", arch, 32))
    except Exception as exc:  # report every failing variant, not only the first
        return name, label, f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    return name, label, None, time.perf_counter() - start


def compile_all(arch: int = 90, workers: int = 1) -> list[tuple[str, str, str | None, float]]:
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("compiling needs TRITON_INTERPRET unset (the interpreter replaces the compiler)")
    variants = _variants()
    if workers <= 1:
        return [compile_variant(n, l, a, arch) for n, l, a in variants]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(compile_variant, *zip(*variants), [arch] * len(variants)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability, e.g. 80 or 90")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    results = compile_all(args.arch, args.workers)
    for name, label, err, secs in results:
        print(f"{'ok  ' if err is None else 'FAIL'} {name} [{label}] {secs:.1f}s" + ("" if err is None else f"\n     {err}"))
    failed = sum(err is not None for _, _, err, _ in results)
    print(f"{len(results) - failed}/{len(results)} variants compiled for sm_{args.arch}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
