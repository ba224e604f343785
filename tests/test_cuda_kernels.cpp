// The CUDA kernels against the CPU reference (ctest label "gpu"). Fresh random inputs
// (Gaussian and structured), small and long shapes, outputs poisoned on the device
// before each run, structure compared exactly before values. Without a CUDA device
// every test is skipped with the reason, and ctest still passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>
#include <string>

#include "bench/inputs.h"
#include "bench/suite.h"
#include "core/metrics.h"
#include "core/out_of_memory.h"
#include "core/rng.h"
#include "reference/indexer.h"
#include "reference/topk.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/timing.h"
#include "kernels/cuda/topk.h"
#include "cuda_test_util.h"
#include "kernels/cuda_device.h"
#include "kernels/cuda_variants.h"
#include "topk_rows.h"

namespace dsa {
namespace {

bench::CaseSpec indexer_case(const std::string& generator, const char* dtype, std::int64_t T, std::int64_t S,
                             std::int64_t offset, bool hadamard, int heads = 64, int head_dim = 128) {
  const std::string json = R"({"cases": [{"name": "g", "op": "indexer", "generator": ")" + generator +
                           R"(", "dtype": ")" + dtype + R"(", "queries": )" + std::to_string(T) +
                           R"(, "context": )" + std::to_string(S) + R"(, "query_offset": )" + std::to_string(offset) +
                           R"(, "hadamard": )" + (hadamard ? "true" : "false") +
                           R"(, "index_heads": )" + std::to_string(heads) + R"(, "index_head_dim": )" + std::to_string(head_dim) + "}]}";
  return bench::parse_suite(json, "gpu-test").cases[0];
}

struct IndexerShapeCase {
  const char* generator;
  const char* dtype;
  std::int64_t T, S, offset;
  bool hadamard;
  int heads = 64, head_dim = 128;
  friend void PrintTo(const IndexerShapeCase& c, std::ostream* os) {
    *os << c.generator << " " << c.dtype << " T=" << c.T << " S=" << c.S << " offset=" << c.offset << " H=" << c.heads
        << "x" << c.head_dim;
  }
};

// Every CUDA indexer variant that takes the shape, against the reference: the validated
// ones, or (first_runs) those the registry marks not yet validated. `batch` sequences
// (each its own seeded inputs) run as one batched launch, as a decode step batches them.
void check_indexer(const IndexerShapeCase& pc, bool first_runs, int batch = 1) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = indexer_case(pc.generator, pc.dtype, pc.T, pc.S, pc.offset, pc.hadamard, pc.heads, pc.head_dim);
  std::vector<bench::IndexerData> data;
  std::vector<HostTensor<float>> outs, refs(static_cast<std::size_t>(batch));
  for (int b = 0; b < batch; ++b) {
    const std::uint64_t seed = derive_seed(7, pc.generator, static_cast<std::uint64_t>(pc.S));
    data.push_back(bench::make_indexer_data(c, b == 0 ? seed : derive_seed(seed, "sequence", static_cast<std::uint64_t>(b))));
    outs.emplace_back(Shape{c.queries, c.context});
  }
  std::vector<IndexerArgs> args;
  for (int b = 0; b < batch; ++b) args.push_back(IndexerArgs{data[b].shape, data[b].ops, outs[b]});
  std::vector<const Variant<IndexerArgs>*> variants;
  for (const auto& v : indexer_variants())
    if (v.backend == Backend::cuda && (v.not_validated != nullptr) == first_runs &&
        (!first_runs || first_run_selected(v.name)) && !v.unsupported(args.front()))
      variants.push_back(&v);
  if (first_runs && variants.empty())  // before the reference: a first run has seconds, not minutes
    GTEST_SKIP() << "no CUDA indexer variant awaiting validation takes this shape (or DSA_FIRST_RUN_VARIANT names another)";
  // The mma.sync kernel takes every shape here; the wgmma one the FP8 64 x 128 ones.
  if (!first_runs) {
    ASSERT_FALSE(variants.empty()) << "cuda.indexer.mma takes every shape";
  }
  for (int b = 0; b < batch; ++b) ref::indexer_scores(data[b].shape, data[b].ops.q, data[b].ops.k, data[b].ops.w, refs[b]);
  std::vector<const IndexerArgs*> ptrs;
  for (const IndexerArgs& a : args) ptrs.push_back(&a);
  for (const Variant<IndexerArgs>* vp : variants) {
    const auto& v = *vp;
    auto run = prepare_batch(v, ptrs);
    run->run();
    run->fetch();
    for (int b = 0; b < batch; ++b) {
      const StructureReport st = compare_structure(outs[b].span(), refs[b].span());
      ASSERT_TRUE(st.ok()) << v.name << ", sequence " << b << ": " << st.mismatches
                           << " NaN/-inf positions differ, first at " << st.first_mismatch;
      const ValueReport val = compare_values(outs[b].span(), refs[b].span(), 1e-3, 1e-3);
      EXPECT_EQ(val.failures, 0) << v.name << ", sequence " << b << ": first at " << val.first_failure << ": "
                                 << outs[b].data()[val.first_failure] << " vs " << refs[b].data()[val.first_failure];
      EXPECT_LT(val.cos_diff, 1e-6) << v.name << ", sequence " << b;
    }
  }
}

