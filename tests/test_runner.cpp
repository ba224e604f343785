// Runner pieces: timing statistics and stopping rules, work accounting, the results
// file, generators, and per-case status (one bad case never ends a run).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "bench/checks.h"
#include "bench/console.h"
#include "bench/inputs.h"
#include "bench/results.h"
#include "bench/runner.h"
#include "bench/suite.h"
#include "bench/supervisor.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "bench/work.h"
#include "core/dtype.h"
#include "core/generators.h"
#include "kernels/cuda_device.h"
#include "kernels/registry.h"
#include "reference/attention.h"
#include "test_util.h"

namespace dsa::bench {
namespace {

TEST(Timing, SummaryStatistics) {
  const TimingStats t = summarize({4, 1, 3, 2, 5});
  EXPECT_EQ(t.min, 1);
  EXPECT_EQ(t.max, 5);
  EXPECT_EQ(t.median, 3);
  EXPECT_EQ(t.q1, 2);
  EXPECT_EQ(t.q3, 4);
  EXPECT_EQ(t.iqr, 2);
  EXPECT_EQ(t.mean, 3);
  EXPECT_NEAR(t.rel_spread, std::sqrt(2.5) / 3, 1e-12);
  EXPECT_EQ(t.samples, (std::vector<double>{4, 1, 3, 2, 5}));  // kept in the order taken
}

// Settings with no time budget to speak of, so only the counts and the spread decide.
TimingSettings count_settings(int warmup, int min_samples, int max_samples) {
  TimingSettings st;
  st.warmup = warmup;
  st.min_samples = min_samples;
  st.max_samples = max_samples;
  st.max_seconds = 1e9;
  st.target_rel_spread = 0.01;
  return st;
}

TEST(Timing, StopsAtMinSamplesWhenStableAndAtMaxSamplesWhenNoisy) {
  const TimingSettings st = count_settings(2, 4, 9);
  int calls = 0;
  const TimingStats stable = measure(st, [&] { ++calls; return 1.0; });
  EXPECT_EQ(stable.samples.size(), 4u);
  EXPECT_TRUE(stable.converged);
  EXPECT_EQ(calls, 6);  // warm-up runs are not samples
  int n = 0;
  const TimingStats noisy = measure(st, [&] { return (n++ % 2) ? 1.0 : 2.0; });
  EXPECT_EQ(noisy.samples.size(), 9u);
  EXPECT_FALSE(noisy.converged);
}

TEST(Timing, InterleavedSamplesTakeTurnsAndStopTogether) {
  const TimingSettings st = count_settings(2, 4, 9);
  std::string log;
  const TimingPair stable = measure_interleaved(st, [&] { log += 'a'; return 1.0; }, [&] { log += 'b'; return 2.0; });
  EXPECT_EQ(log, "abab" "ab" "ba" "ab" "ba");  // warm-ups, then pairs whose order alternates
  EXPECT_EQ(stable.a.samples, (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(stable.b.samples, (std::vector<double>{2, 2, 2, 2}));
  EXPECT_TRUE(stable.a.converged && stable.b.converged);
  EXPECT_EQ(stable.a.warmup, 2);
  // One side noisy: both go on to max_samples, each saying whether its own spread met the target.
  int n = 0;
  const TimingPair one_noisy = measure_interleaved(st, [] { return 1.0; }, [&] { return (n++ % 2) ? 1.0 : 2.0; });
  EXPECT_EQ(one_noisy.a.samples.size(), 9u);
  EXPECT_EQ(one_noisy.b.samples.size(), 9u);
  EXPECT_TRUE(one_noisy.a.converged);
  EXPECT_FALSE(one_noisy.b.converged);
}

TEST(Timing, InterleavingKeepsTheRatioWhenTheMachineChangesSpeed) {
  // A machine that runs at half speed from its 12th call on; b does twice a's work.
  const TimingSettings st = count_settings(1, 10, 10);
  int calls = 0;
  auto speed = [&] { return ++calls <= 12 ? 1.0 : 2.0; };
  auto a = [&] { return 1.0 * speed(); };
  auto b = [&] { return 2.0 * speed(); };
  const TimingPair turns = measure_interleaved(st, a, b);
  EXPECT_DOUBLE_EQ(turns.b.median / turns.a.median, 2.0);
  // One after the other, the same machine makes b look four times a.
  calls = 0;
  const TimingStats ta = measure(st, a), tb = measure(st, b);
  EXPECT_DOUBLE_EQ(tb.median / ta.median, 4.0);
}

TEST(Work, IndexerCountsOnlyCausalPairs) {
  // T=2 queries at positions 8, 9 over 10 keys: 9 + 10 = 19 pairs.
  const Work w = indexer_work(IndexerShape{2, 10, 2, 4, 8, true}, DType::f32);
  EXPECT_EQ(w.pairs, 19);
  EXPECT_DOUBLE_EQ(w.flop, 2.0 * 2 * 4 * 19);
  // q 2*2*4*4 + k 10*4*4 + w 2*2*4 + scores 19*4
  EXPECT_DOUBLE_EQ(w.bytes, 64 + 160 + 16 + 76);
  // fp8: 1 byte per value plus one fp32 scale per head vector / per key.
  const Work w8 = indexer_work(IndexerShape{2, 10, 2, 4, 8, true}, DType::fp8_e4m3);
  EXPECT_DOUBLE_EQ(w8.bytes, 2 * 2 * (4 + 4) + 10 * (4 + 4) + 16 + 76);
}

TEST(Work, SparseCountsValidIndicesAndUniqueCacheEntries) {
  HostTensor<std::int32_t> idx({2, 4});
  const std::int32_t a[] = {0, 3, -1, 99}, b[] = {3, 5, 7, -1};  // 99 >= S is invalid
  for (int j = 0; j < 4; ++j) { idx(0, j) = a[j]; idx(1, j) = b[j]; }
  const AttentionShape sh{2, 10, 4, 576, 512, 0.1, 0};
  const Work w = sparse_attention_work(sh, idx, DType::bf16, DType::bf16);
  EXPECT_EQ(w.pairs, 5);
  EXPECT_DOUBLE_EQ(w.flop, 2.0 * 4 * (576 + 512) * 5);
  // q + valid indices + 4 unique cache rows (0,3,5,7) + out + lse
  EXPECT_DOUBLE_EQ(w.bytes, 2 * 4 * 576 * 2 + 5 * 4 + 4 * 576 * 2 + 2 * 4 * 512 * 2 + 2 * 4 * 4);
}

TEST(Work, AnFp8CacheIsCountedAsItsPackedRows) {
  HostTensor<std::int32_t> idx({1, 3});
  idx(0, 0) = 1; idx(0, 1) = 4; idx(0, 2) = 4;  // two unique rows, three reads
  const AttentionShape sh{1, 10, 2, 576, 512, 0.1, 9};
  const Work bf = sparse_attention_work(sh, idx, DType::bf16, DType::bf16);
  const Work f8 = sparse_attention_work(sh, idx, DType::bf16, DType::fp8_e4m3);
  EXPECT_DOUBLE_EQ(bf.bytes - f8.bytes, 2 * (1152.0 - 656.0));
  EXPECT_DOUBLE_EQ(bf.flop, f8.flop);
  const Work dense8 = dense_mqa_work(sh, DType::bf16, DType::fp8_e4m3);
  EXPECT_DOUBLE_EQ(dense_mqa_work(sh, DType::bf16, DType::bf16).bytes - dense8.bytes, 10 * (1152.0 - 656.0));
}

TEST(Work, DenseAndTheSpecsPerPairFigures) {
  // dsa-spec.md section 6: 81,920 FLOP per pair in MHA mode, 278,528 in MQA mode.
  const Work mha = dense_mha_work(AttentionShape{1, 1, 128, 192, 128, 0.1, 0}, DType::bf16);
  const Work mqa = dense_mqa_work(AttentionShape{1, 1, 128, 576, 512, 0.1, 0}, DType::bf16, DType::bf16);
  EXPECT_DOUBLE_EQ(mha.flop, 81920);
  EXPECT_DOUBLE_EQ(mqa.flop, 278528);
  EXPECT_DOUBLE_EQ(indexer_work(IndexerShape{1, 1, 64, 128, 0, true}, DType::fp8_e4m3).flop, 16384);
  // Causal prefill of 4 queries from position 0: 1+2+3+4 pairs.
  EXPECT_EQ(dense_mha_work(AttentionShape{4, 4, 1, 8, 8, 0.1, 0}, DType::f32).pairs, 10);
}

TEST(Work, CacheBytesPerToken) {
  EXPECT_EQ(mla_cache_bytes_per_token(512, 64, DType::bf16), 1152);
  EXPECT_EQ(mla_cache_bytes_per_token(512, 64, DType::fp8_e4m3), 656);
  EXPECT_EQ(indexer_cache_bytes_per_token(128, DType::fp8_e4m3), 132);
}

TEST(ResultsFileTest, EveryWriteIsACompleteDocument) {
  const std::string path = test::scratch_path("results-test.json");
  ResultsFile f(path, {{"tool", "dsa-bench"}}, {{"name", "t"}});
  auto read = [&] {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  };
  EXPECT_EQ(read()["run_status"], "running");
  EXPECT_EQ(read()["schema_version"], 1);
  f.put_case({{"name", "a"}, {"status", "running"}});
  f.put_case({{"name", "a"}, {"status", "passed"}});  // replaced, not appended
  f.put_case({{"name", "b"}, {"status", "failed"}});
  const auto doc = read();
  ASSERT_EQ(doc["cases"].size(), 2u);
  EXPECT_EQ(doc["cases"][0]["status"], "passed");
  f.finish("complete", {{"counts", {{"passed", 1}}}});
  EXPECT_EQ(read()["run_status"], "complete");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ResultsFileTest, BadPathFailsBeforeAnyCaseRuns) {
  EXPECT_THROW(ResultsFile("/nonexistent-dir/x/results.json", {}, {}), std::runtime_error);
}

// The last step, the rename over the results file, fails when a folder has its name: the
// written temporary is removed, not left beside it.
TEST(ResultsFileTest, AFailedReplaceLeavesNoTemporaryFile) {
  const std::string path = test::scratch_path("results-is-a-folder");
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path + "/inside");  // not empty: rename() cannot replace it
  EXPECT_THROW(ResultsFile(path, {}, {}), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove_all(path);
}

// What a resumed run (run --resume, or a new worker after a lost case) starts from.
TEST(ResultsFileTest, ReopeningKeepsFinishedCasesAndDropsUnfinishedOnes) {
  const std::string path = test::scratch_path("results-reopen.json");
  {
    ResultsFile f(path, {{"tool", "dsa-bench"}}, {{"name", "t"}});
    f.put_case({{"name", "a"}, {"status", "passed"}, {"duration_s", 1.5}});
    f.put_case({{"name", "b"}, {"status", "error"}, {"duration_s", 2.0}});
    f.put_case({{"name", "c"}, {"status", "running"}, {"points", {1, 2}}});  // a sweep cut off
  }
  auto f = ResultsFile::open(path);
  EXPECT_EQ(f->document()["cases"].size(), 3u);  // open() changes nothing
  f->reopen({{"reason", "test"}});
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["cases"].size(), 2u);
  EXPECT_EQ(doc["cases"][0]["name"], "a");
  EXPECT_EQ(doc["cases"][1]["name"], "b");
  EXPECT_EQ(doc["run_status"], "running");
  const auto& note = doc["provenance"]["resumed"].at(0);
  EXPECT_EQ(note["reason"], "test");
  EXPECT_EQ(note["kept_cases"], 2);
  EXPECT_DOUBLE_EQ(note["duration_s_before"].get<double>(), 3.5);  // no summary: the cases' times

  // A run that finished (here interrupted) has a summary, whose time is the whole run's.
  f->put_case({{"name", "c"}, {"status", "interrupted"}});
  f->finish("interrupted", {{"duration_s", 9.0}});
  f->reopen({{"reason", "again"}});
  EXPECT_EQ(f->document()["cases"].size(), 2u);
  EXPECT_FALSE(f->document().contains("summary"));
  EXPECT_DOUBLE_EQ(f->document()["provenance"]["resumed"].at(1)["duration_s_before"].get<double>(), 9.0);
}

TEST(ResultsFileTest, OpeningSaysWhatIsWrongWithTheFile) {
  const auto message = [](const std::string& text) {
    const std::string path = test::scratch_path("results-bad.json");
    std::ofstream(path) << text;
    try {
      ResultsFile::open(path);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{").find("not JSON"), std::string::npos);
  EXPECT_NE(message(R"({"schema": "other"})").find("not a dsa-bench results file"), std::string::npos);
  EXPECT_NE(message(R"({"schema": "dsa-bench-results", "schema_version": 2})").find("schema_version"), std::string::npos);
  EXPECT_NE(message(R"({"schema": "dsa-bench-results", "schema_version": 1, "provenance": {}, "suite": {}})")
                .find("\"cases\""),
            std::string::npos);
  EXPECT_NE(message(R"({"schema": "dsa-bench-results", "schema_version": 1, "suite": {}, "cases": []})").find("provenance"),
            std::string::npos);
  EXPECT_THROW(ResultsFile::open(test::scratch_path("no-such-results.json")), std::runtime_error);
}

TEST(Generators, SameSeedSameInputsForAnyThreadCount) {
  const Suite s = parse_suite(R"({"cases": [{"name": "a", "op": "dense_attention_mqa", "heads": 4, "context": 3000}]})", "t");
  AttentionData a, b;
  test::with_threads(1, [&] { a = make_attention_data(s.cases[0], 42); });
  test::with_threads(4, [&] { b = make_attention_data(s.cases[0], 42); });
  EXPECT_TRUE(std::equal(a.kv.span().begin(), a.kv.span().end(), b.kv.span().begin()));
  EXPECT_TRUE(std::equal(a.q.span().begin(), a.q.span().end(), b.q.span().begin()));
  const AttentionData c = make_attention_data(s.cases[0], 43);
  EXPECT_FALSE(std::equal(a.kv.span().begin(), a.kv.span().end(), c.kv.span().begin()));
}

// Planted parts only (no noise), logit = 0.5 * q.k, every later query seeks every needle.
double planted_logit(const PatternSpec& spec, std::int64_t S, std::int64_t key) {
  const AttentionPattern pat(spec, S, 9);
  const PatternSpace space(pat, 64, 0.5, 77);
  HostTensor<float> keys({S, 64}), q({1, 64});
  space.plant_keys(keys.data(), S, 64, 0);
  space.plant_query(q.data(), 0, S - 1, 1.0);
  double d = 0;
  for (int i = 0; i < 64; ++i) d += static_cast<double>(q(0, i)) * keys(key, i);
  return 0.5 * d;
}

TEST(Generators, SinkAndNeedlesGetExactlyTheirLogitsAndNothingElse) {
  PatternSpec spec;
  spec.local_logit = 0;
  spec.needle_query_fraction = 1.0;
  const std::int64_t S = 4000;
  const AttentionPattern pat(spec, S, 9);
  ASSERT_EQ(pat.needle_positions().size(), 8u);
  // Orthonormal directions: no planted part leaks into another key's logit.
  EXPECT_NEAR(planted_logit(spec, S, 0), spec.sink_logit, 1e-4);
  for (std::int64_t p : pat.needle_positions()) EXPECT_NEAR(planted_logit(spec, S, p), spec.needle_logit, 1e-4) << p;
  EXPECT_NEAR(planted_logit(spec, S, 1234 == pat.needle_positions()[0] ? 1235 : 1234), 0.0, 1e-4);
}

TEST(Generators, LocalBoostPeaksAtDistanceZeroAndFadesWithDistance) {
  PatternSpec spec;
  spec.sink_logit = 0;
  spec.needles = 0;
  const std::int64_t S = 4000;
  EXPECT_NEAR(planted_logit(spec, S, S - 1), spec.local_logit, 1e-4);
  double near = 0, far = 0;
  for (std::int64_t d = 1; d <= 16; ++d) near += planted_logit(spec, S, S - 1 - d) / 16;
  for (std::int64_t s = 1000; s < 1200; ++s) far += std::fabs(planted_logit(spec, S, s)) / 200;
  EXPECT_GT(near, 0.8 * spec.local_logit);  // well inside the 128-token window
  EXPECT_LT(far, 0.25 * spec.local_logit);  // far away: the cosines no longer agree
}

TEST(Generators, NeedleCountIsLimitedByThePositionalDims) {
  PatternSpec spec;
  spec.needles = 40;
  const AttentionPattern pat(spec, 10000, 1);
  EXPECT_THROW(PatternSpace(pat, 64, 1.0, 2), std::invalid_argument);  // at most 31 in 64 dims
  EXPECT_EQ(max_needles(64), 31);
}

TEST(RunCase, AThrowingCaseBecomesAnErrorStatus) {
  Suite s = parse_suite(R"({"cases": [{"name": "bad", "op": "indexer", "queries": 2, "context": 8, "index_heads": 2}]})", "t");
  CaseSpec c = s.cases[0];
  c.index_head_dim = 6;  // impossible for the structured generator; the validator would refuse it
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(c, ctx);
  EXPECT_EQ(rec["status"], "error");
  EXPECT_NE(rec["reason"].get<std::string>().find("rope_dim"), std::string::npos) << rec["reason"];
  EXPECT_EQ(rec["name"], "bad");
  EXPECT_TRUE(rec.contains("duration_s"));
}

// Inputs no machine holds (2^24 rows of 2^24 scores: 64 TiB) end the case as oom before
// anything is allocated, with what they would take and what the process had to use; the
// run goes on.
TEST(RunCase, ACaseThatCannotAllocateItsInputsIsOom) {
  ASSERT_GE(available_memory_bytes(), 0) << "the check needs the machine's available memory";
  const Suite s = parse_suite(
      R"({"cases": [{"name": "huge", "op": "topk", "queries": 16777216, "context": 16777216, "topk": 8}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  EXPECT_EQ(rec["status"], "oom") << rec.dump();
  // What it asked for, beside what there was: 16M x 16M fp32 scores are 1.1 PB.
  EXPECT_NE(rec["reason"].get<std::string>().find(
                "out of host memory for the case: its inputs and outputs alone would take about 1125.9 TB as fp32 ("),
            std::string::npos)
      << rec["reason"];
  EXPECT_NE(rec["reason"].get<std::string>().find(" GB was available when it began)"), std::string::npos) << rec["reason"];
}

// The points of a multi-context case: one that runs out of memory (the OutOfMemory a
// device allocation throws, or a host std::bad_alloc) is an oom point with the reason,
// and the points after it still run. The case takes its worst point's status, an error
// over a failed check over oom, with the first such point's reason.
nlohmann::json points_of(const std::vector<std::string>& statuses) {
  std::vector<std::int64_t> contexts;
  for (std::size_t i = 0; i < statuses.size(); ++i) contexts.push_back(1024 << i);
  nlohmann::json rec;
  run_points(contexts, RunContext{}, true, rec, [&](std::int64_t L, std::size_t i) -> nlohmann::json {
    const std::string& st = statuses[i];
    if (st == "device_oom") throw OutOfMemory("out of device memory: 9.0 GB asked for at " + std::to_string(L));
    if (st == "host_oom") throw std::bad_alloc();
    if (st == "error") throw std::runtime_error("broken at " + std::to_string(L));
    return {{"context", L}, {"status", st}};
  });
  return rec;
}

// A worker whose supervisor was killed outright: the pipe to it is closed before the
// supervisor's death sends the worker SIGTERM, and a progress line written in between
// must fail quietly, not end the worker (SIGPIPE's default) before it can mark the
// results file interrupted. In a child process: without the fix the signal kills it.
TEST(WorkerChannel, AClosedChannelDoesNotEndTheWorker) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int p[2];
        if (pipe(p) != 0) std::exit(3);
        close(p[0]);  // the supervisor is gone
        setenv("DSA_BENCH_WORKER_FD", std::to_string(p[1]).c_str(), 1);
        const WorkerChannel channel = WorkerChannel::from_environment();
        if (!channel.active()) std::exit(4);
        channel.begin("a");
        channel.phase("context 512 (2/10): validating");
        channel.end("a");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RunPoints, APointOutOfMemoryIsOomAndTheNextPointsStillRun) {
  const nlohmann::json rec = points_of({"passed", "device_oom", "host_oom"});
  ASSERT_EQ(rec["points"].size(), 3u) << rec.dump();
  EXPECT_EQ(rec["points"][0]["status"], "passed");
  EXPECT_EQ(rec["points"][1]["status"], "oom");
  EXPECT_EQ(rec["points"][1]["reason"], "out of device memory: 9.0 GB asked for at 2048");
  EXPECT_EQ(rec["points"][2]["status"], "oom");
  EXPECT_EQ(rec["points"][2]["reason"].get<std::string>().rfind("out of host memory at this context", 0), 0u)
      << rec["points"][2]["reason"];
  EXPECT_EQ(rec["status"], "oom");
  EXPECT_EQ(rec["reason"], "context 2048: out of device memory: 9.0 GB asked for at 2048");
}

TEST(RunPoints, TheCaseTakesItsWorstPointsStatusAndReason) {
  EXPECT_EQ(points_of({"passed", "passed"})["status"], "passed");
  EXPECT_FALSE(points_of({"passed", "passed"}).contains("reason"));
  const nlohmann::json failed = points_of({"passed", "device_oom", "failed"});
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["reason"], "context 4096: failed");
  const nlohmann::json error = points_of({"failed", "error", "device_oom"});
  EXPECT_EQ(error["status"], "error");
  EXPECT_EQ(error["reason"], "context 2048: broken at 2048");
}

// A sweep makes its inputs once, at its largest context, and every point takes a prefix:
// inputs no machine holds (525 TB, past any address space) end the case as oom before
// anything is allocated, saying how much they would take and how to keep the other points.
TEST(RunCase, ASweepWhoseLargestContextCannotBeMadeIsOomWithWhatItTakes) {
  ASSERT_GE(available_memory_bytes(), 0) << "the check needs the machine's available memory";
  const Suite s = parse_suite(R"({"cases": [{"name": "sw", "op": "dsa_vs_dense", "phase": "decode",
     "contexts": [256, 2000000000], "heads": 4, "index_heads": 4, "topk": 64, "kv_rank": 65536, "qk_nope": 32,
     "qk_rope": 32, "v_head": 32}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  EXPECT_EQ(rec["status"], "oom") << rec.dump(1);
  const std::string why = rec.value("reason", "");
  EXPECT_EQ(why.rfind("out of host memory making the inputs at the largest context, 2000000000, of which every point "
                      "takes a prefix: they would take about 525.6 TB as fp32 (",
                      0),
            0u)
      << why;
  EXPECT_NE(why.find("; a case of its own for that context lets the others run"), std::string::npos) << why;
}

// What is counted against the machine's memory: the reference's outputs only where the
// case validates (a bench-mode case never makes them).
TEST(RunCase, AnOpCaseCountsTheReferencesOutputsOnlyWhenItValidates) {
  ASSERT_GE(available_memory_bytes(), 0) << "the check needs the machine's available memory";
  const Suite s = parse_suite(R"({"cases": [
     {"name": "b", "op": "indexer", "generator": "gaussian", "queries": 16777216, "context": 16777216,
      "index_heads": 1, "index_head_dim": 32, "mode": "bench"},
     {"name": "v", "op": "indexer", "generator": "gaussian", "queries": 16777216, "context": 16777216,
      "index_heads": 1, "index_head_dim": 32, "mode": "validate"}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  // 2^48 scores of 4 bytes: 1125.9 TB, and as much again for the reference's.
  for (const auto& [c, tb] : {std::pair{s.cases[0], "1125.9"}, {s.cases[1], "2251.8"}}) {
    const nlohmann::json rec = run_case(c, ctx);
    EXPECT_EQ(rec["status"], "oom") << rec.dump();
    EXPECT_NE(rec.value("reason", "").find(std::string("would take about ") + tb + " TB as fp32"), std::string::npos)
        << rec["reason"];
  }
}

TEST(RunCase, CudaWithoutADeviceIsSkippedNotFailed) {
  const Suite s = parse_suite(R"({"cases": [{"name": "t", "op": "topk", "queries": 2, "context": 64, "topk": 8}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cuda;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  if (cuda_device_count() == 0) {
    EXPECT_EQ(rec["status"], "skipped");
    EXPECT_NE(rec["reason"].get<std::string>().find("no CUDA device"), std::string::npos);
  } else {
    EXPECT_EQ(rec["status"], "passed") << rec.dump(1);
    EXPECT_EQ(rec["implementation"], "cuda.topk.radix");
  }
}

// A case that names its variant runs that one and says so; one naming a CUDA variant
// is skipped without a device, like any CUDA-only case.
TEST(RunCase, TheNamedImplementationRuns) {
  const Suite s = parse_suite(R"({"cases": [
     {"name": "a", "op": "topk", "queries": 4, "context": 300, "topk": 16, "mode": "validate",
      "implementation": "cpu.topk.radix"},
     {"name": "b", "op": "topk", "queries": 4, "context": 300, "topk": 16, "mode": "validate",
      "implementation": "cuda.topk.split"}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::automatic;
  const nlohmann::json a = run_case(s.cases[0], ctx);
  EXPECT_EQ(a["status"], "passed") << a.dump(1);
  EXPECT_EQ(a["implementation"], "cpu.topk.radix");
  EXPECT_EQ(a["params"]["implementation"], "cpu.topk.radix");
  if (cuda_device_count() == 0) {
    const nlohmann::json b = run_case(s.cases[1], ctx);
    EXPECT_EQ(b["status"], "skipped") << b.dump(1);
  }
}

// A sweep runs the stage variants it names and records them.
TEST(RunCase, ASweepRunsTheStageVariantsItNames) {
  const Suite s = parse_suite(R"({"cases": [{"name": "sw", "op": "dsa_vs_dense", "phase": "decode", "contexts": [256],
     "heads": 4, "index_heads": 4, "topk": 64, "kv_rank": 128, "qk_nope": 32, "qk_rope": 32, "v_head": 32,
     "mode": "validate", "implementations": {"topk": "cpu.topk.radix", "indexer": "cpu.indexer.fp32"}}]})", "t");
  RunContext ctx;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  ASSERT_EQ(rec["status"], "passed") << rec.dump(1);
  EXPECT_EQ(rec["implementation"]["topk"], "cpu.topk.radix");
  EXPECT_EQ(rec["params"]["implementations"]["indexer"], "cpu.indexer.fp32");
}

// The record a sweep leaves after each point (what an interrupted run keeps) already
// says on which backend and with which variants it ran.
TEST(RunCase, ASweepsPartialRecordSaysWhatRan) {
  const Suite s = parse_suite(R"({"cases": [{"name": "sw", "op": "dsa_vs_dense", "phase": "decode", "contexts": [256, 512],
     "heads": 4, "index_heads": 4, "topk": 64, "kv_rank": 128, "qk_nope": 32, "qk_rope": 32, "v_head": 32,
     "mode": "validate"}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  std::vector<nlohmann::json> partials;
  ctx.partial = [&](const nlohmann::json& r) { partials.push_back(r); };
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  ASSERT_EQ(rec["status"], "passed") << rec.dump(1);
  ASSERT_EQ(partials.size(), 2u);
  for (const auto& r : partials) {
    EXPECT_EQ(r["status"], "running");
    EXPECT_EQ(r["backend"], "cpu") << r.dump(1);
    EXPECT_EQ(r["implementation"], rec["implementation"]);
    EXPECT_TRUE(r.contains("cache_bytes_per_token_per_layer"));
  }
  EXPECT_EQ(partials.front()["points"].size(), 1u);
}

// With the GPU first and the CPU after it (--backend auto on a machine with a GPU), a
// case the GPU cannot run runs on the CPU, and its record says why: a GPU run's figure
// from the CPU must not pass for a GPU one. (The candidates are given here, so this runs
// without a device: the CUDA variants refuse these shapes, or a build without CUDA has none.)
TEST(RunCase, ACaseAnEarlierBackendCannotRunSaysWhyItFellBack) {
  const Suite s = parse_suite(R"({"cases": [
     {"name": "i", "op": "indexer", "dtype": "fp32", "generator": "gaussian", "queries": 2, "context": 64, "index_heads": 4,
      "index_head_dim": 32,
      "mode": "validate"},
     {"name": "sw", "op": "dsa_vs_dense", "phase": "decode", "contexts": [256], "heads": 4, "index_heads": 4, "topk": 64,
      "kv_rank": 128, "qk_nope": 32, "qk_rope": 32, "v_head": 32, "mode": "validate"}]})", "t");
  const RunContext ctx;
  const std::vector<Backend> gpu_first = {Backend::cuda, Backend::cpu};
  const nlohmann::json op = run_op_case(s.cases[0], ctx, 1, gpu_first);
  EXPECT_EQ(op["backend"], "cpu") << op.dump(1);
  EXPECT_EQ(op.value("backend_fallback", std::string()).rfind("cuda: ", 0), 0u) << op.dump(1);
  const nlohmann::json sweep = run_sweep_case(s.cases[1], ctx, 1, gpu_first);
  EXPECT_EQ(sweep["status"], "passed") << sweep.dump(1);
  EXPECT_EQ(sweep["backend"], "cpu");
  const std::string why = sweep.value("backend_fallback", std::string());
  EXPECT_EQ(why.rfind("cuda: ", 0), 0u) << why;
  EXPECT_NE(why.find("sparse attention ("), std::string::npos) << why;
  // The CPU first: nothing fell back. Nor does a case that names a CPU variant.
  EXPECT_FALSE(run_op_case(s.cases[0], ctx, 1, {Backend::cpu}).contains("backend_fallback"));
  CaseSpec named = s.cases[0];
  named.implementation = "cpu.indexer.fp32";
  EXPECT_FALSE(run_op_case(named, ctx, 1, gpu_first).contains("backend_fallback"));
  CaseSpec named_stage = s.cases[1];
  named_stage.stage_implementations["topk"] = "cpu.topk.radix";
  EXPECT_FALSE(run_sweep_case(named_stage, ctx, 1, gpu_first).contains("backend_fallback"));
}

// The same for a model case: the GPU forward says why it cannot take the model (here: no
// device, or no CUDA in the build), and the CPU forward runs it.
TEST(RunCase, AModelCaseTheGpuCannotRunSaysWhyItFellBack) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "with a device the GPU forward takes dsa-tiny";
  const Suite s = parse_suite(R"({"cases": [{"name": "m", "op": "model_prefill", "model": "dsa-tiny", "contexts": [32],
     "prefill_chunk": 32, "mode": "validate"}]})", "t");
  const nlohmann::json rec = run_model_case(s.cases[0], RunContext{}, 1, {Backend::cuda, Backend::cpu});
  EXPECT_EQ(rec["status"], "passed") << rec.dump(1);
  EXPECT_EQ(rec["backend"], "cpu");
  EXPECT_EQ(rec.value("backend_fallback", std::string()).rfind("cuda: ", 0), 0u) << rec.dump(1);
}

