// gnnkit CPU kernels: CSR sparse ops on raw arrays.
//
// Flat C ABI (loaded with ctypes), no torch headers: the library is compiled
// on the user's machine at first use and works with any torch version.
// Kernels trust their input; gnnkit.ops validates shapes, dtypes and ranges.
//
// Layout conventions (see docs/kernels.md):
//   indptr  [N+1] int64   row offsets of a CSR (rows = destination vertices)
//   indices [nnz] int64   column (source) id of each stored entry (int32 in gk_spmm_i32_*:
//                         half the bytes per synapse for graphs whose ids fit, 10^9-synapse brains)
//   eid     [nnz] int64   original edge id of each stored entry, or NULL (identity)
//   w       [E, Hw]       edge weights in original edge order, Hw in {1, H}, or NULL
//   x       [M, H, F]     source features, row-major
//   out     [N, H, F]
//   arg     [N, H, F]     int64 CSR position of the arg-max/min entry, -1 if none
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

namespace {

// Rows are handed out in chunks from an atomic counter: power-law graphs have
// a few rows with 10^4+ entries, so static splitting leaves one core idle.
template <typename Fn>
void parallel_rows(int64_t n, int nthreads, int64_t grain, Fn fn) {
  if (n <= 0) return;
  if (nthreads <= 1 || n <= grain) {
    for (int64_t r = 0; r < n; ++r) fn(r);
    return;
  }
  std::atomic<int64_t> next(0);
  auto worker = [&]() {
    for (;;) {
      int64_t begin = next.fetch_add(grain);
      if (begin >= n) break;
      int64_t end = std::min(n, begin + grain);
      for (int64_t r = begin; r < end; ++r) fn(r);
    }
  };
  const int64_t nt = std::min<int64_t>(nthreads, (n + grain - 1) / grain);
  std::vector<std::thread> pool;
  pool.reserve(nt - 1);
  for (int64_t t = 1; t < nt; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

enum Reduce { SUM = 0, MEAN = 1, MAX = 2, MIN = 3 };

#ifndef GK_PREFETCH
#define GK_PREFETCH 16
#endif
#ifndef GK_PF_HINT
#define GK_PF_HINT 1
#endif
constexpr int64_t PREFETCH = GK_PREFETCH;  // entries ahead: hides the latency of random row reads

// acc[0:TILE] = sum_j s_j * x[idx[j], k0:k0+TILE] over one row's entries, kept in
// registers (TILE floats = TILE/16 zmm registers), then stored once. The row of the
// entry PREFETCH ahead is prefetched: the gathers are random and the hardware
// prefetcher cannot predict them.
template <typename T, int64_t TILE, typename I>
inline void sum_tile(const I* __restrict idx, const int64_t* __restrict eid, const T* __restrict w,
                     int64_t hw, int64_t wofs, int64_t begin, int64_t end, int64_t nnz, const T* __restrict x,
                     int64_t d, int64_t k0, T* __restrict o) {
  T acc[TILE];
  for (int64_t k = 0; k < TILE; ++k) acc[k] = 0;
  for (int64_t j = begin; j < end; ++j) {
    if (j + PREFETCH < nnz) {  // past the row's end this warms the next row's sources
      const char* p = reinterpret_cast<const char*>(x + idx[j + PREFETCH] * d + k0);
      for (size_t c = 0; c < TILE * sizeof(T); c += 64) __builtin_prefetch(p + c, 0, GK_PF_HINT);
    }
    const T* __restrict xr = x + idx[j] * d + k0;
    const T s = w ? w[(eid ? eid[j] : j) * hw + wofs] : T(1);
    for (int64_t k = 0; k < TILE; ++k) acc[k] += s * xr[k];
  }
  for (int64_t k = 0; k < TILE; ++k) o[k0 + k] = acc[k];
}

template <typename T, typename I>
inline void sum_range(const I* idx, const int64_t* eid, const T* w, int64_t hw, int64_t wofs,
                      int64_t begin, int64_t end, int64_t nnz, const T* x, int64_t d, int64_t k0, int64_t k1,
                      T* o) {
  constexpr int64_t W = 64 / sizeof(T);  // one cache line of T
  while (k0 < k1) {
    const int64_t rem = k1 - k0;
    if (rem >= 8 * W) { sum_tile<T, 8 * W>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += 8 * W; }
    else if (rem >= 4 * W) { sum_tile<T, 4 * W>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += 4 * W; }
    else if (rem >= 2 * W) { sum_tile<T, 2 * W>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += 2 * W; }
    else if (rem >= W) { sum_tile<T, W>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += W; }
    else if (rem >= 4) { sum_tile<T, 4>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += 4; }
    else { sum_tile<T, 1>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, o); k0 += 1; }
  }
}

template <typename T, typename I>
void spmm(const int64_t* __restrict indptr, const I* __restrict indices,
          const int64_t* __restrict eid, const T* __restrict w, int64_t hw,
          const T* __restrict x, T* __restrict out, int64_t* __restrict arg,
          int64_t n, int64_t h, int64_t f, int reduce, int nthreads) {
  const int64_t d = h * f;
  if (reduce == SUM || reduce == MEAN) {
    // Rows are the outer loop and features are tiled in registers. Feature blocking
    // (one sweep of all rows per cache-sized column block of x) was measured slower
    // on the 2-core benchmark machine (L3 32 MB): 135 ms vs 58 ms for 128 features
    // and 2.4M edges, since every sweep pays the random-access latency again.
    const bool per_head = w != nullptr && hw > 1;  // ranges never straddle a head then
    const int64_t nnz = indptr[n];
    parallel_rows(n, nthreads, 32, [&](int64_t v) {
      const int64_t begin = indptr[v], end = indptr[v + 1];
      T* __restrict o = out + v * d;
      if (per_head) {
        for (int64_t hh = 0; hh < h; ++hh)
          sum_range<T>(indices, eid, w, hw, hh, begin, end, nnz, x, d, hh * f, (hh + 1) * f, o);
      } else {
        sum_range<T>(indices, eid, w, hw, 0, begin, end, nnz, x, d, 0, d, o);
      }
      if (reduce == MEAN && end > begin) {
        const T inv = T(1) / T(end - begin);
        for (int64_t k = 0; k < d; ++k) o[k] *= inv;
      }
    });
    return;
  }
  parallel_rows(n, nthreads, 32, [&](int64_t v) {
    T* __restrict o = out + v * d;
    const int64_t begin = indptr[v], end = indptr[v + 1];
    int64_t* a = arg + v * d;
    if (end == begin) {  // isolated vertex: 0, no argument
      std::memset(o, 0, sizeof(T) * d);
      for (int64_t k = 0; k < d; ++k) a[k] = -1;
      return;
    }
    const bool is_max = reduce == MAX;
    for (int64_t j = begin; j < end; ++j) {
      const T* xr = x + static_cast<int64_t>(indices[j]) * d;
      const T* we = w ? w + (eid ? eid[j] : j) * hw : nullptr;
      for (int64_t hh = 0; hh < h; ++hh) {
        const T s = we ? we[hw == 1 ? 0 : hh] : T(1);
        for (int64_t k = hh * f; k < (hh + 1) * f; ++k) {
          const T val = s * xr[k];
          // strict comparison keeps the first entry of the row on ties. NaN propagates as in
          // torch.amax / scatter_reduce: the first NaN entry wins and nothing replaces it (every
          // comparison with NaN is false), whatever the edge order.
          if (j == begin || (std::isnan(val) && !std::isnan(o[k])) || (is_max ? val > o[k] : val < o[k])) {
            o[k] = val;
            a[k] = j;
          }
        }
      }
    }
  });
}

// out[e, h] = <a[v, h, :], b[indices[j], h, :]> for every stored entry j of row v,
// written at e = eid[j] (or j).
// <a[0:f], b[0:f]> with independent lanes so the compiler vectorises the
// reduction without -ffast-math (a single accumulator is a serial dependency).
template <typename T>
inline T dot(const T* __restrict a, const T* __restrict b, int64_t f) {
  constexpr int64_t L = 64 / sizeof(T);
  T lanes[L] = {};
  int64_t k = 0;
  for (; k + L <= f; k += L)
    for (int64_t l = 0; l < L; ++l) lanes[l] += a[k + l] * b[k + l];
  T acc = 0;
  for (; k < f; ++k) acc += a[k] * b[k];
  for (int64_t l = 0; l < L; ++l) acc += lanes[l];
  return acc;
}

template <typename T>
void sddmm_dot(const int64_t* __restrict indptr, const int64_t* __restrict indices,
               const int64_t* __restrict eid, const T* __restrict a, const T* __restrict b,
               T* __restrict out, int64_t n, int64_t h, int64_t f, int nthreads) {
  const int64_t d = h * f, nnz = indptr[n];
  parallel_rows(n, nthreads, 32, [&](int64_t v) {
    const T* __restrict av = a + v * d;
    const int64_t end = indptr[v + 1];
    for (int64_t j = indptr[v]; j < end; ++j) {
      if (j + PREFETCH < nnz) {
        const char* p = reinterpret_cast<const char*>(b + indices[j + PREFETCH] * d);
        for (size_t c = 0; c < d * sizeof(T); c += 64) __builtin_prefetch(p + c, 0, GK_PF_HINT);
      }
      const T* __restrict bu = b + indices[j] * d;
      T* oe = out + (eid ? eid[j] : j) * h;
      for (int64_t hh = 0; hh < h; ++hh) oe[hh] = dot(av + hh * f, bu + hh * f, f);
    }
  });
}

// Numerically stable softmax of score[e, h] over the entries of each row, with torch.softmax's
// non-finite rules: a NaN or a +inf score makes the whole row NaN (the shift m is then NaN or
// +inf, and exp(inf - inf) is NaN). A row of only -inf scores gives zeros, not torch's NaN: it
// is a fully masked destination, which aggregates to 0 like a vertex with no in-edges.
template <typename T>
void segment_softmax(const int64_t* __restrict indptr, const int64_t* __restrict eid,
                     const T* __restrict score, T* __restrict out, int64_t n, int64_t h,
                     int nthreads) {
  parallel_rows(n, nthreads, 64, [&](int64_t v) {
    const int64_t begin = indptr[v], end = indptr[v + 1];
    if (end == begin) return;
    for (int64_t hh = 0; hh < h; ++hh) {
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = begin; j < end; ++j) {
        const T sc = score[(eid ? eid[j] : j) * h + hh];
        if (std::isnan(sc) || sc > m) m = sc;  // once m is NaN no comparison replaces it
      }
      if (m == -std::numeric_limits<T>::infinity()) m = 0;  // all -inf: exp gives 0, the guard below keeps it 0
      T s = 0;
      for (int64_t j = begin; j < end; ++j) {
        const int64_t e = (eid ? eid[j] : j) * h + hh;
        const T ex = std::exp(score[e] - m);
        out[e] = ex;
        s += ex;
      }
      const T inv = s == 0 ? T(0) : T(1) / s;  // a NaN sum stays NaN for the whole row
      for (int64_t j = begin; j < end; ++j) out[(eid ? eid[j] : j) * h + hh] *= inv;
    }
  });
}

// grad_score = y * (g - sum_row(y * g)), the softmax Jacobian-vector product.
template <typename T>
void segment_softmax_backward(const int64_t* __restrict indptr, const int64_t* __restrict eid,
                              const T* __restrict y, const T* __restrict g, T* __restrict out,
                              int64_t n, int64_t h, int nthreads) {
  parallel_rows(n, nthreads, 64, [&](int64_t v) {
    const int64_t begin = indptr[v], end = indptr[v + 1];
    for (int64_t hh = 0; hh < h; ++hh) {
      T s = 0;
      for (int64_t j = begin; j < end; ++j) {
        const int64_t e = (eid ? eid[j] : j) * h + hh;
        s += y[e] * g[e];
      }
      for (int64_t j = begin; j < end; ++j) {
        const int64_t e = (eid ? eid[j] : j) * h + hh;
        out[e] = y[e] * (g[e] - s);
      }
    }
  });
}

}  // namespace

