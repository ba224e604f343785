// model_prefill and model_decode: whole-model runs, dense against DSA on the same
// weights and tokens (issue #5, section 4). Weights come from a checkpoint, or from a
// preset's seeded synthetic checkpoint written once to a cache directory and read
// back through the same loader.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <limits>

#include "bench/runner.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/trace.h"
#include "kernels/cuda_device.h"
#include "model/forward.h"

namespace dsa::bench {

namespace {

namespace fs = std::filesystem;
using model::AttentionMode;
using model::CpuModel;
using model::Model;
using model::ModelCache;
using model::ModelConfig;
using model::OpTimes;
using model::SequenceCache;

constexpr AttentionMode kModes[] = {AttentionMode::dense, AttentionMode::dsa};

std::string gigabytes(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f GB", bytes / 1e9);
  return b;
}

// A configuration's fingerprint: the same dimensions give the same, whatever names them.
std::string config_hash(const ModelConfig& cfg) { return hex64(fnv1a64(model::config_to_json(cfg).dump())); }

// Whether `r` (its end made explicit) is the whole model, embeddings and LM head included.
bool whole_model(const model::LayerRange& r, int layers) { return r.first == 0 && r.last == layers && r.with_head; }

// "deepseek-v3.2-exp, layers [3, 4)" or "dsa-small, all 4 layers": what a case loads.
std::string model_label(const std::string& name, const model::LayerRange& r, int layers) {
  if (whole_model(r, layers)) return name + ", all " + std::to_string(layers) + " layers";
  return name + ", layers [" + std::to_string(r.first) + ", " + std::to_string(r.last) + ")";
}

// The synthetic checkpoint of `model_name` (a preset, or a config.json's path) holding `range`
// (its end explicit; `label` names it): the whole one when it is already there, else one
// of those layers alone (a single layer of the real dimensions is about 11 GB in FP8, the
// whole model about 690 GB).
// Each is written at most once per (model, config content, dtype, seed, layers) -- the
// content, so an edited preset never reuses a stale one: into a process-private
// directory first, then renamed, so concurrent runs never read a half-written one.
// Before writing, the disk it needs is checked against what the folder has free.
std::string synthetic_checkpoint(const ModelConfig& cfg, const std::string& model_name, const std::string& dtype,
                                 std::uint64_t seed, const model::LayerRange& range, const std::string& label,
                                 const RunContext& ctx) {
  const fs::path root = fs::temp_directory_path() / "dsa-bench-checkpoints";
  // A config.json path gives its file's stem, in characters safe in a folder's name.
  std::string stem = model::names_config_file(model_name) ? fs::path(model_name).stem().string() : model_name;
  for (char& ch : stem)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
  const std::string base =
      stem + "-" + config_hash(cfg).substr(0, 8) + "-" + dtype + "-" + hex64(seed);
  const fs::path whole_dir = root / base;
  const fs::path dir = whole_model(range, cfg.layers)
                           ? whole_dir
                           : root / (base + "-layers-" + std::to_string(range.first) + "-" + std::to_string(range.last));
  for (const fs::path& d : {whole_dir, dir})
    if (fs::exists(d / "model.safetensors.index.json")) return d.string();
  fs::create_directories(root);
  remove_abandoned_checkpoints(root.string());  // their space counts as free below
  const model::StDtype d = dtype == "fp8" ? model::StDtype::F8_E4M3 : dtype == "fp32" ? model::StDtype::F32 : model::StDtype::BF16;
  const std::uint64_t bytes = model::synthetic_checkpoint_bytes(cfg, d, range);
  check_model_resources(label, bytes, static_cast<std::int64_t>(fs::space(root).available), root.string(), 0, -1);
  const fs::path tmp = root / (dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  // Each shard's tensors are made in parallel: shards of a quarter of the checkpoint
  // (64 MB to 1 GB), so a large one keeps every thread busy.
  const std::size_t shard = static_cast<std::size_t>(std::clamp<std::uint64_t>(bytes / 4, std::uint64_t{64} << 20,
                                                                               std::uint64_t{1} << 30));
  const std::string what = "synthetic checkpoint of " + label + " (" + gigabytes(static_cast<double>(bytes)) + ")";
  const auto progress = [&](std::size_t k, std::size_t n) {
    if (ctx.progress) ctx.progress(what + ": shard " + std::to_string(k) + " of " + std::to_string(n) + " written");
  };
  if (ctx.progress) ctx.progress("writing the " + what + " to " + dir.string());
  try {
    model::write_synthetic_checkpoint(cfg, tmp.string(), seed, d, shard, range, progress);
  } catch (...) {  // a full disk, say: no half-written checkpoint left behind
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) fs::remove_all(tmp);  // another process won the race; its copy is identical
  return dir.string();
}

model::ModelWeights load_model_weights(const CaseSpec& c, nlohmann::json& source, const RunContext& ctx) {
  DSA_TRACE_RANGE("load model");
  ModelConfig cfg;
  std::uint64_t weights_seed = 0;  // synthetic weights only
  std::string path;  // the checkpoint's; for a preset, found or written below
  if (!c.checkpoint.empty()) {
    const fs::path p(c.checkpoint);
    const fs::path cfg_path = (fs::is_directory(p) ? p : p.parent_path()) / "config.json";
    cfg = model::load_config(cfg_path.string());
    path = c.checkpoint;
    source = {{"checkpoint", c.checkpoint}, {"config", cfg_path.string()}};
  } else {
    cfg = model::model_config(c.model);
    // Synthetic weights depend on the run seed and the model only: a preset's name, or a
    // config file's content wherever the file lies. Every case of a run that names the
    // same model then uses one checkpoint, and a config copied elsewhere gives the same.
    const bool file = model::names_config_file(c.model);
    weights_seed = derive_seed(ctx.seed, "weights:" + (file ? "config:" + config_hash(cfg) : c.model));
    source = {{file ? "config" : "preset", c.model}, {"weights_dtype", c.weights_dtype}, {"weights_seed", weights_seed}};
  }
  // A layer range runs those layers alone, on hidden states (no embeddings or LM head).
  const model::LayerRange range = c.layer_first >= 0 ? model::LayerRange{c.layer_first, c.layer_end, false}
                                                     : model::LayerRange{0, cfg.layers, true};
  if (range.last > cfg.layers)
    throw std::invalid_argument("layers [" + std::to_string(range.first) + ", " + std::to_string(range.last) +
                                ") are past the model's " + std::to_string(cfg.layers));
  source.update({{"layers", cfg.layers}, {"hidden", cfg.hidden}, {"parameters", cfg.parameters()},
                 {"layer_range", {range.first, range.last}}, {"with_head", range.with_head}});
  // Host memory the loaded weights take (fp32, as the CPU backend holds them and the GPU
  // one uploads them), checked before anything is written or read.
  const std::string label = model_label(path.empty() ? c.model : path, range, cfg.layers);
  const auto fp32_bytes = static_cast<std::uint64_t>(model::tensor_values(model::expected_tensors(cfg, range))) * 4;
  check_model_resources(label, 0, 0, "", fp32_bytes, available_memory_bytes());
  if (path.empty()) {
    path = synthetic_checkpoint(cfg, c.model, c.weights_dtype, weights_seed, range, label, ctx);
    source["synthetic_checkpoint"] = path;
  }
  if (ctx.progress) ctx.progress("loading " + label + ": " + gigabytes(static_cast<double>(fp32_bytes)) + " of weights as fp32");
  return model::load_weights(cfg, *model::Checkpoint::open(path), range);
}

std::vector<std::int32_t> random_tokens(std::int64_t n, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab)));
  return t;
}