// A model point whose caches cannot fit ends oom before its sequence and caches are made
// (a cache's reserve takes address space only: the prefill filling it would be killed
// part way); the points before it have run.
TEST(RunCase, AModelPointWhoseCachesCannotFitIsOomBeforeTheyAreMade) {
  ASSERT_GE(available_memory_bytes(), 0) << "the check needs the machine's available memory";
  const Suite s = parse_suite(R"({"cases": [{"name": "m", "op": "model_prefill", "model": "dsa-tiny",
     "contexts": [32, 1000000000], "prefill_chunk": 32, "mode": "validate"}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  ASSERT_EQ(rec["points"].size(), 2u) << rec.dump(1);
  EXPECT_EQ(rec["points"][0]["status"], "passed");
  EXPECT_EQ(rec["points"][1]["status"], "oom");
  EXPECT_EQ(rec["status"], "oom");
  EXPECT_EQ(rec.value("reason", "").rfind("context 1000000000: out of host memory for this context: its inputs and "
                                          "caches would take about ",
                                          0),
            0u)
      << rec["reason"];
}

// The summary says so in the note, and in full below the table where the note is cut.
TEST(Summary, ACaseThatFellBackSaysSo) {
  nlohmann::json doc = {{"suite", {{"name", "s"}}}, {"cases", nlohmann::json::array()}};
  const std::string long_why(90, 'x');
  doc["cases"].push_back({{"name", "a"}, {"op", "topk"}, {"status", "passed"}, {"backend", "cpu"},
                          {"backend_fallback", "cuda: short"}});
  doc["cases"].push_back({{"name", "b"}, {"op", "topk"}, {"status", "passed"}, {"backend", "cpu"},
                          {"backend_fallback", "cuda: " + long_why}});
  const std::string table = bench::summary_table(doc);
  EXPECT_NE(table.find(" fell back to cpu: cuda: short\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("\na: fell back"), std::string::npos) << table;
  EXPECT_NE(table.find("\nb: fell back to cpu: cuda: " + long_why + "\n"), std::string::npos) << table;
}

TEST(RunCase, ACaseLimitedToABackendThatCannotRunIsSkipped) {
  const Suite s = parse_suite(R"({"cases": [{"name": "t", "op": "topk", "queries": 2, "context": 64, "topk": 8,
     "backends": ["cuda"]}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  EXPECT_EQ(rec["status"], "skipped");
  EXPECT_NE(rec["reason"].get<std::string>().find("runs only on cuda"), std::string::npos) << rec["reason"];
}

TEST(RunCase, ValidatesThenTimesAndRecordsWork) {
  const Suite s = parse_suite(R"({"cases": [{"name": "m", "op": "dense_attention_mha", "queries": 4, "context": 64,
     "heads": 2, "timing": {"min_samples": 2, "max_seconds": 0.2}}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  ASSERT_EQ(rec["status"], "passed") << rec.dump(1);
  EXPECT_EQ(rec["implementation"], "cpu.dense_mha.online");
  EXPECT_GE(rec["timing"]["samples_s"].size(), 2u);
  EXPECT_EQ(rec["work"]["pairs"], 61 + 62 + 63 + 64);
  EXPECT_TRUE(rec["accuracy"]["checks"].size() >= 4);
}

// The FP8 cache on the CPU: inputs rounded through the 656-byte rows, the reference on
// the same values, input bytes counted as stored.
TEST(RunCase, MqaCasesRunWithAnFp8Cache) {
  for (const char* op : {"sparse_attention", "dense_attention_mqa"}) {
    const bool sparse = std::string(op) == "sparse_attention";
    const Suite s = parse_suite(std::string(R"({"cases": [{"name": "f", "op": ")") + op +
                                    R"(", "queries": 2, "context": 300, "heads": 2, )" + (sparse ? R"("topk": 64, )" : "") +
                                    R"("kv_cache_dtype": "fp8", "mode": "validate"}]})", "t");
    RunContext ctx;
    ctx.backend = BackendRequest::cpu;
    const nlohmann::json rec = run_case(s.cases[0], ctx);
    ASSERT_EQ(rec["status"], "passed") << rec.dump(1);
    EXPECT_EQ(rec["params"]["kv_cache_dtype"], "fp8");
    const double q_bytes = 2.0 * 2 * 576 * 2, idx_bytes = sparse ? 2.0 * 64 * 4 : 0.0;
    EXPECT_DOUBLE_EQ(rec["memory"]["input_bytes"].get<double>(), q_bytes + 300.0 * 656 + idx_bytes) << op;
  }
}

// A sweep point validates a spread of query rows when asked, each against the
// reference of that row alone (which must equal the full op's row).
TEST(RunCase, SweepValidatesASpreadOfRows) {
  const Suite s = parse_suite(R"({"cases": [{"name": "sw", "op": "dsa_vs_dense", "phase": "prefill",
     "contexts": [256, 512], "query_chunk": 40, "heads": 4, "index_heads": 4, "topk": 64, "kv_rank": 128,
     "qk_nope": 32, "qk_rope": 32, "v_head": 32, "validate_rows": 3, "kv_cache_dtype": "fp8",
     "mode": "validate"}]})", "t");
  RunContext ctx;
  ctx.backend = BackendRequest::cpu;
  const nlohmann::json rec = run_case(s.cases[0], ctx);
  ASSERT_EQ(rec["status"], "passed") << rec.dump(1);
  for (const auto& pt : rec["points"]) {
    EXPECT_EQ(pt["validation"]["metrics"]["validation"]["rows"], 3) << pt["validation"].dump(1);
    EXPECT_EQ(pt["status"], "passed");
  }
  EXPECT_EQ(rec["cache_bytes_per_token_per_layer"]["dense"], 128 + 4 + 64);
}