#define GK_EXPORT extern "C" __attribute__((visibility("default")))

#define GK_INSTANTIATE(T, SUFFIX)                                                          \
  GK_EXPORT void gk_spmm_##SUFFIX(const int64_t* indptr, const int64_t* indices,            \
                                  const int64_t* eid, const T* w, int64_t hw, const T* x,   \
                                  T* out, int64_t* arg, int64_t n, int64_t h, int64_t f,    \
                                  int reduce, int nthreads) {                               \
    spmm<T>(indptr, indices, eid, w, hw, x, out, arg, n, h, f, reduce, nthreads);          \
  }                                                                                         \
  GK_EXPORT void gk_spmm_i32_##SUFFIX(const int64_t* indptr, const int32_t* indices,        \
                                      const int64_t* eid, const T* w, int64_t hw, const T* x, \
                                      T* out, int64_t* arg, int64_t n, int64_t h, int64_t f, \
                                      int reduce, int nthreads) {                           \
    spmm<T>(indptr, indices, eid, w, hw, x, out, arg, n, h, f, reduce, nthreads);          \
  }                                                                                         \
  GK_EXPORT void gk_sddmm_dot_##SUFFIX(const int64_t* indptr, const int64_t* indices,       \
                                       const int64_t* eid, const T* a, const T* b, T* out,  \
                                       int64_t n, int64_t h, int64_t f, int nthreads) {     \
    sddmm_dot<T>(indptr, indices, eid, a, b, out, n, h, f, nthreads);                      \
  }                                                                                         \
  GK_EXPORT void gk_segment_softmax_##SUFFIX(const int64_t* indptr, const int64_t* eid,     \
                                             const T* score, T* out, int64_t n, int64_t h,  \
                                             int nthreads) {                                \
    segment_softmax<T>(indptr, eid, score, out, n, h, nthreads);                           \
  }                                                                                         \
  GK_EXPORT void gk_segment_softmax_backward_##SUFFIX(                                      \
      const int64_t* indptr, const int64_t* eid, const T* y, const T* g, T* out, int64_t n, \
      int64_t h, int nthreads) {                                                            \
    segment_softmax_backward<T>(indptr, eid, y, g, out, n, h, nthreads);                   \
  }