// One sequence's inputs: token ids for the whole model, or hidden states N(0, 1) (the
// scale of embeddings) for a layer range.
struct Sequence {
  std::vector<std::int32_t> tokens;
  HostTensor<float> hidden;  // [length, hidden]
};

Sequence make_sequence(const Model& m, std::int64_t length, std::uint64_t seed) {
  Sequence s;
  if (m.has_head()) {
    s.tokens = random_tokens(length, m.config().vocab, seed);
  } else {
    s.hidden = HostTensor<float>({length, m.config().hidden});
    Rng rng(seed);
    rng.fill_normal(s.hidden.span());
  }
  return s;
}

// Outputs per position: logits for the whole model, hidden states for a layer range.
int output_width(const Model& m) { return m.has_head() ? m.config().vocab : m.config().hidden; }

// Positions [p, p + n) of a sequence through the model.
HostTensor<float> run_positions(const Model& m, const Sequence& s, std::int64_t p, std::int64_t n, ModelCache& cache,
                                AttentionMode mode, OpTimes* times) {
  if (m.has_head())
    return m.run_tokens(std::span(s.tokens).subspan(static_cast<std::size_t>(p), static_cast<std::size_t>(n)), cache, mode, times);
  const std::int64_t D = m.config().hidden;
  HostTensor<float> rows({n, D});
  std::copy(s.hidden.data() + p * D, s.hidden.data() + (p + n) * D, rows.data());
  return m.run_hidden(rows, cache, mode, times);
}

