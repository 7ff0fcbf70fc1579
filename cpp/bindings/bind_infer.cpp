// The native CPU forward pass (cpp/infer) as `_core.NativeGPT`, used by the inference engine's
// "native" backend.
//
// The object borrows its arrays: weights and KV caches must be C-contiguous float32 numpy arrays
// (the engine passes `tensor.numpy()` views of its parameters and caches, so nothing is copied and
// later in-place changes are seen); it keeps references to them for its lifetime. `forward` runs
// with the GIL released; calls on one object are serialised by a mutex.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <mutex>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "infer/gpt.h"

namespace chess::bindings {

namespace {

namespace inf = chess::infer;

std::string shape_str(const std::vector<py::ssize_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

class NativeGPT {
 public:
  NativeGPT(const py::object& wte, const py::object& wpe, const py::object& lnf_w, const py::object& lnf_b,
            const py::object& head, const py::list& layers, const py::list& k_caches,
            const py::list& v_caches, int n_head, float eps, bool bf16, const py::object& wbe,
            int board_width, int board_pad, const py::object& value_w, const py::object& value_b) {
    inf::ModelSpec s;
    const py::array wte_a = need_array(wte, "wte");
    if (wte_a.ndim() != 2) throw py::value_error("wte must be 2-D (vocab, n_embd), got " + dims(wte_a));
    s.vocab = int(wte_a.shape(0));
    s.n_embd = int(wte_a.shape(1));
    const py::ssize_t C = s.n_embd;
    s.n_head = n_head;
    if (n_head < 1 || C % n_head)
      throw py::value_error("n_embd " + std::to_string(C) + " is not a multiple of n_head " +
                            std::to_string(n_head));
    s.wte = f32(wte, "wte", {s.vocab, C});
    const py::array wpe_a = need_array(wpe, "wpe");
    if (wpe_a.ndim() != 2) throw py::value_error("wpe must be 2-D (positions, n_embd), got " + dims(wpe_a));
    s.n_pos = int(wpe_a.shape(0));
    s.wpe = f32(wpe, "wpe", {s.n_pos, C});
    s.lnf_w = f32(lnf_w, "ln_f.weight", {C});
    s.lnf_b = f32(lnf_b, "ln_f.bias", {C}, true);
    const py::array head_a = need_array(head, "head");
    if (head_a.ndim() != 2) throw py::value_error("head must be 2-D (vocab, n_embd), got " + dims(head_a));
    s.head_rows = int(head_a.shape(0));
    s.head = f32(head, "head", {s.head_rows, C});
    s.eps_f = eps;
    s.bf16_weights = bf16;
    if (!wbe.is_none()) {
      const py::array wbe_a = need_array(wbe, "wbe");
      if (wbe_a.ndim() != 2) throw py::value_error("wbe must be 2-D (features, n_embd), got " + dims(wbe_a));
      s.board_rows = int(wbe_a.shape(0));
      s.wbe = f32(wbe, "wbe", {s.board_rows, C});
      if (board_width < 1) throw py::value_error("board_width must be positive with wbe");
      if (board_pad < 0 || board_pad >= s.board_rows)
        throw py::value_error("board_pad " + std::to_string(board_pad) + " is not a row of wbe");
      s.board_width = board_width;
      s.board_pad = board_pad;
    }
    if (!value_w.is_none()) {
      s.value_w = f32(value_w, "value_w", {3, C});
      s.value_b = f32(value_b, "value_b", {3}, true);
    }
    if (layers.empty()) throw py::value_error("the model has no layers");
    if (k_caches.size() != layers.size() || v_caches.size() != layers.size())
      throw py::value_error("need one key and one value cache per layer: " + std::to_string(layers.size()) +
                            " layers, " + std::to_string(k_caches.size()) + " and " +
                            std::to_string(v_caches.size()) + " caches");
    const py::array k0 = need_array(k_caches[0], "k_cache[0]");
    if (k0.ndim() != 4)
      throw py::value_error("KV caches must be 4-D (max_batch, n_head, max_seq, head_dim), got " + dims(k0));
    s.max_batch = int(k0.shape(0));
    s.max_seq = int(k0.shape(2));
    const std::vector<py::ssize_t> cache_shape = {s.max_batch, n_head, s.max_seq, C / n_head};
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string at = "layer " + std::to_string(i) + " ";
      const py::dict d = layers[i].cast<py::dict>();
      auto get = [&](const char* key) -> py::object {
        if (!d.contains(key)) throw py::value_error(at + "has no '" + key + "'");
        return d[key];
      };
      inf::LayerWeights L;
      const py::array fc = need_array(get("fc_w"), at + "fc_w");
      if (fc.ndim() != 2) throw py::value_error(at + "fc_w must be 2-D, got " + dims(fc));
      const py::ssize_t F = fc.shape(0);
      if (i == 0) s.n_hidden = int(F);
      if (F != s.n_hidden) throw py::value_error(at + "has MLP width " + std::to_string(F));
      L.ln1_w = f32(get("ln1_w"), at + "ln1_w", {C});
      L.ln1_b = f32(get("ln1_b"), at + "ln1_b", {C}, true);
      L.attn_w = f32(get("attn_w"), at + "attn_w", {3 * C, C});
      L.attn_b = f32(get("attn_b"), at + "attn_b", {3 * C}, true);
      L.proj_w = f32(get("proj_w"), at + "proj_w", {C, C});
      L.proj_b = f32(get("proj_b"), at + "proj_b", {C}, true);
      L.ln2_w = f32(get("ln2_w"), at + "ln2_w", {C});
      L.ln2_b = f32(get("ln2_b"), at + "ln2_b", {C}, true);
      L.fc_w = f32(get("fc_w"), at + "fc_w", {F, C});
      L.fc_b = f32(get("fc_b"), at + "fc_b", {F}, true);
      L.mproj_w = f32(get("mproj_w"), at + "mproj_w", {C, F});
      L.mproj_b = f32(get("mproj_b"), at + "mproj_b", {C}, true);
      const std::string gelu = d.contains("gelu") ? d["gelu"].cast<std::string>() : "none";
      if (gelu == "none")
        L.gelu = inf::Gelu::Erf;
      else if (gelu == "tanh")
        L.gelu = inf::Gelu::Tanh;
      else
        throw py::value_error(at + "gelu must be 'none' (erf) or 'tanh', got '" + gelu + "'");
      L.eps1 = d.contains("eps1") ? d["eps1"].cast<float>() : 1e-5f;
      L.eps2 = d.contains("eps2") ? d["eps2"].cast<float>() : 1e-5f;
      L.k_cache = f32w(k_caches[i], "k_cache[" + std::to_string(i) + "]", cache_shape);
      L.v_cache = f32w(v_caches[i], "v_cache[" + std::to_string(i) + "]", cache_shape);
      s.layers.push_back(L);
    }
    fwd_ = std::make_unique<inf::Forward>(std::move(s));
  }

  py::array_t<float> forward(const py::object& tokens, const py::object& offsets, const py::object& slots,
                             const py::object& base, const py::object& candidates,
                             const py::object& cand_offsets, int threads, const py::object& features,
                             const py::object& values) {
    const I64 tok = ints(tokens, "tokens");
    const I64 off = ints(offsets, "offsets");
    const I64 sl = ints(slots, "slots");
    const I64 bs = ints(base, "base");
    const py::ssize_t n = sl.shape(0);
    if (n < 1) throw py::value_error("nothing to feed: no slots");
    if (bs.shape(0) != n || off.shape(0) != n + 1)
      throw py::value_error("need base (n,) and offsets (n + 1,) for n = " + std::to_string(n) +
                            " slots, got " + std::to_string(bs.shape(0)) + " and " +
                            std::to_string(off.shape(0)));
    if (off.at(n) != tok.shape(0))
      throw py::value_error("offsets end at " + std::to_string(off.at(n)) + " but there are " +
                            std::to_string(tok.shape(0)) + " tokens");
    if (threads < 1) throw py::value_error("threads must be >= 1, got " + std::to_string(threads));
    inf::Batch b;
    b.tokens = tok.data();
    b.offsets = off.data();
    b.slots = sl.data();
    b.base = bs.data();
    b.n = int(n);
    I64 cand, coff;
    if (!candidates.is_none()) {
      if (cand_offsets.is_none()) throw py::value_error("candidates need cand_offsets");
      cand = ints(candidates, "candidates");
      coff = ints(cand_offsets, "cand_offsets");
      if (coff.shape(0) != n + 1)
        throw py::value_error("cand_offsets must have n + 1 = " + std::to_string(n + 1) + " entries, got " +
                              std::to_string(coff.shape(0)));
      if (coff.at(n) != cand.shape(0))
        throw py::value_error("cand_offsets end at " + std::to_string(coff.at(n)) + " but there are " +
                              std::to_string(cand.shape(0)) + " candidates");
      b.cand = cand.data();
      b.cand_offsets = coff.data();
    }
    py::array_t<int16_t, py::array::c_style | py::array::forcecast> feats;
    if (!features.is_none()) {
      feats = py::array_t<int16_t, py::array::c_style | py::array::forcecast>::ensure(features);
      const py::ssize_t width = fwd_->spec().board_width;
      if (!feats || feats.ndim() != 2 || feats.shape(0) != tok.shape(0) || feats.shape(1) != width)
        throw py::value_error("features must be (tokens, " + std::to_string(width) + ") for " +
                              std::to_string(tok.shape(0)) + " tokens");
      b.features = feats.data();
    }
    if (!values.is_none()) {
      const std::vector<py::ssize_t> vshape = {n, 3};
      b.values = f32w(values, "values", vshape);
      keep_.pop_back();  // an output of this call only, not a borrowed weight
    }
    const int Vh = fwd_->spec().head_rows;
    py::array_t<float> out({n, py::ssize_t(Vh)});
    float* dst = out.mutable_data();
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      fwd_->run(b, dst, threads);
    }
    return out;
  }