GK_INSTANTIATE(float, f32)
GK_INSTANTIATE(double, f64)

GK_EXPORT int gk_abi_version() { return 2; }

// =====================================================================================
// bfloat16 storage (issue 17): the same CSR ops reading and writing bf16 (2 bytes per
// element, half the memory traffic of float32) and accumulating in float32. Kept apart
// from the float/double templates above, which stay bit-identical; edge weights may be
// bf16 or float32 (W), since under autocast the gcn_norm weights stay float32.
// bf16 -> float is exact (a 16-bit shift); float -> bf16 rounds to nearest even, NaN to
// the quiet NaN 0x7FC0, bit for bit torch's c10::BFloat16 conversion.
// =====================================================================================
namespace {

using bf16_t = uint16_t;  // raw bf16 bits: the kernel never does arithmetic on them

inline float bf16_load(bf16_t v) {
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float bf16_load(float v) { return v; }  // float32 edge weights beside bf16 features

inline bf16_t bf16_store(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;  // NaN; the branch vectorises to a blend
  return bf16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Warm TILE elements of the source row of the entry PREFETCH ahead of j (as sum_tile does: the
// gathers are random, the hardware prefetcher cannot predict them). Forced inline: a call inside the
// entry loop would make the accumulators live in memory rather than registers (measured 2x slower).
template <int64_t TILE, typename I>
__attribute__((always_inline)) inline void prefetch_ahead_bf16(const I* __restrict idx, int64_t j, int64_t nnz,
                                                               const bf16_t* __restrict x, int64_t d, int64_t k0) {
  if (j + PREFETCH >= nnz) return;
  const char* p = reinterpret_cast<const char*>(x + idx[j + PREFETCH] * d + k0);
  for (size_t c = 0; c < TILE * sizeof(bf16_t); c += 64) __builtin_prefetch(p + c, 0, GK_PF_HINT);
}

// The bf16 twin of sum_tile: TILE float32 accumulators in registers, one rounding per output,
// mean's 1/deg applied before that rounding (scale).
template <int64_t TILE, typename I, typename W>
inline void sum_tile_bf16(const I* __restrict idx, const int64_t* __restrict eid, const W* __restrict w,
                          int64_t hw, int64_t wofs, int64_t begin, int64_t end, int64_t nnz,
                          const bf16_t* __restrict x, int64_t d, int64_t k0, float scale, bf16_t* __restrict o) {
  float acc[TILE];
  for (int64_t k = 0; k < TILE; ++k) acc[k] = 0.f;
  for (int64_t j = begin; j < end; ++j) {
    prefetch_ahead_bf16<TILE>(idx, j, nnz, x, d, k0);
    const bf16_t* __restrict xr = x + idx[j] * d + k0;
    const float s = w ? bf16_load(w[(eid ? eid[j] : j) * hw + wofs]) : 1.f;
    for (int64_t k = 0; k < TILE; ++k) acc[k] += s * bf16_load(xr[k]);
  }
  for (int64_t k = 0; k < TILE; ++k) o[k0 + k] = bf16_store(acc[k] * scale);
}

template <typename I, typename W>
inline void sum_range_bf16(const I* idx, const int64_t* eid, const W* w, int64_t hw, int64_t wofs, int64_t begin,
                           int64_t end, int64_t nnz, const bf16_t* x, int64_t d, int64_t k0, int64_t k1, float scale,
                           bf16_t* o) {
  // Tiles counted in float32 accumulators (16 per zmm register), at most 128 (8 registers) as above,
  // in steps of 8: every pass over the row's entries pays the random-gather latency again, so a
  // width of 40 (40 classes) is one pass of 40, not 32 + 4 + 4 (three passes).
#define GK_BF16_TILE(T) \
  sum_tile_bf16<T>(idx, eid, w, hw, wofs, begin, end, nnz, x, d, k0, scale, o); \
  k0 += T;                                                                        \
  break;
  while (k0 < k1) {
    const int64_t rem = k1 - k0;
    switch (rem >= 128 ? 16 : rem / 8) {
      case 16: GK_BF16_TILE(128)
      case 15: GK_BF16_TILE(120)
      case 14: GK_BF16_TILE(112)
      case 13: GK_BF16_TILE(104)
      case 12: GK_BF16_TILE(96)
      case 11: GK_BF16_TILE(88)
      case 10: GK_BF16_TILE(80)
      case 9: GK_BF16_TILE(72)
      case 8: GK_BF16_TILE(64)
      case 7: GK_BF16_TILE(56)
      case 6: GK_BF16_TILE(48)
      case 5: GK_BF16_TILE(40)
      case 4: GK_BF16_TILE(32)
      case 3: GK_BF16_TILE(24)
      case 2: GK_BF16_TILE(16)
      case 1: GK_BF16_TILE(8)
      default:
        if (rem >= 4) { GK_BF16_TILE(4) }
        GK_BF16_TILE(1)
    }
  }
#undef GK_BF16_TILE
}

// Per-head weights, F features per head: G heads share one pass over the row's entries (G F = 128
// float32 accumulators, 8 zmm registers), so a 4-head, 64-feature GAT row is gathered in 2 passes
// rather than 4 (one per head), each reading 256 contiguous bytes of the source row.
template <int64_t F, int64_t G, typename I, typename W>
inline void sum_heads_bf16(const I* __restrict idx, const int64_t* __restrict eid, const W* __restrict w, int64_t hw,
                           int64_t h0, int64_t begin, int64_t end, int64_t nnz, const bf16_t* __restrict x, int64_t d,
                           float scale, bf16_t* __restrict o) {
  constexpr int64_t TILE = G * F;
  const int64_t k0 = h0 * F;
  float acc[TILE];
  for (int64_t k = 0; k < TILE; ++k) acc[k] = 0.f;
  for (int64_t j = begin; j < end; ++j) {
    prefetch_ahead_bf16<TILE>(idx, j, nnz, x, d, k0);
    const bf16_t* __restrict xr = x + idx[j] * d + k0;
    const W* __restrict we = w + (eid ? eid[j] : j) * hw + h0;
    for (int64_t g = 0; g < G; ++g) {
      const float s = bf16_load(we[g]);
      for (int64_t k = 0; k < F; ++k) acc[g * F + k] += s * bf16_load(xr[g * F + k]);
    }
  }
  for (int64_t k = 0; k < TILE; ++k) o[k0 + k] = bf16_store(acc[k] * scale);
}

template <typename I, typename W>
void spmm_bf16(const int64_t* __restrict indptr, const I* __restrict indices, const int64_t* __restrict eid,
               const W* __restrict w, int64_t hw, const bf16_t* __restrict x, bf16_t* __restrict out,
               int64_t* __restrict arg, int64_t n, int64_t h, int64_t f, int reduce, int nthreads) {
  const int64_t d = h * f;
  if (reduce == SUM || reduce == MEAN) {
    const bool per_head = w != nullptr && hw > 1;
    const int64_t nnz = indptr[n];
    parallel_rows(n, nthreads, 32, [&](int64_t v) {
      const int64_t begin = indptr[v], end = indptr[v + 1];
      const float scale = reduce == MEAN && end > begin ? 1.f / float(end - begin) : 1.f;
      bf16_t* __restrict o = out + v * d;
      if (per_head) {
        int64_t hh = 0;
        if (f == 64) {
          for (; hh + 2 <= h; hh += 2) sum_heads_bf16<64, 2>(indices, eid, w, hw, hh, begin, end, nnz, x, d, scale, o);
        } else if (f == 32) {
          for (; hh + 4 <= h; hh += 4) sum_heads_bf16<32, 4>(indices, eid, w, hw, hh, begin, end, nnz, x, d, scale, o);
        } else if (f == 16) {
          for (; hh + 8 <= h; hh += 8) sum_heads_bf16<16, 8>(indices, eid, w, hw, hh, begin, end, nnz, x, d, scale, o);
        }
        for (; hh < h; ++hh)  // other widths, and the heads left over
          sum_range_bf16(indices, eid, w, hw, hh, begin, end, nnz, x, d, hh * f, (hh + 1) * f, scale, o);
      } else {
        sum_range_bf16(indices, eid, w, hw, 0, begin, end, nnz, x, d, 0, d, scale, o);
      }
    });
    return;
  }
  // max/min: the running extreme is kept in float32 (val = s * x is not a bf16 value when
  // weighted), so the winner is the one the float32 kernel picks on the same widened input
  parallel_rows(n, nthreads, 32, [&](int64_t v) {
    thread_local std::vector<float> best;
    best.resize(d);
    bf16_t* __restrict o = out + v * d;
    const int64_t begin = indptr[v], end = indptr[v + 1];
    int64_t* a = arg + v * d;
    if (end == begin) {
      std::memset(o, 0, sizeof(bf16_t) * d);
      for (int64_t k = 0; k < d; ++k) a[k] = -1;
      return;
    }
    const bool is_max = reduce == MAX;
    for (int64_t j = begin; j < end; ++j) {
      const bf16_t* xr = x + static_cast<int64_t>(indices[j]) * d;
      const W* we = w ? w + (eid ? eid[j] : j) * hw : nullptr;
      for (int64_t hh = 0; hh < h; ++hh) {
        const float s = we ? bf16_load(we[hw == 1 ? 0 : hh]) : 1.f;
        for (int64_t k = hh * f; k < (hh + 1) * f; ++k) {
          const float val = s * bf16_load(xr[k]);
          if (j == begin || (std::isnan(val) && !std::isnan(best[k])) || (is_max ? val > best[k] : val < best[k])) {
            best[k] = val;
            a[k] = j;
          }
        }
      }
    }
    for (int64_t k = 0; k < d; ++k) o[k] = bf16_store(best[k]);
  });
}

inline float dot_bf16(const bf16_t* __restrict a, const bf16_t* __restrict b, int64_t f) {
  constexpr int64_t L = 16;  // one zmm of float32 lanes
  float lanes[L] = {};
  int64_t k = 0;
  for (; k + L <= f; k += L)
    for (int64_t l = 0; l < L; ++l) lanes[l] += bf16_load(a[k + l]) * bf16_load(b[k + l]);
  float acc = 0.f;
  for (; k < f; ++k) acc += bf16_load(a[k]) * bf16_load(b[k]);
  for (int64_t l = 0; l < L; ++l) acc += lanes[l];
  return acc;
}

void sddmm_dot_bf16(const int64_t* __restrict indptr, const int64_t* __restrict indices,
                    const int64_t* __restrict eid, const bf16_t* __restrict a, const bf16_t* __restrict b,
                    bf16_t* __restrict out, int64_t n, int64_t h, int64_t f, int nthreads) {
  const int64_t d = h * f, nnz = indptr[n];
  parallel_rows(n, nthreads, 32, [&](int64_t v) {
    const bf16_t* __restrict av = a + v * d;
    const int64_t end = indptr[v + 1];
    for (int64_t j = indptr[v]; j < end; ++j) {
      if (j + PREFETCH < nnz) {
        const char* p = reinterpret_cast<const char*>(b + indices[j + PREFETCH] * d);
        for (size_t c = 0; c < d * sizeof(bf16_t); c += 64) __builtin_prefetch(p + c, 0, GK_PF_HINT);
      }
      const bf16_t* __restrict bu = b + indices[j] * d;
      bf16_t* oe = out + (eid ? eid[j] : j) * h;
      for (int64_t hh = 0; hh < h; ++hh) oe[hh] = bf16_store(dot_bf16(av + hh * f, bu + hh * f, f));
    }
  });
}

// segment_softmax's rules (see above) with float32 shift, exponentials and sum: the row's
// exponentials wait in a float32 buffer so each output is rounded to bf16 once.
void segment_softmax_bf16(const int64_t* __restrict indptr, const int64_t* __restrict eid,
                          const bf16_t* __restrict score, bf16_t* __restrict out, int64_t n, int64_t h,
                          int nthreads) {
  parallel_rows(n, nthreads, 64, [&](int64_t v) {
    const int64_t begin = indptr[v], end = indptr[v + 1];
    if (end == begin) return;
    thread_local std::vector<float> ex;
    ex.resize(end - begin);
    for (int64_t hh = 0; hh < h; ++hh) {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = begin; j < end; ++j) {
        const float sc = bf16_load(score[(eid ? eid[j] : j) * h + hh]);
        if (std::isnan(sc) || sc > m) m = sc;
      }
      if (m == -std::numeric_limits<float>::infinity()) m = 0.f;
      float s = 0.f;
      for (int64_t j = begin; j < end; ++j) {
        const float e = std::exp(bf16_load(score[(eid ? eid[j] : j) * h + hh]) - m);
        ex[j - begin] = e;
        s += e;
      }
      const float inv = s == 0.f ? 0.f : 1.f / s;
      for (int64_t j = begin; j < end; ++j) out[(eid ? eid[j] : j) * h + hh] = bf16_store(ex[j - begin] * inv);
    }
  });
}

void segment_softmax_backward_bf16(const int64_t* __restrict indptr, const int64_t* __restrict eid,
                                   const bf16_t* __restrict y, const bf16_t* __restrict g, bf16_t* __restrict out,
                                   int64_t n, int64_t h, int nthreads) {
  parallel_rows(n, nthreads, 64, [&](int64_t v) {
    const int64_t begin = indptr[v], end = indptr[v + 1];
    for (int64_t hh = 0; hh < h; ++hh) {
      float s = 0.f;
      for (int64_t j = begin; j < end; ++j) {
        const int64_t e = (eid ? eid[j] : j) * h + hh;
        s += bf16_load(y[e]) * bf16_load(g[e]);
      }
      for (int64_t j = begin; j < end; ++j) {
        const int64_t e = (eid ? eid[j] : j) * h + hh;
        out[e] = bf16_store(bf16_load(y[e]) * (bf16_load(g[e]) - s));
      }
    }
  });
}

}  // namespace

// gk_spmm_bf16 / gk_spmm_i32_bf16: bf16 x, out and w; the _wf32 forms take float32 w.
#define GK_INSTANTIATE_SPMM_BF16(W, SUFFIX)                                                        \
  GK_EXPORT void gk_spmm_##SUFFIX(const int64_t* indptr, const int64_t* indices, const int64_t* eid,  \
                                  const W* w, int64_t hw, const bf16_t* x, bf16_t* out, int64_t* arg, \
                                  int64_t n, int64_t h, int64_t f, int reduce, int nthreads) {        \
    spmm_bf16(indptr, indices, eid, w, hw, x, out, arg, n, h, f, reduce, nthreads);                  \
  }                                                                                                   \
  GK_EXPORT void gk_spmm_i32_##SUFFIX(const int64_t* indptr, const int32_t* indices, const int64_t* eid, \
                                      const W* w, int64_t hw, const bf16_t* x, bf16_t* out, int64_t* arg, \
                                      int64_t n, int64_t h, int64_t f, int reduce, int nthreads) {    \
    spmm_bf16(indptr, indices, eid, w, hw, x, out, arg, n, h, f, reduce, nthreads);                  \
  }