// Dense MQA as an FA-style kernel computes it: probabilities rounded to bf16 before
// P * V (the normaliser from the unrounded ones), output stored as bf16. `skip_last`
// drops each query's newest key: a real bug, for contrast.
HostTensor<float> mqa_with_bf16_probabilities(const AttentionData& d, bool skip_last) {
  const AttentionShape& sh = d.shape;
  HostTensor<float> out({sh.queries, sh.heads, sh.d_v});
  // Rows by pointer: an indexed access per element took about a minute under the
  // unoptimised ASan build (a tensor view made per call).
  if (d.q.numel() != sh.queries * sh.heads * sh.d_qk || d.kv.numel() != sh.keys * sh.d_qk)
    throw std::logic_error("mqa_with_bf16_probabilities: q or kv is not of the case's shape");
  const auto kv_row = [&](std::int64_t s) { return d.kv.data() + s * sh.d_qk; };
  for (std::int64_t t = 0; t < sh.queries; ++t)
    for (int h = 0; h < sh.heads; ++h) {
      const float* q = d.q.data() + (t * sh.heads + h) * sh.d_qk;
      const std::int64_t end = key_end(t, sh.query_offset, sh.keys, true) - (skip_last ? 1 : 0);
      std::vector<double> l(static_cast<std::size_t>(end)), num(static_cast<std::size_t>(sh.d_v), 0.0);
      double m = -1e300, den = 0;
      for (std::int64_t s = 0; s < end; ++s) {
        const float* k = kv_row(s);
        double dot = 0;
        for (int j = 0; j < sh.d_qk; ++j) dot += static_cast<double>(q[j]) * k[j];
        l[s] = sh.scale * dot;
        m = std::max(m, l[s]);
      }
      for (std::int64_t s = 0; s < end; ++s) {
        const float* v = kv_row(s);
        const double p = std::exp(l[s] - m), pb = round_to_bf16(static_cast<float>(p));
        den += p;
        for (int j = 0; j < sh.d_v; ++j) num[j] += pb * v[j];
      }
      float* o = out.data() + (t * sh.heads + h) * sh.d_v;
      for (int j = 0; j < sh.d_v; ++j) o[j] = round_to_bf16(static_cast<float>(num[j] / den));
    }
  return out;
}

