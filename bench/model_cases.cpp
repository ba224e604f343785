// model_prefill and model_decode: whole-model runs, dense against DSA on the same
// weights and tokens (issue #5, section 4). Weights come from a checkpoint, or from a
// preset's seeded synthetic checkpoint written once to a cache directory and read
// back through the same loader.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "bench/runner.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "core/rng.h"
#include "core/trace.h"
#include "model/forward.h"

namespace dsa::bench {

namespace {

namespace fs = std::filesystem;
using model::AttentionMode;
using model::CpuModel;
using model::ModelConfig;
using model::OpTimes;
using model::SequenceCache;

constexpr AttentionMode kModes[] = {AttentionMode::dense, AttentionMode::dsa};

std::string hex(std::uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// The synthetic checkpoint of a preset, written at most once per (preset, config
// content, dtype, seed) -- the content, so an edited preset never reuses a stale one:
// into a process-private directory first, then renamed, so concurrent runs never read
// a half-written one.
std::string synthetic_checkpoint(const ModelConfig& cfg, const std::string& preset, const std::string& dtype,
                                 std::uint64_t seed) {
  const fs::path root = fs::temp_directory_path() / "dsa-bench-checkpoints";
  const fs::path dir = root / (preset + "-" + hex(derive_seed(0, model::config_to_json(cfg).dump())).substr(0, 8) + "-" +
                               dtype + "-" + hex(seed));
  if (fs::exists(dir / "model.safetensors.index.json")) return dir.string();
  fs::create_directories(root);
  const fs::path tmp = root / (dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  const model::StDtype d = dtype == "fp8" ? model::StDtype::F8_E4M3 : dtype == "fp32" ? model::StDtype::F32 : model::StDtype::BF16;
  model::write_synthetic_checkpoint(cfg, tmp.string(), seed, d);
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) fs::remove_all(tmp);  // another process won the race; its copy is identical
  return dir.string();
}

CpuModel load_model(const CaseSpec& c, std::uint64_t weights_seed, nlohmann::json& source) {
  DSA_TRACE_RANGE("load model");
  if (!c.checkpoint.empty()) {
    const fs::path p(c.checkpoint);
    const fs::path cfg_path = (fs::is_directory(p) ? p : p.parent_path()) / "config.json";
    const ModelConfig cfg = model::load_config(cfg_path.string());
    source = {{"checkpoint", c.checkpoint}, {"config", cfg_path.string()}, {"layers", cfg.layers},
              {"hidden", cfg.hidden}, {"parameters", cfg.parameters()}};
    return CpuModel(model::load_weights(cfg, *model::Checkpoint::open(c.checkpoint)), c.kv_cache_dtype);
  }
  const ModelConfig cfg = model::preset_config(c.model);
  const std::string dir = synthetic_checkpoint(cfg, c.model, c.weights_dtype, weights_seed);
  source = {{"preset", c.model}, {"synthetic_checkpoint", dir}, {"weights_dtype", c.weights_dtype},
            {"weights_seed", weights_seed}, {"parameters", cfg.parameters()}, {"layers", cfg.layers},
            {"hidden", cfg.hidden}};
  return CpuModel(model::load_weights(cfg, *model::Checkpoint::open(dir)), c.kv_cache_dtype);
}

std::vector<std::int32_t> random_tokens(std::int64_t n, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab)));
  return t;
}

// Prefill in chunks of `chunk`; returns every position's logits when `keep` is set.
HostTensor<float> prefill(const CpuModel& m, std::span<const std::int32_t> tok, std::int64_t chunk, SequenceCache& cache,
                          AttentionMode mode, OpTimes* times, bool keep) {
  HostTensor<float> all;
  if (keep) all = HostTensor<float>({static_cast<std::int64_t>(tok.size()), m.config().vocab});
  for (std::size_t p = 0; p < tok.size(); p += static_cast<std::size_t>(chunk)) {
    const std::size_t n = std::min(tok.size() - p, static_cast<std::size_t>(chunk));
    const HostTensor<float> l = m.forward(tok.subspan(p, n), cache, mode, times);
    if (keep) std::copy(l.data(), l.data() + l.numel(), all.data() + p * static_cast<std::size_t>(m.config().vocab));
  }
  return all;
}