const std::vector<IndexerShapeCase> kIndexerShapes = {
    IndexerShapeCase{"gaussian", "fp8", 1, 1, 0, false},
    IndexerShapeCase{"gaussian", "fp8", 1, 4097, 4096, false},      // decode, ragged tile
    IndexerShapeCase{"structured", "fp8", 37, 3000, 2963, false},   // prefill chunk
    IndexerShapeCase{"structured", "fp8", 9, 5000, 1000, true},     // chunk mid-cache
    IndexerShapeCase{"gaussian", "bf16", 5, 1000, 995, false},
    IndexerShapeCase{"structured", "fp8", 2, 131072, 131070, false},  // long
    // dsa-tiny: 4 heads (padded to a warp's 16) x 32
    IndexerShapeCase{"gaussian", "fp8", 7, 500, 493, true, 4, 32},
    IndexerShapeCase{"gaussian", "fp8", 3, 300, 297, false, 40, 128},
    // Decode steps of 3 and 4 queries (the keys-as-rows kernel's second query pair); a
    // step whose queries start before the cache's end (keys no query reaches).
    IndexerShapeCase{"structured", "fp8", 3, 2049, 2046, false},
    IndexerShapeCase{"gaussian", "fp8", 4, 700, 300, true},
};

std::string indexer_case_name(const ::testing::TestParamInfo<IndexerShapeCase>& i) {
  const auto& c = i.param;
  return std::string(c.generator) + "_" + c.dtype + "_T" + std::to_string(c.T) + "_S" + std::to_string(c.S) + "_o" +
         std::to_string(c.offset) + "_H" + std::to_string(c.heads) + "x" + std::to_string(c.head_dim);
}

void check_indexer_one(const IndexerShapeCase& pc, bool first_runs) { check_indexer(pc, first_runs); }
DSA_SUITE_AND_FIRST_RUN_TWIN(IndexerShapeCase, CudaIndexer, CudaFirstRunIndexer, MatchesReference, Shapes,
                             check_indexer_one, kIndexerShapes, indexer_case_name);

// Decode batches: several sequences, each over its own keys, in one launch (grid.y for
// the wgmma kernels), every sequence against its own reference.
struct IndexerBatchCase {
  IndexerShapeCase shape;
  int batch;
  friend void PrintTo(const IndexerBatchCase& c, std::ostream* os) { *os << "batch " << c.batch; }
};
const std::vector<IndexerBatchCase> kIndexerBatches = {
    {IndexerShapeCase{"gaussian", "fp8", 2, 5000, 4998, false}, 3},
    {IndexerShapeCase{"structured", "fp8", 1, 300, 299, false}, 5},
    {IndexerShapeCase{"gaussian", "fp8", 4, 1100, 1096, true}, 2},
    {IndexerShapeCase{"structured", "fp8", 2, 65536, 65534, false}, 2},
};
std::string indexer_batch_name(const ::testing::TestParamInfo<IndexerBatchCase>& i) {
  return "b" + std::to_string(i.param.batch) + "_T" + std::to_string(i.param.shape.T) + "_S" + std::to_string(i.param.shape.S);
}
void check_indexer_batch(const IndexerBatchCase& pc, bool first_runs) { check_indexer(pc.shape, first_runs, pc.batch); }
DSA_SUITE_AND_FIRST_RUN_TWIN(IndexerBatchCase, CudaIndexerBatch, CudaFirstRunIndexerBatch, MatchesReference, Batches,
                             check_indexer_batch, kIndexerBatches, indexer_batch_name);

