#include "model/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/check.h"
#include "core/dtype.h"
#include "core/indexer_operands.h"
#include "core/matmul.h"
#include "core/mla_cache.h"
#include "core/parallel.h"
#include "core/trace.h"
#include "kernels/cpu/cpu_ops.h"
#include "model/rope.h"
#include "model/routing.h"

namespace dsa::model {

const char* attention_mode_name(AttentionMode m) { return m == AttentionMode::dense ? "dense" : "dsa"; }

std::int64_t SequenceCache::latent_bytes_per_token(const ModelConfig& c, DType dtype) {
  if (dtype == DType::fp8_e4m3) return static_cast<std::int64_t>(fp8_mla_row_bytes(c.kv_lora_rank, c.qk_rope));
  return 2LL * (c.kv_lora_rank + c.qk_rope);
}
std::int64_t SequenceCache::index_bytes_per_token(const ModelConfig& c) {
  return c.index_head_dim + 4LL * ((c.index_head_dim + 127) / 128);
}

OpTimes& OpTimes::operator+=(const OpTimes& o) {
  matmul += o.matmul;
  indexer += o.indexer;
  topk += o.topk;
  attention += o.attention;
  other += o.other;
  return *this;
}

namespace {

using Clock = std::chrono::steady_clock;

// Adds the time of the enclosing scope to one of OpTimes' fields.
class Timed {
 public:
  explicit Timed(double& slot) : slot_(slot), t0_(Clock::now()) {}
  ~Timed() { slot_ += std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  double& slot_;
  Clock::time_point t0_;
};

// y [n, rows(W)] = x [n, cols(W)] * W^T
std::vector<float> linear(const std::vector<float>& x, std::int64_t n, const Matrix& w, OpTimes& t) {
  Timed timed(t.matmul);
  std::vector<float> y(static_cast<std::size_t>(n * w.rows));
  matmul_nt(x.data(), w.cols, w.data.data(), w.cols, y.data(), w.rows, n, w.rows, w.cols);
  return y;
}

void rms_norm(float* x, std::int64_t d, const std::vector<float>& weight, double eps) {
  double ss = 0;
  for (std::int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + eps);
  for (std::int64_t i = 0; i < d; ++i) x[i] = static_cast<float>(x[i] * inv * weight[i]);
}

std::vector<float> rms_norm_rows(const std::vector<float>& x, std::int64_t n, std::int64_t d, const std::vector<float>& w,
                                 double eps) {
  std::vector<float> y = x;
  for (std::int64_t r = 0; r < n; ++r) rms_norm(&y[r * d], d, w, eps);
  return y;
}

// The indexer's key norm: LayerNorm with weight and bias, eps 1e-6 (dsa-spec.md section 3).
void layer_norm(float* x, std::int64_t d, const std::vector<float>& w, const std::vector<float>& b) {
  double mean = 0, var = 0;
  for (std::int64_t i = 0; i < d; ++i) mean += x[i];
  mean /= static_cast<double>(d);
  for (std::int64_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(var / static_cast<double>(d) + 1e-6);
  for (std::int64_t i = 0; i < d; ++i) x[i] = static_cast<float>((x[i] - mean) * inv * w[i] + b[i]);
}

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }

// down(silu(gate x) * up x)
std::vector<float> swiglu(const std::vector<float>& x, std::int64_t n, const Matrix& gate, const Matrix& up,
                          const Matrix& down, OpTimes& t) {
  std::vector<float> g = linear(x, n, gate, t), u = linear(x, n, up, t);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  return linear(g, n, down, t);
}

HostTensor<float> tensor_of(const std::vector<float>& v, Shape s) {
  HostTensor<float> t(s);
  std::copy(v.begin(), v.begin() + t.numel(), t.data());
  return t;
}

}  // namespace

CpuModel::CpuModel(ModelWeights w, DType cache_dtype) : w_(std::move(w)), cache_dtype_(cache_dtype) {
  require(!w_.layers.empty(), "CpuModel: no layers loaded");
  require(!w_.range.with_head || (w_.range.first == 0 && w_.range.last == w_.config.layers),
          "CpuModel: token-to-logits runs need every layer; a layer range runs on hidden states (forward_hidden)");
  require(cache_dtype == DType::bf16 || cache_dtype == DType::fp8_e4m3, "CpuModel: the latent cache is bf16 or fp8");
  if (cache_dtype == DType::fp8_e4m3)
    require(w_.config.kv_lora_rank % 128 == 0, "CpuModel: the fp8 latent cache needs kv_lora_rank a multiple of 128");
  rope_freqs_ = rope_frequencies(w_.config, w_.config.qk_rope);
  index_rope_freqs_ = rope_frequencies(w_.config, w_.config.index_head_dim / 2);
}

SequenceCache CpuModel::new_cache() const {
  SequenceCache c;
  c.latent.resize(w_.layers.size());
  c.index_keys.resize(w_.layers.size());
  return c;
}

void CpuModel::layer(int li, std::vector<float>& x, std::int64_t n, SequenceCache& cache, AttentionMode mode,
                     OpTimes& t) const {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[static_cast<std::size_t>(li)];
  const std::int64_t D = c.hidden, H = c.heads, p0 = cache.length, end = p0 + n;
  const int nope = c.qk_nope, rope = c.qk_rope, dqk = c.qk_head_dim(), rank = c.kv_lora_rank, dv = c.v_head;
  const int dl = rank + rope;
  const double scale = c.softmax_scale();

  const std::vector<float> h = rms_norm_rows(x, n, D, L.input_norm, c.rms_eps);
  // --- MLA projections ------------------------------------------------------------
  std::vector<float> cq = linear(h, n, L.q_a, t);
  for (std::int64_t r = 0; r < n; ++r) rms_norm(&cq[r * c.q_lora_rank], c.q_lora_rank, L.q_a_norm, c.rms_eps);
  std::vector<float> q = linear(cq, n, L.q_b, t);  // [n, H, nope + rope]
  std::vector<float> kv = linear(h, n, L.kv_a, t);  // [n, rank + rope]
  {
    Timed timed(t.other);
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t hh = 0; hh < H; ++hh) rope_interleaved(&q[(r * H + hh) * dqk + nope], rope, p0 + r, rope_freqs_);
      rms_norm(&kv[r * dl], rank, L.kv_a_norm, c.rms_eps);
      rope_interleaved(&kv[r * dl + rank], rope, p0 + r, rope_freqs_);
    }
    // The cache stores bf16 values, or the FP8 layout (kept here dequantised: what a
    // kernel reading the packed row computes with).
    if (cache_dtype_ == DType::fp8_e4m3) {
      round_through_fp8_mla(kv.data(), n, rank, rope);
    } else {
      round_in_place(kv, DType::bf16);
    }
    auto& lat = cache.latent[static_cast<std::size_t>(li)];
    lat.insert(lat.end(), kv.begin(), kv.end());
  }
  // Staging the cache as an op input is a copy a GPU would not make; it counts as "other".
  const HostTensor<float> latent = [&] {
    Timed timed(t.other);
    return tensor_of(cache.latent[static_cast<std::size_t>(li)], {end, dl});
  }();