// The allowance for rounded probabilities is needed (a peaked softmax, as the
// structured generator's sinks and needles make, moves some elements past FlashMLA's
// abs / rel bound) and sufficient (the rounding stays inside it), yet a real mistake
// still fails.
TEST(Checks, RoundedProbabilitiesFitTheAllowanceAndARealBugDoesNot) {
  const Suite s = parse_suite(R"({"cases": [{"name": "p", "op": "dense_attention_mqa", "queries": 8, "context": 800,
     "heads": 16}]})", "t");
  const CaseSpec& c = s.cases[0];
  const AttentionData d = make_attention_data(c, 17);
  HostTensor<float> ref_out, ref_lse, mag;
  ref::dense_mqa(d.shape, d.q, d.kv, ref_out, ref_lse, &mag);
  const HostTensor<float> fa = mqa_with_bf16_probabilities(d, false);
  const auto shape = ref_out.shape().to_vector();
  Checks plain, with;
  plain.compare_output("out", fa.span(), ref_out.span(), shape, c.tol.abs, c.tol.rel, c.tol.cos_diff, c.tol.min_pass_fraction);
  EXPECT_FALSE(plain.passed()) << "this case no longer shows why the allowance exists";
  with.compare_attention("out", fa.span(), ref_out.span(), mag.span(), shape, c.tol);
  EXPECT_TRUE(with.passed()) << with.first_failure();
  EXPECT_GT(with.to_json()["metrics"]["out"]["passed_by_allowance"].get<int>(), 0);
  Checks bug;
  bug.compare_attention("out", mqa_with_bf16_probabilities(d, true).span(), ref_out.span(), mag.span(), shape, c.tol);
  EXPECT_FALSE(bug.passed());
}