// Next-token agreement of DSA with dense, accumulated by position bucket.
class Agreement {
 public:
  explicit Agreement(std::int64_t max_position) {
    edges_ = {0, 64};
    while (edges_.back() <= max_position) edges_.push_back(edges_.back() * 2);
    buckets_.resize(edges_.size() - 1);
  }
  void add(std::int64_t position, const float* dense, const float* dsa, int vocab) {
    double md = -1e300, ms = -1e300;
    int ad = 0, as = 0;
    for (int i = 0; i < vocab; ++i) {
      if (dense[i] > md) { md = dense[i]; ad = i; }
      if (dsa[i] > ms) { ms = dsa[i]; as = i; }
    }
    double zd = 0, zs = 0, maxdiff = 0;
    for (int i = 0; i < vocab; ++i) {
      zd += std::exp(dense[i] - md);
      zs += std::exp(dsa[i] - ms);
      maxdiff = std::max(maxdiff, static_cast<double>(std::fabs(dense[i] - dsa[i])));
    }
    const double lzd = md + std::log(zd), lzs = ms + std::log(zs);
    double kl = 0;  // KL(dense || dsa) = sum p_dense (log p_dense - log p_dsa)
    for (int i = 0; i < vocab; ++i) {
      const double lpd = dense[i] - lzd, lps = dsa[i] - lzs;
      kl += std::exp(lpd) * (lpd - lps);
    }
    kl = std::max(kl, 0.0);  // rounding can push an exact 0 a hair below
    Bucket& b = buckets_[bucket_of(position)];
    ++b.count;
    b.kl_sum += kl;
    b.kl_max = std::max(b.kl_max, kl);
    b.top1 += ad == as;
    b.max_diff = std::max(b.max_diff, maxdiff);
    all_.count++;
    all_.kl_sum += kl;
    all_.kl_max = std::max(all_.kl_max, kl);
    all_.top1 += ad == as;
    all_.max_diff = std::max(all_.max_diff, maxdiff);
    finite_ = finite_ && std::isfinite(kl) && std::isfinite(maxdiff);
  }
  bool finite() const { return finite_; }
  nlohmann::json to_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < buckets_.size(); ++i)
      if (buckets_[i].count) {
        nlohmann::json j = buckets_[i].json();
        j["positions"] = {edges_[i], edges_[i + 1]};
        buckets.push_back(j);
      }
    nlohmann::json j = all_.json();
    j["definition"] = "KL(dense || dsa) of next-token distributions, top-1 agreement, max |logit difference|";
    j["buckets"] = buckets;
    return j;
  }

 private:
  struct Bucket {
    std::int64_t count = 0, top1 = 0;
    double kl_sum = 0, kl_max = 0, max_diff = 0;
    nlohmann::json json() const {
      return {{"count", count}, {"kl_mean", count ? kl_sum / static_cast<double>(count) : 0.0}, {"kl_max", kl_max},
              {"top1_agreement", count ? static_cast<double>(top1) / static_cast<double>(count) : 1.0},
              {"max_logit_diff", max_diff}};
    }
  };
  std::size_t bucket_of(std::int64_t p) const {
    std::size_t i = 0;
    while (i + 1 < edges_.size() - 1 && p >= edges_[i + 1]) ++i;
    return i;
  }
  std::vector<std::int64_t> edges_;
  std::vector<Bucket> buckets_;
  Bucket all_;
  bool finite_ = true;
};

nlohmann::json op_times_json(const OpTimes& t) {
  const double total = t.total();
  auto share = [&](double x) { return total > 0 ? x / total : 0.0; };
  return {{"seconds", {{"matmul", t.matmul}, {"indexer", t.indexer}, {"topk", t.topk}, {"attention", t.attention},
                       {"other", t.other}}},
          {"share", {{"matmul", share(t.matmul)}, {"indexer", share(t.indexer)}, {"topk", share(t.topk)},
                     {"attention", share(t.attention)}, {"other", share(t.other)}}}};
}