// Position p of every sequence of a batch, in one pass: outputs [batch, width].
HostTensor<float> step_batch(const Model& m, const std::vector<Sequence>& seqs, std::int64_t p,
                             const std::vector<ModelCache*>& caches, AttentionMode mode, OpTimes* times) {
  if (m.has_head()) {
    std::vector<std::span<const std::int32_t>> toks;
    for (const Sequence& s : seqs) toks.push_back(std::span(s.tokens).subspan(static_cast<std::size_t>(p), 1));
    return m.run_tokens_batch(toks, caches, mode, times);
  }
  const std::int64_t D = m.config().hidden;
  std::vector<HostTensor<float>> rows;
  for (const Sequence& s : seqs) {
    HostTensor<float> r({1, D});
    std::copy(s.hidden.data() + p * D, s.hidden.data() + (p + 1) * D, r.data());
    rows.push_back(std::move(r));
  }
  std::vector<const HostTensor<float>*> ptrs;
  for (const auto& r : rows) ptrs.push_back(&r);
  return m.run_hidden_batch(ptrs, caches, mode, times);
}

// Prefill positions [0, upto) in chunks of `chunk`, as a server runs them: a whole
// model computes the logits of each chunk's last position only (a layer range returns
// its hidden states, all of them, which are dropped here).
void prefill(const Model& m, const Sequence& s, std::int64_t upto, std::int64_t chunk, ModelCache& cache,
             AttentionMode mode, OpTimes* times) {
  for (std::int64_t p = 0; p < upto; p += chunk) {
    const std::int64_t n = std::min(upto - p, chunk);
    if (m.has_head())
      m.run_tokens_last(std::span(s.tokens).subspan(static_cast<std::size_t>(p), static_cast<std::size_t>(n)), cache, mode,
                        times);
    else
      run_positions(m, s, p, n, cache, mode, times);
  }
}

// DSA against dense at every position, accumulated by position bucket ([0, 64),
// [64, 128), [128, 256), ...). Whole-model outputs are logits: KL(dense || DSA) of the
// next-token distributions, top-1 agreement, largest logit difference. A layer range's
// outputs are hidden states: their relative L2 and cos_diff, largest difference.
class Agreement {
 public:
  Agreement(std::int64_t max_position, bool logits) : logits_(logits) {
    edges_ = {0, 64};
    while (edges_.back() <= max_position) edges_.push_back(edges_.back() * 2);
    buckets_.resize(edges_.size() - 1);
  }

  // One position's metrics, DSA against dense.
  struct Position {
    double primary = 0, cosd = 0, maxdiff = 0;
    bool top1 = true;
  };

  Position measure(const float* dense, const float* dsa, int width) const {
    Position r;
    for (int i = 0; i < width; ++i) r.maxdiff = std::max(r.maxdiff, static_cast<double>(std::fabs(dense[i] - dsa[i])));
    if (logits_) {
      double md = -1e300, ms = -1e300;
      int ad = 0, as = 0;
      for (int i = 0; i < width; ++i) {
        if (dense[i] > md) { md = dense[i]; ad = i; }
        if (dsa[i] > ms) { ms = dsa[i]; as = i; }
      }
      double zd = 0, zs = 0;
      for (int i = 0; i < width; ++i) {
        zd += std::exp(dense[i] - md);
        zs += std::exp(dsa[i] - ms);
      }
      const double lzd = md + std::log(zd), lzs = ms + std::log(zs);
      for (int i = 0; i < width; ++i) {  // KL(dense || dsa) = sum p_dense (log p_dense - log p_dsa)
        const double lpd = dense[i] - lzd, lps = dsa[i] - lzs;
        r.primary += std::exp(lpd) * (lpd - lps);
      }
      r.primary = std::max(r.primary, 0.0);  // rounding can push an exact 0 a hair below
      r.top1 = ad == as;
    } else {
      double diff2 = 0, ref2 = 0, xy = 0, xx_yy = 0;
      for (int i = 0; i < width; ++i) {
        const double a = dsa[i], b = dense[i];
        diff2 += (a - b) * (a - b);
        ref2 += b * b;
        xy += a * b;
        xx_yy += a * a + b * b;
      }
      r.primary = ref2 > 0 ? std::sqrt(diff2 / ref2) : 0.0;
      r.cosd = xx_yy > 0 ? 1.0 - 2.0 * xy / xx_yy : 0.0;
    }
    return r;
  }

