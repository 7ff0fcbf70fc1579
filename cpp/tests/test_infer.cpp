// Tests for the native forward pass (cpp/infer) against a plain double-precision reference of the
// same GPT: variable-length chunks over several slots, then single-token steps, candidate-only
// logits, several threads, odd head sizes (vector tails) and input validation. Build it for each
// instruction set the dot products have (AVX-512, AVX2/FMA, scalar) from the repo root:
//   g++ -std=c++20 -O2 -march=native -Icpp cpp/infer/*.cpp cpp/tests/test_infer.cpp -o build/ti && build/ti
//   g++ -std=c++20 -O2 -mavx2 -mfma -Icpp cpp/infer/*.cpp cpp/tests/test_infer.cpp -o build/ti && build/ti
//   g++ -std=c++20 -O2 -Icpp cpp/infer/*.cpp cpp/tests/test_infer.cpp -o build/ti && build/ti
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "infer/gpt.h"
#include "tests/check.h"

using namespace chess::infer;

namespace {

// A batch over the given vectors (which must outlive it).
Batch make_batch(const std::vector<int64_t>& tokens, const std::vector<int64_t>& offsets,
                 const std::vector<int64_t>& slots, const std::vector<int64_t>& base) {
  Batch b;
  b.tokens = tokens.data();
  b.offsets = offsets.data();
  b.slots = slots.data();
  b.base = base.data();
  b.n = int(slots.size());
  return b;
}

struct Dims {
  int C, H, F, V, P, L, B, T;
  bool bias;
  Gelu gelu;
};

// Owns the weights and caches a ModelSpec points into.
struct Model {
  Dims d;
  std::vector<std::vector<float>> store;
  std::vector<std::vector<float>> kc, vc;
  ModelSpec spec;

  const float* param(size_t n, std::mt19937& rng, float scale, float offset = 0.0f) {
    std::normal_distribution<float> nd(0.0f, scale);
    store.emplace_back(n);
    for (float& x : store.back()) x = offset + nd(rng);
    return store.back().data();
  }

  explicit Model(Dims dims, unsigned seed) : d(dims) {
    std::mt19937 rng(seed);
    store.reserve(64);
    spec.n_embd = d.C;
    spec.n_head = d.H;
    spec.n_hidden = d.F;
    spec.vocab = d.V;
    spec.head_rows = d.V;
    spec.n_pos = d.P;
    spec.max_batch = d.B;
    spec.max_seq = d.T;
    spec.wte = param(size_t(d.V) * d.C, rng, 0.3f);
    spec.wpe = param(size_t(d.P) * d.C, rng, 0.3f);
    spec.lnf_w = param(d.C, rng, 0.1f, 1.0f);
    spec.lnf_b = d.bias ? param(d.C, rng, 0.1f) : nullptr;
    spec.head = param(size_t(d.V) * d.C, rng, 0.3f);
    kc.assign(d.L, std::vector<float>(size_t(d.B) * d.T * d.C, 0.0f));
    vc.assign(d.L, std::vector<float>(size_t(d.B) * d.T * d.C, 0.0f));
    const float s = 1.0f / std::sqrt(float(d.C));
    for (int l = 0; l < d.L; ++l) {
      LayerWeights w;
      w.ln1_w = param(d.C, rng, 0.1f, 1.0f);
      w.ln1_b = d.bias ? param(d.C, rng, 0.1f) : nullptr;
      w.attn_w = param(size_t(3) * d.C * d.C, rng, 2 * s);
      w.attn_b = d.bias ? param(size_t(3) * d.C, rng, 0.1f) : nullptr;
      w.proj_w = param(size_t(d.C) * d.C, rng, s);
      w.proj_b = d.bias ? param(d.C, rng, 0.1f) : nullptr;
      w.ln2_w = param(d.C, rng, 0.1f, 1.0f);
      w.ln2_b = d.bias ? param(d.C, rng, 0.1f) : nullptr;
      w.fc_w = param(size_t(d.F) * d.C, rng, s);
      w.fc_b = d.bias ? param(d.F, rng, 0.1f) : nullptr;
      w.mproj_w = param(size_t(d.C) * d.F, rng, 1.0f / std::sqrt(float(d.F)));
      w.mproj_b = d.bias ? param(d.C, rng, 0.1f) : nullptr;
      w.gelu = d.gelu;
      w.k_cache = kc[l].data();
      w.v_cache = vc[l].data();
      spec.layers.push_back(w);
    }
  }
};

// The reference: each slot's whole sequence recomputed in double, causal attention, no cache.
std::vector<double> reference_logits(const Model& m, const std::vector<int64_t>& seq) {
  const Dims& d = m.d;
  const int n = int(seq.size()), C = d.C, H = d.H, D = C / H;
  auto ln = [&](const std::vector<double>& x, const float* w, const float* b, std::vector<double>& y) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= C;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= C;
    y.resize(C);
    for (int i = 0; i < C; ++i) y[i] = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + (b ? b[i] : 0.0);
  };
  auto lin = [](const float* W, const float* b, const std::vector<double>& x, int rows) {
    std::vector<double> y(rows);
    const int K = int(x.size());
    for (int o = 0; o < rows; ++o) {
      double acc = b ? b[o] : 0.0;
      for (int k = 0; k < K; ++k) acc += double(W[size_t(o) * K + k]) * x[k];
      y[o] = acc;
    }
    return y;
  };
  std::vector<std::vector<double>> x(n, std::vector<double>(C));
  for (int t = 0; t < n; ++t)
    for (int c = 0; c < C; ++c) x[t][c] = m.spec.wte[seq[t] * C + c] + m.spec.wpe[size_t(t) * C + c];
  std::vector<double> y;
  for (const LayerWeights& L : m.spec.layers) {
    std::vector<std::vector<double>> qkv(n);
    for (int t = 0; t < n; ++t) {
      ln(x[t], L.ln1_w, L.ln1_b, y);
      qkv[t] = lin(L.attn_w, L.attn_b, y, 3 * C);
    }
    for (int t = 0; t < n; ++t) {
      std::vector<double> att(C, 0.0);
      for (int h = 0; h < H; ++h) {
        std::vector<double> sc(t + 1);
        double mx = -1e300;
        for (int j = 0; j <= t; ++j) {
          double s = 0;
          for (int e = 0; e < D; ++e) s += qkv[t][h * D + e] * qkv[j][C + h * D + e];
          sc[j] = s / std::sqrt(double(D));
          mx = std::max(mx, sc[j]);
        }
        double tot = 0;
        for (double& s : sc) tot += (s = std::exp(s - mx));
        for (int j = 0; j <= t; ++j)
          for (int e = 0; e < D; ++e) att[h * D + e] += sc[j] / tot * qkv[j][2 * C + h * D + e];
      }
      const std::vector<double> a = lin(L.proj_w, L.proj_b, att, C);
      for (int c = 0; c < C; ++c) x[t][c] += a[c];
    }
    for (int t = 0; t < n; ++t) {
      ln(x[t], L.ln2_w, L.ln2_b, y);
      std::vector<double> hid = lin(L.fc_w, L.fc_b, y, d.F);
      for (double& v : hid)
        v = L.gelu == Gelu::Erf
                ? 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))
                : 0.5 * v * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      const std::vector<double> o = lin(L.mproj_w, L.mproj_b, hid, C);
      for (int c = 0; c < C; ++c) x[t][c] += o[c];
    }
  }
  ln(x[n - 1], m.spec.lnf_w, m.spec.lnf_b, y);
  return lin(m.spec.head, nullptr, y, d.V);
}