// The runner poisons outputs before a validated run (bench/checks.h): one element an
// implementation never writes fails the structure check, for values and for indices,
// large (filled from every thread) and small alike.
TEST(Checks, AnElementLeftPoisonedFailsTheStructureCheck) {
  for (const std::int64_t n : {std::int64_t{1000}, static_cast<std::int64_t>(kLargeHostBlock / sizeof(float)) + 3}) {
    HostTensor<float> ref({n}, 0.5f), out({n}, 0.5f);
    poison(out);
    std::fill(out.data(), out.data() + n - 1, 0.5f);  // the last left unwritten
    Checks values;
    values.compare_output("out", out.span(), ref.span(), {n}, 1e-3, 1e-3, 1e-6, 1.0);
    EXPECT_FALSE(values.passed()) << n;
    out.data()[n - 1] = 0.5f;
    Checks written;
    written.compare_output("out", out.span(), ref.span(), {n}, 1e-3, 1e-3, 1e-6, 1.0);
    EXPECT_TRUE(written.passed()) << written.first_failure();
    HostTensor<std::int32_t> idx_ref({1, n}, -1), idx({1, n}, -1);
    poison(idx);
    EXPECT_EQ(idx.data()[n - 1], -2);
    std::fill(idx.data(), idx.data() + n - 1, -1);
    Checks indices;
    indices.compare_indices("idx", idx, idx_ref);
    EXPECT_FALSE(indices.passed()) << n;
    std::fill(idx.data(), idx.data() + n, -1);  // written whole: the same output passes
    Checks whole;
    whole.compare_indices("idx", idx, idx_ref);
    EXPECT_TRUE(whole.passed()) << whole.first_failure();
  }
}

