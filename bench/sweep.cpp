// The dsa_vs_dense sweep (dsa-spec.md section 6): at each context length, the DSA
// pipeline (indexer + top-k + sparse MQA-mode attention) against the dense baseline
// of the same phase, on the same inputs.
//   prefill: a chunk of `query_chunk` queries at positions [L - n, L) over L keys
//            (the marginal cost of tokens near position L); dense = causal MHA-mode
//            attention (d_qk 192, d_v 128) over K/V expanded from the latent cache.
//   decode:  `batch` sequences, `query_chunk` (next_n) queries each at the end of the
//            context; dense = MQA-mode attention over the whole cache. On the GPU each
//            stage runs once for the whole batch (one launch, as a server batches);
//            the CPU runs the sequences one after another.
// Only the attention stages are timed: expanding K/V, absorbing queries and projecting
// outputs through W_UV are the model's matrix products, outside this comparison.
#include <algorithm>
#include <cmath>
#include <deque>
#include <new>

#include "bench/checks.h"
#include "bench/dump.h"
#include "bench/inputs.h"
#include "bench/runner.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "bench/work.h"
#include "core/host_memory.h"
#include "core/matmul.h"
#include "core/metrics.h"
#include "core/mla_cache.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/cuda_device.h"
#include "reference/attention.h"
#include "reference/indexer.h"
#include "reference/mla.h"
#include "reference/topk.h"

namespace dsa::bench {

namespace {

// One sequence's inputs at the largest context; each point uses a prefix, so the
// points of a sweep see the same data and only the context length changes.
struct SequenceSource {
  std::uint64_t seed = 0;
  std::unique_ptr<AttentionPattern> pattern;
  HostTensor<float> cache;        // [Lmax, rank + rope] latent cache (c_kv | k_rope), storage-rounded
  HostTensor<float> indexer_keys; // [Lmax, D_I] raw (rotation and quantisation happen per point)
  ref::AbsorbedWeights weights;   // prefill: W_UK, W_UV
  HostTensor<float> k_mha, v_mha; // prefill: [Lmax, H, nope + rope], [Lmax, H, v_head], storage-rounded
};

// One sequence at one point: inputs, outputs, and the argument blocks the runs use.
struct SequencePoint {
  IndexerShape ish;
  IndexerOperands idx;
  std::vector<std::int64_t> ends;
  HostTensor<float> q_mqa, cache;          // [n, H, rank+rope], [L, rank+rope]
  HostTensor<float> q_mha, k_mha, v_mha;   // prefill
  HostTensor<float> scores;                // [n, L]
  HostTensor<std::int32_t> indices;        // [n, K]
  HostTensor<float> dsa_out, dsa_lse;      // [n, H, rank], [n, H]
  HostTensor<float> dense_out, dense_lse;  // [n, H, d_v of the dense mode], [n, H]
};

template <class T>
HostTensor<T> prefix_rows(const HostTensor<T>& src, std::int64_t rows) {
  Shape s = src.shape();
  s.dims[0] = rows;
  HostTensor<T> out = HostTensor<T>::unwritten(s);
  host_copy(src.data(), static_cast<std::size_t>(out.numel()), out.data());  // 21 GB of MHA K/V at 128K
  return out;
}

class Sweep {
 public:
  Sweep(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed, const std::vector<Backend>& backends)
      : c_(c), ctx_(ctx), seed_(seed), backends_(backends), prefill_(c.phase == Phase::prefill),
        scale_(c.resolved_scale()), d_mqa_(c.kv_rank + c.qk_rope), fp8_cache_(c.kv_cache_dtype == DType::fp8_e4m3) {}

  nlohmann::json run();
  void dump(std::int64_t L, DumpSink& sink);

 private:
  void say(const std::string& s) const { if (ctx_.progress) ctx_.progress(s); }
  SequenceSource make_source(int b) const;
  double source_bytes() const;  // the host bytes of every sequence's inputs at the largest context, as fp32
  SequencePoint make_point(const SequenceSource& src, std::int64_t L) const;
  nlohmann::json run_point(std::int64_t L, std::size_t i);
  void validate(const SequencePoint& p, Checks& ch, const std::string& prefix) const;
  nlohmann::json accuracy(const std::vector<SequencePoint>& pts, std::int64_t L) const;

