#include "bench/console.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>

#include "bench/runner.h"
#include "bench/timing.h"

namespace dsa::bench {

double estimated_work(const CaseSpec& c) {
  const double q = static_cast<double>(c.queries), s = static_cast<double>(c.context);
  switch (c.op) {
    case Op::indexer: return 2.0 * q * s * c.index_heads * c.index_head_dim;
    case Op::topk: return 20.0 * q * s;
    case Op::sparse_attention: return 2.0 * q * static_cast<double>(std::min(c.topk, c.context)) * c.heads * (c.d_qk + c.d_v);
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa: return 2.0 * q * s * c.heads * (c.d_qk + c.d_v);
    case Op::model_prefill:
    case Op::model_decode: {
      // Two modes, roughly 2 * parameters FLOP per token plus attention: a weight for the
      // ETA only (the preset is read later; assume a small model).
      double w = 0;
      for (auto L : c.contexts) w += 2.0 * 2e7 * static_cast<double>(c.op == Op::model_prefill ? L : c.decode_steps * c.batch + L);
      return w;
    }
    case Op::dsa_vs_dense: {
      double w = 0;
      const double n = static_cast<double>(c.query_chunk) * (c.phase == Phase::decode ? c.batch : 1);
      const double dense_dims = c.phase == Phase::prefill ? c.qk_nope + c.qk_rope + c.v_head : 2.0 * c.kv_rank + c.qk_rope;
      for (auto L : c.contexts) {
        const double Ld = static_cast<double>(L);
        w += 2.0 * n * Ld * c.heads * dense_dims;
        w += 2.0 * n * Ld * c.index_heads * c.index_head_dim;
        w += 2.0 * n * static_cast<double>(std::min(c.topk, L)) * c.heads * (2.0 * c.kv_rank + c.qk_rope);
      }
      return w;
    }
  }
  return 1.0;
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 1e-3) std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  else if (s < 1.0) std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else if (s < 120) std::snprintf(buf, sizeof buf, "%.2f s", s);
  else {
    const int minutes = static_cast<int>(s / 60);
    std::snprintf(buf, sizeof buf, "%dm%02ds", minutes, static_cast<int>(s - 60.0 * minutes));
  }
  return buf;
}

Progress::Progress(const std::vector<CaseSpec>& cases, bool enabled, double heartbeat_s)
    : cases_(cases), enabled_(enabled), heartbeat_s_(heartbeat_s) {
  start_ = now_seconds();
  for (const auto& c : cases) total_ += estimated_work(c);
  if (enabled_ && heartbeat_s_ > 0) heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

Progress::~Progress() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Progress::heartbeat_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!running_) {
      wake_.wait(lock);
      continue;
    }
    const double now = now_seconds();
    if (now < next_beat_) {
      wake_.wait_for(lock, std::chrono::duration<double>(next_beat_ - now));
      continue;
    }
    // The scheduled mark (1 min, 2, 4...), not the clock at wake-up, which a busy machine
    // makes a little later each time: the lines read the same from run to run.
    const double ran = next_beat_ - case_start_;
    const std::string doing = phase_.empty() ? "" : " (" + phase_ + ")";
    std::fprintf(stderr, "        %s: still running after %s%s\n", cases_[current_].name.c_str(),
                 format_seconds(ran).c_str(), doing.c_str());
    next_beat_ = case_start_ + ran + std::min(ran, 1800.0);
  }
}

void Progress::phase(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  phase_ = what;
}

void Progress::skip(std::size_t i) { total_ -= estimated_work(cases_[i]); }

void Progress::begin(std::size_t i) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = i;
    running_ = true;
    case_start_ = now_seconds();
    next_beat_ = case_start_ + heartbeat_s_;
    phase_.clear();
  }
  wake_.notify_all();
  if (!enabled_) return;
  std::fprintf(stderr, "[%zu/%zu] %s (%s) ...\n", i + 1, cases_.size(), cases_[i].name.c_str(), op_name(cases_[i].op));
}

void Progress::detail(const std::string& msg) {
  phase(msg);
  if (enabled_) std::fprintf(stderr, "        %s: %s\n", cases_[current_].name.c_str(), msg.c_str());
}