  void add(std::int64_t position, const Position& m) {
    for (Bucket* b : {&buckets_[bucket_of(position)], &all_}) {
      ++b->count;
      b->sum += m.primary;
      b->max = std::max(b->max, m.primary);
      b->cos_sum += m.cosd;
      b->top1 += m.top1;
      b->max_diff = std::max(b->max_diff, m.maxdiff);
    }
    finite_ = finite_ && std::isfinite(m.primary) && std::isfinite(m.maxdiff);
  }

  void add(std::int64_t position, const float* dense, const float* dsa, int width) {
    add(position, measure(dense, dsa, width));
  }

  // Rows of outputs [n, width] at positions first .. first + n - 1: measured in
  // parallel, added in position order (the sums do not depend on the thread count).
  void add_rows(std::int64_t first, const HostTensor<float>& dense, const HostTensor<float>& dsa) {
    const std::int64_t n = dense.size(0);
    const auto width = static_cast<int>(dense.size(1));
    std::vector<Position> m(static_cast<std::size_t>(n));
    parallel_for(n, [&](std::int64_t i) { m[static_cast<std::size_t>(i)] = measure(&dense(i, 0), &dsa(i, 0), width); });
    for (std::int64_t i = 0; i < n; ++i) add(first + i, m[static_cast<std::size_t>(i)]);
  }

  bool finite() const { return finite_; }

  nlohmann::json to_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < buckets_.size(); ++i)
      if (buckets_[i].count) {
        nlohmann::json j = json_of(buckets_[i]);
        j["positions"] = {edges_[i], edges_[i + 1]};
        buckets.push_back(j);
      }
    nlohmann::json j = json_of(all_);
    j["definition"] = logits_ ? "KL(dense || dsa) of next-token distributions, top-1 agreement, max |logit difference|"
                              : "relative L2 and cos_diff of the layer range's output hidden states, DSA against dense";
    j["buckets"] = buckets;
    return j;
  }

 private:
  struct Bucket {
    std::int64_t count = 0, top1 = 0;
    double sum = 0, max = 0, cos_sum = 0, max_diff = 0;
  };
  nlohmann::json json_of(const Bucket& b) const {
    const double n = b.count ? static_cast<double>(b.count) : 1.0;
    if (logits_)
      return {{"count", b.count}, {"kl_mean", b.sum / n}, {"kl_max", b.max},
              {"top1_agreement", b.count ? static_cast<double>(b.top1) / n : 1.0}, {"max_logit_diff", b.max_diff}};
    return {{"count", b.count}, {"rel_l2_mean", b.sum / n}, {"rel_l2_max", b.max}, {"cos_diff_mean", b.cos_sum / n},
            {"max_abs_diff", b.max_diff}};
  }
  std::size_t bucket_of(std::int64_t p) const {
    std::size_t i = 0;
    while (i + 1 < edges_.size() - 1 && p >= edges_[i + 1]) ++i;
    return i;
  }
  bool logits_;
  std::vector<std::int64_t> edges_;
  std::vector<Bucket> buckets_;
  Bucket all_;
  bool finite_ = true;
};

// Peak host memory, and on the GPU the peak of the harness's device allocations
// (weights, caches, scratch; cuBLAS's own workspace is not in it).
nlohmann::json memory_json() {
  nlohmann::json m = {{"peak_rss_bytes", peak_rss_bytes()}};
  if (const std::int64_t d = device_memory_peak(); d > 0) m["device_peak_bytes"] = d;
  return m;
}