GK_INSTANTIATE_SPMM_BF16(bf16_t, bf16)
GK_INSTANTIATE_SPMM_BF16(float, bf16_wf32)

GK_EXPORT void gk_sddmm_dot_bf16(const int64_t* indptr, const int64_t* indices, const int64_t* eid, const bf16_t* a,
                                 const bf16_t* b, bf16_t* out, int64_t n, int64_t h, int64_t f, int nthreads) {
  sddmm_dot_bf16(indptr, indices, eid, a, b, out, n, h, f, nthreads);
}

GK_EXPORT void gk_segment_softmax_bf16(const int64_t* indptr, const int64_t* eid, const bf16_t* score, bf16_t* out,
                                       int64_t n, int64_t h, int nthreads) {
  segment_softmax_bf16(indptr, eid, score, out, n, h, nthreads);
}

GK_EXPORT void gk_segment_softmax_backward_bf16(const int64_t* indptr, const int64_t* eid, const bf16_t* y,
                                                const bf16_t* g, bf16_t* out, int64_t n, int64_t h, int nthreads) {
  segment_softmax_backward_bf16(indptr, eid, y, g, out, n, h, nthreads);
}


// =====================================================================================
// Neighbour sampling (gnnkit.data.sampling.NeighborSampler's native path).
//
// One call per layer and step: gk_sample_counts sizes a layer, gk_sample_layer draws it,
// gk_relabel gives its sources local ids. Randomness is keyed, not streamed: destination
// chunk c of a layer draws from splitmix64(key, c), so which thread runs a chunk changes
// nothing and a batch is identical for every thread count.
// =====================================================================================
namespace {

constexpr int64_t SAMPLE_CHUNK = 256;  // destinations per RNG key and per work item

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna 2018), seeded from splitmix64 as its authors advise.
struct Xoshiro {
  uint64_t s[4];
  explicit Xoshiro(uint64_t seed) {
    for (auto& w : s) w = splitmix64(seed);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
  }
  // uniform in [0, n): Lemire's multiply-shift; the bias is below n / 2^64, far under any test's reach
  int64_t below(uint64_t n) { return int64_t((unsigned __int128)next() * n >> 64); }
};