// A wgmma indexer's blocks walk runs of key tiles (the run length is chosen from the
// grid size). Forced to runs of several lengths, with tiles past the causal bound, a
// diagonal tile inside a run and a partial last tile, the scores are bit-identical to
// runs of 1 and match the reference.
struct IndexerRunShape {
  std::int64_t T, S, offset;
  bool causal;
};
void expect_runs_give_the_same_scores(void (*launch)(const cuda::IndexerLaunch&, cudaStream_t),
                                      const std::vector<IndexerRunShape>& shapes, const std::vector<int>& runs) {
  for (const IndexerRunShape sh : shapes) {
    const bench::CaseSpec c = indexer_case("structured", "fp8", sh.T, sh.S, sh.offset, false);
    bench::IndexerData d = bench::make_indexer_data(c, derive_seed(11, "runs", static_cast<std::uint64_t>(sh.S)));
    d.shape.causal = sh.causal;
    HostTensor<float> ref;
    ref::indexer_scores(d.shape, d.ops.q, d.ops.k, d.ops.w, ref);
    const auto q = to_device(d.ops.q_codes.data(), d.ops.q_codes.span().size());
    const auto k = to_device(d.ops.k_codes.data(), d.ops.k_codes.span().size());
    const auto qs = to_device(d.ops.q_scales.data(), d.ops.q_scales.span().size());
    const auto ks = to_device(d.ops.k_scales.data(), d.ops.k_scales.span().size());
    const auto w = to_device(d.ops.w.data(), d.ops.w.span().size());
    DeviceBuffer<float> scores(static_cast<std::size_t>(sh.T * sh.S));
    cuda::IndexerLaunch p;
    p.q = q.get();
    p.k = k.get();
    p.q_scale = qs.get();
    p.k_scale = ks.get();
    p.w = w.get();
    p.scores = scores.get();
    p.queries = sh.T;
    p.keys = sh.S;
    p.heads = 64;
    p.head_dim = 128;
    p.query_offset = sh.offset;
    p.causal = sh.causal;
    std::vector<float> one;
    for (const int run : runs) {
      p.key_tiles_per_block = run;
      scores.fill_bytes(0xFF);  // NaN everywhere: an unwritten score shows
      launch(p, nullptr);
      std::vector<float> got(static_cast<std::size_t>(sh.T * sh.S));
      scores.download(got.data(), got.size());
      const std::span<const float> g(got.data(), got.size());
      const StructureReport st = compare_structure(g, ref.span());
      ASSERT_TRUE(st.ok()) << "runs of " << run << ": " << st.mismatches << " NaN/-inf positions differ, first at "
                           << st.first_mismatch;
      const ValueReport val = compare_values(g, ref.span(), 1e-3, 1e-3);
      EXPECT_EQ(val.failures, 0) << "runs of " << run << ": first at " << val.first_failure;
      if (run == runs.front()) one = got;
      else EXPECT_EQ(std::memcmp(one.data(), got.data(), got.size() * sizeof(float)), 0) << "runs of " << run;
    }
  }
}

TEST(CudaIndexer, WgmmaRunsOfKeyTilesGiveTheSameScores) {
  REQUIRE_CUDA_DEVICE();
  expect_runs_give_the_same_scores(cuda::launch_indexer_wgmma,
                                   {{20, 3000, 2980, true}, {13, 2500, 700, true}, {9, 1000, 0, false}}, {1, 3, 16});
}