// Restarts the peaks for what runs next (a point, one attention mode's runs): the
// forward's kept scratch freed and freed heap handed back first, so one mode's peak
// does not carry the other's or an earlier point's. The weights stay: each peak holds them.
void restart_peaks(const Model& m) {
  m.release_scratch();
  malloc_trim(0);
  reset_peak_rss();
  reset_device_memory_peak();
}

bool runs_on_gpu(const Model& m) { return m.implementation().find("cuda") != std::string::npos; }

// The SM clock after each timed sample of a GPU model run, the last `samples` readings
// (the earlier ones are warm-up runs), so a throttled point shows; nothing on the CPU.
void put_clocks(nlohmann::json& r, const std::vector<int>& clocks, std::size_t samples) {
  if (!clocks.empty() && clocks.size() >= samples)
    r["sm_clock_mhz"] = std::vector<int>(clocks.end() - static_cast<std::ptrdiff_t>(samples), clocks.end());
}

// The point's peak: the larger of each figure over its phases.
void keep_larger(nlohmann::json& peak, const nlohmann::json& m) {
  for (const auto& [k, v] : m.items())
    if (!peak.contains(k) || peak[k].get<std::int64_t>() < v.get<std::int64_t>()) peak[k] = v;
}

nlohmann::json op_times_json(const OpTimes& t) {
  const double total = t.total();
  auto share = [&](double x) { return total > 0 ? x / total : 0.0; };
  return {{"seconds", {{"matmul", t.matmul}, {"indexer", t.indexer}, {"topk", t.topk}, {"attention", t.attention},
                       {"other", t.other}}},
          {"share", {{"matmul", share(t.matmul)}, {"indexer", share(t.indexer)}, {"topk", share(t.topk)},
                     {"attention", share(t.attention)}, {"other", share(t.other)}}}};
}

nlohmann::json cache_json(const Model& m, AttentionMode mode) {
  const ModelConfig& cfg = m.config();
  // Over the layers this run holds: all of them, or the layer range.
  const std::int64_t lat = SequenceCache::latent_bytes_per_token(cfg, m.cache_dtype()) * m.loaded_layers();
  const std::int64_t idx = mode == AttentionMode::dsa ? SequenceCache::index_bytes_per_token(cfg) * m.loaded_layers() : 0;
  return {{"bytes_per_token", lat + idx}, {"latent_bytes_per_token", lat}, {"indexer_bytes_per_token", idx},
          {"latent_dtype", dtype_name(m.cache_dtype())}};
}

// Before a point's sequences and caches are made: the host bytes of `sequences` inputs of
// `tokens` tokens (token ids, or a layer range's hidden states) and, for a model on the
// CPU, of their fp32 caches in each of `modes` (the latent row of every loaded layer, and
// the indexer's keys in DSA mode), against the host memory available now (the weights are
// in already). A cache's reserve takes address space only: without this, a context too
// long for the machine would be found out part way through its prefill, by the kernel's
// out-of-memory killer, not by a failed allocation. A GPU model's caches are the device's,
// whose allocation says when it fails.
void check_point_memory(const Model& m, std::int64_t tokens, int sequences, std::initializer_list<AttentionMode> modes) {
  const ModelConfig& cfg = m.config();
  const double t = static_cast<double>(tokens) * sequences;
  double bytes = t * (m.has_head() ? 4.0 : 4.0 * cfg.hidden);
  if (!runs_on_gpu(m))
    for (AttentionMode mode : modes)
      bytes += 4.0 * t * m.loaded_layers() *
               (cfg.kv_lora_rank + cfg.qk_rope + (mode == AttentionMode::dsa ? cfg.index_head_dim : 0));
  require_host_memory("for this context", available_memory_bytes(), bytes,
                      runs_on_gpu(m) ? "its inputs would take" : "its inputs and caches would take");
}