// Floyd's algorithm (Bentley & Floyd, CACM 1987), the draw numpy's _floyd vectorises: step
// j = deg-k .. deg-1 draws t in [0, j] and keeps t unless taken, else j (always new).
// Small k: a linear scan of the picks; larger k: a per-thread mark array over the row.
inline void floyd_row(int64_t deg, int64_t k, Xoshiro& rng, int64_t* out, std::vector<uint8_t>& mark) {
  if (k <= 32) {
    for (int64_t i = 0, j = deg - k; i < k; ++i, ++j) {
      int64_t t = rng.below(uint64_t(j) + 1);
      for (int64_t c = 0; c < i; ++c)
        if (out[c] == t) { t = j; break; }
      out[i] = t;
    }
    return;
  }
  if (int64_t(mark.size()) < deg) mark.assign(deg, 0);
  for (int64_t i = 0, j = deg - k; i < k; ++i, ++j) {
    int64_t t = rng.below(uint64_t(j) + 1);
    if (mark[t]) t = j;
    mark[t] = 1;
    out[i] = t;
  }
  for (int64_t i = 0; i < k; ++i) mark[out[i]] = 0;
}

inline int64_t sample_count(int64_t deg, int64_t fanout, int replace) {
  if (fanout < 0) return deg;
  if (replace) return deg > 0 ? fanout : 0;
  return std::min(deg, fanout);
}

}  // namespace