  py::dict info() const {
    const inf::ModelSpec& s = fwd_->spec();
    py::dict d;
    d["n_layer"] = s.layers.size();
    d["n_embd"] = s.n_embd;
    d["n_head"] = s.n_head;
    d["n_hidden"] = s.n_hidden;
    d["vocab"] = s.vocab;
    d["head_rows"] = s.head_rows;
    d["n_pos"] = s.n_pos;
    d["max_batch"] = s.max_batch;
    d["max_seq"] = s.max_seq;
    d["isa"] = inf::Forward::isa();
    d["bf16_weights"] = s.bf16_weights;
    return d;
  }

 private:
  using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

  static std::string dims(const py::array& a) {
    return shape_str(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  }

  static py::array need_array(const py::handle& obj, const std::string& name) {
    if (!py::isinstance<py::array>(obj))
      throw py::value_error(name + " must be a numpy array (e.g. tensor.numpy()), got " +
                            std::string(py::str(py::type::of(obj).attr("__name__"))));
    return py::reinterpret_borrow<py::array>(obj);
  }

  // A borrowed float32, C-contiguous array of exactly this shape (None allowed when optional).
  const float* f32(const py::handle& obj, const std::string& name, const std::vector<py::ssize_t>& shape,
                   bool optional = false) {
    if (optional && obj.is_none()) return nullptr;
    const py::array a = need_array(obj, name);
    if (!a.dtype().is(py::dtype::of<float>()))
      throw py::value_error(name + " must be float32, got " + std::string(py::str(a.dtype())));
    const std::vector<py::ssize_t> got(a.shape(), a.shape() + a.ndim());
    if (got != shape)
      throw py::value_error(name + " must have shape " + shape_str(shape) + ", got " + dims(a));
    if (!(a.flags() & py::array::c_style)) throw py::value_error(name + " must be C-contiguous");
    keep_.push_back(a);
    return static_cast<const float*>(a.data());
  }

  float* f32w(const py::handle& obj, const std::string& name, const std::vector<py::ssize_t>& shape) {
    const float* p = f32(obj, name, shape);
    if (!py::reinterpret_borrow<py::array>(obj).writeable())
      throw py::value_error(name + " must be writeable");
    return const_cast<float*>(p);
  }

  // A 1-D int64 array from a sequence or array of integers (other integer dtypes are widened;
  // floats, bools and strings are refused rather than truncated).
  static I64 ints(const py::object& obj, const char* name) {
    const py::array raw = py::array::ensure(obj);
    if (!raw) {
      PyErr_Clear();
      throw py::value_error(std::string(name) + " must be a sequence or array of integers");
    }
    const char kind = raw.dtype().kind();
    if (raw.size() > 0 && kind != 'i' && kind != 'u')
      throw py::value_error(std::string(name) + " must be integers, got dtype " +
                            std::string(py::str(raw.dtype())));
    if (raw.ndim() != 1) throw py::value_error(std::string(name) + " must be 1-D, got " + dims(raw));
    return I64::ensure(raw);
  }

  std::vector<py::array> keep_;
  std::unique_ptr<inf::Forward> fwd_;
  std::mutex mu_;
};

}  // namespace

void bind_infer(py::module_& m) {
  py::class_<NativeGPT>(m, "NativeGPT",
                        "The native CPU forward pass of a GPT over borrowed float32 weights and KV caches.")
      .def(
          py::init<const py::object&, const py::object&, const py::object&, const py::object&,
                   const py::object&, const py::list&, const py::list&, const py::list&, int, float, bool,
                   const py::object&, int, int, const py::object&, const py::object&>(),
          py::arg("wte"), py::arg("wpe"), py::arg("lnf_w"), py::arg("lnf_b"), py::arg("head"),
          py::arg("layers"), py::arg("k_caches"), py::arg("v_caches"), py::arg("n_head"),
          py::arg("eps") = 1e-5f, py::arg("bf16") = false, py::arg("wbe") = py::none(),
          py::arg("board_width") = 0, py::arg("board_pad") = -1, py::arg("value_w") = py::none(),
          py::arg("value_b") = py::none(),
          "Borrow the weights (layers: one dict per block with ln1_w, ln1_b, attn_w, attn_b, proj_w, proj_b, "
          "ln2_w, ln2_b, fc_w, fc_b, mproj_w, mproj_b, gelu ('none' or 'tanh'), eps1, eps2; biases may be "
          "None) and the (max_batch, n_head, max_seq, head_dim) caches. bf16: read bf16 copies of the "
          "matrices "
          "(made now: later changes of those weights are not seen) -- half the bytes per call. A board-aware "
          "model adds wbe (features, n_embd) with board_width ids per token and the padding id board_pad; "
          "a value head adds value_w (3, n_embd) and value_b (3,).")
      .def("forward", &NativeGPT::forward, py::arg("tokens"), py::arg("offsets"), py::arg("slots"),
           py::arg("base"), py::arg("candidates") = py::none(), py::arg("cand_offsets") = py::none(),
           py::arg("threads") = 1, py::arg("features") = py::none(), py::arg("values") = py::none(),
           "Feed tokens[offsets[i]:offsets[i+1]] to slot slots[i] from position base[i]; the float32 "
           "logits (n, vocab) after each chunk's last token. With candidates (flat ids, cand_offsets (n+1,)) "
           "only those logits are computed and the rest are -inf. features: (tokens, board_width) int16 ids "
           "of a board-aware model; values: a writeable float32 (n, 3) array that receives the value head's "
           "win/draw/loss logits of each chunk's last position.")
      .def("info", &NativeGPT::info, "Dimensions and the instruction set of the dot products.");
  m.def(
      "native_isa", [] { return std::string(inf::Forward::isa()); },
      "The instruction set the native forward's dot products were compiled for: 'avx512', 'avx2' or "
      "'scalar'.");
}

}  // namespace chess::bindings
