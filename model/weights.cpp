#include "model/weights.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace dsa::model {

namespace {

constexpr std::int64_t kFp8Block = 128;

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::string layer_prefix(int l) { return "model.layers." + std::to_string(l) + "."; }

std::vector<std::int64_t> scale_shape(const std::vector<std::int64_t>& s) {
  return {(s[0] + kFp8Block - 1) / kFp8Block, (s[1] + kFp8Block - 1) / kFp8Block};
}

// The range with last = -1 made explicit; throws when it is not a non-empty range of
// the model's layers.
LayerRange checked_range(const ModelConfig& c, LayerRange range) {
  if (range.last < 0) range.last = c.layers;
  if (range.first < 0 || range.first >= range.last || range.last > c.layers)
    throw CheckpointError("layers [" + std::to_string(range.first) + ", " + std::to_string(range.last) +
                          ") are not within the model's " + std::to_string(c.layers));
  return range;
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig& c, const LayerRange& range) {
  const std::int64_t h = c.hidden, H = c.heads;
  std::vector<TensorSpec> t;
  auto lin = [&](const std::string& n, std::int64_t out, std::int64_t in) { t.push_back({n + ".weight", {out, in}, TensorKind::linear}); };
  auto norm = [&](const std::string& n, std::int64_t d) { t.push_back({n + ".weight", {d}, TensorKind::norm}); };
  if (range.with_head) {
    t.push_back({"model.embed_tokens.weight", {c.vocab, h}, TensorKind::embedding});
    norm("model.norm", h);
    lin("lm_head", c.vocab, h);
  }
  const int last = range.last < 0 ? c.layers : range.last;
  for (int l = range.first; l < last; ++l) {
    const std::string p = layer_prefix(l), a = p + "self_attn.";
    norm(p + "input_layernorm", h);
    norm(p + "post_attention_layernorm", h);
    lin(a + "q_a_proj", c.q_lora_rank, h);
    norm(a + "q_a_layernorm", c.q_lora_rank);
    lin(a + "q_b_proj", H * c.qk_head_dim(), c.q_lora_rank);
    lin(a + "kv_a_proj_with_mqa", c.kv_lora_rank + c.qk_rope, h);
    norm(a + "kv_a_layernorm", c.kv_lora_rank);
    lin(a + "kv_b_proj", H * (c.qk_nope + c.v_head), c.kv_lora_rank);
    lin(a + "o_proj", h, H * c.v_head);
    lin(a + "indexer.wq_b", static_cast<std::int64_t>(c.index_heads) * c.index_head_dim, c.q_lora_rank);
    lin(a + "indexer.wk", c.index_head_dim, h);
    norm(a + "indexer.k_norm", c.index_head_dim);
    t.push_back({a + "indexer.k_norm.bias", {c.index_head_dim}, TensorKind::bias});
    lin(a + "indexer.weights_proj", c.index_heads, h);
    const std::string m = p + "mlp.";
    if (c.layer_is_moe(l)) {
      t.push_back({m + "gate.weight", {c.routed_experts, h}, TensorKind::router});
      t.push_back({m + "gate.e_score_correction_bias", {c.routed_experts}, TensorKind::router_bias});
      for (int e = 0; e < c.routed_experts; ++e) {
        const std::string x = m + "experts." + std::to_string(e) + ".";
        lin(x + "gate_proj", c.moe_intermediate, h);
        lin(x + "up_proj", c.moe_intermediate, h);
        lin(x + "down_proj", h, c.moe_intermediate);
      }
      if (c.shared_experts > 0) {
        const std::int64_t inter = static_cast<std::int64_t>(c.shared_experts) * c.moe_intermediate;
        lin(m + "shared_experts.gate_proj", inter, h);
        lin(m + "shared_experts.up_proj", inter, h);
        lin(m + "shared_experts.down_proj", h, inter);
      }
    } else {
      lin(m + "gate_proj", c.intermediate, h);
      lin(m + "up_proj", c.intermediate, h);
      lin(m + "down_proj", h, c.intermediate);
    }
  }
  return t;
}

namespace {

// Checks one tensor against its spec (and its FP8 scales); returns nothing, throws.
void check_tensor(const Checkpoint& ck, const TensorSpec& s) {
  const StTensor& t = ck.get(s.name);
  if (t.shape != s.shape)
    throw CheckpointError(ck.path() + ": tensor \"" + s.name + "\" has shape " + shape_str(t.shape) +
                          "; the config needs " + shape_str(s.shape));
  if (t.dtype == StDtype::F8_E4M3) {
    if (s.kind != TensorKind::linear)
      throw CheckpointError(ck.path() + ": tensor \"" + s.name + "\" is F8_E4M3, which only linear weights may be");
    const std::string sn = s.name + "_scale_inv";
    const StTensor& sc = ck.get(sn);
    if (sc.dtype != StDtype::F32 || sc.shape != scale_shape(s.shape))
      throw CheckpointError(ck.path() + ": tensor \"" + sn + "\" must be F32 of shape " + shape_str(scale_shape(s.shape)) +
                            " (one scale per 128 x 128 block), got " + st_dtype_name(sc.dtype) + " " + shape_str(sc.shape));
  }
}

std::vector<float> to_float(const StTensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  switch (t.dtype) {
    case StDtype::F32: std::memcpy(v.data(), t.data, v.size() * 4); break;
    // A real layer's experts are billions of values: converted on every thread.
    case StDtype::BF16:
      parallel_chunks(static_cast<std::int64_t>(v.size()), 1 << 20, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
          std::uint16_t b;
          std::memcpy(&b, t.data + 2 * i, 2);
          v[i] = bf16_bits_to_float(b);
        }
      });
      break;
    case StDtype::F8_E4M3:
      parallel_chunks(static_cast<std::int64_t>(v.size()), 1 << 20, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) v[i] = e4m3_bits_to_float(t.data[i]);
      });
      break;
  }
  return v;
}