void Progress::end(std::size_t i, const nlohmann::json& rec) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
  done_ += estimated_work(cases_[i]);
  if (!enabled_) return;
  const double elapsed = now_seconds() - start_;
  std::string eta = "-";
  if (i + 1 < cases_.size() && done_ > 0) eta = format_seconds(elapsed * (total_ - done_) / done_);
  std::string status = rec.value("status", "?");
  if (rec.contains("reason")) status += ": " + rec["reason"].get<std::string>();
  std::fprintf(stderr, "[%zu/%zu] %s %s in %s | elapsed %s, ETA %s\n", i + 1, cases_.size(),
               cases_[i].name.c_str(), status.c_str(), format_seconds(rec.value("duration_s", 0.0)).c_str(),
               format_seconds(elapsed).c_str(), eta.c_str());
}

namespace {
// "4096" for one context, "4096..131072 (7)" for several.
std::string contexts_text(const std::vector<std::int64_t>& contexts) {
  if (contexts.size() == 1) return std::to_string(contexts.front());
  return std::to_string(contexts.front()) + ".." + std::to_string(contexts.back()) + " (" +
         std::to_string(contexts.size()) + ")";
}
}  // namespace

std::string case_shape(const CaseSpec& c) {
  std::ostringstream s;
  switch (c.op) {
    case Op::indexer:
      s << "T=" << c.queries << " S=" << c.context << " H_I=" << c.index_heads << "x" << c.index_head_dim << " "
        << dtype_name(c.dtype) << (c.hadamard ? " hadamard" : "");
      break;
    case Op::topk: s << "T=" << c.queries << " S=" << c.context << " k=" << c.topk << " " << c.generator; break;
    case Op::sparse_attention:
    case Op::dense_attention_mha:
    case Op::dense_attention_mqa:
      s << "T=" << c.queries << " S=" << c.context << " H=" << c.heads << " " << c.d_qk << "/" << c.d_v;
      if (c.op == Op::sparse_attention) s << " k=" << c.topk;
      s << " " << dtype_name(c.dtype);
      if (c.op != Op::dense_attention_mha && c.kv_cache_dtype == DType::fp8_e4m3) s << " cache=fp8";
      break;
    case Op::model_prefill:
    case Op::model_decode:
      s << (c.checkpoint.empty() ? c.model + " (synthetic " + c.weights_dtype + ")" : c.checkpoint);
      if (c.layer_first >= 0) s << " layers [" << c.layer_first << ", " << c.layer_end << ")";
      s << " L=" << contexts_text(c.contexts) << " chunk=" << c.prefill_chunk;
      if (c.op == Op::model_decode) s << " steps=" << c.decode_steps << " batch=" << c.batch;
      break;
    case Op::dsa_vs_dense:
      s << phase_name(c.phase) << " L=" << contexts_text(c.contexts) << " H=" << c.heads << " H_I=" << c.index_heads << " k=" << c.topk << " n=" << c.query_chunk;
      if (c.phase == Phase::decode) s << " batch=" << c.batch;
      if (c.kv_cache_dtype == DType::fp8_e4m3) s << " cache=fp8";
      break;
  }
  return s.str();
}

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string median_of(const nlohmann::json& j) {
  if (!j.contains("timing") || j["timing"].is_null()) return "-";
  return format_seconds(j["timing"]["median_s"].get<double>());
}
// The summary's note column: longer notes are cut, and a cut failure reason or fallback
// is given in full below the table.
constexpr std::size_t kNoteWidth = 70;
std::string fallback_note(const nlohmann::json& r) {
  return "fell back to " + r.value("backend", std::string("?")) + ": " + r.value("backend_fallback", std::string());
}
}  // namespace

