// Suite files: every kind of bad input is rejected before anything runs, with a
// message naming the file, the case and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/suite.h"
#include "core/rng.h"
#include "test_util.h"

namespace dsa::bench {
namespace {

// The message of the SuiteError thrown for `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_suite(text, "suites/test.json");
  } catch (const SuiteError& e) {
    return e.what();
  }
  return "";
}

std::string one_case(const std::string& fields) {
  return R"({"cases": [{"name": "c1", )" + fields + "}]}";
}

void expect_error(const std::string& text, std::initializer_list<const char*> parts) {
  const std::string msg = error_of(text);
  ASSERT_FALSE(msg.empty()) << "accepted: " << text;
  EXPECT_NE(msg.find("suites/test.json"), std::string::npos) << msg;
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(SuiteValidation, AcceptsAMinimalCaseAndFillsDefaults) {
  const Suite s = parse_suite(one_case(R"("op": "indexer")"), "x.json");
  ASSERT_EQ(s.cases.size(), 1u);
  const CaseSpec& c = s.cases[0];
  EXPECT_EQ(c.index_heads, 64);
  EXPECT_EQ(c.index_head_dim, 128);
  EXPECT_EQ(c.dtype, DType::fp8_e4m3);
  EXPECT_EQ(c.resolved_query_offset(), c.context - c.queries);
  EXPECT_EQ(s.name, "x");
  EXPECT_NEAR(c.resolved_scale(), 0.13524, 5e-5);
}

TEST(SuiteValidation, DefaultsApplyAndCasesOverrideThem) {
  const Suite s = parse_suite(R"({"defaults": {"timing": {"min_samples": 5, "max_seconds": 3}, "topk": 100},
    "cases": [{"name": "a", "op": "topk"}, {"name": "b", "op": "topk", "topk": 7, "timing": {"max_seconds": 1}},
              {"name": "c", "op": "indexer"}]})", "x.json");
  EXPECT_EQ(s.cases[0].topk, 100);
  EXPECT_EQ(s.cases[1].topk, 7);
  EXPECT_EQ(s.cases[1].timing.min_samples, 5);  // merged key by key
  EXPECT_EQ(s.cases[1].timing.max_seconds, 1.0);
  EXPECT_EQ(s.cases[2].timing.min_samples, 5);  // "topk" does not apply to an indexer: ignored there
}

// A case may name the variant to run; it then runs only on that variant's backend.
TEST(SuiteValidation, ImplementationNamesAVariantOfTheOp) {
  const Suite s = parse_suite(one_case(R"("op": "topk", "implementation": "cpu.topk.radix")"), "x.json");
  EXPECT_EQ(s.cases[0].implementation, "cpu.topk.radix");
  EXPECT_EQ(s.cases[0].backends, std::vector<std::string>{"cpu"});
  const Suite g = parse_suite(one_case(R"("op": "topk", "implementation": "cuda.topk.split")"), "x.json");
  EXPECT_EQ(g.cases[0].backends, std::vector<std::string>{"cuda"});
  expect_error(one_case(R"("op": "topk", "implementation": "cpu.topk.fast")"),
               {"case \"c1\"", "\"implementation\"", "cpu.topk.radix"});
  expect_error(one_case(R"("op": "indexer", "implementation": "cpu.topk.radix")"), {"\"implementation\"", "cpu.indexer.fp32"});
  expect_error(one_case(R"("op": "topk", "implementation": "cuda.topk.split", "backends": ["cpu"])"),
               {"\"backends\"", "includes \"cuda\""});
  expect_error(one_case(R"("op": "dsa_vs_dense", "implementation": "cpu.topk.radix")"), {"implementation"});
}

// A sweep names variants per stage; the dense stage's names follow the phase.
TEST(SuiteValidation, SweepImplementationsNameVariantsPerStage) {
  const std::string sweep = R"("op": "dsa_vs_dense", "phase": "decode", "contexts": [256], )";
  const Suite s = parse_suite(one_case(sweep + R"("implementations": {"topk": "cuda.topk.split"})"), "x.json");
  EXPECT_EQ(s.cases[0].stage_implementations.at("topk"), "cuda.topk.split");
  EXPECT_EQ(s.cases[0].backends, std::vector<std::string>{"cuda"});
  expect_error(one_case(sweep + R"("implementations": {"top_k": "cpu.topk.radix"})"), {"unknown field \"top_k\""});
  expect_error(one_case(sweep + R"("implementations": {"dense_attention": "cpu.dense_mha.online"})"),
               {"\"dense_attention\"", "cpu.dense_mqa.online"});  // decode: the MQA-mode variants
  expect_error(one_case(sweep + R"("implementations": {"indexer": "cpu.indexer.fp32", "topk": "cuda.topk.split"})"),
               {"\"backends\""});  // stages on two backends
}