// The keys-as-rows kernel's ring of key tiles: runs shorter than, as long as and longer
// than the ring (4 stages for decode, 2 for 8-query groups), a run that ends inside the
// ring's prologue, keys no query reaches, groups whose causal ends differ.
TEST(CudaFirstRunIndexer, KeyrowsRunsOfKeyTilesGiveTheSameScores) {
  REQUIRE_CUDA_DEVICE();
  if (!first_run_selected("cuda.indexer.keyrows")) GTEST_SKIP() << "DSA_FIRST_RUN_VARIANT names another kernel";
  expect_runs_give_the_same_scores(cuda::launch_indexer_keyrows,
                                   {{2, 3000, 2998, true}, {3, 2500, 700, true}, {4, 1000, 0, false}, {1, 9000, 8999, true},
                                    {20, 3000, 2980, true}, {13, 2500, 700, true}, {9, 1000, 0, false}},
                                   {1, 2, 3, 4, 5, 70});
}

// The profiled instantiations of the indexer and the top-k (--phases) compute what the
// plain kernels do, bit for bit, and record their phases. Not yet run on a GPU.
TEST(CudaFirstRunPhases, ProfiledIndexerAndTopkGiveThePlainKernelsOutput) {
  REQUIRE_CUDA_DEVICE();
  expect_every_profiled_variant_ran<IndexerArgs>(cuda_indexer_phase_variants(), [](const Variant<IndexerArgs>& v) {
    const bench::CaseSpec c = indexer_case("structured", "fp8", 3, 2500, 2497, true);
    const bench::IndexerData d = bench::make_indexer_data(c, 27);
    HostTensor<float> s1({c.queries, c.context}), s2({c.queries, c.context});
    const IndexerArgs a1{d.shape, d.ops, s1}, a2{d.shape, d.ops, s2};
    if (v.unsupported(a1)) return false;
    expect_profiled_like_plain(indexer_variants(), v, a1, a2, [&] {
      return std::memcmp(s1.data(), s2.data(), sizeof(float) * static_cast<std::size_t>(s1.numel())) == 0;
    });
    return true;
  });
  const test::TopkRowCase rows{"phases", 4, 20000, 2048, test::topk_gaussian};
  const HostTensor<float> scores = test::topk_scores(rows);
  const std::vector<std::int64_t> ends(4, rows.cols);
  expect_every_profiled_variant_ran<TopkArgs>(cuda_topk_phase_variants(), [&](const Variant<TopkArgs>& v) {
    HostTensor<std::int32_t> i1({rows.rows, rows.k}), i2({rows.rows, rows.k});
    const TopkArgs a1{scores, ends, i1}, a2{scores, ends, i2};
    if (v.unsupported(a1)) return false;
    expect_profiled_like_plain(topk_variants(), v, a1, a2, [&] {
      return std::equal(i1.span().begin(), i1.span().end(), i2.span().begin());
    });
    return true;
  });
}

TEST(CudaIndexer, SaysWhatItDoesNotSupport) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = indexer_case("gaussian", "fp32", 2, 64, 62, false);
  const bench::IndexerData d = bench::make_indexer_data(c, 1);
  HostTensor<float> out({2, 64});
  const IndexerArgs args{d.shape, d.ops, out};
  const auto why = cuda_variant(indexer_variants(), "cuda.indexer.mma").unsupported(args);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("fp32"), std::string::npos);
}

// What a device allocation that does not fit says: what was asked for, what the harness
// holds, and (when the driver tells) what the device has free of its total.
TEST(CudaDeviceMemory, TheOutOfMemoryMessageGivesTheAmounts) {
  EXPECT_EQ(device_oom_message(12'900'000'000, 60'200'000'000, 4'100'000'000, 79'100'000'000),
            "out of device memory: 12.9 GB asked for, with 60.2 GB already held by the harness and 4.1 GB free of "
            "the device's 79.1 GB");
  EXPECT_EQ(device_oom_message(std::size_t{1} << 50, 4'194'304, -1, 0),
            "out of device memory: 1125.9 TB asked for, with 4.2 MB already held by the harness");
}