// A batch without a batched form runs its sequences in turn: times add up, and fetch /
// refresh reach every sequence; a batched form, where a variant has one, takes over.
TEST(Registry, PrepareBatchRunsEachSequenceOrTheBatchedForm) {
  struct Calls {
    int runs = 0, fetches = 0, refreshes = 0, batched = 0;
  } calls;
  class Fake final : public OpRun {
   public:
    explicit Fake(Calls& c) : c_(c) {}
    double run() override { ++c_.runs; return 0.5; }
    void fetch() override { ++c_.fetches; }
    void refresh_inputs() override { ++c_.refreshes; }
   private:
    Calls& c_;
  };
  HostTensor<float> scores({1, 4});
  HostTensor<std::int32_t> idx({1, 2});
  const std::vector<std::int64_t> ends = {4};
  const TopkArgs a{scores, ends, idx};
  const std::vector<const TopkArgs*> three = {&a, &a, &a};
  Variant<TopkArgs> v{"fake", Backend::cpu, "", nullptr, [&](const TopkArgs&) { return std::make_unique<Fake>(calls); }};
  auto run = prepare_batch(v, three);
  EXPECT_DOUBLE_EQ(run->run(), 1.5);
  run->fetch();
  run->refresh_inputs();
  EXPECT_EQ(calls.runs, 3);
  EXPECT_EQ(calls.fetches, 3);
  EXPECT_EQ(calls.refreshes, 3);
  v.prepare_batched = [&](const std::vector<const TopkArgs*>& as) {
    calls.batched += static_cast<int>(as.size());
    return std::make_unique<Fake>(calls);
  };
  EXPECT_DOUBLE_EQ(prepare_batch(v, three)->run(), 0.5);
  EXPECT_EQ(calls.batched, 3);
  prepare_batch(v, {&a});  // a batch of one is the plain form
  EXPECT_EQ(calls.batched, 3);
}

// The clocks a sweep records for its timed samples: the last n of each run (earlier ones
// are the first pass and the warm-up), per sample the lowest of the stages' readings.
TEST(Registry, TimedClocksAreTheLastSamplesLowestStage) {
  class Clocked final : public OpRun {
   public:
    explicit Clocked(std::vector<int> c) : c_(std::move(c)) {}
    double run() override { return 0; }
    RunTelemetry telemetry() const override { return {c_, -1}; }
   private:
    std::vector<int> c_;
  };
  const Clocked a({1755, 1980, 1980, 1935}), b({1980, 1965, -1, 1980}), cpu({});
  EXPECT_EQ(timed_sm_clocks({&a}, 2), (std::vector<int>{1980, 1935}));
  EXPECT_EQ(timed_sm_clocks({&a, &b}, 3), (std::vector<int>{1965, 1980, 1935}));  // -1: b could not read it
  EXPECT_EQ(timed_sm_clocks({&b}, 2), (std::vector<int>{-1, 1980}));
  EXPECT_TRUE(timed_sm_clocks({&a, &cpu}, 2).empty());  // a CPU stage: no clocks at all
  EXPECT_TRUE(timed_sm_clocks({&a}, 5).empty());        // fewer readings than samples
  EXPECT_TRUE(timed_sm_clocks({&a}, 0).empty());
}