// A model case names the GPU forward's kernels per op (CUDA variants only: the CPU
// forward has one implementation of each); the case then runs on the GPU only.
TEST(SuiteValidation, ModelImplementationsNameTheGpuForwardsKernels) {
  const std::string model = R"("op": "model_prefill", "contexts": [256], )";
  const Suite s = parse_suite(
      one_case(model + R"("implementations": {"topk": "cuda.topk.sample", "dense_attention_mha": "cuda.dense_mha.wgmma"})"),
      "x.json");
  EXPECT_EQ(s.cases[0].stage_implementations.at("topk"), "cuda.topk.sample");
  EXPECT_EQ(s.cases[0].stage_implementations.at("dense_attention_mha"), "cuda.dense_mha.wgmma");
  EXPECT_EQ(s.cases[0].backends, std::vector<std::string>{"cuda"});
  expect_error(one_case(model + R"("implementations": {"topk": "cpu.topk.radix"})"), {"\"topk\"", "a CUDA variant"});
  expect_error(one_case(model + R"("implementations": {"dense_attention": "cuda.dense_mha.wgmma"})"),
               {"unknown field \"dense_attention\""});  // the model runs both dense kinds: name which
  expect_error(one_case(R"("op": "model_decode", "contexts": [256], "backends": ["cpu"],
                           "implementations": {"indexer": "cuda.indexer.wgmma"})"),
               {"\"backends\"", "includes \"cuda\""});
}