double max_rel_err(const float* got, const std::vector<double>& want) {
  double scale = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i]));
    err = std::max(err, std::abs(double(got[i]) - want[i]));
  }
  return err / scale;
}

void test_against_reference(Dims d, int threads) {
  Model m(d, 7u + unsigned(d.C));
  Forward fwd(m.spec);
  std::mt19937 rng(3);
  std::vector<std::vector<int64_t>> seqs(d.B);
  const std::vector<std::vector<int>> rounds = {{5, 1, 9}, {1, 1, 1}, {1, 1, 1}, {3, 1, 2}, {1, 4, 1}};
  const std::vector<int64_t> slots = {2, 0, 3};
  double worst = 0;
  for (const auto& lens : rounds) {
    std::vector<int64_t> tokens, offsets = {0}, base;
    for (size_t i = 0; i < slots.size(); ++i) {
      base.push_back(int64_t(seqs[slots[i]].size()));
      for (int k = 0; k < lens[i]; ++k) {
        const int64_t tok = int64_t(rng() % unsigned(d.V));
        tokens.push_back(tok);
        seqs[slots[i]].push_back(tok);
      }
      offsets.push_back(int64_t(tokens.size()));
    }
    Batch b = make_batch(tokens, offsets, slots, base);
    std::vector<float> logits(slots.size() * d.V);
    fwd.run(b, logits.data(), threads);
    for (size_t i = 0; i < slots.size(); ++i)
      worst = std::max(worst, max_rel_err(logits.data() + i * d.V, reference_logits(m, seqs[slots[i]])));
  }
  std::printf("  C=%d H=%d L=%d threads=%d: max relative error %.2e\n", d.C, d.H, d.L, threads, worst);
  CHECK(worst < 1e-5);
}