nlohmann::json prefill_point(const CaseSpec& c, const Model& m, std::int64_t L, std::uint64_t seed,
                             const RunContext& ctx) {
  check_point_memory(m, L, 1, {AttentionMode::dense, AttentionMode::dsa});  // both modes' caches at once
  const Sequence seq = make_sequence(m, L, derive_seed(seed, "tokens", static_cast<std::uint64_t>(L)));
  nlohmann::json pt = {{"context", L}, {"tokens", L}};
  restart_peaks(m);
  // Accuracy first, untimed: both modes chunk by chunk on caches of their own, each
  // chunk's outputs compared at once, so no [L, vocab] logits are held (16 GB per mode
  // at 128K with a 32K vocabulary).
  Agreement a(L, m.has_head());
  OpTimes ops[2];
  double first_run[2] = {0, 0};
  {
    if (ctx.progress) ctx.progress("context " + std::to_string(L) + ": dense and dsa prefill, outputs compared");
    const std::unique_ptr<ModelCache> caches[2] = {m.make_cache(), m.make_cache()};
    for (int mi = 0; mi < 2; ++mi) caches[mi]->reserve(L, kModes[mi]);  // sized up front, as a server does
    for (std::int64_t p = 0; p < L; p += c.prefill_chunk) {
      const std::int64_t n = std::min(L - p, c.prefill_chunk);
      HostTensor<float> out[2];
      for (int mi = 0; mi < 2; ++mi) {
        const double t0 = now_seconds();
        out[mi] = run_positions(m, seq, p, n, *caches[mi], kModes[mi], c.benches() ? nullptr : &ops[mi]);
        first_run[mi] += now_seconds() - t0;
      }
      a.add_rows(p, out[0], out[1]);
    }
  }
  nlohmann::json peak = memory_json();  // both modes at once, each with its cache
  double median[2] = {0, 0};
  for (int mi = 0; mi < 2; ++mi) {
    const AttentionMode mode = kModes[mi];
    const char* name = model::attention_mode_name(mode);
    nlohmann::json r = {{"cache", cache_json(m, mode)}, {"first_run_s", first_run[mi]}};
    if (c.benches()) {
      if (ctx.progress) ctx.progress("context " + std::to_string(L) + ": " + name + " prefill timed");
      restart_peaks(m);
      // The timed runs first: their warm-up grows the forward's working memory back, so
      // the op-by-op run after them times no allocation. One cache at a time.
      std::vector<int> clocks;
      const bool gpu = runs_on_gpu(m);
      const TimingStats t = measure(c.timing, [&] {
        const auto fresh = m.make_cache();
        fresh->reserve(L, mode);  // allocated before the request, as a server does
        const double s0 = now_seconds();
        prefill(m, seq, L, c.prefill_chunk, *fresh, mode, nullptr);
        const double took = now_seconds() - s0;
        if (gpu) clocks.push_back(current_sm_clock_mhz());
        return took;
      });
      {  // Op by op, each bracketed by synchronisations, the same work as a timed run.
        const auto op_cache = m.make_cache();
        op_cache->reserve(L, mode);
        prefill(m, seq, L, c.prefill_chunk, *op_cache, mode, &ops[mi]);
      }
      r["timing"] = to_json(t);
      put_clocks(r, clocks, t.samples.size());
      r["per_token_s"] = t.median / static_cast<double>(L);
      median[mi] = t.median;
      r["memory"] = memory_json();  // this mode's prefill alone: weights, one cache, its scratch
      keep_larger(peak, r["memory"]);
    }
    r["op_times"] = op_times_json(ops[mi]);
    pt[name] = r;
  }
  if (median[1] > 0) pt["speedup"] = median[0] / median[1];
  // The harness's own overhead: a timed prefill against the sum of its ops (timed one
  // by one, each bracketed by synchronisations, in a run of the same work).
  for (int mi = 0; mi < 2; ++mi)
    if (median[mi] > 0 && ops[mi].total() > 0)
      pt[model::attention_mode_name(kModes[mi])]["time_over_op_sum"] = median[mi] / ops[mi].total();
  pt["accuracy"] = a.to_json();
  pt["status"] = a.finite() ? "passed" : "failed";
  if (!a.finite()) pt["reason"] = "non-finite outputs or agreement metrics";
  pt["memory"] = peak;
  return pt;
}

}  // namespace