nlohmann::json cache_json(const CpuModel& m, AttentionMode mode) {
  const ModelConfig& cfg = m.config();
  const std::int64_t lat = SequenceCache::latent_bytes_per_token(cfg, m.cache_dtype()) * cfg.layers;
  const std::int64_t idx = mode == AttentionMode::dsa ? SequenceCache::index_bytes_per_token(cfg) * cfg.layers : 0;
  return {{"bytes_per_token", lat + idx}, {"latent_bytes_per_token", lat}, {"indexer_bytes_per_token", idx},
          {"latent_dtype", dtype_name(m.cache_dtype())}};
}

nlohmann::json prefill_point(const CaseSpec& c, const CpuModel& m, std::int64_t L, std::uint64_t seed,
                             const RunContext& ctx) {
  const auto tok = random_tokens(L, m.config().vocab, derive_seed(seed, "tokens", static_cast<std::uint64_t>(L)));
  nlohmann::json pt = {{"context", L}, {"tokens", L}};
  HostTensor<float> logits[2];
  double median[2] = {0, 0};
  for (int mi = 0; mi < 2; ++mi) {
    const AttentionMode mode = kModes[mi];
    const char* name = model::attention_mode_name(mode);
    if (ctx.progress) ctx.progress("context " + std::to_string(L) + ": " + name + " prefill");
    OpTimes ops;
    SequenceCache cache = m.new_cache();
    const double t0 = now_seconds();
    logits[mi] = prefill(m, tok, c.prefill_chunk, cache, mode, &ops, true);
    nlohmann::json r = {{"op_times", op_times_json(ops)}, {"cache", cache_json(m, mode)},
                        {"first_run_s", now_seconds() - t0}};
    if (c.benches()) {
      const TimingStats t = measure(c.timing, [&] {
        SequenceCache fresh = m.new_cache();
        const double s0 = now_seconds();
        prefill(m, tok, c.prefill_chunk, fresh, mode, nullptr, false);
        return now_seconds() - s0;
      });
      r["timing"] = to_json(t);
      r["per_token_s"] = t.median / static_cast<double>(L);
      median[mi] = t.median;
    }
    pt[name] = r;
  }
  if (median[1] > 0) pt["speedup"] = median[0] / median[1];
  Agreement a(L);
  for (std::int64_t p = 0; p < L; ++p) a.add(p, &logits[0](p, 0), &logits[1](p, 0), m.config().vocab);
  pt["accuracy"] = a.to_json();
  pt["status"] = a.finite() ? "passed" : "failed";
  if (!a.finite()) pt["reason"] = "non-finite logits or KL";
  pt["memory"] = {{"peak_rss_bytes", peak_rss_bytes()}};
  return pt;
}

