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

// Rows [first, first + count) of a row-major array, as a tensor of shape `s` (whose
// first dimension is `count`).
HostTensor<float> rows_of(std::span<const float> v, std::int64_t first, std::int64_t count, Shape s) {
  HostTensor<float> t(s);
  const std::int64_t width = t.numel() / std::max<std::int64_t>(count, 1);
  std::copy(v.begin() + first * width, v.begin() + (first + count) * width, t.data());
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
  c.latent_row = w_.config.kv_lora_rank + w_.config.qk_rope;
  c.index_row = w_.config.index_head_dim;
  return c;
}

void SequenceCache::reserve(std::int64_t tokens, AttentionMode mode) {
  for (auto& l : latent) l.reserve(static_cast<std::size_t>(tokens * latent_row));
  if (mode == AttentionMode::dsa)
    for (auto& k : index_keys) k.reserve(static_cast<std::size_t>(tokens * index_row));
}

void CpuModel::layer(int li, std::vector<float>& x, const std::vector<SeqRows>& seqs, AttentionMode mode,
                     OpTimes& t) const {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[static_cast<std::size_t>(li)];
  const std::int64_t n = seqs.back().first + seqs.back().count;  // rows of every sequence
  const std::int64_t D = c.hidden, H = c.heads;
  const int nope = c.qk_nope, rope = c.qk_rope, dqk = c.qk_head_dim(), rank = c.kv_lora_rank, dv = c.v_head;
  const int dl = rank + rope;
  const double scale = c.softmax_scale();
  // Every sequence of a batch brings the same number of rows (a decode step: one each),
  // so all of them take the same attention path.
  const std::int64_t per_seq = seqs.front().count;
  const bool mqa_mode = mode == AttentionMode::dsa || per_seq == 1;

  // --- MLA projections, all rows at once ---------------------------------------------
  const std::vector<float> h = rms_norm_rows(x, n, D, L.input_norm, c.rms_eps);
  std::vector<float> cq = linear(h, n, L.q_a, t);
  for (std::int64_t r = 0; r < n; ++r) rms_norm(&cq[r * c.q_lora_rank], c.q_lora_rank, L.q_a_norm, c.rms_eps);
  std::vector<float> q = linear(cq, n, L.q_b, t);  // [n, H, nope + rope]
  std::vector<float> kv = linear(h, n, L.kv_a, t);  // [n, rank + rope]
  {
    Timed timed(t.other);
    for (const SeqRows& sq : seqs)
      for (std::int64_t r = sq.first; r < sq.first + sq.count; ++r) {
        const std::int64_t pos = sq.cache->length + (r - sq.first);
        for (std::int64_t hh = 0; hh < H; ++hh) rope_interleaved(&q[(r * H + hh) * dqk + nope], rope, pos, rope_freqs_);
        rms_norm(&kv[r * dl], rank, L.kv_a_norm, c.rms_eps);
        rope_interleaved(&kv[r * dl + rank], rope, pos, rope_freqs_);
      }
    // The cache stores bf16 values, or the FP8 layout (kept here dequantised: what a
    // kernel reading the packed row computes with).
    if (cache_dtype_ == DType::fp8_e4m3) {
      round_through_fp8_mla(kv.data(), n, rank, rope);
    } else {
      round_in_place(kv, DType::bf16);
    }
    for (const SeqRows& sq : seqs) {
      auto& lat = sq.cache->latent[static_cast<std::size_t>(li)];
      lat.insert(lat.end(), kv.begin() + sq.first * dl, kv.begin() + (sq.first + sq.count) * dl);
    }
  }

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
  // Head outputs in the latent space [n, H, rank] -> [n, H * dv] through W_UV: per head,
  // a product of the head's rows of o (stride H * rank) and its dv rows of kv_b.
  const auto unabsorb = [&](const HostTensor<float>& o) {
    Timed timed(t.matmul);
    std::vector<float> y(static_cast<std::size_t>(n * H * dv));
    for (std::int64_t hh = 0; hh < H; ++hh)
      matmul_nt(o.data() + hh * rank, H * rank, w_uv(hh, 0), rank, y.data() + hh * dv, H * dv, n, dv, rank);
    return y;
  };

  const HostTensor<float> qa = mqa_mode ? absorbed() : HostTensor<float>();
  HostTensor<float> o_latent;  // [n, H, rank]: the MQA-mode outputs of every sequence
  if (mqa_mode) o_latent = HostTensor<float>({n, H, rank});
  std::vector<float> attn;  // [n, H * dv]
  if (!mqa_mode) attn.assign(static_cast<std::size_t>(n * H * dv), 0.0f);
  // The indexer's projections, all rows at once.
  const int HI = c.index_heads, DI = c.index_head_dim, ropeI = DI / 2;
  std::vector<float> qi, ki, wi;
  if (mode == AttentionMode::dsa) {
    qi = linear(cq, n, L.idx_wq_b, t);      // [n, HI, DI]
    ki = linear(h, n, L.idx_wk, t);         // [n, DI]
    wi = linear(h, n, L.idx_weights, t);    // [n, HI], fp32
  }

  // --- attention, one sequence at a time (each over its own cache) ---------------------
  for (const SeqRows& sq : seqs) {
    SequenceCache& cache = *sq.cache;
    const std::int64_t m = sq.count, f = sq.first, p0 = cache.length, end = p0 + m;
    // Staging the cache as an op input is a copy a GPU would not make; it counts as "other".
    const HostTensor<float> latent = [&] {
      Timed timed(t.other);
      return tensor_of(cache.latent[static_cast<std::size_t>(li)], {end, dl});
    }();
    const HostTensor<float> qa_seq = mqa_mode ? rows_of(qa.span(), f, m, {m, H, dl}) : HostTensor<float>();
    HostTensor<float> o({m, H, mqa_mode ? rank : dv}), lse({m, H});
    if (mode == AttentionMode::dsa) {
      // --- lightning indexer ----------------------------------------------------------
      HostTensor<float> scores, key_tensor;
      IndexerOperands ops;
      {
        Timed timed(t.indexer);
        for (std::int64_t r = f; r < f + m; ++r) {
          const std::int64_t pos = p0 + (r - f);
          // The rope part comes first and rotates half-split (not interleaved).
          for (int hh = 0; hh < HI; ++hh) rope_half_split(&qi[(r * HI + hh) * DI], ropeI, pos, index_rope_freqs_);
          layer_norm(&ki[r * DI], DI, L.idx_k_norm_weight, L.idx_k_norm_bias);
          rope_half_split(&ki[r * DI], ropeI, pos, index_rope_freqs_);
        }
        const float fold = static_cast<float>(1.0 / std::sqrt(static_cast<double>(HI))) *
                           static_cast<float>(1.0 / std::sqrt(static_cast<double>(DI)));
        HostTensor<float> w_seq = rows_of(wi, f, m, {m, HI});
        for (float& v : w_seq.span()) v *= fold;
        // Hadamard rotation then FP8 with power-of-two scales, as the model does; the
        // new keys join the cache quantised.
        ops = prepare_indexer_operands(rows_of(qi, f, m, {m, HI, DI}), rows_of(ki, f, m, {m, DI}), w_seq,
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
        const IndexerShape ish{m, end, HI, DI, p0, true};
        scores = HostTensor<float>({m, end});
        cpu::indexer_scores(ish, ops.q, key_tensor, ops.w, scores);
      }
      HostTensor<std::int32_t> idx({m, c.index_topk});
      {
        Timed timed(t.topk);
        cpu::topk_radix(scores, key_ends(m, p0, end, true), idx);
      }
      Timed timed(t.attention);
      cpu::sparse_mqa(AttentionShape{m, end, static_cast<int>(H), dl, rank, scale, p0}, qa_seq, latent, idx, o, lse, DType::f32);
    } else if (m == 1) {
      // Dense decode: MQA mode over the whole cache.
      Timed timed(t.attention);
      cpu::dense_mqa(AttentionShape{m, end, static_cast<int>(H), dl, rank, scale, p0}, qa_seq, latent, o, lse, DType::f32);
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
      Timed timed(t.attention);
      cpu::dense_mha(AttentionShape{m, end, static_cast<int>(H), dqk, dv, scale, p0}, rows_of(q, f, m, {m, H, dqk}), k, v, o,
                     lse, DType::f32);
    }
    // This sequence's rows of the outputs.
    float* dst = mqa_mode ? o_latent.data() + f * H * rank : attn.data() + f * H * dv;
    std::copy(o.data(), o.data() + o.numel(), dst);
  }
  if (mqa_mode) attn = unabsorb(o_latent);
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

void CpuModel::run_layers(std::vector<float>& x, const std::vector<SeqRows>& seqs, AttentionMode mode,
                          OpTimes& t) const {
  for (const SeqRows& sq : seqs) {
    require(sq.count > 0, "forward: no tokens");
    require(sq.count == seqs.front().count, "forward: the sequences of a batch bring the same number of positions");
    const SequenceCache& cache = *sq.cache;
    require(cache.latent.size() == w_.layers.size(), "forward: the cache belongs to another model");
    // The indexer's key cache is filled only in DSA mode: a cache must stay in one mode.
    const bool has_index_keys = !cache.index_keys.front().empty();
    require(cache.length == 0 || has_index_keys == (mode == AttentionMode::dsa),
            std::string("forward: this cache was filled in ") + (has_index_keys ? "dsa" : "dense") + " mode");
  }
  for (std::size_t li = 0; li < w_.layers.size(); ++li) {
    DSA_TRACE_RANGE("layer");
    layer(static_cast<int>(li), x, seqs, mode, t);
  }
  for (const SeqRows& sq : seqs) sq.cache->length += sq.count;
}

// Final norm and LM head over n rows.
HostTensor<float> CpuModel::head(std::vector<float>& x, std::int64_t n, OpTimes& t) const {
  const ModelConfig& c = w_.config;
  const std::vector<float> hf = rms_norm_rows(x, n, c.hidden, w_.final_norm, c.rms_eps);
  const std::vector<float> logits = linear(hf, n, w_.lm_head, t);
  return tensor_of(logits, {n, c.vocab});
}

HostTensor<float> CpuModel::forward(std::span<const std::int32_t> tokens, SequenceCache& cache, AttentionMode mode,
                                    OpTimes* times) const {
  return run_tokens_batch({tokens}, {&cache}, mode, times);
}

HostTensor<float> CpuModel::forward_hidden(const HostTensor<float>& hidden, SequenceCache& cache, AttentionMode mode,
                                           OpTimes* times) const {
  return run_hidden_batch({&hidden}, {&cache}, mode, times);
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

std::vector<CpuModel::SeqRows> CpuModel::batch_rows(const std::vector<ModelCache*>& caches, std::int64_t per_seq) const {
  std::vector<SeqRows> seqs;
  for (std::size_t b = 0; b < caches.size(); ++b)
    seqs.push_back({&cpu_cache(*caches[b]), static_cast<std::int64_t>(b) * per_seq, per_seq});
  return seqs;
}

std::vector<float> CpuModel::embed_and_run(const std::vector<std::span<const std::int32_t>>& tokens,
                                           const std::vector<ModelCache*>& caches, AttentionMode mode, OpTimes& t) const {
  require(has_head(), "forward: this model holds layers " + std::to_string(w_.range.first) + ".." +
                          std::to_string(w_.range.last - 1) + " only; run it on hidden states (forward_hidden)");
  require(!tokens.empty() && tokens.size() == caches.size(), "forward: one cache per sequence");
  std::vector<float> x = embed_tokens(w_.config, w_.embed.data.data(), tokens);
  run_layers(x, batch_rows(caches, static_cast<std::int64_t>(tokens.front().size())), mode, t);
  return x;
}

HostTensor<float> CpuModel::run_tokens_batch(const std::vector<std::span<const std::int32_t>>& tokens,
                                             const std::vector<ModelCache*>& caches, AttentionMode mode,
                                             OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "forward.dense" : "forward.dsa");
  OpTimes t;
  std::vector<float> x = embed_and_run(tokens, caches, mode, t);
  HostTensor<float> logits = head(x, static_cast<std::int64_t>(x.size()) / w_.config.hidden, t);
  if (times) *times += t;
  return logits;
}

HostTensor<float> CpuModel::run_tokens_last(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                                            OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "forward.dense" : "forward.dsa");
  OpTimes t;
  const std::vector<float> x = embed_and_run({tokens}, {&cache}, mode, t);
  std::vector<float> last(x.end() - w_.config.hidden, x.end());
  HostTensor<float> logits = head(last, 1, t);
  if (times) *times += t;
  return logits;
}

HostTensor<float> CpuModel::run_hidden_batch(const std::vector<const HostTensor<float>*>& hidden,
                                             const std::vector<ModelCache*>& caches, AttentionMode mode,
                                             OpTimes* times) const {
  DSA_TRACE_RANGE(mode == AttentionMode::dense ? "layers.dense" : "layers.dsa");
  const ModelConfig& c = w_.config;
  require(!hidden.empty() && hidden.size() == caches.size(), "forward_hidden: one cache per sequence");
  const std::int64_t per_seq = hidden.front()->shape().rank == 2 ? hidden.front()->size(0) : 0;
  std::vector<float> x;
  for (const HostTensor<float>* hs : hidden) {
    require(hs->shape().rank == 2 && hs->size(1) == c.hidden,
            "forward_hidden: hidden states must be [n, " + std::to_string(c.hidden) + "]");
    require(hs->size(0) == per_seq, "forward_hidden: the sequences of a batch bring the same number of rows");
    x.insert(x.end(), hs->span().begin(), hs->span().end());
  }
  OpTimes t;
  run_layers(x, batch_rows(caches, per_seq), mode, t);
  if (times) *times += t;
  return tensor_of(x, {per_seq * static_cast<std::int64_t>(hidden.size()), c.hidden});
}

}  // namespace dsa::model