// An allocation the device cannot hold ends as dsa::OutOfMemory, which the runner
// records as "oom" (the machine is too small for the shape), not as a CUDA error; the
// failed cudaMalloc leaves no error behind for the next call, and the harness's count
// of what it holds is unchanged.
TEST(CudaDeviceMemory, AnAllocationTooBigIsOutOfMemoryAndLeavesNoError) {
  REQUIRE_CUDA_DEVICE();
  DeviceBuffer<float> held(std::size_t{1} << 20);
  const std::size_t in_use = device_bytes_in_use();
  std::string what;
  try {
    DeviceBuffer<float> huge(std::size_t{1} << 48);  // 1.1 PB
  } catch (const OutOfMemory& e) {
    what = e.what();
  }
  ASSERT_FALSE(what.empty()) << "a 1.1 PB device allocation did not throw OutOfMemory";
  EXPECT_EQ(what.rfind("out of device memory: 1125.9 TB asked for, with ", 0), 0u) << what;
  EXPECT_NE(what.find(" already held by the harness and "), std::string::npos) << what;
  EXPECT_NE(what.find(" free of the device's "), std::string::npos) << what;
  EXPECT_EQ(device_bytes_in_use(), in_use);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  DeviceBuffer<float> next(256);
  std::vector<float> back(256, 1.0f), got(256, 0.0f);
  next.upload(back.data(), back.size());
  next.download(got.data(), got.size());
  EXPECT_EQ(got, back);
}

// Timers alive at once (a sweep's dense run and its three DSA stages, timed turn about)
// share one L2 flush buffer, freed with the last of them: a buffer each put four times
// twice the L2 into every sweep point's device peak.
TEST(CudaDeviceMemory, TimersAliveAtOnceShareOneL2FlushBuffer) {
  REQUIRE_CUDA_DEVICE();
  const std::size_t before = device_bytes_in_use();
  std::size_t one = 0;
  {
    L2Flusher first;
    one = device_bytes_in_use() - before;
    EXPECT_EQ(one, first.bytes());
    EXPECT_GE(one, std::size_t{1} << 20);
    L2Flusher second, third;
    EXPECT_EQ(device_bytes_in_use() - before, one);
    second.flush(nullptr);
    third.flush(nullptr);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  EXPECT_EQ(device_bytes_in_use(), before);
  L2Flusher later;  // a new one after the last was freed
  EXPECT_EQ(device_bytes_in_use() - before, one);
}

// A kernel that traps leaves the context unusable for the rest of the process (a
// sticky error): cuda_context_lost says so, which is how the runner knows to go on in a
// new worker, and the next allocation fails naming its call. In a child process of its
// own (the death-test machinery re-runs this binary), so the other tests keep a
// working context.
TEST(CudaDeviceMemory, ATrappedKernelLeavesTheContextLostForTheProcess) {
  REQUIRE_CUDA_DEVICE();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (cuda_context_lost()) std::exit(3);  // lost before the trap: nothing to learn
        if (!cuda_break_context_for_test()) std::exit(4);
        std::string why;
        if (!cuda_context_lost(&why)) std::exit(5);
        std::string alloc;
        try {
          DeviceBuffer<float> after(16);
        } catch (const CudaError& e) {
          alloc = e.what();
        }
        std::fprintf(stderr, "lost: %s\nallocation: %s\n", why.c_str(), alloc.c_str());
        std::exit(alloc.empty() ? 6 : 0);
      },
      ::testing::ExitedWithCode(0), "lost: cudaError[A-Za-z]+.*\nallocation: CUDA error cudaError[A-Za-z]+ .*in cudaMalloc\\(&p, bytes\\) at ");
}

// Every CUDA top-k variant (one block per row, split rows, sampled), run twice, against
// the reference's selection, slot for slot: the validated ones, or (first_runs) those
// the registry marks not yet validated (in a test suite of their own, CudaFirstRunTopk,
// so a fault on a first run costs only that suite).
void expect_every_topk_matches_reference(const HostTensor<float>& scores, const std::vector<std::int64_t>& ends,
                                         std::int64_t k, bool first_runs = false) {
  const std::int64_t rows = scores.size(0);
  HostTensor<std::int32_t> ref, first({rows, k}), again({rows, k});
  ref::topk(scores, ends, k, ref);
  int tried = 0;
  for (const auto& v : topk_variants()) {
    if (v.backend != Backend::cuda || (v.not_validated == nullptr) == first_runs) continue;
    if (first_runs && !first_run_selected(v.name)) continue;
    const TopkArgs a1{scores, ends, first}, a2{scores, ends, again};
    ASSERT_FALSE(v.unsupported(a1).has_value()) << v.name << ": " << v.unsupported(a1).value_or("");
    ++tried;
    auto r1 = v.prepare(a1);
    r1->run();
    r1->fetch();
    auto r2 = v.prepare(a2);
    r2->run();
    r2->run();
    r2->fetch();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(first(r, j), ref(r, j)) << v.name << ": row " << r << " (end " << ends[r] << ") slot " << j;
        ASSERT_EQ(again(r, j), first(r, j)) << v.name << ": run-to-run difference, row " << r;
      }
  }
  if (first_runs) {
    if (tried == 0) GTEST_SKIP() << "no CUDA top-k variant awaits validation (or none is the one DSA_FIRST_RUN_VARIANT names)";
  } else {
    EXPECT_GE(tried, 3) << "the radix, split and sampled kernels";
  }
}

