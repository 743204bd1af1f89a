"""Compiled kernels for gnnkit (installed as ``gnnkit_kernels``).

Kernels take flat raw arrays (indptr, indices, eid, values, x, out); they apply no
defaults, run no autograd and validate nothing. ``gnnkit.ops`` owns all of that.
"""