void test_candidates() {
  const Dims d{24, 3, 40, 50, 16, 1, 2, 16, true, Gelu::Erf};
  Model full(d, 11), part(d, 11);
  Forward a(full.spec), b(part.spec);
  const std::vector<int64_t> tokens = {3, 4, 5, 9}, offsets = {0, 3, 4}, slots = {1, 0}, base = {0, 0};
  const std::vector<int64_t> cand = {0, 7, 8, 9, 10, 49, 2}, cand_off = {0, 6, 7};
  Batch batch = make_batch(tokens, offsets, slots, base);
  std::vector<float> la(2 * d.V), lb(2 * d.V);
  a.run(batch, la.data(), 1);
  batch.cand = cand.data();
  batch.cand_offsets = cand_off.data();
  b.run(batch, lb.data(), 2);
  for (int i = 0; i < 2; ++i)
    for (int v = 0; v < d.V; ++v) {
      const bool wanted = std::find(cand.begin() + cand_off[i], cand.begin() + cand_off[i + 1], v) !=
                          cand.begin() + cand_off[i + 1];
      const float got = lb[size_t(i) * d.V + v], want = la[size_t(i) * d.V + v];
      CHECK(wanted ? std::abs(got - want) <= 1e-5f * (1 + std::abs(want)) : std::isinf(got) && got < 0);
    }
}

float round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// bf16 weights: the same logits as fp32 weights rounded to bf16 beforehand (fp32 sums both ways)
void test_bf16_weights() {
  const Dims d{48, 3, 100, 40, 16, 2, 2, 16, true, Gelu::Erf};
  Model half(d, 21), rounded(d, 21);
  half.spec.bf16_weights = true;
  auto round_all = [&](const float* p, size_t n) {
    float* w = const_cast<float*>(p);
    for (size_t i = 0; i < n; ++i) w[i] = round_bf16(w[i]);
  };
  const size_t C = size_t(d.C), F = size_t(d.F);
  for (const LayerWeights& L : rounded.spec.layers) {
    round_all(L.attn_w, 3 * C * C);
    round_all(L.proj_w, C * C);
    round_all(L.fc_w, F * C);
    round_all(L.mproj_w, C * F);
  }
  round_all(rounded.spec.head, size_t(d.V) * C);
  Forward a(half.spec), b(rounded.spec);
  const std::vector<int64_t> tokens = {3, 4, 5, 9, 1}, offsets = {0, 3, 5}, slots = {1, 0}, base = {0, 0};
  Batch batch = make_batch(tokens, offsets, slots, base);
  std::vector<float> la(2 * d.V), lb(2 * d.V);
  a.run(batch, la.data(), 1);
  b.run(batch, lb.data(), 1);
  double err = 0, scale = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    err = std::max(err, double(std::abs(la[i] - lb[i])));
    scale = std::max(scale, double(std::abs(lb[i])));
  }
  std::printf("  bf16 weights vs pre-rounded fp32: max relative error %.2e\n", err / scale);
  CHECK(err / scale < 1e-5);
}

void test_validation() {
  const Dims d{16, 2, 32, 20, 8, 1, 2, 8, false, Gelu::Erf};
  Model m(d, 5);
  Forward fwd(m.spec);
  std::vector<float> out(2 * d.V);
  auto expect_error = [&](std::vector<int64_t> tokens, std::vector<int64_t> offsets,
                          std::vector<int64_t> slots, std::vector<int64_t> base, const std::string& needle) {
    Batch b = make_batch(tokens, offsets, slots, base);
    try {
      fwd.run(b, out.data(), 1);
      CHECK(!"no error");
    } catch (const std::invalid_argument& e) {
      const bool found = std::string(e.what()).find(needle) != std::string::npos;
      if (!found) std::fprintf(stderr, "  unexpected message: %s\n", e.what());
      CHECK(found);
    }
  };
  expect_error({20}, {0, 1}, {0}, {0}, "token 20");
  expect_error({1}, {0, 1}, {2}, {0}, "slot 2");
  expect_error({1, 2}, {0, 1, 2}, {1, 1}, {0, 0}, "appears twice");
  expect_error({1, 2}, {0, 2}, {0}, {7}, "outside the context of 8");
  expect_error({1}, {0, 1}, {0}, {-1}, "outside the context");
  expect_error({1, 2}, {0, 0, 2}, {0, 1}, {0, 0}, "chunk 0 is empty");
  ModelSpec bad = m.spec;
  bad.n_head = 3;
  try {
    Forward f(bad);
    CHECK(!"no error");
  } catch (const std::invalid_argument&) {
    CHECK(true);
  }
}

}  // namespace

int main() {
  std::printf("dot products: %s\n", Forward::isa());
  test_against_reference({32, 2, 128, 60, 32, 2, 4, 32, false, Gelu::Erf}, 1);
  test_against_reference({39, 3, 70, 45, 24, 3, 4, 24, true, Gelu::Tanh}, 1);  // head dim 13
  test_against_reference({35, 5, 64, 33, 20, 2, 4, 20, true, Gelu::Erf}, 3);   // head dim 7
  test_against_reference({64, 4, 256, 50, 32, 2, 4, 32, false, Gelu::Tanh}, 2);
  test_candidates();
  test_bf16_weights();
  test_validation();
  return report();
}