TEST(SuiteValidation, NotJson) { expect_error("{\"cases\": [", {"not valid JSON"}); }
// A case edited with a field added again ran with the last value, silently.
TEST(SuiteValidation, AFieldGivenTwice) {
  expect_error(one_case(R"("op": "topk", "context": 4096, "context": 8192)"), {"key \"context\" given twice in cases[0]"});
  expect_error(R"({"defaults": {"timing": {"warmup": 1, "warmup": 2}}, "cases": []})",
               {"key \"warmup\" given twice in defaults.timing"});
}
TEST(SuiteValidation, WrongTopLevel) { expect_error("42", {"expected a list of cases"}); }
TEST(SuiteValidation, UnknownTopLevelKey) { expect_error(R"({"cases": [], "casse": 1})", {"unknown field \"casse\""}); }
TEST(SuiteValidation, CaseTimeout) {
  EXPECT_EQ(parse_suite(one_case(R"("op": "topk")"), "x.json").case_timeout_s, 0.0);  // none unless given
  const std::string two = R"({"case_timeout_s": 2.5, "cases": [{"name": "c1", "op": "topk"}]})";
  EXPECT_EQ(parse_suite(two, "x.json").case_timeout_s, 2.5);
  for (const char* bad : {"0", "-1", "\"600\"", "1e9"})
    expect_error(std::string(R"({"case_timeout_s": )") + bad + R"(, "cases": [{"name": "c1", "op": "topk"}]})",
                 {"\"case_timeout_s\"", "a number in (0, 604800]"});
}
TEST(SuiteValidation, NoCases) { expect_error(R"({"cases": []})", {"no cases"}); }
TEST(SuiteValidation, CaseNotAnObject) { expect_error(R"({"cases": [3]})", {"case #1", "expected an object"}); }
TEST(SuiteValidation, MissingName) { expect_error(R"({"cases": [{"op": "topk"}]})", {"case #1", "\"name\"", "missing"}); }
TEST(SuiteValidation, BadNameCharacters) { expect_error(R"([{"name": "a b", "op": "topk"}])", {"\"name\"", "letters"}); }
TEST(SuiteValidation, DotsAloneAreNotAName) { expect_error(R"([{"name": "..", "op": "topk"}])", {"\"name\"", "letters"}); }
// The suite's name is the default results file's: results/<suite>.json must stay in results/.
TEST(SuiteValidation, SuiteNameIsAPlainFileName) {
  for (const char* bad : {"../x", "a/b", "a b", ".."})
    expect_error(std::string(R"({"suite": ")") + bad + R"(", "cases": [{"name": "c1", "op": "topk"}]})",
                 {"field \"suite\"", "results file", bad});
  EXPECT_EQ(parse_suite(R"({"suite": "nightly-2.1", "cases": [{"name": "c1", "op": "topk"}]})", "x.json").name, "nightly-2.1");
  EXPECT_EQ(parse_suite(R"({"cases": [{"name": "c1", "op": "topk"}]})", "dir/my run.json").name, "my run");  // the file's stem
}
// "model" is a preset, checked before anything runs, or a config.json path, read when the
// case runs; "checkpoint" (real weights) excludes it.
TEST(SuiteValidation, ModelIsAPresetOrAConfigPath) {
  const std::string model = R"("op": "model_prefill", "contexts": [64], )";
  expect_error(one_case(model + R"("model": "dsa-huge")"), {"field \"model\"", "dsa-small, dsa-tiny", "config.json path", "\"dsa-huge\""});
  expect_error(one_case(model + R"("model": "dsa-tiny", "checkpoint": "/models/x")"), {"field \"checkpoint\"", "not both"});
  for (const char* path : {"configs/mine.json", "mine.json", "/abs/config"})
    EXPECT_EQ(parse_suite(one_case(model + R"("model": ")" + path + "\""), "x.json").cases[0].model, path);
  // A default model does not clash with a case's own checkpoint: the case's wins.
  const Suite s = parse_suite(R"({"defaults": {"model": "dsa-small"}, "cases": [{"name": "c1", "op": "model_prefill",
    "contexts": [64], "checkpoint": "/models/x"}]})", "x.json");
  EXPECT_EQ(s.cases[0].checkpoint, "/models/x");
}
TEST(SuiteValidation, DuplicateName) {
  expect_error(R"({"cases": [{"name": "x", "op": "topk"}, {"name": "x", "op": "topk"}]})", {"case \"x\" (#2)", "unique"});
}
TEST(SuiteValidation, MissingOp) { expect_error(one_case(R"("mode": "both")"), {"case \"c1\"", "\"op\"", "missing"}); }
TEST(SuiteValidation, UnknownOp) { expect_error(one_case(R"("op": "flash")"), {"\"op\"", "one of", "\"flash\""}); }
TEST(SuiteValidation, UnknownField) {
  expect_error(one_case(R"("op": "topk", "tokp": 5)"), {"case \"c1\"", "unknown field \"tokp\"", "op topk"});
}
TEST(SuiteValidation, FieldOfAnotherOp) {
  expect_error(one_case(R"("op": "topk", "heads": 5)"), {"unknown field \"heads\""});
}
TEST(SuiteValidation, WrongType) {
  expect_error(one_case(R"("op": "topk", "queries": "many")"), {"\"queries\"", "expected an integer", "the string \"many\""});
}
TEST(SuiteValidation, FloatForInteger) {
  expect_error(one_case(R"("op": "topk", "queries": 2.5)"), {"\"queries\"", "integer"});
}
TEST(SuiteValidation, OutOfRange) {
  expect_error(one_case(R"("op": "sparse_attention", "heads": 0)"), {"\"heads\"", "[1, 4096]", "0"});
}
TEST(SuiteValidation, BadEnum) { expect_error(one_case(R"("op": "topk", "mode": "fast")"), {"\"mode\"", "validate"}); }
TEST(SuiteValidation, DtypeNotAllowedForOp) {
  expect_error(one_case(R"("op": "dense_attention_mqa", "dtype": "fp8")"), {"\"dtype\"", "bf16"});
}
TEST(SuiteValidation, GeneratorNotAllowedForOp) {
  expect_error(one_case(R"("op": "indexer", "generator": "lowbits")"), {"\"generator\""});
}
TEST(SuiteValidation, SweepNeedsPhase) {
  expect_error(one_case(R"("op": "dsa_vs_dense", "contexts": [1024])"), {"\"phase\"", "prefill"});
}
TEST(SuiteValidation, SweepContextsMustIncrease) {
  expect_error(one_case(R"("op": "dsa_vs_dense", "phase": "decode", "contexts": [4096, 1024])"),
               {"\"contexts\"", "strictly increasing", "1024"});
}
TEST(SuiteValidation, SweepContextsNotEmpty) {
  expect_error(one_case(R"("op": "dsa_vs_dense", "phase": "decode", "contexts": [])"), {"\"contexts\"", "non-empty"});
}
TEST(SuiteValidation, ChunkLargerThanContext) {
  expect_error(one_case(R"("op": "dsa_vs_dense", "phase": "prefill", "contexts": [64, 128], "query_chunk": 100)"),
               {"\"query_chunk\"", "smallest context (64)"});
}
TEST(SuiteValidation, PrefillBatch) {
  expect_error(one_case(R"("op": "dsa_vs_dense", "phase": "prefill", "contexts": [64], "query_chunk": 8, "batch": 4)"),
               {"\"batch\""});
}
TEST(SuiteValidation, QueryOffsetPastContext) {
  expect_error(one_case(R"("op": "indexer", "queries": 10, "context": 100, "query_offset": 95)"),
               {"\"query_offset\"", "at most context - queries (90)"});
}
TEST(SuiteValidation, MoreQueriesThanContext) {
  expect_error(one_case(R"("op": "topk", "queries": 10, "context": 5)"), {"\"queries\"", "at most context (5)"});
}
TEST(SuiteValidation, MqaValueWiderThanKey) {
  expect_error(one_case(R"("op": "dense_attention_mqa", "d_qk": 64, "d_v": 128)"), {"\"d_v\"", "MQA"});
}
TEST(SuiteValidation, CacheDtypeIsTheCaseDtypeOrFp8) {
  expect_error(one_case(R"("op": "sparse_attention", "kv_cache_dtype": "fp32")"), {"\"kv_cache_dtype\"", "bf16", "fp8"});
  expect_error(one_case(R"("op": "dense_attention_mha", "kv_cache_dtype": "fp8")"), {"unknown field \"kv_cache_dtype\""});
}
TEST(SuiteValidation, Fp8CacheNeedsTheRowLayout) {
  expect_error(one_case(R"("op": "dense_attention_mqa", "d_qk": 200, "d_v": 100, "kv_cache_dtype": "fp8")"),
               {"\"kv_cache_dtype\"", "multiple of 128"});
  expect_error(one_case(R"("op": "dsa_vs_dense", "phase": "decode", "contexts": [4096], "kv_rank": 100,
                           "kv_cache_dtype": "fp8")"), {"\"kv_cache_dtype\"", "kv_rank"});
}
TEST(SuiteValidation, TimingOrder) {
  expect_error(one_case(R"("op": "topk", "timing": {"min_samples": 10, "max_samples": 5})"),
               {"timing", "\"max_samples\"", ">= min_samples"});
}
TEST(SuiteValidation, TimingUnknownKey) {
  expect_error(one_case(R"("op": "topk", "timing": {"samples": 10})"), {"timing", "unknown field \"samples\""});
}
TEST(SuiteValidation, NegativeTolerance) {
  expect_error(one_case(R"("op": "topk", "tolerance": {"abs": -1})"), {"tolerance", "\"abs\""});
}
TEST(SuiteValidation, TimingNotAnObject) {
  expect_error(one_case(R"("op": "topk", "timing": 3)"), {"\"timing\"", "an object"});
}
TEST(SuiteValidation, PatternUnknownKey) {
  expect_error(one_case(R"("op": "indexer", "pattern": {"sinks": 2})"), {"pattern", "unknown field \"sinks\""});
}
TEST(SuiteValidation, TooManyNeedlesForTheRopeDims) {
  expect_error(one_case(R"("op": "dense_attention_mqa", "qk_rope": 16, "pattern": {"needles": 9})"),
               {"\"pattern.needles\"", "at most 7", "qk_rope"});
}
TEST(SuiteValidation, RopeDimsNotMultipleOfFour) {
  expect_error(one_case(R"("op": "indexer", "index_head_dim": 12)"), {"\"index_head_dim\"", "multiple of 4"});
}
TEST(SuiteValidation, HadamardNeedsPowerOfTwo) {
  expect_error(one_case(R"("op": "indexer", "index_head_dim": 96, "hadamard": true)"), {"\"index_head_dim\"", "power of two"});
}
TEST(SuiteValidation, DefaultsWithUnknownKey) {
  expect_error(R"({"defaults": {"warmups": 1}, "cases": [{"name": "a", "op": "topk"}]})", {"defaults", "\"warmups\""});
}
TEST(SuiteValidation, BadBackendsList) {
  expect_error(one_case(R"("op": "topk", "backends": ["tpu"])"), {"\"backends\"", "cuda"});
  expect_error(one_case(R"("op": "topk", "backends": [])"), {"\"backends\"", "non-empty"});
}

