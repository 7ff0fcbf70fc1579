// Native CPU forward pass of the chessformer GPT for the KV-cache inference engine.
//
// The model's weights and the engine's per-layer KV caches are borrowed (raw pointers to fp32
// buffers owned by the caller, e.g. torch tensors seen through numpy); nothing is copied. One
// call feeds a chunk of >= 1 tokens to each of several cache slots, writes the chunks' keys and
// values into the caches and returns the logits after each chunk's last token.
//
// Work is memory-bound for small batches (a decode step reads every weight once), so each matrix
// is streamed once per call for all of the call's tokens (up to a tile of 64 tokens), with
// AVX-512 or AVX2/FMA dot products when the compiler targets them and a portable scalar path
// otherwise. All accumulation is fp32.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace chess::infer {

enum class Gelu { Erf, Tanh };

// One transformer block; biases (and LayerNorm biases) may be null.
struct LayerWeights {
  const float* ln1_w = nullptr;
  const float* ln1_b = nullptr;
  const float* attn_w = nullptr;  // (3C, C): q, k, v rows in that order
  const float* attn_b = nullptr;  // (3C)
  const float* proj_w = nullptr;  // (C, C)
  const float* proj_b = nullptr;
  const float* ln2_w = nullptr;
  const float* ln2_b = nullptr;
  const float* fc_w = nullptr;  // (F, C)
  const float* fc_b = nullptr;
  const float* mproj_w = nullptr;  // (C, F)
  const float* mproj_b = nullptr;
  Gelu gelu = Gelu::Erf;
  float eps1 = 1e-5f, eps2 = 1e-5f;
  float* k_cache = nullptr;  // (B, H, T, D)
  float* v_cache = nullptr;
};

struct ModelSpec {
  int n_embd = 0;     // C
  int n_head = 0;     // H; D = C / H
  int n_hidden = 0;   // F, the MLP width
  int vocab = 0;      // rows of wte (valid input tokens)
  int head_rows = 0;  // rows of the output head (logits per token)
  int n_pos = 0;      // rows of wpe
  int max_batch = 0;  // B of the caches
  int max_seq = 0;    // T of the caches
  float eps_f = 1e-5f;
  // Opt-in: the forward keeps bf16 copies (round to nearest even) of the matrices (attention,
  // MLP, head) and reads those -- half the bytes; activations, caches and sums stay fp32.
  bool bf16_weights = false;
  const float* wte = nullptr;  // (vocab, C)
  const float* wpe = nullptr;  // (n_pos, C)
  const float* lnf_w = nullptr;
  const float* lnf_b = nullptr;
  const float* head = nullptr;  // (head_rows, C)
  // Board-aware models (docs/formats.md, "Board features"): each token adds the sum of the rows
  // of its feature ids (board_width ids per token; board_pad contributes nothing).
  const float* wbe = nullptr;  // (board_rows, C), or null
  int board_rows = 0;
  int board_width = 0;
  int board_pad = -1;
  // Value head: win / draw / loss logits of each chunk's last position, when asked.
  const float* value_w = nullptr;  // (3, C), or null
  const float* value_b = nullptr;  // (3)
  std::vector<LayerWeights> layers;
};

// One call's input: chunk i is tokens[offsets[i] .. offsets[i+1]) fed to slot slots[i] from
// position base[i]. Optional candidates: the output ids wanted for chunk i are
// cand[cand_offsets[i] .. cand_offsets[i+1]) (other logits are -inf); without them every logit.
struct Batch {
  const int64_t* tokens = nullptr;
  const int64_t* offsets = nullptr;  // n + 1
  const int64_t* slots = nullptr;    // n
  const int64_t* base = nullptr;     // n
  int n = 0;
  const int64_t* cand = nullptr;
  const int64_t* cand_offsets = nullptr;  // n + 1 when cand is set
  const int16_t* features = nullptr;      // (tokens, board_width): required by board-aware models
  float* values = nullptr;                // (n, 3) value logits out, when set (needs a value head)
};

// Checks the model's shapes (std::invalid_argument with a message on error).
void validate(const ModelSpec& spec);

// Checks a batch against the model (std::invalid_argument: out-of-range tokens, slots,
// positions, candidate ids, repeated slots, malformed offsets).
void validate(const ModelSpec& spec, const Batch& batch);

class Forward {
 public:
  explicit Forward(ModelSpec spec);
  ~Forward();
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  const ModelSpec& spec() const { return spec_; }

  // Runs the batch (validated first) and writes logits (n, head_rows) into `logits`. `threads`
  // > 1 splits every matrix product's output rows (and attention's heads) across that many
  // threads. Not re-entrant: callers serialise calls on one object.
  void run(const Batch& batch, float* logits, int threads = 1);

  // The instruction set the dot products were compiled for: "avx512", "avx2" or "scalar".
  static const char* isa();

 private:
  struct Impl;
  ModelSpec spec_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chess::infer