Matrix to_matrix(const Checkpoint& ck, const std::string& name) {
  const StTensor& t = ck.get(name);
  Matrix m{t.shape[0], t.shape[1], to_float(t)};
  if (t.dtype == StDtype::F8_E4M3) {  // value = code * scale_inv of its 128 x 128 block
    const std::vector<float> s = to_float(ck.get(name + "_scale_inv"));
    const std::int64_t sc = (m.cols + kFp8Block - 1) / kFp8Block;
    parallel_for(m.rows, [&](std::int64_t r) {
      for (std::int64_t c = 0; c < m.cols; ++c) m.data[r * m.cols + c] *= s[(r / kFp8Block) * sc + c / kFp8Block];
    });
  }
  return m;
}

}  // namespace

ModelWeights load_weights(const ModelConfig& c, const Checkpoint& ck, LayerRange range) {
  range = checked_range(c, range);
  // Everything is checked before anything is converted.
  for (const TensorSpec& s : expected_tensors(c, range)) check_tensor(ck, s);
  ModelWeights w;
  w.config = c;
  w.range = range;
  auto vec = [&](const std::string& n) { return to_float(ck.get(n)); };
  if (range.with_head) {
    w.embed = to_matrix(ck, "model.embed_tokens.weight");
    w.lm_head = to_matrix(ck, "lm_head.weight");
    w.final_norm = vec("model.norm.weight");
  }
  for (int l = range.first; l < range.last; ++l) {
    const std::string p = layer_prefix(l), a = p + "self_attn.", m = p + "mlp.";
    LayerWeights L;
    L.input_norm = vec(p + "input_layernorm.weight");
    L.post_attention_norm = vec(p + "post_attention_layernorm.weight");
    L.q_a = to_matrix(ck, a + "q_a_proj.weight");
    L.q_a_norm = vec(a + "q_a_layernorm.weight");
    L.q_b = to_matrix(ck, a + "q_b_proj.weight");
    L.kv_a = to_matrix(ck, a + "kv_a_proj_with_mqa.weight");
    L.kv_a_norm = vec(a + "kv_a_layernorm.weight");
    L.kv_b = to_matrix(ck, a + "kv_b_proj.weight");
    L.o = to_matrix(ck, a + "o_proj.weight");
    L.idx_wq_b = to_matrix(ck, a + "indexer.wq_b.weight");
    L.idx_wk = to_matrix(ck, a + "indexer.wk.weight");
    L.idx_k_norm_weight = vec(a + "indexer.k_norm.weight");
    L.idx_k_norm_bias = vec(a + "indexer.k_norm.bias");
    L.idx_weights = to_matrix(ck, a + "indexer.weights_proj.weight");
    L.moe = c.layer_is_moe(l);
    if (L.moe) {
      L.router = to_matrix(ck, m + "gate.weight");
      L.router_bias = vec(m + "gate.e_score_correction_bias");
      for (int e = 0; e < c.routed_experts; ++e) {
        const std::string x = m + "experts." + std::to_string(e) + ".";
        L.expert_gate.push_back(to_matrix(ck, x + "gate_proj.weight"));
        L.expert_up.push_back(to_matrix(ck, x + "up_proj.weight"));
        L.expert_down.push_back(to_matrix(ck, x + "down_proj.weight"));
      }
      if (c.shared_experts > 0) {
        L.gate_proj = to_matrix(ck, m + "shared_experts.gate_proj.weight");
        L.up_proj = to_matrix(ck, m + "shared_experts.up_proj.weight");
        L.down_proj = to_matrix(ck, m + "shared_experts.down_proj.weight");
      }
    } else {
      L.gate_proj = to_matrix(ck, m + "gate_proj.weight");
      L.up_proj = to_matrix(ck, m + "up_proj.weight");
      L.down_proj = to_matrix(ck, m + "down_proj.weight");
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

namespace {

std::vector<std::uint8_t> encode(const std::vector<float>& v, StDtype d) {
  std::vector<std::uint8_t> b(v.size() * st_dtype_bytes(d));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (d == StDtype::F32) std::memcpy(&b[4 * i], &v[i], 4);
    else if (d == StDtype::BF16) {
      const std::uint16_t x = float_to_bf16_bits(v[i]);
      std::memcpy(&b[2 * i], &x, 2);
    } else {
      b[i] = float_to_e4m3_bits(v[i]);
    }
  }
  return b;
}

std::int64_t numel_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

bool fp8_linear(const TensorSpec& s, StDtype linear_dtype) {
  return s.kind == TensorKind::linear && linear_dtype == StDtype::F8_E4M3;
}

// The dtype the synthetic writer stores a tensor in: linear weights in `linear_dtype`,
// the rest (norms, biases, router, embeddings) in fp32.
StDtype stored_dtype(const TensorSpec& s, StDtype linear_dtype) {
  return s.kind == TensorKind::linear ? linear_dtype : StDtype::F32;
}

// Bytes of one tensor as the synthetic writer stores it, with an FP8 linear's scales.
std::uint64_t synthetic_tensor_bytes(const TensorSpec& s, StDtype linear_dtype) {
  std::uint64_t b = static_cast<std::uint64_t>(numel_of(s.shape)) * st_dtype_bytes(stored_dtype(s, linear_dtype));
  if (fp8_linear(s, linear_dtype)) {
    const auto ss = scale_shape(s.shape);
    b += static_cast<std::uint64_t>(ss[0] * ss[1]) * 4;
  }
  return b;
}

struct SyntheticItem {
  std::string name;
  StDtype dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

// One tensor of a synthetic checkpoint (an FP8 linear: its codes and block scales),
// from the seed and the tensor's name alone.
std::vector<SyntheticItem> synthetic_tensor(const TensorSpec& s, std::uint64_t seed, StDtype linear_dtype) {
  Rng rng(derive_seed(seed, s.name));
  std::vector<float> v(static_cast<std::size_t>(numel_of(s.shape)));
  // Scales that keep activations of order 1 through every layer: linear weights
  // N(0, 1/fan_in), norms near 1, small biases, unit-variance embeddings.
  switch (s.kind) {
    case TensorKind::linear:
    case TensorKind::router: rng.fill_normal(v, 0.0, 1.0 / std::sqrt(static_cast<double>(s.shape[1]))); break;
    case TensorKind::norm: rng.fill_normal(v, 1.0, 0.1); break;
    case TensorKind::bias:
    case TensorKind::router_bias: rng.fill_normal(v, 0.0, 0.05); break;
    case TensorKind::embedding: rng.fill_normal(v, 0.0, 1.0); break;
  }
  if (!fp8_linear(s, linear_dtype)) {
    const StDtype d = stored_dtype(s, linear_dtype);
    return {{s.name, d, s.shape, encode(v, d)}};
  }
  // DeepSeek's weight format: e4m3 codes and one fp32 scale per 128 x 128 block,
  // value = code * scale_inv, scale_inv = amax / 448.
  const std::int64_t R = s.shape[0], C = s.shape[1];
  const auto ss = scale_shape(s.shape);
  std::vector<float> scale(static_cast<std::size_t>(ss[0] * ss[1]));
  for (std::int64_t br = 0; br < ss[0]; ++br)
    for (std::int64_t bc = 0; bc < ss[1]; ++bc) {
      float amax = 0;
      for (std::int64_t r = br * kFp8Block; r < std::min(R, (br + 1) * kFp8Block); ++r)
        for (std::int64_t cc = bc * kFp8Block; cc < std::min(C, (bc + 1) * kFp8Block); ++cc)
          amax = std::max(amax, std::fabs(v[r * C + cc]));
      scale[br * ss[1] + bc] = amax > 0 ? amax / kFp8E4m3Max : 1.0f;
    }
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t cc = 0; cc < C; ++cc) v[r * C + cc] /= scale[(r / kFp8Block) * ss[1] + cc / kFp8Block];
  return {{s.name, StDtype::F8_E4M3, s.shape, encode(v, StDtype::F8_E4M3)},
          {s.name + "_scale_inv", StDtype::F32, ss, encode(scale, StDtype::F32)}};
}

}  // namespace

std::int64_t tensor_values(const std::vector<TensorSpec>& specs) {
  std::int64_t n = 0;
  for (const TensorSpec& s : specs) n += numel_of(s.shape);
  return n;
}

std::uint64_t synthetic_checkpoint_bytes(const ModelConfig& c, StDtype linear_dtype, const LayerRange& range) {
  std::uint64_t b = 0;
  for (const TensorSpec& s : expected_tensors(c, checked_range(c, range))) b += synthetic_tensor_bytes(s, linear_dtype);
  return b;
}

void write_synthetic_checkpoint(const ModelConfig& c, const std::string& dir, std::uint64_t seed, StDtype linear_dtype,
                                std::size_t max_shard_bytes, const LayerRange& range,
                                const std::function<void(std::size_t, std::size_t)>& on_shard) {
  namespace fs = std::filesystem;
  const LayerRange r = checked_range(c, range);
  const std::vector<TensorSpec> specs = expected_tensors(c, r);
  // Which tensors go in which shard, from their sizes, before any is generated: the
  // files are named "-of-N", and a shard can be written (and freed) as soon as it is made.
  std::vector<std::vector<std::size_t>> plan(1);
  std::uint64_t in_shard = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::uint64_t b = synthetic_tensor_bytes(specs[i], linear_dtype);
    if (!plan.back().empty() && in_shard + b > max_shard_bytes) {
      plan.emplace_back();
      in_shard = 0;
    }
    plan.back().push_back(i);
    in_shard += b;
  }
  fs::create_directories(dir);
  nlohmann::json index = {{"metadata",
                           {{"total_size", 0},
                            {"writer", "dsa-bench synthetic"},
                            {"seed", seed},
                            {"layers", {r.first, r.last}},
                            {"with_head", r.with_head}}},
                          {"weight_map", nlohmann::json::object()}};
  std::size_t total = 0;
  for (std::size_t k = 0; k < plan.size(); ++k) {
    std::vector<std::vector<SyntheticItem>> made(plan[k].size());
    parallel_for(static_cast<std::int64_t>(made.size()),
                 [&](std::int64_t j) { made[j] = synthetic_tensor(specs[plan[k][j]], seed, linear_dtype); });
    SafetensorsWriter shard;
    for (auto& items : made)
      for (auto& it : items) shard.add(it.name, it.dtype, it.shape, std::move(it.bytes));
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", k + 1, plan.size());
    shard.write((fs::path(dir) / file).string());
    total += shard.bytes();
    for (const auto& n : shard.names()) index["weight_map"][n] = file;
    if (on_shard) on_shard(k + 1, plan.size());
  }
  index["metadata"]["total_size"] = total;
  std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(1) << '\n';
  std::ofstream(fs::path(dir) / "config.json") << config_to_json(c).dump(2) << '\n';
}

}  // namespace dsa::model