// --prefer: preferred variants come first where they are on the backend and take the
// shape; a name the case gives itself wins over them.
TEST(Registry, PreferredVariantsComeFirstWhereTheyFit) {
  HostTensor<float> scores({1, 4});
  HostTensor<std::int32_t> idx({1, 2});
  const std::vector<std::int64_t> ends = {4};
  const TopkArgs a{scores, ends, idx};
  const auto none = [](const TopkArgs&) -> std::optional<std::string> { return std::nullopt; };
  const auto refuse = [](const TopkArgs&) -> std::optional<std::string> { return "not this shape"; };
  const auto make = [](const TopkArgs&) -> std::unique_ptr<OpRun> { return nullptr; };
  const std::vector<Variant<TopkArgs>> all = {{"first", Backend::cpu, "", none, make},
                                              {"second", Backend::cpu, "", none, make},
                                              {"picky", Backend::cpu, "", refuse, make},
                                              {"gpu", Backend::cuda, "", none, make}};
  std::string why;
  EXPECT_EQ(pick_variant(all, Backend::cpu, a, "", &why)->name, "first");
  const std::vector<std::string> prefer = {"picky", "gpu", "second"};
  EXPECT_EQ(pick_variant(all, Backend::cpu, a, "", &why, &prefer)->name, "second");  // picky refuses, gpu is elsewhere
  EXPECT_EQ(pick_variant(all, Backend::cpu, a, "first", &why, &prefer)->name, "first");  // the case's own name wins
  EXPECT_EQ(pick_variant(all, Backend::cuda, a, "", &why, &prefer)->name, "gpu");
  const std::vector<std::string> unknown = {"nope"};
  EXPECT_EQ(pick_variant(all, Backend::cpu, a, "", &why, &unknown)->name, "first");
}

// first_for: a variant listed later is the default pick for the shapes it claims (and
// supports); a name, a preference, or a shape it does not claim keeps the usual order.
TEST(Registry, AVariantCanClaimTheShapesItIsFirstFor) {
  HostTensor<float> few({2, 4}), many({64, 4});
  HostTensor<std::int32_t> idx_few({2, 2}), idx_many({64, 2});
  const std::vector<std::int64_t> ends_few(2, 4), ends_many(64, 4);
  const TopkArgs a_few{few, ends_few, idx_few}, a_many{many, ends_many, idx_many};
  const auto none = [](const TopkArgs&) -> std::optional<std::string> { return std::nullopt; };
  const auto make = [](const TopkArgs&) -> std::unique_ptr<OpRun> { return nullptr; };
  const auto few_rows = [](const TopkArgs& x) { return x.scores.size(0) <= 8; };
  const auto refuse_few = [](const TopkArgs& x) -> std::optional<std::string> {
    if (x.scores.size(0) <= 8) return "not this shape";
    return std::nullopt;
  };
  std::vector<Variant<TopkArgs>> all = {{"general", Backend::cpu, "", none, make},
                                        {"few_rows", Backend::cpu, "", none, make, {}, few_rows}};
  std::string why;
  EXPECT_EQ(pick_variant(all, Backend::cpu, a_few, "", &why)->name, "few_rows");
  EXPECT_EQ(pick_variant(all, Backend::cpu, a_many, "", &why)->name, "general");
  EXPECT_EQ(pick_variant(all, Backend::cpu, a_few, "general", &why)->name, "general");  // a case's name wins
  const std::vector<std::string> prefer = {"general"};
  EXPECT_EQ(pick_variant(all, Backend::cpu, a_few, "", &why, &prefer)->name, "general");  // so does --prefer
  EXPECT_EQ(pick_variant(all, Backend::cuda, a_few, "", &why), nullptr);  // only on its own backend
  all[1].unsupported = refuse_few;  // claims a shape it cannot run: the list's order
  EXPECT_EQ(pick_variant(all, Backend::cpu, a_few, "", &why)->name, "general");
}

// A kernel not yet validated on its hardware must never be a default pick: on each
// backend it comes after every validated variant of its op and claims no shapes through
// first_for (which would put it ahead of the list's order). In a build with the CUDA
// backend the registry holds such kernels, so this checks the real lists.
TEST(Registry, VariantsNotYetValidatedComeLastAndClaimNoShapes) {
  std::set<std::pair<std::string, std::string>> after_unvalidated;  // (op, backend)
  int unvalidated = 0;
  for (const VariantSummary& v : variant_summaries()) {
    const auto where = std::make_pair(v.op, v.backend);
    if (!v.not_validated.empty()) {
      ++unvalidated;
      after_unvalidated.insert(where);
      EXPECT_FALSE(v.first_on_backend) << v.name << " is the default of its backend";
      EXPECT_FALSE(v.first_for_some) << v.name << " claims shapes through first_for";
    } else {
      EXPECT_EQ(after_unvalidated.count(where), 0u)
          << v.name << " (validated) is listed after a variant not yet validated of " << v.op;
    }
  }
  RecordProperty("variants_not_yet_validated", unvalidated);
}

TEST(Crossover, InterpolatesAfterTheLastLoss) {
  const std::vector<std::int64_t> L = {1024, 2048, 4096, 8192};
  // Speed-up 0.5 at 2048 and 1.5 at 4096: halfway in log(context), i.e. sqrt(2048 * 4096).
  const auto x = crossover(L, {0.4, 0.5, 1.5, 3.0});
  EXPECT_NEAR(x["context"].get<double>(), std::sqrt(2048.0 * 4096.0), 1e-6);
  EXPECT_EQ(x["between"], (std::vector<std::int64_t>{2048, 4096}));
}

TEST(Crossover, NoiseAtAShortContextDoesNotHideALaterLoss) {
  // The case that once produced "DSA is at least as fast everywhere": 1.002 at 1024
  // under load, then 0.77 at 2048.
  const auto x = crossover({1024, 2048, 4096}, {1.002, 0.77, 1.8});
  ASSERT_TRUE(x["context"].is_number());
  EXPECT_GT(x["context"].get<double>(), 2048);
  EXPECT_LT(x["context"].get<double>(), 4096);
  EXPECT_NE(x["note"].get<std::string>().find("also measured at least as fast"), std::string::npos);
}

TEST(Crossover, NoneWhenDsaWinsOrLosesEverywhereOrLosesAtTheEnd) {
  EXPECT_TRUE(crossover({1, 2}, {1.0, 2.0})["context"].is_null());
  EXPECT_NE(crossover({1, 2}, {1.0, 2.0})["note"].get<std::string>().find("at least as fast at every"), std::string::npos);
  EXPECT_NE(crossover({1, 2}, {0.3, 0.9})["note"].get<std::string>().find("slower at every"), std::string::npos);
  EXPECT_NE(crossover({1, 2, 3}, {0.3, 1.2, 0.9})["note"].get<std::string>().find("largest"), std::string::npos);
  EXPECT_TRUE(crossover({}, {})["context"].is_null());
}

TEST(RunCase, SeedDependsOnRunSeedAndNameOnly) {
  EXPECT_EQ(case_seed(1, "a"), case_seed(1, "a"));
  EXPECT_NE(case_seed(1, "a"), case_seed(2, "a"));
  EXPECT_NE(case_seed(1, "a"), case_seed(1, "b"));
}

// A record measured with a variant not yet validated on its hardware says so, whether
// the record names it alone, per stage or inside a model's kernel list; a validated
// variant whose name starts another's is not mistaken for it.
TEST(RunCase, RecordsNameTheUnvalidatedVariantsTheyUsed) {
  const std::vector<VariantSummary> variants = {
      {"topk", "cuda.topk.sample", "cuda", "", "", true, false},
      {"topk", "cuda.topk.sample256", "cuda", "", "not yet run on a GPU", false, false},
      {"sparse_attention", "cuda.sparse_mqa.seesaw", "cuda", "", "not yet run on a GPU", false, false}};
  nlohmann::json single = {{"implementation", "cuda.topk.sample256"}};
  bench::note_unvalidated_variants(single, variants);
  EXPECT_EQ(single["not_validated"], (nlohmann::json{{"cuda.topk.sample256", "not yet run on a GPU"}}));
  nlohmann::json validated = {{"implementation", "cuda.topk.sample"}};
  bench::note_unvalidated_variants(validated, variants);
  EXPECT_FALSE(validated.contains("not_validated"));
  nlohmann::json stages = {{"implementation", {{"topk", {"cuda.topk.sample"}}, {"attention", {"cuda.sparse_mqa.seesaw"}}}}};
  bench::note_unvalidated_variants(stages, variants);
  EXPECT_EQ(stages["not_validated"].size(), 1u);
  EXPECT_TRUE(stages["not_validated"].contains("cuda.sparse_mqa.seesaw"));
  nlohmann::json model = {{"implementation", "model.cuda.bf16 (topk=cuda.topk.sample256, sparse_attention=cuda.sparse_mqa.wgmma)"}};
  bench::note_unvalidated_variants(model, variants);
  EXPECT_TRUE(model["not_validated"].contains("cuda.topk.sample256"));
  nlohmann::json none = {{"name", "x"}};
  bench::note_unvalidated_variants(none, variants);
  EXPECT_FALSE(none.contains("not_validated"));
}