using test::TopkRowCase;

void check_topk_rows(const TopkRowCase& pc, bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  expect_every_topk_matches_reference(test::topk_scores(pc), test::topk_row_ends(pc), pc.k, first_runs);
}

const std::vector<TopkRowCase> kTopkRows = {
    TopkRowCase{"gaussian_16k", 8, 16384, 2048, test::topk_gaussian},
    TopkRowCase{"gaussian_131k", 4, 131072, 2048, test::topk_gaussian},
    TopkRowCase{"all_zero_262k", 4, 262144, 2048, test::topk_signed_zeros},
    TopkRowCase{"low_bits_262k", 4, 262144, 2048, test::topk_low_bits},
    TopkRowCase{"mostly_zero_131k", 4, 131072, 2048, test::topk_mostly_zero},
    TopkRowCase{"nan_inf_5k", 8, 5000, 1000, test::topk_nan_inf},
    TopkRowCase{"short_rows", 8, 100, 2048, test::topk_gaussian},
    TopkRowCase{"one_column", 4, 1, 2048, test::topk_signed_zeros},
    TopkRowCase{"ties_across_slices_131k", 4, 131072, 2048, test::topk_mostly_zero},
    // Rows not 16-byte aligned: the sampled kernel's scalar loads.
    TopkRowCase{"odd_columns_20001", 8, 20001, 2048, test::topk_gaussian},
    // k above a quarter of the sampled kernel's buffer: its exact way.
    TopkRowCase{"k_4096_of_65k", 4, 65536, 4096, test::topk_gaussian},
    // Scores in steps of 1/8: about 560 keys share the 2048th score of a 64K row, and the
    // 2-5K keys above a sampled bound leave some of them out, so a kernel whose
    // candidates come in no fixed order (cuda.topk.filter) must take the lowest positions.
    TopkRowCase{"coarse_ties_65k", 4, 65536, 2048, test::topk_coarse},
    // More rows than cuda.topk.filter takes in one round (1024).
    TopkRowCase{"many_rows_9000", 1030, 9000, 256, test::topk_gaussian},
};

std::string row_case_name(const ::testing::TestParamInfo<TopkRowCase>& i) { return i.param.name; }

DSA_SUITE_AND_FIRST_RUN_TWIN(TopkRowCase, CudaTopk, CudaFirstRunTopk, IdenticalToReferenceAndAcrossRuns, Rows,
                             check_topk_rows, kTopkRows, row_case_name);

// The sampled kernel reads a fixed sample of each row (topk_sample_plan): rows built so
// that sample misjudges both ways must still come out exact, through its fallback.
constexpr std::int64_t kMisjudgeCols = 65536, kMisjudgeK = 2048;

void check_rows_the_sample_misjudges(bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  ASSERT_EQ(cuda::topk_sample_plan(kMisjudgeCols, kMisjudgeK).mode, cuda::TopkSamplePlan::sample);
  expect_every_topk_matches_reference(test::topk_rows_the_sample_misjudges(kMisjudgeCols, kMisjudgeK),
                                      {kMisjudgeCols, kMisjudgeCols, kMisjudgeCols}, kMisjudgeK, first_runs);
}

TEST(CudaTopkSample, ExactWhenTheSampleMisjudges) { check_rows_the_sample_misjudges(false); }
TEST(CudaFirstRunTopk, ExactWhenTheSampleMisjudges) { check_rows_the_sample_misjudges(true); }

}  // namespace
}  // namespace dsa