nlohmann::json model_decode_point(const CaseSpec& c, const Model& m, std::int64_t L, std::uint64_t seed,
                                  const RunContext& ctx) {
  const int V = output_width(m);
  const std::int64_t steps = c.decode_steps;
  // After the `steps` steps timed, as many again op by op: a step whose ops are each
  // bracketed by synchronisations is not a server's step (a host round trip per op,
  // dozens per layer and more in DSA mode, about as long as the step's own GPU work at
  // batch 1), so no timed step has them. The op-by-op steps continue the sequences
  // (tokens drawn as a prefix, so the timed steps' tokens are as before).
  const std::int64_t op_steps = steps - 1;
  check_point_memory(m, L + steps + op_steps, c.batch, {AttentionMode::dsa});  // one mode's caches at a time
  std::vector<Sequence> seqs;
  for (int b = 0; b < c.batch; ++b)
    seqs.push_back(make_sequence(m, L + steps + op_steps, derive_seed(seed, "tokens", static_cast<std::uint64_t>(L) * 4096 + b)));
  nlohmann::json pt = {{"context", L}, {"batch", c.batch}, {"decode_steps", steps}};
  // outputs[mode][b][step]: teacher-forced, so both modes see the same inputs.
  std::vector<std::vector<std::vector<float>>> outputs(2);
  double median[2] = {0, 0};
  nlohmann::json peak = nlohmann::json::object();
  for (int mi = 0; mi < 2; ++mi) {
    const AttentionMode mode = kModes[mi];
    const char* name = model::attention_mode_name(mode);
    if (ctx.progress) ctx.progress("context " + std::to_string(L) + ": " + name + " prefill + " + std::to_string(steps) + " decode steps");
    restart_peaks(m);
    std::vector<std::unique_ptr<ModelCache>> caches;
    for (int b = 0; b < c.batch; ++b) {
      caches.push_back(m.make_cache());
      caches.back()->reserve(L + steps + op_steps, mode);  // sized up front, as a server does
      prefill(m, seqs[b], L, c.prefill_chunk, *caches.back(), mode, nullptr);
    }
    std::vector<double> step_s;
    std::vector<int> clocks;
    const bool gpu = runs_on_gpu(m);
    outputs[mi].resize(static_cast<std::size_t>(c.batch));
    std::vector<ModelCache*> cache_ptrs;
    for (auto& cp : caches) cache_ptrs.push_back(cp.get());
    for (std::int64_t s = 0; s < steps; ++s) {
      // One decode step for the whole batch, as a server runs it.
      const double t0 = now_seconds();
      const HostTensor<float> l = step_batch(m, seqs, L + s, cache_ptrs, mode, nullptr);
      step_s.push_back(now_seconds() - t0);
      if (gpu) clocks.push_back(current_sm_clock_mhz());
      for (int b = 0; b < c.batch; ++b)
        outputs[mi][b].insert(outputs[mi][b].end(), l.data() + static_cast<std::int64_t>(b) * V,
                              l.data() + static_cast<std::int64_t>(b + 1) * V);
    }
    OpTimes ops;
    for (std::int64_t s = 0; s < op_steps; ++s) step_batch(m, seqs, L + steps + s, cache_ptrs, mode, &ops);
    // One sample per decode step (all sequences of the batch), the first a warm-up.
    TimingStats t = summarize(std::vector<double>(step_s.begin() + 1, step_s.end()));
    t.warmup = 1;
    // This mode alone: weights, the batch's caches, the forward's scratch.
    nlohmann::json r = {{"op_times", op_times_json(ops)}, {"op_steps", op_steps}, {"cache", cache_json(m, mode)},
                        {"timing", to_json(t)}, {"per_token_s", t.median / c.batch}, {"memory", memory_json()}};
    // The harness's own overhead, as for prefill: a timed step against an op-by-op step's sum.
    if (t.median > 0 && ops.total() > 0) r["time_over_op_sum"] = t.median / (ops.total() / static_cast<double>(op_steps));
    put_clocks(r, clocks, t.samples.size());
    keep_larger(peak, r["memory"]);
    median[mi] = t.median;
    pt[name] = r;
  }
  pt["speedup"] = median[1] > 0 ? median[0] / median[1] : 0.0;
  Agreement a(L + steps, m.has_head());
  for (int b = 0; b < c.batch; ++b)
    for (std::int64_t s = 0; s < steps; ++s)
      a.add(L + s, &outputs[0][b][static_cast<std::size_t>(s * V)], &outputs[1][b][static_cast<std::size_t>(s * V)], V);
  pt["accuracy"] = a.to_json();
  pt["status"] = a.finite() ? "passed" : "failed";
  if (!a.finite()) pt["reason"] = "non-finite outputs or agreement metrics";
  keep_larger(peak, memory_json());  // and the agreement's pass over both modes' outputs
  pt["memory"] = peak;
  return pt;
}

