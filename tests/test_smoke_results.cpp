// End to end: the results file of a real run of suites/smoke.json (written by the
// ctest fixture "smoke_run"), checked field by field.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

// Results files the ctest fixtures wrote, under DSA_TEST_OUTPUT.
std::string output_file(const std::string& name) {
  const char* dir = std::getenv("DSA_TEST_OUTPUT");
  if (!dir) throw std::runtime_error("DSA_TEST_OUTPUT is not set (run through ctest)");
  return std::string(dir) + "/" + name;
}

const json& results() {
  static const json doc = [] {
    const std::string path = output_file("smoke-results.json");
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    return json::parse(in);
  }();
  return doc;
}

const json& find_case(const std::string& name) {
  for (const auto& c : results()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no case " + name);
}

void expect_timing(const json& t, const json& settings, const std::string& where) {
  ASSERT_TRUE(t.is_object()) << where;
  const auto& s = t["samples_s"];
  ASSERT_GE(s.size(), settings["min_samples"].get<std::size_t>()) << where;
  ASSERT_LE(s.size(), settings["max_samples"].get<std::size_t>()) << where;
  EXPECT_EQ(t["count"], s.size()) << where;
  double lo = 1e300, hi = 0;
  for (const auto& x : s) {
    EXPECT_GT(x.get<double>(), 0) << where;
    lo = std::min(lo, x.get<double>());
    hi = std::max(hi, x.get<double>());
  }
  EXPECT_DOUBLE_EQ(t["min_s"].get<double>(), lo) << where;
  EXPECT_DOUBLE_EQ(t["max_s"].get<double>(), hi) << where;
  EXPECT_LE(t["min_s"].get<double>(), t["median_s"].get<double>()) << where;
  EXPECT_LE(t["median_s"].get<double>(), t["max_s"].get<double>()) << where;
  EXPECT_GE(t["iqr_s"].get<double>(), 0) << where;
}

TEST(SmokeResults, HeaderAndProvenance) {
  const json& d = results();
  EXPECT_EQ(d["schema"], "dsa-bench-results");
  EXPECT_EQ(d["schema_version"], 1);
  EXPECT_EQ(d["run_status"], "complete");
  const json& p = d["provenance"];
  for (const char* k : {"tool_version", "git_commit", "timestamp_utc", "host", "cpu_model", "compiler", "build_type",
                        "command_line"})
    EXPECT_FALSE(p[k].get<std::string>().empty()) << k;
  EXPECT_GE(p["threads"].get<int>(), 1);
  EXPECT_TRUE(p["seed"].is_number_unsigned());
  EXPECT_TRUE(p["cuda_devices"].is_array());
  EXPECT_EQ(d["suite"]["name"], "smoke");
  EXPECT_EQ(d["suite"]["cases_selected"], d["cases"].size());
  EXPECT_TRUE(d["summary"]["all_ok"].get<bool>());
}

TEST(SmokeResults, EveryOpCaseValidatedTimedAndAccounted) {
  int ops = 0;
  for (const auto& c : results()["cases"]) {
    if (c["op"] == "dsa_vs_dense") continue;
    ++ops;
    const std::string n = c["name"];
    EXPECT_EQ(c["status"], "passed") << n << ": " << c.value("reason", "");
    EXPECT_EQ(c["backend"], "cpu") << n;
    EXPECT_FALSE(c["implementation"].get<std::string>().empty()) << n;
    EXPECT_TRUE(c["seed"].is_number_unsigned()) << n;
    expect_timing(c["timing"], c["params"]["timing"], n);
    EXPECT_GT(c["work"]["bytes"].get<double>(), 0) << n;
    EXPECT_GT(c["work"]["pairs"].get<std::int64_t>(), 0) << n;
    if (c["op"] != "topk") {
      EXPECT_GT(c["work"]["flop"].get<double>(), 0) << n;
      const double gflops = c["work"]["flop"].get<double>() / c["timing"]["median_s"].get<double>() * 1e-9;
      EXPECT_NEAR(c["throughput"]["gflops"].get<double>(), gflops, 1e-9 * gflops) << n;
    }
    EXPECT_GT(c["memory"]["peak_rss_bytes"].get<double>(), 0) << n;
    EXPECT_GT(c["memory"]["input_bytes"].get<double>(), 0) << n;
    const auto& checks = c["accuracy"]["checks"];
    ASSERT_FALSE(checks.empty()) << n;
    EXPECT_TRUE(checks[0]["name"].get<std::string>().find("structure") != std::string::npos ||
                checks[0]["name"].get<std::string>().find("identical") != std::string::npos)
        << n << ": structure is checked first";
    for (const auto& ch : checks) EXPECT_TRUE(ch["pass"].get<bool>()) << n << " " << ch.dump();
  }
  EXPECT_EQ(ops, 9);
}

TEST(SmokeResults, IndexerRecordsTheFp8PrecisionCost) {
  const json& c = find_case("indexer.fp8");
  const double cd = c["accuracy"]["metrics"]["quantisation"]["cos_diff"];
  EXPECT_GT(cd, 0);      // FP8 is not free...
  EXPECT_LT(cd, 1e-3);   // ...but within DeepGEMM's bound
}

void check_sweep(const json& c, const std::vector<std::int64_t>& contexts, bool decode) {
  const std::string n = c["name"];
  ASSERT_EQ(c["status"], "passed") << n << ": " << c.value("reason", "");
  const auto& pts = c["points"];
  ASSERT_EQ(pts.size(), contexts.size()) << n;
  const auto& settings = c["params"]["timing"];
  const std::int64_t topk = c["params"]["topk"], chunk = c["params"]["query_chunk"];
  std::vector<double> speedups;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const json& p = pts[i];
    const std::int64_t L = p["context"];
    const std::string w = n + " @" + std::to_string(L);
    EXPECT_EQ(L, contexts[i]) << w;
    EXPECT_EQ(p["status"], "passed") << w;
    expect_timing(p["dense"]["timing"], settings, w + " dense");
    expect_timing(p["dsa"]["timing"], settings, w + " dsa");
    for (const char* s : {"indexer", "topk", "attention"}) expect_timing(p["dsa"]["stages"][s]["timing"], settings, w + " " + s);
    const double dense = p["dense"]["timing"]["median_s"], dsa = p["dsa"]["timing"]["median_s"];
    EXPECT_DOUBLE_EQ(p["speedup"].get<double>(), dense / dsa) << w;
    speedups.push_back(p["speedup"]);
    // Work: dense attends every causal pair, DSA at most top-k per query.
    std::int64_t dense_pairs = 0, dsa_pairs = 0;
    for (std::int64_t t = L - chunk; t < L; ++t) {
      dense_pairs += t + 1;
      dsa_pairs += std::min(topk, t + 1);
    }
    EXPECT_EQ(p["dense"]["work"]["pairs"], dense_pairs) << w;
    EXPECT_EQ(p["dsa"]["work"]["pairs"], dsa_pairs) << w;
    EXPECT_EQ(p["dsa"]["stages"]["indexer"]["work"]["pairs"], dense_pairs) << w;
    // Memory: the latent cache (1152 B/token in bf16) and, for DSA, the indexer's 132 more.
    EXPECT_DOUBLE_EQ(p["memory"]["dense"]["cache_bytes"].get<double>(), 1152.0 * L) << w;
    EXPECT_DOUBLE_EQ(p["memory"]["dsa"]["cache_bytes"].get<double>(), 1284.0 * L) << w;
    EXPECT_GT(p["memory"]["peak_rss_bytes"].get<double>(), 0) << w;
    // Accuracy: every field filled; with top-k covering the context DSA loses nothing.
    const json& a = p["accuracy"];
    for (const char* k : {"rel_l2", "cos_diff", "max_abs"}) EXPECT_TRUE(a[k].is_number()) << w << " " << k;
    const double mass = a["attention_mass_recall"]["mean"], overlap = a["topk_overlap"]["mean"];
    EXPECT_GT(mass, 0.0) << w;
    EXPECT_LE(mass, 1.0 + 1e-9) << w;
    EXPECT_GE(overlap, 0.0) << w;
    EXPECT_LE(overlap, 1.0) << w;
    EXPECT_GT(a["sampled_rows"].get<std::int64_t>(), 0) << w;
    if (L <= topk) {
      EXPECT_NEAR(mass, 1.0, 1e-9) << w;
      EXPECT_DOUBLE_EQ(overlap, 1.0) << w;
      EXPECT_LT(a["rel_l2"].get<double>(), decode ? 1e-6 : 1e-2) << w << ": only rounding differs";
    } else {
      EXPECT_LT(mass, 1.0) << w << ": a real selection drops some mass";
      EXPECT_GT(a["rel_l2"].get<double>(), 0.0) << w;
    }
    for (const auto& ch : p["validation"]["checks"]) EXPECT_TRUE(ch["pass"].get<bool>()) << w << " " << ch.dump();
  }
  // The crossover must agree with the speed-ups it was derived from: it lies after
  // the last point where DSA is slower, when a later point exists.
  const json& x = c["crossover"];
  std::ptrdiff_t last_loss = -1;
  for (std::size_t i = 0; i < speedups.size(); ++i)
    if (speedups[i] < 1.0) last_loss = static_cast<std::ptrdiff_t>(i);
  if (last_loss >= 0 && last_loss + 1 < static_cast<std::ptrdiff_t>(speedups.size())) {
    ASSERT_TRUE(x["context"].is_number()) << n << " " << x.dump();
    const double at = x["context"];
    EXPECT_GT(at, static_cast<double>(contexts[last_loss])) << n;
    EXPECT_LE(at, static_cast<double>(contexts[last_loss + 1])) << n;
  } else {
    EXPECT_TRUE(x["context"].is_null()) << n;
    EXPECT_FALSE(x["note"].get<std::string>().empty()) << n;
  }
  EXPECT_EQ(c["cache_bytes_per_token_per_layer"]["dense"], 1152);
  EXPECT_EQ(c["cache_bytes_per_token_per_layer"]["dsa"], 1284);
}