// offsets[r + 1] - offsets[r] = edges drawn for dst[r]; returns the layer's total.
GK_EXPORT int64_t gk_sample_counts(const int64_t* indptr, const int64_t* dst, int64_t d, int64_t fanout, int replace,
                                   int64_t* offsets) {
  offsets[0] = 0;
  for (int64_t r = 0; r < d; ++r) {
    const int64_t v = dst[r];
    offsets[r + 1] = offsets[r] + sample_count(indptr[v + 1] - indptr[v], fanout, replace);
  }
  return offsets[d];
}

namespace {

// Per sampled edge: its CSR position, its source (global id) and its destination (local id r).
// Templated on the type of indices: an int32 CSR (a memory-mapped OnDiskGraph) is read in place
// rather than widened to int64 (8 E bytes); the draws depend only on indptr, so both give the same batch.
template <typename Index>
void sample_layer(const int64_t* indptr, const Index* indices, const int64_t* dst, int64_t d, const int64_t* offsets,
                  int64_t fanout, int replace, uint64_t key, int64_t* pos, int64_t* src, int64_t* dst_local,
                  int nthreads) {
  const int64_t chunks = (d + SAMPLE_CHUNK - 1) / SAMPLE_CHUNK;
  parallel_rows(chunks, nthreads, 1, [&](int64_t c) {
    thread_local std::vector<uint8_t> mark;
    uint64_t s = key ^ (0xD1B54A32D192ED03ull * uint64_t(c + 1));
    Xoshiro rng(splitmix64(s));
    const int64_t end = std::min(d, (c + 1) * SAMPLE_CHUNK);
    for (int64_t r = c * SAMPLE_CHUNK; r < end; ++r) {
      const int64_t v = dst[r], start = indptr[v], deg = indptr[v + 1] - start;
      int64_t* p = pos + offsets[r];
      const int64_t n = offsets[r + 1] - offsets[r];
      if (n == deg && !(replace && fanout >= 0)) {
        for (int64_t i = 0; i < n; ++i) p[i] = start + i;  // every in-edge
      } else if (replace) {
        for (int64_t i = 0; i < n; ++i) p[i] = start + rng.below(uint64_t(deg));
      } else {
        floyd_row(deg, n, rng, p, mark);
        for (int64_t i = 0; i < n; ++i) p[i] += start;
      }
      for (int64_t i = 0; i < n; ++i) {
        src[offsets[r] + i] = int64_t(indices[p[i]]);
        dst_local[offsets[r] + i] = r;
      }
    }
  });
}

}  // namespace