namespace {

// The case's "implementations" (validated by the suite parser) as the GPU forward's choice.
model::CudaKernelChoice cuda_kernels_of(const CaseSpec& c) {
  const auto name = [&](const char* stage) {
    const auto it = c.stage_implementations.find(stage);
    return it == c.stage_implementations.end() ? std::string() : it->second;
  };
  return {name("indexer"), name("topk"), name("sparse_attention"), name("dense_attention_mqa"), name("dense_attention_mha")};
}

}  // namespace

void remove_abandoned_checkpoints(const std::string& folder) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const std::string n = e.path().filename().string();
    const auto at = n.rfind(".tmp-");
    if (at == std::string::npos) continue;
    const std::string pid = n.substr(at + 5);
    if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (::kill(static_cast<pid_t>(std::stol(pid)), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    fs::remove_all(e.path(), ec);
  }
}

void check_model_resources(const std::string& what, std::uint64_t disk_needed, std::int64_t disk_free,
                           const std::string& folder, std::uint64_t memory_needed, std::int64_t memory_available) {
  if (memory_available >= 0 && memory_needed > static_cast<std::uint64_t>(memory_available))
    throw OutOfMemory("loading " + what + " needs about " + gigabytes(static_cast<double>(memory_needed)) +
                      " of host memory (its weights as fp32), and " + gigabytes(static_cast<double>(memory_available)) +
                      " is available: run fewer layers (a model case's \"layers\": [first, end])");
  if (disk_needed > 0 && disk_free >= 0 && disk_needed > static_cast<std::uint64_t>(disk_free))
    throw std::runtime_error("the synthetic checkpoint of " + what + " needs " + gigabytes(static_cast<double>(disk_needed)) +
                             " in " + folder + ", which has " + gigabytes(static_cast<double>(disk_free)) +
                             " free: point TMPDIR at a larger disk, or run fewer layers (a model case's \"layers\": "
                             "[first, end] writes only those)");
}

nlohmann::json run_model_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                              const std::vector<Backend>& backends) {
  nlohmann::json rec;
  nlohmann::json source;
  model::ModelWeights w = load_model_weights(c, source, ctx);
  // The first candidate backend that can run the model: the GPU forward says why not
  // (no device, shapes its kernels do not take), and the next candidate is tried.
  std::unique_ptr<Model> m;
  std::string reasons;
  bool out_of_memory = false;
  for (Backend b : backends) {
    if (b == Backend::cpu) {
      m = std::make_unique<CpuModel>(std::move(w), c.kv_cache_dtype);
      break;
    }
    try {
      DSA_TRACE_RANGE("upload model");
      if (ctx.progress) ctx.progress("uploading the weights to the GPU");
      m = model::make_cuda_model(w, c.kv_cache_dtype, cuda_kernels_of(c));
      break;
    } catch (const std::runtime_error& e) {
      out_of_memory = dynamic_cast<const OutOfMemory*>(&e) != nullptr;
      reasons += std::string(reasons.empty() ? "" : "; ") + "cuda: " + e.what();
    }
  }
  // Weights the GPU cannot hold are a machine too small (oom), not a shape no kernel takes.
  if (!m && out_of_memory) throw OutOfMemory("the GPU cannot hold the model's weights: " + reasons);
  if (!m) throw NotSupported("no backend runs this model: " + reasons);
  rec["backend"] = runs_on_gpu(*m) ? "cuda" : "cpu";
  if (!reasons.empty()) rec["backend_fallback"] = reasons;
  rec["implementation"] = m->implementation();
  rec["model"] = source;
  // Model points carry no validation against a reference; their check is that every
  // output and metric is finite, so a finished point is "passed".
  run_points(c.contexts, ctx, true, rec, [&](std::int64_t L, std::size_t) {
    return c.op == Op::model_prefill ? prefill_point(c, *m, L, seed, ctx) : model_decode_point(c, *m, L, seed, ctx);
  });
  return rec;
}

}  // namespace dsa::bench