TEST(SmokeResults, DecodeSweepAtRealShapes) {
  const json& c = find_case("dsa_vs_dense.decode.real_shapes");
  EXPECT_EQ(c["params"]["heads"], 128);
  EXPECT_EQ(c["params"]["index_heads"], 64);
  EXPECT_EQ(c["params"]["topk"], 2048);
  check_sweep(c, {1024, 2048, 4096, 8192, 16384}, true);
}

TEST(SmokeResults, PrefillSweepWithScaledDownHeads) {
  check_sweep(find_case("dsa_vs_dense.prefill.small_heads"), {512, 1024, 2048, 4096, 8192}, false);
}

}  // namespace

// The model suite's results (fixture "model"): whole-model runs on dsa-tiny.
namespace {

const nlohmann::json& model_results() {
  static const nlohmann::json doc = [] {
    std::ifstream in(output_file("model-results.json"));
    return nlohmann::json::parse(in);
  }();
  return doc;
}

TEST(ModelResults, EveryPointMeasuredAndAccountedForBothModes) {
  int checked = 0;
  for (const auto& c : model_results()["cases"]) {
    const std::string n = c["name"];
    if (c["status"] == "skipped") {
      EXPECT_NE(c["reason"].get<std::string>().find("cuda"), std::string::npos) << n;
      continue;
    }
    ASSERT_EQ(c["status"], "passed") << n << ": " << c.value("reason", "");
    EXPECT_EQ(c["model"]["preset"], "dsa-tiny");
    const bool decode = c["op"] == "model_decode";
    const bool hidden = c["params"]["layers"].is_array();  // a layer range on hidden states
    const int layers = hidden ? c["params"]["layers"][1].get<int>() - c["params"]["layers"][0].get<int>() : 3;
    for (const auto& p : c["points"]) {
      ++checked;
      const std::int64_t L = p["context"];
      const std::string w = n + " @" + std::to_string(L);
      // dsa-tiny: 3 layers of latent (128 + 16) values: bf16 2 B each, or the FP8 layout
      // 128 + 4 + 16 * 2 = 164 B; the indexer adds (32 + 4) B.
      const std::int64_t lat = c["params"]["kv_cache_dtype"] == "fp8" ? 164 : 288;
      EXPECT_EQ(p["dense"]["cache"]["bytes_per_token"], layers * lat) << w;
      EXPECT_EQ(p["dsa"]["cache"]["bytes_per_token"], layers * (lat + 36)) << w;
      EXPECT_EQ(p["dense"]["op_times"]["seconds"]["indexer"], 0.0) << w << ": dense runs no indexer";
      EXPECT_GT(p["dsa"]["op_times"]["seconds"]["indexer"].get<double>(), 0.0) << w;
      if (p["dense"].contains("timing")) {
        const double d = p["dense"]["timing"]["median_s"], s = p["dsa"]["timing"]["median_s"];
        EXPECT_DOUBLE_EQ(p["speedup"].get<double>(), d / s) << w;
        // The time against the sum of its ops, timed one by one in a run of their own
        // (decode: as many steps as were timed, after them).
        for (const char* mode : {"dense", "dsa"}) {
          EXPECT_GT(p[mode]["time_over_op_sum"].get<double>(), 0.0) << w << mode;
          if (decode) {
            EXPECT_EQ(p[mode]["op_steps"], p["decode_steps"].get<std::int64_t>() - 1) << w << mode;
          }
        }
        // Each timed mode's own peak (the host's here), within the point's peak over all
        // its phases; the host holds at least the fp32 weights.
        for (const char* mode : {"dense", "dsa"}) {
          ASSERT_TRUE(p[mode].contains("memory")) << w << mode;
          const std::int64_t own = p[mode]["memory"]["peak_rss_bytes"];
          EXPECT_GT(own, 1 << 20) << w << mode;
          EXPECT_LE(own, p["memory"]["peak_rss_bytes"].get<std::int64_t>()) << w << mode;
        }
      }
      const auto& a = p["accuracy"];
      std::int64_t counted = 0;
      for (const auto& b : a["buckets"]) {
        counted += b["count"].get<std::int64_t>();
        // Up to 64 tokens every key is selected (top-k 64): DSA must equal dense there.
        if (b["positions"][1].get<std::int64_t>() <= 64) {
          if (hidden) {
            EXPECT_LT(b["rel_l2_max"].get<double>(), 1e-3) << w;
          } else {
            EXPECT_LT(b["kl_max"].get<double>(), 1e-6) << w;
            EXPECT_EQ(b["top1_agreement"].get<double>(), 1.0) << w;
          }
        }
      }
      const std::int64_t expected = decode ? p["batch"].get<std::int64_t>() * p["decode_steps"].get<std::int64_t>() : L;
      EXPECT_EQ(counted, expected) << w << ": every position lands in one bucket";
      EXPECT_EQ(a["count"], expected) << w;
      if (!decode && L > 64)
        EXPECT_GT(a[hidden ? "rel_l2_max" : "kl_max"].get<double>(), 1e-4) << w << ": past top-k the selection shows";
    }
  }
  EXPECT_GE(checked, 6);
}

}  // namespace