  const CaseSpec& c_;
  const RunContext& ctx_;
  std::uint64_t seed_;
  std::vector<Backend> backends_;
  bool prefill_;
  double scale_;
  int d_mqa_;
  bool fp8_cache_;
  std::vector<SequenceSource> sources_;
  std::string impl_indexer_, impl_topk_, impl_sparse_, impl_dense_, backend_;
  std::string backend_fallback_;  // why earlier candidate backends did not run every stage
  // Every variant a stage ran with, in order of first use: a variant's first_for() can
  // pick another one at some contexts (the split top-k on long rows).
  std::vector<std::string> used_indexer_, used_topk_, used_sparse_, used_dense_;
  void describe(nlohmann::json& rec) const;
};

SequenceSource Sweep::make_source(int b) const {
  const std::int64_t Lmax = c_.contexts.back();
  SequenceSource s;
  s.seed = derive_seed(seed_, "sequence", static_cast<std::uint64_t>(b));
  s.pattern = make_pattern(c_, Lmax, s.seed);
  const AttentionPattern* pat = s.pattern.get();
  // Noise is calibrated to the logit of the mode the model attends in: prefill's
  // MHA keys live in nope + rope dims, decode's MQA keys in rank + rope dims.
  const int d_logit = prefill_ ? c_.qk_nope + c_.qk_rope : d_mqa_;
  const double sd = noise_stddev(d_logit, scale_, c_.pattern.noise_logit);
  s.cache = make_attention_keys(c_, pat, d_mqa_, c_.qk_rope, Lmax, sd, scale_, s.seed, s.seed);
  // An FP8 latent cache: both paths see what the 656-byte rows hold (in prefill, the
  // dense path's K/V are expanded from those same values).
  if (fp8_cache_) round_through_fp8_mla(s.cache.data(), Lmax, c_.kv_rank, c_.qk_rope);
  s.indexer_keys = make_indexer_keys(c_, pat, Lmax, s.seed, s.seed);
  if (prefill_) {
    // kv_b_proj ~ N(0, 1/rank) keeps the expanded k_nope and v at the latent's scale.
    const ref::MlaDims md{c_.heads, c_.qk_nope, c_.qk_rope, c_.v_head, c_.kv_rank};
    const std::int64_t rows = static_cast<std::int64_t>(c_.heads) * (c_.qk_nope + c_.v_head);
    HostTensor<float> w_kvb({rows, c_.kv_rank});
    fill_normal(w_kvb.span(), 1.0 / std::sqrt(static_cast<double>(c_.kv_rank)), derive_seed(s.seed, "w_kvb"));
    s.weights = ref::split_kv_b(w_kvb, md);
    // K/V of MHA mode from the (rounded) latent: [Lmax, H*(nope+v)] = c_kv W_kvb^T.
    auto kv = HostTensor<float>::unwritten({Lmax, rows});  // every element written below
    matmul_nt(s.cache.data(), d_mqa_, w_kvb.data(), c_.kv_rank, kv.data(), rows, Lmax, rows, c_.kv_rank);
    const int dqk = c_.qk_nope + c_.qk_rope;
    // Written whole by the loop below (nope, then rope, of every head; all of v).
    s.k_mha = HostTensor<float>::unwritten({Lmax, c_.heads, dqk});
    s.v_mha = HostTensor<float>::unwritten({Lmax, c_.heads, c_.v_head});
    parallel_chunks(Lmax, 64, [&](std::int64_t lo, std::int64_t hi) {  // 5.4 G values at 128K
      for (std::int64_t t = lo; t < hi; ++t)
        for (int h = 0; h < c_.heads; ++h) {
          const float* src = &kv(t, static_cast<std::int64_t>(h) * (c_.qk_nope + c_.v_head));
          std::copy(src, src + c_.qk_nope, &s.k_mha(t, h, 0));
          std::copy(&s.cache(t, c_.kv_rank), &s.cache(t, c_.kv_rank) + c_.qk_rope, &s.k_mha(t, h, c_.qk_nope));
          std::copy(src + c_.qk_nope, src + c_.qk_nope + c_.v_head, &s.v_mha(t, h, 0));
        }
    });
    round_in_place(s.k_mha.span(), c_.dtype);
    round_in_place(s.v_mha.span(), c_.dtype);
  }
  return s;
}

SequencePoint Sweep::make_point(const SequenceSource& src, std::int64_t L) const {
  const std::int64_t n = c_.query_chunk, offset = L - n;
  const std::uint64_t noise = derive_seed(src.seed, "point", static_cast<std::uint64_t>(L));
  SequencePoint p;
  p.ish = IndexerShape{n, L, c_.index_heads, c_.index_head_dim, offset, true};
  p.ends = key_ends(n, offset, L, true);
  HostTensor<float> iq, iw;
  make_indexer_queries(c_, src.pattern.get(), n, offset, src.seed, noise, iq, iw);
  p.idx = prepare_indexer_operands(iq, prefix_rows(src.indexer_keys, L), iw, c_.indexer_dtype, c_.hadamard);
  p.cache = prefix_rows(src.cache, L);
  if (prefill_) {
    const int dqk = c_.qk_nope + c_.qk_rope;
    const double sd = noise_stddev(dqk, scale_, c_.pattern.noise_logit);
    p.q_mha = make_attention_queries(c_, src.pattern.get(), c_.heads, dqk, c_.qk_rope, n, offset, sd, scale_, src.seed, noise);
    const ref::MlaDims md{c_.heads, c_.qk_nope, c_.qk_rope, c_.v_head, c_.kv_rank};
    p.q_mqa = ref::absorb_query(p.q_mha, src.weights, md);
    round_in_place(p.q_mqa.span(), c_.dtype);
    p.k_mha = prefix_rows(src.k_mha, L);
    p.v_mha = prefix_rows(src.v_mha, L);
    p.dense_out = HostTensor<float>({n, c_.heads, c_.v_head});
  } else {
    const double sd = noise_stddev(d_mqa_, scale_, c_.pattern.noise_logit);
    p.q_mqa = make_attention_queries(c_, src.pattern.get(), c_.heads, d_mqa_, c_.qk_rope, n, offset, sd, scale_, src.seed, noise);
    p.dense_out = HostTensor<float>({n, c_.heads, c_.kv_rank});
  }
  p.dense_lse = HostTensor<float>({n, c_.heads});
  p.scores = HostTensor<float>({n, L});
  p.indices = HostTensor<std::int32_t>({n, c_.topk});
  p.dsa_out = HostTensor<float>({n, c_.heads, c_.kv_rank});
  p.dsa_lse = HostTensor<float>({n, c_.heads});
  return p;
}

// Rows [0, n) or `limit` of them spread evenly, the first and the last included.
std::vector<std::int64_t> spread_rows(std::int64_t n, std::int64_t limit) {
  std::vector<std::int64_t> rows;
  if (limit <= 0 || limit >= n) {
    for (std::int64_t t = 0; t < n; ++t) rows.push_back(t);
  } else {
    for (std::int64_t r = 0; r < limit; ++r) rows.push_back(limit == 1 ? n - 1 : r * (n - 1) / (limit - 1));
  }
  return rows;
}

// The listed rows (along dim 0) of a tensor.
template <class T>
HostTensor<T> take_rows(const HostTensor<T>& src, const std::vector<std::int64_t>& rows) {
  Shape s = src.shape();
  const std::int64_t width = src.numel() / std::max<std::int64_t>(s.dims[0], 1);
  s.dims[0] = static_cast<std::int64_t>(rows.size());
  HostTensor<T> out(s);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy(src.data() + rows[i] * width, src.data() + (rows[i] + 1) * width, out.data() + static_cast<std::int64_t>(i) * width);
  return out;
}

// The reference of each stage on the validated rows only: a query row t of the chunk
// is the chunk of one query at position offset + t, so every reference op runs on
// that row alone and gives exactly the full op's row t. This keeps validation at
// 128K contexts affordable (the fp64 dense reference of a whole chunk is not).
void Sweep::validate(const SequencePoint& p, Checks& ch, const std::string& prefix) const {
  const Tolerance& tol = c_.tol;
  const std::int64_t n = c_.query_chunk, L = p.ish.keys, offset = L - n;
  const std::vector<std::int64_t> rows = spread_rows(n, c_.validate_rows);
  const auto R = static_cast<std::int64_t>(rows.size());
  if (prefix.empty()) ch.metric("validation", "rows", R);
  const HostTensor<float> q_idx = take_rows(p.idx.q, rows), w_idx = take_rows(p.idx.w, rows);
  const HostTensor<float> q_mqa = take_rows(p.q_mqa, rows);
  const HostTensor<std::int32_t> idx = take_rows(p.indices, rows);
  HostTensor<float> q_mha;
  if (prefill_) q_mha = take_rows(p.q_mha, rows);
  const int dv_dense = prefill_ ? c_.v_head : c_.kv_rank;
  HostTensor<float> ref_scores({R, L}), ref_sparse({R, c_.heads, c_.kv_rank}), ref_sparse_lse({R, c_.heads});
  HostTensor<float> ref_dense({R, c_.heads, dv_dense}), ref_dense_lse({R, c_.heads});
  HostTensor<float> mag_sparse({R, c_.heads, c_.kv_rank}), mag_dense({R, c_.heads, dv_dense});
  auto put = [](const HostTensor<float>& row, HostTensor<float>& all, std::int64_t i) {
    std::copy(row.data(), row.data() + row.numel(), all.data() + i * row.numel());
  };
  for (std::int64_t i = 0; i < R; ++i) {
    const std::int64_t pos = offset + rows[static_cast<std::size_t>(i)];
    const std::vector<std::int64_t> one = {i};
    HostTensor<float> o, l, m;
    const IndexerShape ish{1, L, c_.index_heads, c_.index_head_dim, pos, true};
    ref::indexer_scores(ish, take_rows(q_idx, one), p.idx.k, take_rows(w_idx, one), o);
    put(o, ref_scores, i);
    const AttentionShape ssh{1, L, c_.heads, d_mqa_, c_.kv_rank, scale_, pos};
    ref::sparse_mqa(ssh, take_rows(q_mqa, one), p.cache, take_rows(idx, one), o, l, &m);
    put(o, ref_sparse, i);
    put(l, ref_sparse_lse, i);
    put(m, mag_sparse, i);
    if (prefill_) {
      const AttentionShape dsh{1, L, c_.heads, c_.qk_nope + c_.qk_rope, c_.v_head, scale_, pos};
      ref::dense_mha(dsh, take_rows(q_mha, one), p.k_mha, p.v_mha, o, l, &m);
    } else {
      ref::dense_mqa(ssh, take_rows(q_mqa, one), p.cache, o, l, &m);
    }
    put(o, ref_dense, i);
    put(l, ref_dense_lse, i);
    put(m, mag_dense, i);
  }
  const Tolerance it = indexer_tolerance();
  const HostTensor<float> scores = take_rows(p.scores, rows);
  ch.compare_output(prefix + "indexer.scores", scores.span(), ref_scores.span(), scores.shape().to_vector(), it.abs, it.rel,
                    it.cos_diff, it.min_pass_fraction);
  HostTensor<std::int32_t> ref_idx;
  ref::topk(p.scores, p.ends, c_.topk, ref_idx);  // every row, on the implementation's own scores: exact
  ch.compare_indices(prefix + "topk.indices", p.indices, ref_idx);
  auto compare = [&](const std::string& name, const HostTensor<float>& got, const HostTensor<float>& got_lse,
                     const HostTensor<float>& ref, const HostTensor<float>& ref_lse, const HostTensor<float>& mag) {
    const HostTensor<float> g = take_rows(got, rows), gl = take_rows(got_lse, rows);
    ch.compare_attention(prefix + name + ".out", g.span(), ref.span(), mag.span(), ref.shape().to_vector(), tol);
    ch.compare_lse(prefix + name + ".lse", gl.span(), ref_lse.span(), ref_lse.shape().to_vector(), tol.lse_rel);
  };
  compare("sparse", p.dsa_out, p.dsa_lse, ref_sparse, ref_sparse_lse, mag_sparse);
  compare("dense", p.dense_out, p.dense_lse, ref_dense, ref_dense_lse, mag_dense);
}

// The algorithmic cost of DSA (not kernel error): the DSA output against the dense
// output on the same inputs, and how much of the dense attention the selection kept.
nlohmann::json Sweep::accuracy(const std::vector<SequencePoint>& pts, std::int64_t L) const {
  const std::int64_t n = c_.query_chunk;
  std::vector<float> dsa, dense;
  for (std::size_t b = 0; b < pts.size(); ++b) {
    const SequencePoint& p = pts[b];
    if (prefill_) {
      const ref::MlaDims md{c_.heads, c_.qk_nope, c_.qk_rope, c_.v_head, c_.kv_rank};
      const HostTensor<float> proj = ref::project_latent_output(p.dsa_out, sources_[b].weights, md);
      dsa.insert(dsa.end(), proj.span().begin(), proj.span().end());
    } else {
      dsa.insert(dsa.end(), p.dsa_out.span().begin(), p.dsa_out.span().end());
    }
    dense.insert(dense.end(), p.dense_out.span().begin(), p.dense_out.span().end());
  }
  const ValueReport v = compare_values(dsa, dense, 0, 0);
  nlohmann::json a = {{"compared_to", prefill_ ? "dense MHA-mode output (DSA output projected through W_UV)"
                                               : "dense MQA-mode output"},
                      {"rel_l2", v.rel_l2}, {"cos_diff", v.cos_diff}, {"max_abs", v.max_abs}};
  // Attention-mass recall and top-k overlap need every logit of a row: sample rows
  // evenly over the chunk (and over the sequences of a batch).
  const std::int64_t total_rows = n * static_cast<std::int64_t>(pts.size());
  const std::int64_t rows = std::min<std::int64_t>(c_.accuracy_rows, total_rows);
  double mass_sum = 0, mass_min = 1, ov_sum = 0, ov_min = 1;
  std::int64_t mass_count = 0;
  const AttentionShape ssh{n, L, c_.heads, d_mqa_, c_.kv_rank, scale_, L - n};
  std::vector<double> importance;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t flat = rows == 1 ? total_rows - 1 : r * (total_rows - 1) / (rows - 1);
    const SequencePoint& p = pts[static_cast<std::size_t>(flat / n)];
    const std::int64_t t = flat % n;
    const std::int64_t end = p.ends[t];
    std::span<const std::int32_t> sel(&p.indices(t, 0), static_cast<std::size_t>(c_.topk));
    // Per head (in parallel): the mass recall and the attention probabilities; then
    // the head-averaged probabilities are the "true" importance of each key.
    std::vector<double> mass(static_cast<std::size_t>(c_.heads));
    std::vector<std::vector<double>> probs(static_cast<std::size_t>(c_.heads));
    parallel_for(c_.heads, [&](std::int64_t h) {
      std::vector<double> lg;
      ref::mqa_logits_row(ssh, p.q_mqa, p.cache, t, static_cast<int>(h), lg);
      mass[h] = attention_mass_recall(lg, sel);
      const double mx = *std::max_element(lg.begin(), lg.end());
      double z = 0;
      for (double& l : lg) z += (l = std::exp(l - mx));
      for (double& l : lg) l /= z;
      probs[h] = std::move(lg);
    });
    importance.assign(static_cast<std::size_t>(end), 0.0);
    for (int h = 0; h < c_.heads; ++h) {
      mass_sum += mass[h];
      mass_min = std::min(mass_min, mass[h]);
      ++mass_count;
      for (std::int64_t s = 0; s < end; ++s) importance[s] += probs[h][s] / c_.heads;
    }
    const std::int64_t keff = std::min(c_.topk, end);
    std::vector<std::int32_t> order(static_cast<std::size_t>(end));
    for (std::int64_t s = 0; s < end; ++s) order[s] = static_cast<std::int32_t>(s);
    std::partial_sort(order.begin(), order.begin() + keff, order.end(),
                      [&](std::int32_t x, std::int32_t y) { return importance[x] > importance[y] || (importance[x] == importance[y] && x < y); });
    order.resize(static_cast<std::size_t>(keff));
    const double ov = set_recall(sel, order);
    ov_sum += ov;
    ov_min = std::min(ov_min, ov);
  }
  if (rows > 0) {
    a["attention_mass_recall"] = {{"mean", mass_sum / static_cast<double>(mass_count)}, {"min", mass_min}};
    a["topk_overlap"] = {{"mean", ov_sum / static_cast<double>(rows)}, {"min", ov_min},
                         {"definition", "share of the top-k keys by head-averaged dense attention probability that the indexer selected"}};
  }
  a["sampled_rows"] = rows;
  const std::int64_t last_end = pts.front().ends.back();
  a["selected_fraction"] = static_cast<double>(std::min(c_.topk, last_end)) / static_cast<double>(last_end);
  return a;
}

nlohmann::json Sweep::run_point(std::int64_t L, std::size_t i) {
  const std::string where = "context " + std::to_string(L) + " (" + std::to_string(i + 1) + "/" +
                            std::to_string(c_.contexts.size()) + ")";
  say(where + ": inputs");
  // Where the point's wall time goes on the host (inputs, the device copies, validation
  // against the fp64 reference, the timed runs, the accuracy metrics): at 128K and batch
  // 64 a point takes tens of seconds of which the timed runs are a small part.
  nlohmann::json wall = nlohmann::json::object();
  double mark = now_seconds();
  const auto lap = [&](const char* phase) {
    const double now = now_seconds();
    wall[phase] = now - mark;
    mark = now;
  };
  reset_device_memory_peak();  // the previous point's device buffers are gone: a per-point peak
  std::vector<SequencePoint> pts;
  for (const auto& src : sources_) pts.push_back(make_point(src, L));
  const std::int64_t n = c_.query_chunk;
  const AttentionShape ssh{n, L, c_.heads, d_mqa_, c_.kv_rank, scale_, L - n};
  const AttentionShape dsh = prefill_ ? AttentionShape{n, L, c_.heads, c_.qk_nope + c_.qk_rope, c_.v_head, scale_, L - n} : ssh;

  // Argument blocks must outlive the runs that refer to them: deques never move them.
  std::deque<IndexerArgs> ia;
  std::deque<TopkArgs> ta;
  std::deque<SparseMqaArgs> sa;
  std::deque<DenseMhaArgs> mha;
  std::deque<DenseMqaArgs> mqa;
  for (auto& p : pts) {
    ia.push_back(IndexerArgs{p.ish, p.idx, p.scores});
    ta.push_back(TopkArgs{p.scores, p.ends, p.indices});
    sa.push_back(SparseMqaArgs{ssh, p.q_mqa, p.cache, p.indices, p.dsa_out, p.dsa_lse, c_.dtype, fp8_cache_});
    if (prefill_) mha.push_back(DenseMhaArgs{dsh, p.q_mha, p.k_mha, p.v_mha, p.dense_out, p.dense_lse, c_.dtype});
    else mqa.push_back(DenseMqaArgs{dsh, p.q_mqa, p.cache, p.dense_out, p.dense_lse, c_.dtype, fp8_cache_});
  }
  // Every stage of both paths on ONE backend: a speed-up that divided a CPU time by a
  // GPU time would measure nothing. The first candidate backend that has all four wins.
  const Variant<IndexerArgs>* vi = nullptr;
  const Variant<TopkArgs>* vt = nullptr;
  const Variant<SparseMqaArgs>* vs = nullptr;
  const Variant<DenseMhaArgs>* vmha = nullptr;
  const Variant<DenseMqaArgs>* vmqa = nullptr;
  std::string reasons;
  for (Backend b : backends_) {
    std::string w1, w2, w3, w4;
    const auto named = [&](const char* stage) {
      const auto it = c_.stage_implementations.find(stage);
      return it == c_.stage_implementations.end() ? std::string() : it->second;
    };
    const auto* prefer = &ctx_.prefer;
    vi = pick_variant(indexer_variants(), b, ia.front(), named("indexer"), &w1, prefer);
    vt = pick_variant(topk_variants(), b, ta.front(), named("topk"), &w2, prefer);
    vs = pick_variant(sparse_mqa_variants(), b, sa.front(), named("sparse_attention"), &w3, prefer);
    if (prefill_) vmha = pick_variant(dense_mha_variants(), b, mha.front(), named("dense_attention"), &w4, prefer);
    else vmqa = pick_variant(dense_mqa_variants(), b, mqa.front(), named("dense_attention"), &w4, prefer);
    if (vi && vt && vs && (vmha || vmqa)) break;
    std::string stages;
    for (const auto& [stage, w] : {std::pair{"indexer", w1}, {"topk", w2}, {"sparse attention", w3}, {"dense attention", w4}})
      if (!w.empty()) stages += (stages.empty() ? "" : ", ") + std::string(stage) + " (" + w + ")";
    reasons += std::string(reasons.empty() ? "" : "; ") + backend_name(b) + ": " + stages;
    vi = nullptr;
  }
  if (!vi) throw NotSupported("no backend runs every stage of the sweep: " + reasons);
  // A decode batch runs as a server runs it: each stage once for all sequences (the
  // variant's batched form; the CPU runs the sequences one after another).
  const auto ptrs = [](const auto& dq) {
    std::vector<const typename std::decay_t<decltype(dq)>::value_type*> v;
    for (const auto& x : dq) v.push_back(&x);
    return v;
  };
  const std::unique_ptr<OpRun> r_idx = prepare_batch(*vi, ptrs(ia)), r_topk = prepare_batch(*vt, ptrs(ta)),
                               r_sparse = prepare_batch(*vs, ptrs(sa)),
                               r_dense = prefill_ ? prepare_batch(*vmha, ptrs(mha)) : prepare_batch(*vmqa, ptrs(mqa));
  lap("inputs");  // host inputs, and the runs' own copies of them (device copies on a GPU)
  impl_indexer_ = vi->name;
  impl_topk_ = vt->name;
  impl_sparse_ = vs->name;
  impl_dense_ = prefill_ ? vmha->name : vmqa->name;
  backend_ = backend_name(vs->backend);
  backend_fallback_ = c_.stage_implementations.empty() ? reasons : "";  // a named stage picks its backend
  for (auto [used, name] : {std::pair{&used_indexer_, &impl_indexer_}, {&used_topk_, &impl_topk_},
                            {&used_sparse_, &impl_sparse_}, {&used_dense_, &impl_dense_}})
    if (std::find(used->begin(), used->end(), *name) == used->end()) used->push_back(*name);
  const std::size_t B = pts.size();
  std::vector<double> t_idx, t_topk, t_sparse;
  auto dsa_once = [&] {
    const double a = r_idx->run(), b = r_topk->run(), d = r_sparse->run();
    t_idx.push_back(a);
    t_topk.push_back(b);
    t_sparse.push_back(d);
    return a + b + d;
  };
  auto dense_once = [&] { return r_dense->run(); };
  // One untimed pass of the DSA pipeline that hands each stage's output to the next
  // through the host (fetch, then refresh the next stage's inputs). A GPU stage was
  // prepared with its own device copy of its inputs, so this pass is what makes the
  // validated outputs, the work counts and every later timed run see the indexer's
  // real scores and top-k's real indices.
  auto dsa_chained = [&] {
    r_idx->run();
    r_idx->fetch();
    r_topk->refresh_inputs();
    r_topk->run();
    r_topk->fetch();
    r_sparse->refresh_inputs();
    r_sparse->run();
    r_sparse->fetch();
  };
  auto fetch_all = [&] {
    for (OpRun* r : {r_idx.get(), r_topk.get(), r_sparse.get(), r_dense.get()}) r->fetch();
  };

  nlohmann::json pt;
  pt["context"] = L;
  pt["queries"] = n;
  pt["batch"] = B;
  bool ok = true;
  if (c_.validates())
    for (auto& p : pts) {
      poison(p.scores);
      poison(p.indices);
      for (auto* t : {&p.dsa_out, &p.dsa_lse, &p.dense_out, &p.dense_lse}) poison(*t);
    }
  say(where + ": first pass");
  dsa_chained();
  dense_once();
  r_dense->fetch();
  lap("first_pass");
  if (c_.validates()) {
    say(where + ": validating");
    // The first and the last sequence of a batch: a batched launch that mixed up the
    // sequences' caches or rows shows in the last one.
    Checks ch;
    validate(pts.front(), ch, "");
    if (pts.size() > 1) validate(pts.back(), ch, "last_sequence.");
    pt["validation"] = ch.to_json();
    pt["validation"]["validated_sequences"] = pts.size() > 1 ? 2 : 1;
    ok = ch.passed();
    if (!ok) pt["reason"] = ch.first_failure();
    lap("validation");
  }

  // Work per phase (dsa-spec.md section 7), summed over the batch.
  Work w_idx, w_topk, w_sparse, w_dense;
  for (const auto& p : pts) {
    w_idx += indexer_work(p.ish, c_.indexer_dtype);
    w_topk += topk_work(p.ends, c_.topk);
    w_sparse += sparse_attention_work(ssh, p.indices, c_.dtype, c_.kv_cache_dtype);
    w_dense += prefill_ ? dense_mha_work(dsh, c_.dtype) : dense_mqa_work(dsh, c_.dtype, c_.kv_cache_dtype);
  }
  // The DSA total sums FLOP and bytes over the stages; its pairs are the attended
  // (query, key) pairs, comparable with the dense baseline's.
  Work w_dsa = w_idx;
  w_dsa += w_topk;
  w_dsa += w_sparse;
  w_dsa.pairs = w_sparse.pairs;
  nlohmann::json dense = {{"implementation", impl_dense_}, {"work", to_json(w_dense)}};
  nlohmann::json dsa = {{"work", to_json(w_dsa)}};
  nlohmann::json stages = {{"indexer", {{"implementation", impl_indexer_}, {"work", to_json(w_idx)}}},
                           {"topk", {{"implementation", impl_topk_}, {"work", to_json(w_topk)}}},
                           {"attention", {{"implementation", impl_sparse_}, {"work", to_json(w_sparse)}}}};
  if (c_.benches() && ok) {
    say(where + ": timing dense and DSA, turn about");
    t_idx.clear(); t_topk.clear(); t_sparse.clear();
    // Turn about, not one after the other: the speed-up is a ratio of the two, and a clock
    // or a shared machine that changes speed between two blocks of samples would bias it.
    const TimingPair tp = measure_interleaved(c_.timing, dense_once, dsa_once);
    const TimingStats& td = tp.a;
    const TimingStats& ts = tp.b;
    fetch_all();
    // Stage samples come from the same runs as the totals; drop the warm-up runs.
    const auto drop = static_cast<std::ptrdiff_t>(c_.timing.warmup);
    auto stage = [&](nlohmann::json& j, std::vector<double>& v, const Work& w) {
      v.erase(v.begin(), v.begin() + std::min<std::ptrdiff_t>(drop, static_cast<std::ptrdiff_t>(v.size())));
      const TimingStats st = summarize(v);
      j["timing"] = to_json(st);
      j["throughput"] = throughput_json(w, st.median);
    };
    stage(stages["indexer"], t_idx, w_idx);
    stage(stages["topk"], t_topk, w_topk);
    stage(stages["attention"], t_sparse, w_sparse);
    dense["timing"] = to_json(td);
    dense["throughput"] = throughput_json(w_dense, td.median);
    dsa["timing"] = to_json(ts);
    dsa["throughput"] = throughput_json(w_dsa, ts.median);
    // The SM clock after each timed sample (GPU runs), so a throttled point shows: the
    // dense run's, and for DSA the lowest of its three stages' per sample.
    if (auto clocks = timed_sm_clocks({r_dense.get()}, td.samples.size()); !clocks.empty()) dense["sm_clock_mhz"] = clocks;
    if (auto clocks = timed_sm_clocks({r_idx.get(), r_topk.get(), r_sparse.get()}, ts.samples.size()); !clocks.empty())
      dsa["sm_clock_mhz"] = clocks;
    pt["speedup"] = ts.median > 0 ? td.median / ts.median : 0.0;
    lap("timing");
  } else if (c_.benches()) {
    pt["timing_note"] = "not timed: validation failed";
  }
  dsa["stages"] = stages;
  pt["dense"] = dense;
  pt["dsa"] = dsa;
  say(where + ": accuracy");
  pt["accuracy"] = accuracy(pts, L);
  lap("accuracy");

  // Memory: measured peak, and what the caches and workspaces hold.
  const std::int64_t mla_tok = mla_cache_bytes_per_token(c_.kv_rank, c_.qk_rope, c_.kv_cache_dtype);
  const std::int64_t idx_tok = indexer_cache_bytes_per_token(c_.index_head_dim, c_.indexer_dtype);
  const double Bd = static_cast<double>(B), Ld = static_cast<double>(L), nd = static_cast<double>(n);
  nlohmann::json mem = {
      {"peak_rss_bytes", peak_rss_bytes()},
      {"peak_is_per_case", peak_is_per_case()},
      {"dense", {{"cache_bytes", Bd * Ld * static_cast<double>(mla_tok)}}},
      {"dsa", {{"cache_bytes", Bd * Ld * static_cast<double>(mla_tok + idx_tok)},
               {"workspace_bytes", Bd * (nd * Ld * 4.0 + nd * static_cast<double>(c_.topk) * 4.0)}}}};
  if (prefill_)  // MHA-mode prefill materialises per-head K and V from the latent cache
    mem["dense"]["workspace_bytes"] = Bd * Ld * c_.heads * (c_.qk_nope + c_.qk_rope + c_.v_head) * static_cast<double>(dtype_bytes(c_.dtype));
  else
    mem["dense"]["workspace_bytes"] = 0.0;
  if (const std::int64_t d = device_memory_peak(); d > 0) mem["device_peak_bytes"] = d;
  pt["memory"] = mem;
  lap("memory");
  pt["wall_s"] = wall;
  pt["status"] = !ok ? "failed" : c_.validates() ? "passed" : "not_verified";
  return pt;
}

double Sweep::source_bytes() const {
  const double Lmax = static_cast<double>(c_.contexts.back());
  double per_sequence = 4.0 * Lmax * (d_mqa_ + c_.index_head_dim);  // latent cache, indexer keys
  if (prefill_)  // the expanded K/V product, then per-head K and V
    per_sequence += 4.0 * Lmax * c_.heads * (2.0 * (c_.qk_nope + c_.v_head) + c_.qk_rope);
  return per_sequence * (prefill_ ? 1 : c_.batch);
}

nlohmann::json Sweep::run() {
  const std::int64_t Lmax = c_.contexts.back();
  say("generating inputs at context " + std::to_string(Lmax));
  const double t0 = now_seconds();
  const std::int64_t available = available_memory_bytes();
  // Every point takes a prefix of these: none runs without them, and the reason says what
  // to change. Checked before anything is allocated (the 128K prefill's K/V come in
  // tensors each smaller than a 32 GB machine's memory).
  const std::string what = "making the inputs at the largest context, " + std::to_string(Lmax) +
                           ", of which every point takes a prefix";
  const std::string advice = "; a case of its own for that context lets the others run";
  const double need = source_bytes();
  require_host_memory(what, available, need, "they would take", advice);
  try {
    for (int b = 0; b < (prefill_ ? 1 : c_.batch); ++b) sources_.push_back(make_source(b));
  } catch (const std::bad_alloc&) {
    sources_.clear();
    throw OutOfMemory(host_oom_reason(what, available, need, "they take") + advice);
  }
  nlohmann::json rec;
  rec["sources_wall_s"] = now_seconds() - t0;  // every sequence's cache at the largest context, made once
  run_points(c_.contexts, ctx_, c_.validates(), rec, [&](std::int64_t L, std::size_t i) {
    nlohmann::json pt = run_point(L, i);
    describe(rec);  // so the partial record of a run cut short says what ran, too
    return pt;
  });
  std::vector<std::int64_t> timed_ctx;
  std::vector<double> speedups;
  for (const auto& pt : rec["points"])
    if (pt.contains("speedup")) {
      timed_ctx.push_back(pt["context"].get<std::int64_t>());
      speedups.push_back(pt["speedup"].get<double>());
    }
  describe(rec);
  if (c_.benches()) rec["crossover"] = crossover(timed_ctx, speedups);
  return rec;
}

// The case-level description: backend, the variants each stage ran with (several,
// comma-separated, where they differ between contexts: each point's stages name their
// own), the dense baseline, the cache bytes per token.
void Sweep::describe(nlohmann::json& rec) const {
  if (backend_.empty()) return;  // no point has run
  const auto names = [](const std::vector<std::string>& used) {
    std::string s;
    for (const auto& n : used) s += (s.empty() ? "" : ", ") + n;
    return s;
  };
  rec["backend"] = backend_;
  if (!backend_fallback_.empty()) rec["backend_fallback"] = backend_fallback_;
  rec["implementation"] = {{"indexer", names(used_indexer_)}, {"topk", names(used_topk_)},
                           {"sparse_attention", names(used_sparse_)}, {"dense_attention", names(used_dense_)}};
  rec["dense_baseline"] = prefill_ ? "causal MHA-mode attention (as V3.1-Terminus prefills)"
                                   : "MQA-mode attention over the whole cache (as V3.1-Terminus decodes)";
  rec["cache_bytes_per_token_per_layer"] = {
      {"dense", mla_cache_bytes_per_token(c_.kv_rank, c_.qk_rope, c_.kv_cache_dtype)},
      {"dsa", mla_cache_bytes_per_token(c_.kv_rank, c_.qk_rope, c_.kv_cache_dtype) +
                  indexer_cache_bytes_per_token(c_.index_head_dim, c_.indexer_dtype)}};
}

void Sweep::dump(std::int64_t L, DumpSink& sink) {
  sources_.push_back(make_source(0));
  SequencePoint p = make_point(sources_.front(), L);
  const std::int64_t n = c_.query_chunk;
  sink.put("indexer_q", p.idx.q, "input", "indexer queries [n, H_I, D_I] as the kernel sees them (dequantised)");
  sink.put("indexer_k", p.idx.k, "input", "indexer keys [L, D_I] as the kernel sees them (dequantised)");
  sink.put("indexer_w", p.idx.w, "input", "indexer head weights [n, H_I], fp32, constants folded in");
  ref::indexer_scores(p.ish, p.idx.q, p.idx.k, p.idx.w, p.scores);
  sink.put("indexer_scores", p.scores, "reference_output", "index scores [n, L], -inf where masked");
  ref::topk(p.scores, p.ends, c_.topk, p.indices);
  sink.put("topk_indices", p.indices, "reference_output", "selected positions [n, K], increasing, -1 padded");
  sink.put("q_mqa", p.q_mqa, "input", "absorbed queries [n, H, kv_rank + qk_rope]");
  sink.put("cache", p.cache, "input", "latent cache [L, kv_rank + qk_rope] = [c_kv | k_rope]");
  const AttentionShape ssh{n, L, c_.heads, d_mqa_, c_.kv_rank, scale_, L - n};
  ref::sparse_mqa(ssh, p.q_mqa, p.cache, p.indices, p.dsa_out, p.dsa_lse);
  sink.put("dsa_out", p.dsa_out, "reference_output", "sparse MQA-mode attention output [n, H, kv_rank]");
  sink.put("dsa_lse", p.dsa_lse, "reference_output", "its log-sum-exp [n, H]");
  if (prefill_) {
    sink.put("q_mha", p.q_mha, "input", "MHA-mode queries [n, H, qk_nope + qk_rope]");
    sink.put("k_mha", p.k_mha, "input", "MHA-mode keys [L, H, qk_nope + qk_rope] expanded from the cache");
    sink.put("v_mha", p.v_mha, "input", "MHA-mode values [L, H, v_head] expanded from the cache");
    sink.put("w_uk", sources_.front().weights.w_uk, "input", "W_UK [H, qk_nope, kv_rank]");
    sink.put("w_uv", sources_.front().weights.w_uv, "input", "W_UV [H, v_head, kv_rank]");
    const AttentionShape dsh{n, L, c_.heads, c_.qk_nope + c_.qk_rope, c_.v_head, scale_, L - n};
    ref::dense_mha(dsh, p.q_mha, p.k_mha, p.v_mha, p.dense_out, p.dense_lse);
  } else {
    ref::dense_mqa(ssh, p.q_mqa, p.cache, p.dense_out, p.dense_lse);
  }
  sink.put("dense_out", p.dense_out, "reference_output", "dense baseline output of the phase");
  sink.put("dense_lse", p.dense_lse, "reference_output", "its log-sum-exp [n, H]");
  sink.note("query_offset", L - n);
  sink.note("softmax_scale", scale_);
}

}  // namespace