std::string summary_table(const nlohmann::json& doc) {
  std::ostringstream out;
  char line[512];
  const auto& cases = doc["cases"];
  out << "\n== dsa-bench summary: suite " << doc["suite"].value("name", "?") << " ==\n";
  int width = 34;  // the case column fits the longest name, so the columns stay aligned
  for (const auto& r : cases) width = std::max(width, static_cast<int>(r.value("name", "?").size()));
  std::snprintf(line, sizeof line, "%-*s %-20s %-13s %-5s %-10s %-14s %s\n", width, "case", "op", "status", "on",
                "median", "rate", "note");
  out << line;
  std::map<std::string, int> counts;
  for (const auto& r : cases) {
    const std::string st = r.value("status", "?");
    ++counts[st];
    // FLOP rate where the op does floating-point work, byte rate otherwise (top-k).
    std::string rate = "-";
    if (r.contains("throughput") && !r["throughput"].is_null()) {
      const double gf = r["throughput"]["gflops"].get<double>();
      rate = gf > 0 ? fmt("%.2f GFLOP/s", gf) : fmt("%.2f GB/s", r["throughput"]["gbps"].get<double>());
    }
    std::string note = r.value("reason", "");
    if (note.empty() && r.contains("crossover")) {
      const auto& x = r["crossover"];
      note = x["context"].is_null() ? x.value("note", "") : "crossover near " + fmt("%.0f", x["context"].get<double>());
    }
    if (r.contains("backend_fallback"))  // a GPU run's case that ran on the CPU says why
      note = (note.empty() ? "" : note + "; ") + fallback_note(r);
    if (r.contains("not_validated")) {  // a figure from a kernel's first runs says so first
      std::string names;
      for (const auto& [name, why] : r["not_validated"].items()) names += (names.empty() ? "" : ", ") + name;
      note = "NOT VALIDATED: " + names + (note.empty() ? "" : "; " + note);
    }
    if (note.size() > kNoteWidth) note = note.substr(0, kNoteWidth - 3) + "...";
    std::snprintf(line, sizeof line, "%-*s %-20s %-13s %-5s %-10s %-14s %s\n", width, r.value("name", "?").c_str(),
                  r.value("op", "?").c_str(), st.c_str(), r.value("backend", "-").c_str(),
                  r.contains("points") ? "(sweep)" : median_of(r).c_str(), rate.c_str(), note.c_str());
    out << line;
  }
  for (const auto& r : cases) {
    if (r["op"] != "dsa_vs_dense" || !r.contains("points")) continue;
    out << "\n-- " << r["name"].get<std::string>() << ": " << r["params"]["phase"].get<std::string>() << ", dense = "
        << r.value("dense_baseline", "?") << " --\n";
    std::snprintf(line, sizeof line, "%-9s %-10s %-10s %-9s %-10s %-10s %-10s %-8s %-8s %-9s %s\n", "context", "dense",
                  "DSA", "speed-up", "indexer", "top-k", "attention", "rel L2", "mass", "overlap", "status");
    out << line;
    for (const auto& p : r["points"]) {
      const bool timed = p.contains("speedup");
      const auto stage = [&](const char* s) {
        return timed ? median_of(p["dsa"]["stages"][s]) : std::string("-");
      };
      const auto& a = p.contains("accuracy") ? p["accuracy"] : nlohmann::json::object();
      std::snprintf(line, sizeof line, "%-9lld %-10s %-10s %-9s %-10s %-10s %-10s %-8s %-8s %-9s %s\n",
                    static_cast<long long>(p["context"].get<std::int64_t>()),
                    timed ? median_of(p["dense"]).c_str() : "-", timed ? median_of(p["dsa"]).c_str() : "-",
                    timed ? fmt("%.2fx", p["speedup"].get<double>()).c_str() : "-", stage("indexer").c_str(),
                    stage("topk").c_str(), stage("attention").c_str(),
                    a.contains("rel_l2") ? fmt("%.2e", a["rel_l2"].get<double>()).c_str() : "-",
                    a.contains("attention_mass_recall") ? fmt("%.3f", a["attention_mass_recall"]["mean"].get<double>()).c_str() : "-",
                    a.contains("topk_overlap") ? fmt("%.3f", a["topk_overlap"]["mean"].get<double>()).c_str() : "-",
                    p.value("status", "?").c_str());
      out << line;
    }
    if (r.contains("crossover")) {
      const auto& x = r["crossover"];
      if (x["context"].is_null()) out << "crossover: none (" << x.value("note", "") << ")\n";
      else out << "crossover: DSA faster beyond about " << fmt("%.0f", x["context"].get<double>()) << " tokens ("
               << x.value("note", "") << ")\n";
    }
  }
  for (const auto& r : cases) {
    if ((r["op"] != "model_prefill" && r["op"] != "model_decode") || !r.contains("points")) continue;
    const bool decode = r["op"] == "model_decode";
    out << "\n-- " << r["name"].get<std::string>() << ": " << (decode ? "decode step" : "prefill") << ", "
        << r["model"].value("preset", r["model"].value("checkpoint", "?")) << ", dense vs DSA on the same weights and tokens --\n";
    const bool hidden = r["params"].contains("layers") && r["params"]["layers"].is_array();
    std::snprintf(line, sizeof line, "%-9s %-10s %-10s %-9s %-9s %-9s %-10s %-8s %-10s %-13s %s\n", "context", "dense",
                  "DSA", "speed-up", "indexer%", "attn%", hidden ? "rel L2" : "KL mean", hidden ? "cos diff" : "top-1",
                  hidden ? "max diff" : "max dlogit", "peak GB", "status");
    out << line;
    for (const auto& p : r["points"]) {
      const auto med = [&](const char* m) { return p.contains(m) ? median_of(p[m]) : std::string("-"); };
      const auto share = [&](const char* k) {
        return p.contains("dsa") ? fmt("%.0f%%", 100 * p["dsa"]["op_times"]["share"][k].get<double>()) : std::string("-");
      };
      const auto& a = p.contains("accuracy") ? p["accuracy"] : nlohmann::json::object();
      const auto num = [&](const char* k, const char* f) { return a.contains(k) ? fmt(f, a[k].get<double>()) : std::string("-"); };
      // Each mode's own peak, dense/DSA: the device's where the model ran on a GPU.
      const auto peak = [&](const char* m) -> double {
        if (!p.contains(m) || !p[m].contains("memory")) return -1;
        const auto& mem = p[m]["memory"];
        return static_cast<double>(mem.value("device_peak_bytes", mem.value("peak_rss_bytes", std::int64_t{-1}))) / 1e9;
      };
      const double peak_dense = peak("dense"), peak_dsa = peak("dsa");
      const std::string peaks = peak_dense >= 0 && peak_dsa >= 0 ? fmt("%.3g", peak_dense) + "/" + fmt("%.3g", peak_dsa)
                                                                  : std::string("-");
      std::snprintf(line, sizeof line, "%-9lld %-10s %-10s %-9s %-9s %-9s %-10s %-8s %-10s %-13s %s\n",
                    static_cast<long long>(p["context"].get<std::int64_t>()), med("dense").c_str(), med("dsa").c_str(),
                    p.contains("speedup") ? fmt("%.2fx", p["speedup"].get<double>()).c_str() : "-", share("indexer").c_str(),
                    share("attention").c_str(), num(hidden ? "rel_l2_mean" : "kl_mean", "%.2e").c_str(),
                    num(hidden ? "cos_diff_mean" : "top1_agreement", hidden ? "%.1e" : "%.3f").c_str(),
                    num(hidden ? "max_abs_diff" : "max_logit_diff", "%.3f").c_str(), peaks.c_str(),
                    p.value("status", "?").c_str());
      out << line;
    }
    if (r["model"].contains("synthetic_checkpoint"))
      out << "(synthetic weights: the indexer is untrained, so these deltas are a worst case, not V3.2-Exp's)\n";
  }
  out << "\n==";
  for (const auto& [k, v] : counts) out << " " << v << " " << k << ";";
  out << " total " << cases.size() << " ==\n";
  // Nothing ran (a GPU suite on a machine without one): the table cuts the reason, so it is
  // given once in full.
  if (!cases.empty() && counts.size() == 1 && counts.count("skipped"))
    out << "nothing ran: every case was skipped; the first because " << cases.front().value("reason", std::string("?")) << "\n";
  // In full where the table cut it (with --quiet, a CI job's log, it is said nowhere else
  // but in the results file): a failure's reason, then why a case fell back; ten of each.
  // `note` gives the note the table cut ("" where none), `prefix` what goes before it.
  using Text = std::function<std::string(const nlohmann::json&)>;
  const auto in_full = [&](const Text& note, const Text& prefix, const char* rest) {
    int listed = 0;
    for (const auto& r : cases) {
      const std::string n = note(r);
      if (n.size() <= kNoteWidth) continue;
      if (listed++ < 10) out << r.value("name", "?") << ": " << prefix(r) << n << "\n";
    }
    if (listed > 10) out << "(and " << listed - 10 << " more " << rest << ")\n";
  };
  in_full([](const nlohmann::json& r) { return is_failure_status(r.value("status", "")) ? r.value("reason", "") : ""; },
          [](const nlohmann::json& r) { return r.value("status", "?") + ": "; },
          "failures: their reasons are in the results file");
  in_full([](const nlohmann::json& r) { return r.contains("backend_fallback") ? fallback_note(r) : std::string(); },
          [](const nlohmann::json&) { return std::string(); }, "cases that fell back: why is in the results file");
  return out.str();
}

}  // namespace dsa::bench