  // W_UK [H, nope, rank], W_UV [H, dv, rank] views of kv_b [H * (nope + dv), rank].
  const auto w_uk = [&](std::int64_t hh, int i) { return L.kv_b.row(hh * (nope + dv) + i); };
  const auto w_uv = [&](std::int64_t hh, int i) { return L.kv_b.row(hh * (nope + dv) + nope + i); };
  // Absorbed queries [n, H, rank + rope]: q~ = [W_UK^T q_nope | q_rope].
  const auto absorbed = [&] {
    Timed timed(t.matmul);
    HostTensor<float> qa({n, H, dl});
    parallel_for(n * H, [&](std::int64_t th) {
      const float* qn = &q[th * dqk];
      float* out = &qa.data()[th * dl];
      std::fill(out, out + rank, 0.0f);
      for (int i = 0; i < nope; ++i) {
        const float* wr = w_uk(th % H, i);
        for (int r = 0; r < rank; ++r) out[r] += qn[i] * wr[r];
      }
      std::copy(qn + nope, qn + dqk, out + rank);
    });
    return qa;
  };
  // Head outputs in the latent space [n, H, rank] -> [n, H * dv] through W_UV.
  const auto unabsorb = [&](const HostTensor<float>& o) {
    Timed timed(t.matmul);
    std::vector<float> y(static_cast<std::size_t>(n * H * dv));
    parallel_for(n * H, [&](std::int64_t th) {
      const float* oh = &o.data()[th * rank];
      for (int i = 0; i < dv; ++i) {
        const float* wr = w_uv(th % H, i);
        double acc = 0;
        for (int r = 0; r < rank; ++r) acc += static_cast<double>(oh[r]) * wr[r];
        y[static_cast<std::size_t>(th * dv + i)] = static_cast<float>(acc);
      }
    });
    return y;
  };

