// How the runner times a model_decode point (bench/model_cases.cpp), on a stand-in model
// whose forward costs nothing unless its ops are timed one by one, when each costs what
// a synchronisation around every op costs on a GPU.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "bench/runner.h"
#include "bench/suite.h"
#include "model/config.h"
#include "model/model.h"

namespace dsa::bench {
namespace {

using model::AttentionMode;
using model::ModelCache;
using model::OpTimes;

constexpr double kBracketSeconds = 0.02;  // per sequence and step timed op by op

class BracketCostModel : public model::Model {
 public:
  BracketCostModel() : c_(model::preset_config("dsa-tiny")) {}
  const model::ModelConfig& config() const override { return c_; }
  DType cache_dtype() const override { return DType::bf16; }
  bool has_head() const override { return true; }
  int loaded_layers() const override { return c_.layers; }
  std::string implementation() const override { return "test.bracket_cost"; }
  std::unique_ptr<ModelCache> make_cache() const override { return std::make_unique<ModelCache>(); }
  HostTensor<float> run_tokens(std::span<const std::int32_t> tokens, ModelCache& cache, AttentionMode mode,
                               OpTimes* times) const override {
    const auto n = static_cast<std::int64_t>(tokens.size());
    cache.length += n;
    if (times) {
      std::this_thread::sleep_for(std::chrono::duration<double>(kBracketSeconds));
      times->other += kBracketSeconds;
      if (mode == AttentionMode::dsa) times->indexer += kBracketSeconds / 2;
    }
    return HostTensor<float>({n, c_.vocab}, 0.0f);  // both modes alike: full agreement
  }
  HostTensor<float> run_hidden(const HostTensor<float>&, ModelCache&, AttentionMode, OpTimes*) const override {
    throw std::logic_error("the stand-in model has a head");
  }

 private:
  model::ModelConfig c_;
};

TEST(ModelDecodePoint, TimedStepsRunWithoutOpBracketsAndOpTimesComeFromStepsOfTheirOwn) {
  const Suite s = parse_suite(R"({"cases": [{"name": "d", "op": "model_decode", "model": "dsa-tiny", "contexts": [16],
                                             "decode_steps": 5, "batch": 2, "backends": ["cpu"]}]})",
                              "t");
  const BracketCostModel m;
  const nlohmann::json pt = model_decode_point(s.cases[0], m, 16, 1, RunContext{});
  for (const char* mode : {"dense", "dsa"}) {
    const nlohmann::json& r = pt[mode];
    // 5 steps, the first a warm-up; had a timed step been bracketed, it would take
    // 2 x 20 ms (both sequences run one after the other).
    EXPECT_EQ(r["timing"]["count"], 4) << mode;
    EXPECT_LT(r["timing"]["median_s"].get<double>(), kBracketSeconds / 2) << mode;
    // As many steps again, op by op: 4 steps x 2 sequences x 20 ms.
    EXPECT_EQ(r["op_steps"], 4) << mode;
    EXPECT_DOUBLE_EQ(r["op_times"]["seconds"]["other"].get<double>(), 4 * 2 * kBracketSeconds) << mode;
    EXPECT_LT(r["time_over_op_sum"].get<double>(), 0.25) << mode;
  }
  EXPECT_DOUBLE_EQ(pt["dense"]["op_times"]["seconds"]["indexer"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(pt["dsa"]["op_times"]["seconds"]["indexer"].get<double>(), 4 * 2 * kBracketSeconds / 2);
  // The agreement covers the timed steps only: 2 sequences x 5 steps.
  EXPECT_EQ(pt["accuracy"]["count"], 10);
  EXPECT_EQ(pt["status"], "passed");
}

}  // namespace
}  // namespace dsa::bench