GK_EXPORT void gk_sample_layer(const int64_t* indptr, const int64_t* indices, const int64_t* dst, int64_t d,
                               const int64_t* offsets, int64_t fanout, int replace, uint64_t key, int64_t* pos,
                               int64_t* src, int64_t* dst_local, int nthreads) {
  sample_layer(indptr, indices, dst, d, offsets, fanout, replace, key, pos, src, dst_local, nthreads);
}

GK_EXPORT void gk_sample_layer_i32(const int64_t* indptr, const int32_t* indices, const int64_t* dst, int64_t d,
                                   const int64_t* offsets, int64_t fanout, int replace, uint64_t key, int64_t* pos,
                                   int64_t* src, int64_t* dst_local, int nthreads) {
  sample_layer(indptr, indices, dst, d, offsets, fanout, replace, key, pos, src, dst_local, nthreads);
}

// Local ids of src (E entries) with dst (D ids, distinct) first: dst[r] -> r, each new vertex -> D + its rank
// by first occurrence. table[N] is all -1 on entry and on return. nodes[0 : D + new] receives the layer's
// source ids. Returns D + new, which must stay below 2^31 (the int32 table; the caller checks D + E).
// One pass, one thread: numbering new vertices by first occurrence is sequential by nature. A
// threaded version (claim each vertex's first position with a CAS, then rank the claims with a prefix
// sum: five passes over the edges) was 2-5x slower than this loop on 2 cores at every size measured
// (40k-8M edges, 100k and 2.45M vertices), so it was removed; gk_sample_layer, the other half of a
// layer, is the part that scales with threads.
GK_EXPORT int64_t gk_relabel(int32_t* table, const int64_t* dst, int64_t d, const int64_t* src, int64_t e,
                             int64_t* local, int64_t* nodes) {
  for (int64_t r = 0; r < d; ++r) table[dst[r]] = int32_t(r);
  std::memcpy(nodes, dst, sizeof(int64_t) * d);
  int64_t s = d;
  for (int64_t i = 0; i < e; ++i) {
    int32_t& t = table[src[i]];
    if (t < 0) {
      t = int32_t(s);
      nodes[s++] = src[i];
    }
    local[i] = t;
  }
  for (int64_t j = 0; j < s; ++j) table[nodes[j]] = -1;
  return s;
}