  std::vector<float> attn;  // [n, H * dv]
  if (mode == AttentionMode::dsa) {
    // --- lightning indexer ----------------------------------------------------------
    const int HI = c.index_heads, DI = c.index_head_dim, ropeI = DI / 2;
    std::vector<float> qi = linear(cq, n, L.idx_wq_b, t);  // [n, HI, DI]
    std::vector<float> ki = linear(h, n, L.idx_wk, t);     // [n, DI]
    std::vector<float> wi = linear(h, n, L.idx_weights, t);  // [n, HI], fp32
    HostTensor<float> scores, key_tensor;
    IndexerOperands ops;
    {
      Timed timed(t.indexer);
      for (std::int64_t r = 0; r < n; ++r) {
        // The rope part comes first and rotates half-split (not interleaved).
        for (int hh = 0; hh < HI; ++hh) rope_half_split(&qi[(r * HI + hh) * DI], ropeI, p0 + r, index_rope_freqs_);
        layer_norm(&ki[r * DI], DI, L.idx_k_norm_weight, L.idx_k_norm_bias);
        rope_half_split(&ki[r * DI], ropeI, p0 + r, index_rope_freqs_);
      }
      const float fold = static_cast<float>(1.0 / std::sqrt(static_cast<double>(HI))) *
                         static_cast<float>(1.0 / std::sqrt(static_cast<double>(DI)));
      for (float& v : wi) v *= fold;
      // Hadamard rotation then FP8 with power-of-two scales, as the model does; the
      // new keys join the cache quantised.
      ops = prepare_indexer_operands(tensor_of(qi, {n, HI, DI}), tensor_of(ki, {n, DI}), tensor_of(wi, {n, HI}),
                                     DType::fp8_e4m3, true);
      auto& keys = cache.index_keys[static_cast<std::size_t>(li)];
      keys.insert(keys.end(), ops.k.span().begin(), ops.k.span().end());
    }
    {
      Timed staging(t.other);
      key_tensor = tensor_of(cache.index_keys[static_cast<std::size_t>(li)], {end, DI});
    }
    {
      Timed timed(t.indexer);
      const IndexerShape ish{n, end, HI, DI, p0, true};
      scores = HostTensor<float>({n, end});
      cpu::indexer_scores(ish, ops.q, key_tensor, ops.w, scores);
    }
    HostTensor<std::int32_t> idx({n, c.index_topk});
    {
      Timed timed(t.topk);
      cpu::topk_radix(scores, key_ends(n, p0, end, true), idx);
    }
    const HostTensor<float> qa = absorbed();
    HostTensor<float> o({n, H, rank}), lse({n, H});
    {
      Timed timed(t.attention);
      cpu::sparse_mqa(AttentionShape{n, end, static_cast<int>(H), dl, rank, scale, p0}, qa, latent, idx, o, lse, DType::f32);
    }
    attn = unabsorb(o);
  } else if (n == 1) {
    // Dense decode: MQA mode over the whole cache.
    const HostTensor<float> qa = absorbed();
    HostTensor<float> o({n, H, rank}), lse({n, H});
    {
      Timed timed(t.attention);
      cpu::dense_mqa(AttentionShape{n, end, static_cast<int>(H), dl, rank, scale, p0}, qa, latent, o, lse, DType::f32);
    }
    attn = unabsorb(o);
  } else {
    // Dense prefill: MHA mode, per-head K and V expanded from the latent cache.
    HostTensor<float> k({end, H, dqk}), v({end, H, dv});
    {
      std::vector<float> ckv(static_cast<std::size_t>(end * rank));
      for (std::int64_t s = 0; s < end; ++s) std::copy(&latent(s, 0), &latent(s, 0) + rank, &ckv[s * rank]);
      const std::vector<float> kvb = linear(ckv, end, L.kv_b, t);  // [end, H * (nope + dv)]
      Timed timed(t.other);
      for (std::int64_t s = 0; s < end; ++s)
        for (std::int64_t hh = 0; hh < H; ++hh) {
          const float* src = &kvb[(s * H + hh) * (nope + dv)];
          std::copy(src, src + nope, &k(s, hh, 0));
          std::copy(&latent(s, rank), &latent(s, rank) + rope, &k(s, hh, nope));
          std::copy(src + nope, src + nope + dv, &v(s, hh, 0));
        }
    }
    HostTensor<float> o({n, H, dv}), lse({n, H});
    {
      Timed timed(t.attention);
      cpu::dense_mha(AttentionShape{n, end, static_cast<int>(H), dqk, dv, scale, p0}, tensor_of(q, {n, H, dqk}), k, v, o,
                     lse, DType::f32);
    }
    attn.assign(o.span().begin(), o.span().end());
  }
  const std::vector<float> out = linear(attn, n, L.o, t);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += out[i];