// The run's summary table puts the note first on such a case's line, and nowhere else.
TEST(RunCase, TheSummaryFlagsCasesThatRanUnvalidatedVariants) {
  nlohmann::json doc = {{"suite", {{"name", "s"}}}, {"cases", nlohmann::json::array()}};
  doc["cases"].push_back({{"name", "first"}, {"op", "topk"}, {"status", "passed"}, {"backend", "cuda"},
                          {"not_validated", {{"cuda.topk.sample256", "not yet run on a GPU"}}}});
  doc["cases"].push_back({{"name", "known"}, {"op", "topk"}, {"status", "passed"}, {"backend", "cuda"}});
  const std::string table = bench::summary_table(doc);
  const auto line_of = [&](const std::string& name) {
    const std::size_t at = table.find("\n" + name + " ");
    return at == std::string::npos ? std::string() : table.substr(at + 1, table.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(line_of("first").find("NOT VALIDATED: cuda.topk.sample256"), std::string::npos) << table;
  EXPECT_FALSE(line_of("known").empty()) << table;
  EXPECT_EQ(line_of("known").find("NOT VALIDATED"), std::string::npos) << table;
}

// A run where every case was skipped says so once with the whole reason (the table cuts it);
// a run where anything ran does not.
TEST(RunCase, TheSummarySaysWhenNothingRan) {
  const std::string why = "the case runs only on cuda (backend requested: auto); no CUDA device is visible to this process";
  nlohmann::json doc = {{"suite", {{"name", "s"}}}, {"cases", nlohmann::json::array()}};
  for (const char* name : {"a", "b"})
    doc["cases"].push_back({{"name", name}, {"op", "topk"}, {"status", "skipped"}, {"reason", why}});
  EXPECT_NE(bench::summary_table(doc).find("nothing ran: every case was skipped; the first because " + why + "\n"),
            std::string::npos) << bench::summary_table(doc);
  doc["cases"].push_back({{"name", "c"}, {"op", "topk"}, {"status", "passed"}, {"backend", "cpu"}});
  EXPECT_EQ(bench::summary_table(doc).find("nothing ran"), std::string::npos);
}

// A failure whose reason the table cuts is given in full below it (with --quiet, nowhere
// else but the results file); a short reason, a skip and the eleventh such failure are not.
TEST(RunCase, TheSummaryGivesCutFailureReasonsInFull) {
  const std::string long_why(90, 'x');
  nlohmann::json doc = {{"suite", {{"name", "s"}}}, {"cases", nlohmann::json::array()}};
  doc["cases"].push_back({{"name", "short"}, {"op", "topk"}, {"status", "failed"}, {"reason", "indices differ"}});
  doc["cases"].push_back({{"name", "skip"}, {"op", "topk"}, {"status", "skipped"}, {"reason", long_why}});
  for (int i = 0; i < 11; ++i)
    doc["cases"].push_back({{"name", "f" + std::to_string(i)}, {"op", "topk"}, {"status", i % 2 ? "oom" : "error"},
                            {"reason", long_why + std::to_string(i)}});
  const std::string table = bench::summary_table(doc);
  EXPECT_NE(table.find("\nf0: error: " + long_why + "0\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\nf9: oom: " + long_why + "9\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("\nf10: "), std::string::npos) << table;
  EXPECT_NE(table.find("(and 1 more failures: their reasons are in the results file)"), std::string::npos) << table;
  EXPECT_EQ(table.find("\nshort: "), std::string::npos) << table;
  EXPECT_EQ(table.find("\nskip: "), std::string::npos) << table;
}

// A model case that would not fit ends before anything is written or loaded, saying what
// it needs and what is there; unknown amounts are not held against it.
TEST(ModelResources, ShortfallsAreNamedBeforeAnythingIsWritten) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string what = "deepseek-v3.2-exp, layers [3, 4)";
  EXPECT_THROW(check_model_resources(what, 0, 0, "", 46'100'000'000, 24'600'000'000), OutOfMemory);
  const std::string mem = message([&] { check_model_resources(what, 0, 0, "", 46'100'000'000, 24'600'000'000); });
  EXPECT_NE(mem.find("loading deepseek-v3.2-exp, layers [3, 4) needs about 46.1 GB of host memory"), std::string::npos) << mem;
  EXPECT_NE(mem.find("24.6 GB is available"), std::string::npos) << mem;
  const std::string disk =
      message([&] { check_model_resources(what, 11'400'000'000, 5'000'000'000, "/tmp/ckpt", 1'000, 2'000); });
  EXPECT_NE(disk.find("needs 11.4 GB in /tmp/ckpt, which has 5.0 GB free"), std::string::npos) << disk;
  EXPECT_NE(disk.find("TMPDIR"), std::string::npos) << disk;
  EXPECT_THROW(check_model_resources(what, 11'400'000'000, 5'000'000'000, "/tmp/ckpt", 0, -1), std::runtime_error);
  EXPECT_NO_THROW(check_model_resources(what, 11'400'000'000, 20'000'000'000, "/tmp/ckpt", 46'100'000'000, 60'000'000'000));
  EXPECT_NO_THROW(check_model_resources(what, 11'400'000'000, -1, "", 46'100'000'000, -1));  // unknown: not checked
}

// A checkpoint half written by a process that was killed is removed (its space counts
// as free again); one being written by a live process is not, nor anything else.
TEST(ModelResources, AbandonedCheckpointsOfDeadProcessesAreRemoved) {
  const std::filesystem::path root = test::scratch_path("abandoned-checkpoints");
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);  // reaped: no process has this id now
  const auto dead = root / ("m-layers-3-4.tmp-" + std::to_string(child));
  const auto live = root / ("m-layers-3-4.tmp-" + std::to_string(::getpid()));
  const auto done = root / "m-layers-3-4";
  for (const auto& d : {dead, live, done}) {
    std::filesystem::create_directories(d);
    std::ofstream(d / "model-00001-of-00001.safetensors") << "x";
  }
  remove_abandoned_checkpoints(root.string());
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_TRUE(std::filesystem::exists(done));
  remove_abandoned_checkpoints((root / "absent").string());  // no folder: nothing to do
}

// The memory a model case may plan on: at most the machine's MemAvailable (a container's
// cgroup limit can only lower it), and known on Linux.
TEST(ModelResources, AvailableMemoryIsAtMostTheMachines) {
  std::ifstream in("/proc/meminfo");
  std::int64_t kib = -1;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("MemAvailable:", 0) == 0) kib = std::stoll(line.substr(13));
  ASSERT_GT(kib, 0) << "no MemAvailable in /proc/meminfo";
  const std::int64_t got = available_memory_bytes();
  EXPECT_GT(got, 0);
  // MemAvailable moves between the two reads: allow 5% of it.
  EXPECT_LE(got, kib * 1024 + kib * 1024 / 20);
}

}  // namespace
}  // namespace dsa::bench