// Where DSA wins for good: beyond the last measured point with speed-up below 1. The
// context is interpolated linearly in log(context) between that point and the next.
// Noise can put a short context at or above 1 before a later one falls below; the
// note says so rather than reporting a crossover the later points contradict.
nlohmann::json crossover(const std::vector<std::int64_t>& ctx, const std::vector<double>& speedup) {
  if (speedup.empty()) return {{"context", nullptr}, {"note", "no timed points"}};
  std::ptrdiff_t last_loss = -1;
  for (std::size_t i = 0; i < speedup.size(); ++i)
    if (speedup[i] < 1.0) last_loss = static_cast<std::ptrdiff_t>(i);
  if (last_loss < 0) return {{"context", nullptr}, {"note", "DSA is at least as fast at every measured context"}};
  const auto i = static_cast<std::size_t>(last_loss);
  if (i + 1 == speedup.size()) {
    const bool any_win = std::any_of(speedup.begin(), speedup.end(), [](double x) { return x >= 1.0; });
    return {{"context", nullptr},
            {"note", any_win ? "DSA is slower at the largest measured context (faster only at some shorter ones)"
                             : "DSA is slower at every measured context"}};
  }
  const double a = std::log(static_cast<double>(ctx[i])), b = std::log(static_cast<double>(ctx[i + 1]));
  const double f = (1.0 - speedup[i]) / (speedup[i + 1] - speedup[i]);
  std::string note = "interpolated in log(context) between the last point where DSA is slower and the next";
  if (std::any_of(speedup.begin(), speedup.begin() + last_loss, [](double x) { return x >= 1.0; }))
    note += "; DSA also measured at least as fast at some shorter context (noise or a real bump)";
  return {{"context", std::exp(a + f * (b - a))}, {"between", {ctx[i], ctx[i + 1]}}, {"note", note}};
}

void dump_sweep_point(const CaseSpec& c, std::uint64_t seed, std::int64_t context, DumpSink& sink) {
  const RunContext ctx;
  std::vector<Backend> none;
  Sweep(c, ctx, seed, none).dump(context, sink);
}

nlohmann::json run_sweep_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                              const std::vector<Backend>& backends) {
  return Sweep(c, ctx, seed, backends).run();
}

}  // namespace dsa::bench