  // --- FFN ----------------------------------------------------------------------------
  const std::vector<float> h2 = rms_norm_rows(x, n, D, L.post_attention_norm, c.rms_eps);
  std::vector<float> ffn;
  if (!L.moe) {
    ffn = swiglu(h2, n, L.gate_proj, L.up_proj, L.down_proj, t);
  } else {
    ffn.assign(static_cast<std::size_t>(n * D), 0.0f);
    if (c.shared_experts > 0) ffn = swiglu(h2, n, L.gate_proj, L.up_proj, L.down_proj, t);
    const std::vector<float> logits = linear(h2, n, L.router, t);  // [n, E]
    const int E = c.routed_experts;
    std::vector<std::vector<std::pair<std::int64_t, double>>> routed;  // per expert: (token, weight)
    {
      Timed timed(t.other);
      routed = route_tokens(c, logits.data(), n, L.router_bias);
    }
    for (int e = 0; e < E; ++e) {
      const auto& toks = routed[static_cast<std::size_t>(e)];
      if (toks.empty()) continue;
      const auto m = static_cast<std::int64_t>(toks.size());
      std::vector<float> rows(static_cast<std::size_t>(m * D));
      for (std::int64_t i = 0; i < m; ++i) std::copy(&h2[toks[i].first * D], &h2[toks[i].first * D] + D, &rows[i * D]);
      const std::vector<float> y = swiglu(rows, m, L.expert_gate[e], L.expert_up[e], L.expert_down[e], t);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < D; ++j) ffn[toks[i].first * D + j] += static_cast<float>(toks[i].second * y[i * D + j]);
    }
  }
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += ffn[i];
}

void CpuModel::run_layers(std::vector<float>& x, std::int64_t n, SequenceCache& cache, AttentionMode mode,
                          OpTimes& t) const {
  require(n > 0, "forward: no tokens");
  require(cache.latent.size() == w_.layers.size(), "forward: the cache belongs to another model");
  // The indexer's key cache is filled only in DSA mode: a cache must stay in one mode.
  const bool has_index_keys = !cache.index_keys.front().empty();
  require(cache.length == 0 || has_index_keys == (mode == AttentionMode::dsa),
          std::string("forward: this cache was filled in ") + (has_index_keys ? "dsa" : "dense") + " mode");
  for (std::size_t li = 0; li < w_.layers.size(); ++li) {
    DSA_TRACE_RANGE("layer");
    layer(static_cast<int>(li), x, n, cache, mode, t);
  }
  cache.length += n;
}

HostTensor<float> CpuModel::forward(std::span<const std::int32_t> tokens, SequenceCache& cache, AttentionMode mode,
                                    OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "forward.dense" : "forward.dsa");
  require(has_head(), "forward: this model holds layers " + std::to_string(w_.range.first) + ".." +
                          std::to_string(w_.range.last - 1) + " only; run it on hidden states (forward_hidden)");
  const ModelConfig& c = w_.config;
  const auto n = static_cast<std::int64_t>(tokens.size());
  OpTimes t;
  std::vector<float> x(static_cast<std::size_t>(n * c.hidden));
  for (std::int64_t r = 0; r < n; ++r) {
    require(tokens[r] >= 0 && tokens[r] < c.vocab, "forward: token id " + std::to_string(tokens[r]) + " outside the vocabulary");
    std::copy(w_.embed.row(tokens[r]), w_.embed.row(tokens[r]) + c.hidden, &x[r * c.hidden]);
  }
  run_layers(x, n, cache, mode, t);
  const std::vector<float> hf = rms_norm_rows(x, n, c.hidden, w_.final_norm, c.rms_eps);
  const std::vector<float> logits = linear(hf, n, w_.lm_head, t);
  if (times) *times += t;
  return tensor_of(logits, {n, c.vocab});
}

namespace {
SequenceCache& cpu_cache(ModelCache& c) {
  auto* s = dynamic_cast<SequenceCache*>(&c);
  require(s != nullptr, "CpuModel: the cache was made by another model");
  return *s;
}
}  // namespace

HostTensor<float> CpuModel::run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                       OpTimes* times) const {
  return forward(tokens, cpu_cache(cache), mode, times);
}

HostTensor<float> CpuModel::run_hidden(const HostTensor<float>& hidden, ModelCache& cache, AttentionMode mode,
                                       OpTimes* times) const {
  return forward_hidden(hidden, cpu_cache(cache), mode, times);
}

HostTensor<float> CpuModel::forward_hidden(const HostTensor<float>& hidden, SequenceCache& cache, AttentionMode mode,
                                           OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "layers.dense" : "layers.dsa");
  const ModelConfig& c = w_.config;
  require(hidden.shape().rank == 2 && hidden.size(1) == c.hidden,
          "forward_hidden: hidden states must be [n, " + std::to_string(c.hidden) + "]");
  OpTimes t;
  std::vector<float> x(hidden.span().begin(), hidden.span().end());
  run_layers(x, hidden.size(0), cache, mode, t);
  if (times) *times += t;
  return tensor_of(x, hidden.shape());
}

}  // namespace dsa::model