TEST(SuiteValidation, MissingFile) {
  try {
    load_suite("/nonexistent/suite.json");
    FAIL() << "no error";
  } catch (const SuiteError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/suite.json: cannot open"), std::string::npos);
  }
}

// Seeded random damage to every shipped suite (characters changed, numbers replaced by
// long digit strings, spans deleted or duplicated): each damaged text either parses or is
// rejected with a SuiteError naming the file. Any other exception (a JSON library type
// error, an out-of-range access) or a crash under the sanitiser build fails.
TEST(SuiteValidation, DamagedSuitesParseOrFailWithANamedError) {
  std::vector<std::string> suites;
  for (const auto& entry : std::filesystem::directory_iterator(DSA_SUITES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    suites.push_back(text.str());
  }
  ASSERT_GE(suites.size(), 6u) << DSA_SUITES_DIR;
  Rng rng(20261206);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    const std::string t = test::damage_text(suites[rng.below(suites.size())], rng);
    try {
      const Suite s = parse_suite(t, "suites/damaged.json");
      ++parsed;
      EXPECT_FALSE(s.cases.empty());
    } catch (const SuiteError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find("suites/damaged.json"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << iter << ": " << typeid(e).name() << ": " << e.what() << "\n" << t;
    }
  }
  // Both outcomes must occur, or the damage tested nothing.
  EXPECT_GT(parsed, 50);
  EXPECT_GT(rejected, 300);
}

}  // namespace
}  // namespace dsa::bench
