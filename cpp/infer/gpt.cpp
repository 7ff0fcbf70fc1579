// Native CPU forward pass of the chessformer GPT; see gpt.h.
#include "infer/gpt.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace chess::infer {

namespace {

// ---- SIMD: a vector of kW floats, with partial (masked) loads for row tails ---------------------
// kTB: tokens per dot-product block (R = 4 weight rows x kTB tokens accumulators fit the
// register file).
#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
constexpr int kW = 16;
constexpr int kTB = 4;
using V = __m512;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline V vload_n(const float* p, int n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vset(float x) { return _mm512_set1_ps(x); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline void vstore_n(float* p, V v, int n) { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1u), v); }
// kW bf16 weights widened to fp32 (a bf16 is the top half of an fp32)
inline V vload_bf16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, _mm512_maskz_cvtepu16_epi32(0xFFFF, h), 16));
}
inline float vsum(V v) {
  // (not _mm512_reduce_add_ps: with GCC 12 its "undefined" passthrough trips -Wuninitialized)
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
  __m128 s = _mm512_maskz_extractf32x4_ps(0xF, v, 0);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// The sums of four vectors at once (fewer shuffles than four vsum calls).
inline void vsum4(V a, V b, V c, V d, float* out) {
  const V ab = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xFFFF, a, b), _mm512_maskz_unpackhi_ps(0xFFFF, a, b));
  const V cd = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xFFFF, c, d), _mm512_maskz_unpackhi_ps(0xFFFF, c, d));
  // per 128-bit lane: the partial sums of a, b, c, d
  V x = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xFFFF, ab, cd, 0x44),
                      _mm512_maskz_shuffle_ps(0xFFFF, ab, cd, 0xEE));
  x = _mm512_add_ps(x, _mm512_maskz_shuffle_f32x4(0xFFFF, x, x, 0x4E));
  x = _mm512_add_ps(x, _mm512_maskz_shuffle_f32x4(0xFFFF, x, x, 0xB1));
  _mm_storeu_ps(out, _mm512_maskz_extractf32x4_ps(0xF, x, 0));
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* kIsa = "avx2";
constexpr int kW = 8;
constexpr int kTB = 2;
using V = __m256;
alignas(32) constexpr int32_t kMaskWords[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tail_mask(int n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskWords + 8 - n));
}
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload_bf16(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline V vload_n(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vset(float x) { return _mm256_set1_ps(x); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
inline void vstore_n(float* p, V v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
inline float vsum(V v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline void vsum4(V a, V b, V c, V d, float* out) {
  const V abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
#else
constexpr const char* kIsa = "scalar";
constexpr int kW = 1;
constexpr int kTB = 4;
using V = float;
inline V vzero() { return 0.0f; }
inline V vload_bf16(const uint16_t* p) {
  const uint32_t u = uint32_t(*p) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline V vload(const float* p) { return *p; }
inline V vload_n(const float* p, int) { return *p; }  // never called with kW == 1
inline V vfma(V a, V b, V c) { return a * b + c; }
inline V vset(float x) { return x; }
inline void vstore(float* p, V v) { *p = v; }
inline void vstore_n(float* p, V v, int) { *p = v; }
inline float vsum(V v) { return v; }
inline void vsum4(V a, V b, V c, V d, float* out) {
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}
#endif

inline void prefetch(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

// Weights are fp32 or bf16 (uint16_t: the opt-in half-size copies); activations are always fp32.
inline V wload(const float* p) { return vload(p); }
inline V wload(const uint16_t* p) { return vload_bf16(p); }
inline V wload_n(const float* p, int n) { return vload_n(p, n); }
inline V wload_n(const uint16_t* p, int n) {
  uint16_t tmp[kW] = {};
  std::memcpy(tmp, p, sizeof(uint16_t) * size_t(n));
  return vload_bf16(tmp);
}

uint16_t to_bf16(float f) {  // round to nearest even; NaNs stay (quiet) NaNs
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x40u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

constexpr int kRows = 4;   // weight rows per dot-product block
constexpr int kTile = 64;  // tokens per pass over a weight matrix (their inputs stay in L2)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// res[r * TT + t] = dot(w[r][0..K), x[t * ldx + 0..K)) for R rows and TT token vectors.
// When `pf` is set, the rows pf[0..R) are prefetched along the way (the next rows to be read).
template <int R, int TT, typename Wt = float>
inline void dot_block(const Wt* const* w, const float* x, size_t ldx, int K, float* res,
                      const Wt* const* pf = nullptr) {
  V acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = vzero();
  int k = 0;
  for (; k + kW <= K; k += kW) {
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = wload(w[r] + k);
    if (pf)
      for (int r = 0; r < R; ++r) prefetch(pf[r] + k);
    for (int t = 0; t < TT; ++t) {
      const V xv = vload(x + size_t(t) * ldx + k);
      for (int r = 0; r < R; ++r) acc[r][t] = vfma(wv[r], xv, acc[r][t]);
    }
  }
  if (k < K) {
    const int n = K - k;
    V wv[R];
    for (int r = 0; r < R; ++r) wv[r] = wload_n(w[r] + k, n);
    for (int t = 0; t < TT; ++t) {
      const V xv = vload_n(x + size_t(t) * ldx + k, n);
      for (int r = 0; r < R; ++r) acc[r][t] = vfma(wv[r], xv, acc[r][t]);
    }
  }
  if constexpr (R == 4) {
    for (int t = 0; t < TT; ++t) {
      float s4[4];
      vsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t], s4);
      for (int r = 0; r < 4; ++r) res[r * TT + t] = s4[r];
    }
  } else {
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < TT; ++t) res[r * TT + t] = vsum(acc[r][t]);
  }
}

// dot_block with a run-time token count 1 <= tt <= kTB.
template <int R, typename Wt>
inline void dot_block_n(const Wt* const* w, const float* x, size_t ldx, int K, int tt, float* res,
                        const Wt* const* pf) {
  switch (tt) {
    case 1: dot_block<R, 1, Wt>(w, x, ldx, K, res, pf); return;
    case 2: dot_block<R, 2, Wt>(w, x, ldx, K, res, pf); return;
#if defined(__AVX512F__) || !(defined(__AVX2__) && defined(__FMA__))
    case 3: dot_block<R, 3, Wt>(w, x, ldx, K, res, pf); return;
    case 4: dot_block<R, 4, Wt>(w, x, ldx, K, res, pf); return;
#endif
    default: throw std::logic_error("dot_block_n: bad token count");
  }
}

// ---- GELU over a row of the MLP's hidden layer, vectorised --------------------------------------
// exp: 2^n * e^f with n = round(x / ln 2), f = x - n ln 2 (ln 2 in two parts) and a degree-6
// Taylor polynomial of e^f on |f| <= ln 2 / 2 (relative error ~2e-7 before rounding).
// erf: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7. Both are this file's own.
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723e-6f;
constexpr float kE2 = 1.0f / 2, kE3 = 1.0f / 6, kE4 = 1.0f / 24, kE5 = 1.0f / 120, kE6 = 1.0f / 720;
constexpr float kErfP = 0.3275911f, kErfA1 = 0.254829592f, kErfA2 = -0.284496736f, kErfA3 = 1.421413741f,
                kErfA4 = -1.453152027f, kErfA5 = 1.061405429f;

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
inline V vpoly_exp(V f) {  // e^f for |f| <= ln 2 / 2
  V p = vfma(vset(kE6), f, vset(kE5));
  p = vfma(p, f, vset(kE4));
  p = vfma(p, f, vset(kE3));
  p = vfma(p, f, vset(kE2));
  p = vfma(p, f, vset(1.0f));
  return vfma(p, f, vset(1.0f));
}
#endif

#if defined(__AVX512F__)
inline V vexp(V x) {  // x in [-87, 88]
  x = _mm512_maskz_min_ps(0xFFFF, _mm512_maskz_max_ps(0xFFFF, x, vset(-87.0f)), vset(88.0f));
  const V n = _mm512_maskz_roundscale_ps(0xFFFF, _mm512_mul_ps(x, vset(kLog2e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V f = vfma(n, vset(-kLn2Hi), x);
  f = vfma(n, vset(-kLn2Lo), f);
  return _mm512_maskz_scalef_ps(0xFFFF, vpoly_exp(f), n);
}
inline V vabs(V x) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF)));
}
inline V vcopysign(V mag, V sign) {  // |mag| with the sign of `sign`
  const __m512i m = _mm512_set1_epi32(int(0x80000000u));
  return _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(mag), _mm512_and_si512(_mm512_castps_si512(sign), m)));
}
inline V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
inline V vexp(V x) {
  x = _mm256_min_ps(_mm256_max_ps(x, vset(-87.0f)), vset(88.0f));
  const V n = _mm256_round_ps(_mm256_mul_ps(x, vset(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V f = vfma(n, vset(-kLn2Hi), x);
  f = vfma(n, vset(-kLn2Lo), f);
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(vpoly_exp(f), _mm256_castsi256_ps(e));
}
inline V vabs(V x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
inline V vcopysign(V mag, V sign) { return _mm256_or_ps(mag, _mm256_and_ps(sign, _mm256_set1_ps(-0.0f))); }
inline V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
#else
inline V vexp(V x) { return std::exp(x); }
inline V vabs(V x) { return std::fabs(x); }
inline V vcopysign(V mag, V sign) { return std::copysign(mag, sign); }
inline V vdiv(V a, V b) { return a / b; }
#endif

inline V verf(V x) {
  const V a = vabs(x);
  const V t = vdiv(vset(1.0f), vfma(vset(kErfP), a, vset(1.0f)));
  V p = vfma(vset(kErfA5), t, vset(kErfA4));
  p = vfma(p, t, vset(kErfA3));
  p = vfma(p, t, vset(kErfA2));
  p = vfma(p, t, vset(kErfA1));
  p = p * t;
  const V y = vset(1.0f) - p * vexp(vset(0.0f) - a * a);
  return vcopysign(y, x);
}

inline V vgelu_erf(V v) { return vset(0.5f) * v * (vset(1.0f) + verf(v * vset(0.70710678118654752f))); }
inline V vgelu_tanh(V v) {
  // tanh(u) = 1 - 2 / (e^{2u} + 1), u clamped where tanh is +-1 in float
  V u = vset(0.79788456080286536f) * vfma(vset(0.044715f) * v, v * v, v);
#if defined(__AVX512F__)
  u = _mm512_maskz_min_ps(0xFFFF, _mm512_maskz_max_ps(0xFFFF, u, vset(-10.0f)), vset(10.0f));
#elif defined(__AVX2__) && defined(__FMA__)
  u = _mm256_min_ps(_mm256_max_ps(u, vset(-10.0f)), vset(10.0f));
#else
  u = std::min(std::max(u, -10.0f), 10.0f);
#endif
  const V th = vset(1.0f) - vdiv(vset(2.0f), vexp(u + u) + vset(1.0f));
  return vset(0.5f) * v * (vset(1.0f) + th);
}

// x[0..n) = gelu(x[0..n)) in place
void gelu_row(float* x, int n, Gelu kind) {
  int k = 0;
  for (; k + kW <= n; k += kW)
    vstore(x + k, kind == Gelu::Tanh ? vgelu_tanh(vload(x + k)) : vgelu_erf(vload(x + k)));
  if (k < n) {
    const V v = vload_n(x + k, n - k);
    vstore_n(x + k, kind == Gelu::Tanh ? vgelu_tanh(v) : vgelu_erf(v), n - k);
  }
}

// x[i] = exp(x[i] - shift) for i < n; returns their sum (the softmax's denominator)
float exp_shifted(float* x, int n, float shift) {
  V acc = vzero();
  const V m = vset(shift);
  int k = 0;
  for (; k + kW <= n; k += kW) {
    const V e = vexp(vload(x + k) - m);
    vstore(x + k, e);
    acc = acc + e;
  }
  float total = vsum(acc);
  if (k < n) {
    const V e = vexp(vload_n(x + k, n - k) - m);
    vstore_n(x + k, e, n - k);
    for (; k < n; ++k) total += x[k];
  }
  return total;
}

enum class Epi { Store, Add };

inline void epilogue(Epi epi, float* dst, float v) {
  if (epi == Epi::Add)
    *dst += v;
  else
    *dst = v;
}

// out[t * ldo + o] = epi(b[o] + sum_k W[o * K + k] * X[t * ldx + k]) for o in [o0, o1), t < nt.
// Each block of kRows weight rows is read from memory once per tile of kTile tokens.
template <typename Wt>
void matmul(const Wt* W, const float* b, int K, const float* X, size_t ldx, int nt, float* out, size_t ldo,
            int o0, int o1, Epi epi) {
  float res[kRows * kTB];
  for (int t0 = 0; t0 < nt; t0 += kTile) {
    const int t1 = std::min(nt, t0 + kTile);
    int o = o0;
    for (; o + kRows <= o1; o += kRows) {
      const Wt *w[kRows], *next[kRows];
      for (int r = 0; r < kRows; ++r) {
        w[r] = W + size_t(o + r) * size_t(K);
        next[r] = w[r] + size_t(kRows) * size_t(K);
      }
      for (int t = t0; t < t1; t += kTB) {
        const int tt = std::min(kTB, t1 - t);
        // the first token block also prefetches the next row block: between calls the weights
        // go cold, and the hardware prefetcher alone keeps too few lines in flight
        dot_block_n<kRows, Wt>(w, X + size_t(t) * ldx, ldx, K, tt, res,
                               t == t0 && o + 2 * kRows <= o1 ? next : nullptr);
        for (int r = 0; r < kRows; ++r) {
          const float bias = b ? b[o + r] : 0.0f;
          for (int j = 0; j < tt; ++j)
            epilogue(epi, out + size_t(t + j) * ldo + size_t(o + r), res[r * tt + j] + bias);
        }
      }
    }
    for (; o < o1; ++o) {
      const Wt* w[1] = {W + size_t(o) * size_t(K)};
      const float bias = b ? b[o] : 0.0f;
      for (int t = t0; t < t1; t += kTB) {
        const int tt = std::min(kTB, t1 - t);
        dot_block_n<1, Wt>(w, X + size_t(t) * ldx, ldx, K, tt, res, nullptr);
        for (int j = 0; j < tt; ++j) epilogue(epi, out + size_t(t + j) * ldo + size_t(o), res[j] + bias);
      }
    }
  }
}

inline float sum(const float* x, int n) {
  V acc = vzero();
  int k = 0;
  for (; k + kW <= n; k += kW) acc = vfma(vload(x + k), vset(1.0f), acc);
  float s = vsum(acc);
  for (; k < n; ++k) s += x[k];
  return s;
}

// y = LayerNorm(x) * w + b over C entries (two passes: mean, then the centred variance).
void layernorm(const float* x, const float* w, const float* b, float eps, int C, float* y) {
  const float mean = sum(x, C) / float(C);
  V acc = vzero();
  const V m = vset(mean);
  int k = 0;
  for (; k + kW <= C; k += kW) {
    const V d = vload(x + k) - m;
    acc = vfma(d, d, acc);
  }
  float var = vsum(acc);
  for (; k < C; ++k) var += (x[k] - mean) * (x[k] - mean);
  const float rstd = 1.0f / std::sqrt(var / float(C) + eps);
  for (int i = 0; i < C; ++i) y[i] = (x[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
}

// ---- a small pool: the caller runs part 0, workers parts 1..n-1; workers spin briefly between
// the parallel regions of one forward pass, then sleep --------------------------------------------
class Pool {
 public:
  explicit Pool(int threads) : n_(threads) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  void run(const std::function<void(int)>& fn) {
    if (n_ == 1) {
      fn(0);
      return;
    }
    job_ = &fn;
    pending_.store(n_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0);
    while (pending_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  }

 private:
  void loop(int part) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = gen_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 20000; ++spin) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
        _mm_pause();
#endif
        g = gen_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        g = gen_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      (*job_)(part);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<bool> stop_{false};
};

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

}  // namespace

// ---- validation ----------------------------------------------------------------------------------
void validate(const ModelSpec& s) {
  if (s.n_embd < 1 || s.n_head < 1 || s.n_embd % s.n_head)
    bad("n_embd " + std::to_string(s.n_embd) + " must be a positive multiple of n_head " +
        std::to_string(s.n_head));
  if (s.n_hidden < 1 || s.vocab < 1 || s.head_rows < 1 || s.n_pos < 1)
    bad("MLP width, vocabulary, head rows and positions must be positive");
  if (s.max_batch < 1 || s.max_seq < 1) bad("the KV caches must have at least one slot and position");
  if (s.layers.empty()) bad("the model has no layers");
  if (!s.wte || !s.wpe || !s.lnf_w || !s.head) bad("missing embedding, final LayerNorm or head weights");
  if (s.wbe && (s.board_rows < 1 || s.board_width < 1 || s.board_pad < 0 || s.board_pad >= s.board_rows))
    bad("board features need rows, a width and a padding id inside the rows");
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const LayerWeights& l = s.layers[i];
    if (!l.ln1_w || !l.attn_w || !l.proj_w || !l.ln2_w || !l.fc_w || !l.mproj_w || !l.k_cache || !l.v_cache)
      bad("layer " + std::to_string(i) + ": missing weights or KV cache");
  }
}

void validate(const ModelSpec& s, const Batch& b) {
  if (b.n < 1) bad("nothing to feed: no chunks");
  if (s.wbe && !b.features) bad("this model is board-aware: the batch needs its tokens' board features");
  if (b.values && !s.value_w) bad("value logits asked of a model without a value head");
  if (s.wbe && b.offsets[b.n] > 0) {
    const size_t count = size_t(b.offsets[b.n]) * size_t(s.board_width);
    for (size_t k = 0; k < count; ++k)
      if (b.features[k] < 0 || b.features[k] >= s.board_rows)
        bad("board feature id " + std::to_string(b.features[k]) + " out of range [0, " +
            std::to_string(s.board_rows) + ")");
  }
  if (!b.tokens || !b.offsets || !b.slots || !b.base) bad("missing tokens, offsets, slots or base");
  if (b.offsets[0] != 0) bad("offsets must start at 0, got " + std::to_string(b.offsets[0]));
  std::vector<char> used(size_t(s.max_batch), 0);
  for (int i = 0; i < b.n; ++i) {
    const int64_t len = b.offsets[i + 1] - b.offsets[i];
    if (len < 1) bad("chunk " + std::to_string(i) + " is empty (offsets must increase)");
    const int64_t slot = b.slots[i];
    if (slot < 0 || slot >= s.max_batch)
      bad("chunk " + std::to_string(i) + ": slot " + std::to_string(slot) + " is not in 0.." +
          std::to_string(s.max_batch - 1));
    if (used[size_t(slot)]) bad("slot " + std::to_string(slot) + " appears twice in one call");
    used[size_t(slot)] = 1;
    const int64_t base = b.base[i];
    const int64_t limit = std::min(s.max_seq, s.n_pos);
    if (base < 0 || base + len > limit)
      bad("chunk " + std::to_string(i) + ": positions " + std::to_string(base) + ".." +
          std::to_string(base + len - 1) + " are outside the context of " + std::to_string(limit));
    for (int64_t k = b.offsets[i]; k < b.offsets[i + 1]; ++k)
      if (b.tokens[k] < 0 || b.tokens[k] >= s.vocab)
        bad("chunk " + std::to_string(i) + ": token " + std::to_string(b.tokens[k]) + " is not in 0.." +
            std::to_string(s.vocab - 1));
  }
  if (b.cand) {
    if (!b.cand_offsets) bad("candidates need their offsets");
    if (b.cand_offsets[0] != 0) bad("candidate offsets must start at 0");
    for (int i = 0; i < b.n; ++i) {
      if (b.cand_offsets[i + 1] < b.cand_offsets[i]) bad("candidate offsets must not decrease");
      for (int64_t k = b.cand_offsets[i]; k < b.cand_offsets[i + 1]; ++k)
        if (b.cand[k] < 0 || b.cand[k] >= s.head_rows)
          bad("chunk " + std::to_string(i) + ": candidate id " + std::to_string(b.cand[k]) +
              " is not in 0.." + std::to_string(s.head_rows - 1));
    }
  }
}

namespace {
// logits[i, id] = dot(head[id], xf[i]) for the candidate ids of each row i (rows prefetched a
// group ahead: the candidates are scattered over the head)
template <typename Wt>
void candidate_logits(const Wt* head, const Batch& batch, const float* xf, int C, int Vh, float* logits) {
  for (int i = 0; i < batch.n; ++i) {
    const float* xi = xf + size_t(i) * C;
    float* li = logits + size_t(i) * Vh;
    int64_t k = batch.cand_offsets[i];
    const int64_t end = batch.cand_offsets[i + 1];
    float res[kRows];
    for (; k + kRows <= end; k += kRows) {
      const Wt *rows[kRows], *next[kRows];
      for (int r = 0; r < kRows; ++r) {
        rows[r] = head + size_t(batch.cand[k + r]) * C;
        next[r] = k + kRows + r < end ? head + size_t(batch.cand[k + kRows + r]) * C : rows[r];
      }
      dot_block<kRows, 1, Wt>(rows, xi, 0, C, res, next);
      for (int r = 0; r < kRows; ++r) li[batch.cand[k + r]] = res[r];
    }
    for (; k < end; ++k) {
      const Wt* rows[1] = {head + size_t(batch.cand[k]) * C};
      dot_block<1, 1, Wt>(rows, xi, 0, C, res);
      li[batch.cand[k]] = res[0];
    }
  }
}
}  // namespace

// ---- the forward pass ----------------------------------------------------------------------------
namespace {
// A weight matrix: fp32 (borrowed) or, with bf16_weights, the bf16 copy (owned by Impl).
struct Mat {
  const float* f32;
  const uint16_t* bf16;
};
}  // namespace

struct Forward::Impl {
  std::vector<float> x, y, qkv, att, hid, xf, scores;
  std::vector<int64_t> pos, slot;  // per token
  std::unique_ptr<Pool> pool;
  std::vector<std::vector<uint16_t>> copies;  // bf16 weights
  std::vector<std::array<Mat, 4>> mats;       // per layer: attn, proj, fc, mproj
  Mat head{nullptr, nullptr};

  Mat mat(const float* w, size_t n, bool half) {
    if (!half) return {w, nullptr};
    copies.emplace_back(n);
    for (size_t i = 0; i < n; ++i) copies.back()[i] = to_bf16(w[i]);
    return {nullptr, copies.back().data()};
  }
};

Forward::Forward(ModelSpec spec) : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  validate(spec_);
  const ModelSpec& s = spec_;
  const size_t C = size_t(s.n_embd), F = size_t(s.n_hidden);
  const bool half = s.bf16_weights;
  impl_->copies.reserve(4 * s.layers.size() + 1);
  for (const LayerWeights& L : s.layers)
    impl_->mats.push_back({impl_->mat(L.attn_w, 3 * C * C, half), impl_->mat(L.proj_w, C * C, half),
                           impl_->mat(L.fc_w, F * C, half), impl_->mat(L.mproj_w, C * F, half)});
  impl_->head = impl_->mat(s.head, size_t(s.head_rows) * C, half);
}
Forward::~Forward() = default;

const char* Forward::isa() { return kIsa; }

void Forward::run(const Batch& batch, float* logits, int threads) {
  validate(spec_, batch);
  const ModelSpec& s = spec_;
  Impl& w = *impl_;
  const int n = batch.n;
  const int nt = int(batch.offsets[n]);
  const int C = s.n_embd, H = s.n_head, D = C / H, F = s.n_hidden, T = s.max_seq;
  threads = std::max(1, std::min(threads, 64));
  if (threads > 1 && (!w.pool || w.pool->size() != threads)) w.pool = std::make_unique<Pool>(threads);
  const int parts = threads > 1 ? threads : 1;
  auto parallel = [&](const std::function<void(int)>& fn) {
    if (parts == 1)
      fn(0);
    else
      w.pool->run(fn);
  };
  // rows [o0, o1) of `rows` for part p: multiples of kRows
  auto split = [&](int rows, int p, int& o0, int& o1) {
    const int blocks = (rows + kRows - 1) / kRows;
    const int per = (blocks + parts - 1) / parts;
    o0 = std::min(rows, p * per * kRows);
    o1 = std::min(rows, (p + 1) * per * kRows);
  };
  // out = X @ W^T + b over `rows` outputs (each part a range of them), then GELU when asked
  auto par_matmul = [&](Mat W, const float* b, int K, const float* X, int rows, float* out, int ldo, Epi epi,
                        int tokens, const Gelu* gelu = nullptr) {
    parallel([&](int p) {
      int o0, o1;
      split(rows, p, o0, o1);
      if (o0 >= o1) return;
      if (W.bf16)
        matmul(W.bf16, b, K, X, size_t(K), tokens, out, size_t(ldo), o0, o1, epi);
      else
        matmul(W.f32, b, K, X, size_t(K), tokens, out, size_t(ldo), o0, o1, epi);
      if (gelu)
        for (int t = 0; t < tokens; ++t) gelu_row(out + size_t(t) * ldo + o0, o1 - o0, *gelu);
    });
  };

  w.x.resize(size_t(nt) * C);
  w.y.resize(size_t(nt) * C);
  w.qkv.resize(size_t(nt) * 3 * C);
  w.att.resize(size_t(nt) * C);
  w.hid.resize(size_t(nt) * F);
  w.scores.resize(size_t(parts) * T);
  w.pos.resize(size_t(nt));
  w.slot.resize(size_t(nt));
  for (int i = 0; i < n; ++i)
    for (int64_t k = batch.offsets[i]; k < batch.offsets[i + 1]; ++k) {
      w.pos[size_t(k)] = batch.base[i] + (k - batch.offsets[i]);
      w.slot[size_t(k)] = batch.slots[i];
    }

  // embeddings
  for (int t = 0; t < nt; ++t) {
    const float* te = s.wte + size_t(batch.tokens[t]) * C;
    const float* pe = s.wpe + size_t(w.pos[size_t(t)]) * C;
    float* xt = w.x.data() + size_t(t) * C;
    for (int c = 0; c < C; ++c) xt[c] = te[c] + pe[c];
    if (s.wbe)
      for (int k = 0; k < s.board_width; ++k) {
        const int id = batch.features[size_t(t) * size_t(s.board_width) + size_t(k)];
        if (id == s.board_pad) continue;
        const float* be = s.wbe + size_t(id) * C;
        for (int c = 0; c < C; ++c) xt[c] += be[c];
      }
  }

  const float scale = 1.0f / std::sqrt(float(D));
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerWeights& L = s.layers[l];
    const std::array<Mat, 4>& M = w.mats[l];
    for (int t = 0; t < nt; ++t)
      layernorm(w.x.data() + size_t(t) * C, L.ln1_w, L.ln1_b, L.eps1, C, w.y.data() + size_t(t) * C);
    par_matmul(M[0], L.attn_b, C, w.y.data(), 3 * C, w.qkv.data(), 3 * C, Epi::Store, nt);
    // keys and values of every token into its slot's cache first: a chunk's later tokens see its
    // earlier ones
    for (int t = 0; t < nt; ++t) {
      const float* q = w.qkv.data() + size_t(t) * 3 * C;
      for (int h = 0; h < H; ++h) {
        const size_t row = ((size_t(w.slot[size_t(t)]) * H + h) * T + size_t(w.pos[size_t(t)])) * D;
        std::memcpy(L.k_cache + row, q + C + h * D, sizeof(float) * D);
        std::memcpy(L.v_cache + row, q + 2 * C + h * D, sizeof(float) * D);
      }
    }
    // attention of each (token, head) over positions 0..pos of its slot
    parallel([&](int p) {
      float* sc = w.scores.data() + size_t(p) * T;
      const int pairs = nt * H;
      const int per = (pairs + parts - 1) / parts;
      for (int j = p * per; j < std::min(pairs, (p + 1) * per); ++j) {
        const int t = j / H, h = j % H;
        const float* q = w.qkv.data() + size_t(t) * 3 * C + size_t(h) * D;
        const size_t head0 = (size_t(w.slot[size_t(t)]) * H + h) * T * D;
        const float* kc = L.k_cache + head0;
        const float* vc = L.v_cache + head0;
        const int S = int(w.pos[size_t(t)]) + 1;
        float mx = kNegInf;
        int k = 0;
        for (; k + kRows <= S; k += kRows) {
          const float* rows[kRows] = {kc + size_t(k) * D, kc + size_t(k + 1) * D, kc + size_t(k + 2) * D,
                                      kc + size_t(k + 3) * D};
          dot_block<kRows, 1>(rows, q, 0, D, sc + k);
        }
        for (; k < S; ++k) {
          const float* rows[1] = {kc + size_t(k) * D};
          dot_block<1, 1>(rows, q, 0, D, sc + k);
        }
        for (k = 0; k < S; ++k) {
          sc[k] *= scale;
          mx = std::max(mx, sc[k]);
        }
        const float total = exp_shifted(sc, S, mx);
        float* o = w.att.data() + size_t(t) * C + size_t(h) * D;
        const float inv = 1.0f / total;
        int d = 0;
        for (; d + kW <= D; d += kW) {
          V acc = vzero();
          for (k = 0; k < S; ++k) acc = vfma(vset(sc[k]), vload(vc + size_t(k) * D + d), acc);
          vstore(o + d, acc * vset(inv));
        }
        if (d < D) {
          V acc = vzero();
          for (k = 0; k < S; ++k) acc = vfma(vset(sc[k]), vload_n(vc + size_t(k) * D + d, D - d), acc);
          vstore_n(o + d, acc * vset(inv), D - d);
        }
      }
    });
    par_matmul(M[1], L.proj_b, C, w.att.data(), C, w.x.data(), C, Epi::Add, nt);
    for (int t = 0; t < nt; ++t)
      layernorm(w.x.data() + size_t(t) * C, L.ln2_w, L.ln2_b, L.eps2, C, w.y.data() + size_t(t) * C);
    par_matmul(M[2], L.fc_b, C, w.y.data(), F, w.hid.data(), F, Epi::Store, nt, &L.gelu);
    par_matmul(M[3], L.mproj_b, F, w.hid.data(), C, w.x.data(), C, Epi::Add, nt);
  }

  // final LayerNorm of each chunk's last token, then the head
  w.xf.resize(size_t(n) * C);
  for (int i = 0; i < n; ++i)
    layernorm(w.x.data() + size_t(batch.offsets[i + 1] - 1) * C, s.lnf_w, s.lnf_b, s.eps_f, C,
              w.xf.data() + size_t(i) * C);
  if (batch.values)
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        const float* row = s.value_w + size_t(k) * C;
        const float* xi = w.xf.data() + size_t(i) * C;
        float acc = s.value_b ? s.value_b[k] : 0.0f;
        for (int c = 0; c < C; ++c) acc += row[c] * xi[c];
        batch.values[size_t(i) * 3 + size_t(k)] = acc;
      }
  const int Vh = s.head_rows;
  if (!batch.cand) {
    par_matmul(w.head, nullptr, C, w.xf.data(), Vh, logits, Vh, Epi::Store, n);
    return;
  }
  std::fill(logits, logits + size_t(n) * Vh, kNegInf);
  if (w.head.bf16)
    candidate_logits(w.head.bf16, batch, w.xf.data(), C, Vh, logits);
  else
    candidate_logits(w.head.f32, batch, w.xf.data(), C, Vh, logits);
}

}  // namespace chess::infer