nlohmann::json decode_point(const CaseSpec& c, const CpuModel& m, std::int64_t L, std::uint64_t seed,
                            const RunContext& ctx) {
  const int V = m.config().vocab;
  const std::int64_t steps = c.decode_steps;
  std::vector<std::vector<std::int32_t>> tok;
  for (int b = 0; b < c.batch; ++b)
    tok.push_back(random_tokens(L + steps, V, derive_seed(seed, "tokens", static_cast<std::uint64_t>(L) * 4096 + b)));
  nlohmann::json pt = {{"context", L}, {"batch", c.batch}, {"decode_steps", steps}};
  // logits[mode][b][step]: teacher-forced, so both modes see the same tokens.
  std::vector<std::vector<std::vector<float>>> logits(2);
  double median[2] = {0, 0};
  for (int mi = 0; mi < 2; ++mi) {
    const AttentionMode mode = kModes[mi];
    const char* name = model::attention_mode_name(mode);
    if (ctx.progress) ctx.progress("context " + std::to_string(L) + ": " + name + " prefill + " + std::to_string(steps) + " decode steps");
    std::vector<SequenceCache> caches;
    for (int b = 0; b < c.batch; ++b) {
      caches.push_back(m.new_cache());
      prefill(m, std::span(tok[b]).first(static_cast<std::size_t>(L)), c.prefill_chunk, caches.back(), mode, nullptr, false);
    }
    OpTimes ops;
    std::vector<double> step_s;
    logits[mi].resize(static_cast<std::size_t>(c.batch));
    for (std::int64_t s = 0; s < steps; ++s) {
      const double t0 = now_seconds();
      OpTimes step_ops;
      for (int b = 0; b < c.batch; ++b) {
        const HostTensor<float> l = m.forward(std::span(tok[b]).subspan(static_cast<std::size_t>(L + s), 1), caches[b], mode, &step_ops);
        logits[mi][b].insert(logits[mi][b].end(), l.data(), l.data() + V);
      }
      step_s.push_back(now_seconds() - t0);
      if (s > 0) ops += step_ops;  // the first step is the warm-up
    }
    // One sample per decode step (all sequences of the batch), the first a warm-up.
    TimingStats t = summarize(std::vector<double>(step_s.begin() + 1, step_s.end()));
    t.warmup = 1;
    nlohmann::json r = {{"op_times", op_times_json(ops)}, {"cache", cache_json(m, mode)}, {"timing", to_json(t)},
                        {"per_token_s", t.median / c.batch}};
    median[mi] = t.median;
    pt[name] = r;
  }
  pt["speedup"] = median[1] > 0 ? median[0] / median[1] : 0.0;
  Agreement a(L + steps);
  for (int b = 0; b < c.batch; ++b)
    for (std::int64_t s = 0; s < steps; ++s)
      a.add(L + s, &logits[0][b][static_cast<std::size_t>(s * V)], &logits[1][b][static_cast<std::size_t>(s * V)], V);
  pt["accuracy"] = a.to_json();
  pt["status"] = a.finite() ? "passed" : "failed";
  if (!a.finite()) pt["reason"] = "non-finite logits or KL";
  pt["memory"] = {{"peak_rss_bytes", peak_rss_bytes()}};
  return pt;
}

}  // namespace

nlohmann::json run_model_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                              const std::vector<Backend>& backends) {
  if (std::find(backends.begin(), backends.end(), Backend::cpu) == backends.end())
    throw NotSupported("the model path has no CUDA backend yet; it runs on the CPU (--backend cpu or auto)");
  nlohmann::json rec;
  nlohmann::json source;
  // The weights depend on the run seed and the model only, so every case of a run
  // that names the same preset uses one checkpoint.
  const CpuModel m = load_model(c, derive_seed(ctx.seed, "weights:" + c.model), source);
  rec["backend"] = "cpu";
  rec["implementation"] = "model.cpu.fp32";
  rec["model"] = source;
  rec["points"] = nlohmann::json::array();
  int failed = 0, errors = 0;
  std::string first;
  for (std::int64_t L : c.contexts) {
    nlohmann::json pt;
    try {
      pt = c.op == Op::model_prefill ? prefill_point(c, m, L, seed, ctx) : decode_point(c, m, L, seed, ctx);
    } catch (const std::bad_alloc&) {
      pt = {{"context", L}, {"status", "oom"}, {"reason", "out of host memory at this context"}};
    } catch (const std::exception& e) {
      pt = {{"context", L}, {"status", "error"}, {"reason", e.what()}};
    }
    if (pt["status"] != "passed") {
      (pt["status"] == "failed" ? failed : errors) += 1;
      if (first.empty()) first = "context " + std::to_string(L) + ": " + pt.value("reason", "");
    }
    rec["points"].push_back(pt);
    if (ctx.partial) {
      nlohmann::json partial = rec;
      partial["status"] = "running";
      ctx.partial(partial);
    }
  }
  rec["status"] = errors ? "error" : failed ? "failed" : "passed";
  if (!first.empty()) rec["reason"] = first;
  return rec;
}

}  // namespace dsa::bench
