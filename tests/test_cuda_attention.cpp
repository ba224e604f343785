// The CUDA attention kernels against the fp64 reference (ctest label "gpu"): sparse
// and dense MQA mode (bf16 and FP8 cache, split-KV), dense MHA-mode prefill, and the
// FP8 cache writer. Structure first (NaN/inf positions, -inf lse of rows without
// keys), then the spec's tolerances through the same checks the runner applies.
// Cache rows no query may read are NaN, so a stray read shows; device outputs are
// poisoned by the variants before each run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "bench/checks.h"
#include "bench/inputs.h"
#include "bench/runner.h"
#include "bench/suite.h"
#include "core/generators.h"
#include "core/mla_cache.h"
#include "core/op_shapes.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "cuda_test_util.h"
#include "kernels/cuda_variants.h"
#include "reference/attention.h"

#if DSA_HAVE_CUDA
#include "kernels/cuda/attention.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/indexer.h"
#include "kernels/cuda/tma.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_filter.h"
#include "kernels/cuda/topk_split.h"
#endif

namespace dsa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bench::CaseSpec attention_case(const std::string& fields) {
  return bench::parse_suite(R"({"cases": [{"name": "g", )" + fields + "}]}", "gpu-test").cases[0];
}

// Runs the named variant once and checks out / lse against the reference.
template <class Args>
void expect_matches(const std::vector<Variant<Args>>& all, const std::string& name, const Args& args,
                    const bench::CaseSpec& c, const HostTensor<float>& ref_out, const HostTensor<float>& ref_lse,
                    const HostTensor<float>& magnitude) {
  const auto& v = cuda_variant(all, name);
  ASSERT_FALSE(v.unsupported(args).has_value()) << *v.unsupported(args);
  auto run = v.prepare(args);
  run->run();
  run->fetch();
  bench::Checks ch;
  ch.compare_attention("out", args.out.span(), ref_out.span(), magnitude.span(), ref_out.shape().to_vector(), c.tol);
  ch.compare_lse("lse", args.lse.span(), ref_lse.span(), ref_lse.shape().to_vector(), c.tol.lse_rel);
  EXPECT_TRUE(ch.passed()) << ch.first_failure();
}

// Every CUDA variant of the op that takes these arguments (the mma.sync kernel always;
// the wgmma one at the model's shapes), each run once and checked: the validated ones,
// or (first_runs) only those the registry marks not yet validated, skipping the test
// when none of them takes these arguments. Those have test suites of their own
// (CudaFirstRun*): scripts/gpu-check.sh runs one process per suite, so a fault or a hang
// on a kernel's first run costs only those suites, not the validated kernels' results.
template <class Args>
void expect_cuda_variants_match(const std::vector<Variant<Args>>& all, const std::string& required, const Args& args,
                                const bench::CaseSpec& c, const HostTensor<float>& ref_out,
                                const HostTensor<float>& ref_lse, const HostTensor<float>& magnitude,
                                bool first_runs = false) {
  bool required_ran = false;
  std::string why_none;
  int ran = 0;
  for (const auto& v : all) {
    if (v.backend != Backend::cuda || (v.not_validated == nullptr) == first_runs) continue;
    if (first_runs && !first_run_selected(v.name)) continue;
    if (const auto why = v.unsupported(args)) {
      why_none += std::string(why_none.empty() ? "" : "; ") + v.name + ": " + *why;
      continue;
    }
    SCOPED_TRACE(v.name);
    required_ran = required_ran || v.name == required;
    ++ran;
    expect_matches(all, v.name, args, c, ref_out, ref_lse, magnitude);
  }
  if (first_runs) {
    if (ran == 0) GTEST_SKIP() << "no first-run variant takes this shape (" << why_none << ")";
  } else {
    EXPECT_TRUE(required_ran) << required << " must take these arguments";
  }
}

// Every cache row no index selects becomes NaN: the kernel must never read it.
void poison_unselected_rows(HostTensor<float>& kv, const HostTensor<std::int32_t>& indices) {
  std::vector<char> used(static_cast<std::size_t>(kv.size(0)), 0);
  for (std::int32_t s : indices.span())
    if (s >= 0 && s < kv.size(0)) used[s] = 1;
  for (std::int64_t s = 0; s < kv.size(0); ++s)
    if (!used[s]) std::fill(&kv(s, 0), &kv(s, 0) + kv.size(1), kNaN);
}

// Rows from `first` on: beyond every query's causal end.
template <class T>
void poison_rows_from(HostTensor<T>& t, std::int64_t first) {
  const std::int64_t width = t.numel() / t.size(0);
  for (std::int64_t s = first; s < t.size(0); ++s) std::fill(t.data() + s * width, t.data() + (s + 1) * width, kNaN);
}

struct AttentionCase {
  const char* name;
  std::string fields;  // the case's JSON fields besides its name and op
  friend void PrintTo(const AttentionCase& c, std::ostream* os) { *os << c.name; }
};

void check_sparse_mqa(const AttentionCase& shape, bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = attention_case(R"("op": "sparse_attention", )" + shape.fields);
  bench::AttentionData d = bench::make_attention_data(c, derive_seed(21, shape.name));
  HostTensor<float> ref_out, ref_lse, mag;
  ref::sparse_mqa(d.shape, d.q, d.kv, d.indices, ref_out, ref_lse, &mag);
  poison_unselected_rows(d.kv, d.indices);
  HostTensor<float> out({d.shape.queries, d.shape.heads, d.shape.d_v}), lse({d.shape.queries, d.shape.heads});
  const SparseMqaArgs args{d.shape, d.q, d.kv, d.indices, out, lse, c.dtype, c.kv_cache_dtype == DType::fp8_e4m3};
  expect_cuda_variants_match(sparse_mqa_variants(), "cuda.sparse_mqa.mma", args, c, ref_out, ref_lse, mag, first_runs);
}

const std::vector<AttentionCase> kSparseShapes = {
    AttentionCase{"decode_gaussian", R"("generator": "gaussian", "queries": 2, "context": 4096)"},
    AttentionCase{"decode_invalid_and_empty",
                 R"("queries": 4, "context": 8192, "heads": 64, "invalid_fraction": 0.3, "empty_rows": 1)"},
    AttentionCase{"context_below_topk", R"("queries": 3, "context": 300)"},
    AttentionCase{"one_token_context", R"("queries": 1, "context": 1)"},
    AttentionCase{"fp8_cache", R"("queries": 2, "context": 5000, "kv_cache_dtype": "fp8")"},
    // FP8 rows with -1 indices, an empty row and an odd number of key steps (5 of 64 on
    // 300): rows without a key must dequantise to zeros, never read the cache.
    AttentionCase{"fp8_invalid_and_empty", R"("queries": 4, "context": 8192, "heads": 64, "topk": 320,
                                            "invalid_fraction": 0.3, "empty_rows": 1, "kv_cache_dtype": "fp8")"},
    AttentionCase{"prefill_chunk", R"("queries": 80, "context": 4096, "topk": 512)"},
    AttentionCase{"topk_8192", R"("queries": 1, "context": 10000, "topk": 8192)"},
    AttentionCase{"all_rows_empty", R"("queries": 2, "context": 1000, "empty_rows": 2)"},
    AttentionCase{"tiny_model_shapes", R"("generator": "gaussian", "queries": 9, "context": 700, "heads": 4, "d_qk": 144, "d_v": 128,
                                         "qk_rope": 16, "topk": 64)"},
    AttentionCase{"heads_not_multiple_of_64", R"("queries": 3, "context": 3000, "heads": 96)"},
};

std::string case_name(const ::testing::TestParamInfo<AttentionCase>& i) { return i.param.name; }

DSA_SUITE_AND_FIRST_RUN_TWIN(AttentionCase, CudaSparseMqa, CudaFirstRunSparseMqa, MatchesReference, Shapes, check_sparse_mqa, kSparseShapes,
                             case_name);

// A Gaussian sparse case's inputs with only `drawn` query rows drawn and row t a copy of
// row t mod `drawn`: 65,600 tokens of 64 heads x 576 are 2.4 G values, which took most
// of a minute of host time per test process on the GPU machine, against a second for
// the kernels. Each row still has its own keys (indices of its own causal prefix), and
// with `drawn` odd, rows 65,536 apart differ, so a kernel reading token t - 65,536's
// query for token t (a wrapped grid index) still fails.
bench::AttentionData sparse_data_with_repeated_queries(const bench::CaseSpec& c, std::int64_t drawn, std::uint64_t seed) {
  EXPECT_EQ(c.generator, "gaussian") << "no planted structure to repeat";
  bench::AttentionData d;
  const double scale = c.resolved_scale(), sd = noise_stddev(c.d_qk, scale, c.pattern.noise_logit);
  d.shape = AttentionShape{c.queries, c.context, c.heads, c.d_qk, c.d_v, scale, 0};
  const HostTensor<float> rows =
      bench::make_attention_queries(c, nullptr, c.heads, c.d_qk, c.qk_rope, drawn, 0, sd, scale, seed, seed);
  d.q = HostTensor<float>({c.queries, c.heads, c.d_qk});
  const auto row_values = static_cast<std::size_t>(c.heads) * static_cast<std::size_t>(c.d_qk);
  parallel_for(c.queries, [&](std::int64_t t) {
    std::copy_n(&rows((t % drawn), 0, 0), row_values, &d.q(t, 0, 0));
  });
  d.kv = bench::make_attention_keys(c, nullptr, c.d_qk, c.qk_rope, c.context, sd, scale, seed, seed);
  d.indices = bench::make_sparse_indices(key_ends(c.queries, 0, c.context, true), c.context, c.topk,
                                         c.invalid_fraction, c.empty_rows, seed);
  return d;
}

// Token counts above 65,535 (a grid's y/z limit): rows at both ends of the range.
void check_more_than_65535_tokens(std::initializer_list<const char*> names) {
  REQUIRE_CUDA_DEVICE();
  std::vector<const char*> variants;  // a first-run process for another kernel skips the big inputs
  for (const char* name : names)
    if (first_run_selected(name) || cuda_variant(sparse_mqa_variants(), name).not_validated == nullptr)
      variants.push_back(name);
  if (variants.empty()) GTEST_SKIP() << "none of these kernels is the one DSA_FIRST_RUN_VARIANT names";
  const bench::CaseSpec c = attention_case(R"("op": "sparse_attention", "generator": "gaussian", "queries": 65600,
                                              "context": 65600, "heads": 64, "topk": 64)");
  const bench::AttentionData d = sparse_data_with_repeated_queries(c, 127, 5);
  HostTensor<float> out({d.shape.queries, d.shape.heads, d.shape.d_v}), lse({d.shape.queries, d.shape.heads});
  const SparseMqaArgs args{d.shape, d.q, d.kv, d.indices, out, lse, c.dtype};
  for (const char* name : variants) {
    SCOPED_TRACE(name);
    auto run = cuda_variant(sparse_mqa_variants(), name).prepare(args);
    run->run();
    run->fetch();
    for (const std::int64_t first : {std::int64_t{0}, std::int64_t{65536}}) {
      const std::int64_t n = 64;
      const AttentionShape sh{n, d.shape.keys, d.shape.heads, d.shape.d_qk, d.shape.d_v, d.shape.scale, 0};
      HostTensor<float> q({n, sh.heads, sh.d_qk}), got({n, sh.heads, sh.d_v}), got_lse({n, sh.heads}), ro, rl, mag;
      HostTensor<std::int32_t> idx({n, c.topk});
      std::copy(&d.q(first, 0, 0), &d.q(first, 0, 0) + q.numel(), q.data());
      std::copy(&d.indices(first, 0), &d.indices(first, 0) + idx.numel(), idx.data());
      std::copy(&out(first, 0, 0), &out(first, 0, 0) + got.numel(), got.data());
      std::copy(&lse(first, 0), &lse(first, 0) + got_lse.numel(), got_lse.data());
      ref::sparse_mqa(sh, q, d.kv, idx, ro, rl, &mag);
      bench::Checks ch;
      ch.compare_attention("out", got.span(), ro.span(), mag.span(), ro.shape().to_vector(), c.tol);
      ch.compare_lse("lse", got_lse.span(), rl.span(), rl.shape().to_vector(), c.tol.lse_rel);
      EXPECT_TRUE(ch.passed()) << "rows from " << first << ": " << ch.first_failure();
    }
  }
}

TEST(CudaSparseMqa, MoreThan65535Tokens) { check_more_than_65535_tokens({"cuda.sparse_mqa.mma", "cuda.sparse_mqa.wgmma"}); }
TEST(CudaFirstRunSparseMqa, MoreThan65535Tokens) { check_more_than_65535_tokens({"cuda.sparse_mqa.seesaw"}); }

TEST(CudaSparseMqa, SaysWhatItDoesNotSupport) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = attention_case(
      R"("op": "sparse_attention", "queries": 1, "context": 64, "heads": 8, "d_qk": 320, "d_v": 256, "qk_rope": 64)");
  bench::AttentionData d = bench::make_attention_data(c, 1);
  HostTensor<float> out({1, 8, 256}), lse({1, 8});
  const SparseMqaArgs args{d.shape, d.q, d.kv, d.indices, out, lse, c.dtype};
  for (const char* name : {"cuda.sparse_mqa.mma", "cuda.sparse_mqa.wgmma", "cuda.sparse_mqa.seesaw"}) {
    const auto why = cuda_variant(sparse_mqa_variants(), name).unsupported(args);
    ASSERT_TRUE(why.has_value()) << name;
    EXPECT_NE(why->find("576 / 512"), std::string::npos) << name << ": " << *why;
  }
}

void check_dense_mqa(const AttentionCase& shape, bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = attention_case(R"("op": "dense_attention_mqa", )" + shape.fields);
  bench::AttentionData d = bench::make_attention_data(c, derive_seed(22, shape.name));
  HostTensor<float> ref_out, ref_lse, mag;
  ref::dense_mqa(d.shape, d.q, d.kv, ref_out, ref_lse, &mag);
  poison_rows_from(d.kv, key_end(d.shape.queries - 1, d.shape.query_offset, d.shape.keys, true));
  HostTensor<float> out({d.shape.queries, d.shape.heads, d.shape.d_v}), lse({d.shape.queries, d.shape.heads});
  const DenseMqaArgs args{d.shape, d.q, d.kv, out, lse, c.dtype, c.kv_cache_dtype == DType::fp8_e4m3};
  expect_cuda_variants_match(dense_mqa_variants(), "cuda.dense_mqa.mma", args, c, ref_out, ref_lse, mag, first_runs);
}

const std::vector<AttentionCase> kDenseMqaShapes = {
    AttentionCase{"decode_short", R"("queries": 1, "context": 100)"},
    AttentionCase{"decode_two_queries_mid_cache", R"("queries": 2, "context": 9000, "query_offset": 6000)"},
    AttentionCase{"decode_fp8", R"("queries": 1, "context": 20000, "kv_cache_dtype": "fp8")"},
    // FP8 rows past the causal end poisoned, a partial last key step.
    AttentionCase{"decode_fp8_two_queries_mid_cache",
                 R"("queries": 2, "context": 9000, "query_offset": 6001, "kv_cache_dtype": "fp8")"},
    AttentionCase{"decode_131k_split_kv", R"("generator": "gaussian", "queries": 1, "context": 131072, "heads": 64)"},
    AttentionCase{"prefill_rows", R"("queries": 70, "context": 700, "heads": 64)"},
    AttentionCase{"tiny_model_shapes", R"("generator": "gaussian", "queries": 1, "context": 900, "heads": 4, "d_qk": 144, "d_v": 128,
                                         "qk_rope": 16)"},
};

DSA_SUITE_AND_FIRST_RUN_TWIN(AttentionCase, CudaDenseMqa, CudaFirstRunDenseMqa, MatchesReference, Shapes, check_dense_mqa, kDenseMqaShapes,
                             case_name);

void check_dense_mha(const AttentionCase& shape, bool first_runs) {
  REQUIRE_CUDA_DEVICE();
  const bench::CaseSpec c = attention_case(R"("op": "dense_attention_mha", )" + shape.fields);
  bench::AttentionData d = bench::make_attention_data(c, derive_seed(23, shape.name));
  HostTensor<float> ref_out, ref_lse, mag;
  ref::dense_mha(d.shape, d.q, d.k, d.v, ref_out, ref_lse, &mag);
  const std::int64_t end = key_end(d.shape.queries - 1, d.shape.query_offset, d.shape.keys, true);
  poison_rows_from(d.k, end);
  poison_rows_from(d.v, end);
  HostTensor<float> out({d.shape.queries, d.shape.heads, d.shape.d_v}), lse({d.shape.queries, d.shape.heads});
  const DenseMhaArgs args{d.shape, d.q, d.k, d.v, out, lse, c.dtype};
  expect_cuda_variants_match(dense_mha_variants(), "cuda.dense_mha.flash", args, c, ref_out, ref_lse, mag, first_runs);
}

const std::vector<AttentionCase> kDenseMhaShapes = {
    AttentionCase{"diagonal_one_tile", R"("queries": 64, "context": 64, "query_offset": 0)"},
    AttentionCase{"ragged_from_zero", R"("queries": 100, "context": 100, "query_offset": 0, "heads": 16)"},
    AttentionCase{"chunk_at_cache_end", R"("queries": 96, "context": 1000, "heads": 32)"},
    AttentionCase{"chunk_mid_cache", R"("queries": 33, "context": 2000, "query_offset": 500, "heads": 8)"},
    AttentionCase{"two_steps", R"("queries": 130, "context": 256, "query_offset": 126, "heads": 2)"},
    AttentionCase{"one_query", R"("queries": 1, "context": 4097, "heads": 128)"},
    AttentionCase{"gaussian_long", R"("generator": "gaussian", "queries": 64, "context": 16384, "heads": 4)"},
    AttentionCase{"tiny_model_shapes", R"("generator": "gaussian", "queries": 40, "context": 300, "heads": 4, "d_qk": 48,
                                         "d_v": 32, "qk_rope": 16)"},
};

DSA_SUITE_AND_FIRST_RUN_TWIN(AttentionCase, CudaDenseMha, CudaFirstRunDenseMha, MatchesReference, Shapes, check_dense_mha, kDenseMhaShapes,
                             case_name);

bool same_bits(const HostTensor<float>& a, const HostTensor<float>& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

// Two sets of attention outputs of one shape: the plain kernel's (1) and the profiled one's (2).
struct TwoOutputs {
  explicit TwoOutputs(const AttentionShape& s)
      : o1({s.queries, s.heads, s.d_v}), o2(o1.shape()), l1({s.queries, s.heads}), l2(l1.shape()) {}
  bool same() const { return same_bits(o1, o2) && same_bits(l1, l2); }
  HostTensor<float> o1, o2, l1, l2;
};

// The profiled instantiations of the attention kernels (--phases) compute what the
// plain kernels do, bit for bit, and record their phases. Not yet run on a GPU.
TEST(CudaFirstRunPhases, ProfiledAttentionKernelsGiveThePlainKernelsOutput) {
  REQUIRE_CUDA_DEVICE();
  expect_every_profiled_variant_ran<SparseMqaArgs>(cuda_sparse_mqa_phase_variants(), [](const Variant<SparseMqaArgs>& v) {
    for (const char* fields : {R"("generator": "gaussian", "queries": 2, "context": 4096)",
                               R"("queries": 2, "context": 5000, "kv_cache_dtype": "fp8")"}) {
      const bench::CaseSpec c = attention_case(R"("op": "sparse_attention", )" + std::string(fields));
      const bench::AttentionData d = bench::make_attention_data(c, derive_seed(24, fields));
      TwoOutputs r(d.shape);
      const bool fp8 = c.kv_cache_dtype == DType::fp8_e4m3;
      const SparseMqaArgs a1{d.shape, d.q, d.kv, d.indices, r.o1, r.l1, c.dtype, fp8},
          a2{d.shape, d.q, d.kv, d.indices, r.o2, r.l2, c.dtype, fp8};
      if (v.unsupported(a1)) continue;
      expect_profiled_like_plain(sparse_mqa_variants(), v, a1, a2, [&] { return r.same(); });
      return true;
    }
    return false;
  });
  expect_every_profiled_variant_ran<DenseMqaArgs>(cuda_dense_mqa_phase_variants(), [](const Variant<DenseMqaArgs>& v) {
    const bench::CaseSpec c = attention_case(R"("op": "dense_attention_mqa", "queries": 2, "context": 700, "query_offset": 300)");
    const bench::AttentionData d = bench::make_attention_data(c, 25);
    TwoOutputs r(d.shape);
    const DenseMqaArgs a1{d.shape, d.q, d.kv, r.o1, r.l1, c.dtype}, a2{d.shape, d.q, d.kv, r.o2, r.l2, c.dtype};
    if (v.unsupported(a1)) return false;
    expect_profiled_like_plain(dense_mqa_variants(), v, a1, a2, [&] { return r.same(); });
    return true;
  });
  expect_every_profiled_variant_ran<DenseMhaArgs>(cuda_dense_mha_phase_variants(), [](const Variant<DenseMhaArgs>& v) {
    const bench::CaseSpec c = attention_case(R"("op": "dense_attention_mha", "queries": 70, "context": 600, "heads": 128)");
    const bench::AttentionData d = bench::make_attention_data(c, 26);
    TwoOutputs r(d.shape);
    const DenseMhaArgs a1{d.shape, d.q, d.k, d.v, r.o1, r.l1, c.dtype}, a2{d.shape, d.q, d.k, d.v, r.o2, r.l2, c.dtype};
    if (v.unsupported(a1)) return false;
    expect_profiled_like_plain(dense_mha_variants(), v, a1, a2, [&] { return r.same(); });
    return true;
  });
}

// The whole DSA pipeline on the GPU through the runner's sweep: the indexer's scores
// reach top-k and top-k's indices reach the attention (each stage has its own device
// copy of its inputs, refreshed between stages), and every stage validates.
TEST(CudaPipeline, SweepsValidateOnTheGpu) {
  REQUIRE_CUDA_DEVICE();
  for (const char* phase : {"prefill", "decode"}) {
    const bench::Suite s = bench::parse_suite(std::string(R"({"cases": [{"name": "sw", "op": "dsa_vs_dense", "phase": ")") +
                                                  phase + R"(", "contexts": [2048, 3000], "query_chunk": 8, "heads": 64,
       "batch": )" + (std::string(phase) == "decode" ? "2" : "1") + R"(, "validate_rows": 3, "accuracy_rows": 2,
       "timing": {"min_samples": 2, "max_samples": 3}, "backends": ["cuda"]}]})", "gpu-test");
    bench::RunContext ctx;
    ctx.backend = bench::BackendRequest::cuda;
    const nlohmann::json rec = bench::run_case(s.cases[0], ctx);
    EXPECT_EQ(rec["status"], "passed") << phase << ": " << rec.dump(1).substr(0, 4000);
    EXPECT_EQ(rec["backend"], "cuda") << phase;
    for (const auto& pt : rec["points"]) EXPECT_GT(pt.value("speedup", 0.0), 0.0) << phase;
  }
}

#if DSA_HAVE_CUDA
// Host-side decisions of the launchers; these need no device, so CI runs them.

// An MQA launch at the model's head count and MLA dimensions.
cuda::MqaLaunch real_mqa_launch() {
  cuda::MqaLaunch p;
  p.heads = 128;
  p.d_qk = 576;
  p.d_v = 512;
  return p;
}

TEST(CudaLaunchPlan, SplitsFillTheGpuOnlyWhenTheGridIsSmall) {
  cuda::MqaLaunch p = real_mqa_launch();
  p.keys = 131072;
  p.queries = 1;
  p.query_offset = 131071;
  // Dense decode at 128K: 2 head groups, 2048 key blocks -> 66 splits fill 132 SMs.
  EXPECT_EQ(cuda::mqa_choose_splits(p, 132), 66);
  // Sparse with top-k 2048: 32 key blocks, at least 2 per split -> 16.
  std::int32_t dummy = 0;
  p.indices = &dummy;
  p.topk = 2048;
  EXPECT_EQ(cuda::mqa_choose_splits(p, 132), 16);
  // 64 sequences x 2 next tokens: 256 blocks already fill the GPU.
  p.queries = 128;
  EXPECT_EQ(cuda::mqa_choose_splits(p, 132), 1);
  // The workspace holds every split's output rows and their lse.
  p.queries = 2;
  p.splits = 3;
  EXPECT_EQ(cuda::mqa_workspace_floats(p), 3u * 2 * 128 * (512 + 1));
  p.splits = 1;
  EXPECT_EQ(cuda::mqa_workspace_floats(p), 0u);
}

// The TMA forms' tensor map of the cache (host side, checked before the driver is asked):
// each sequence's rows up to the launch's last causal end, within the documented limits
// of cuTensorMapEncodeTiled at the shapes the kernels run.
TEST(CudaLaunchPlan, CacheTensorMapCoversTheCausalRowsWithinTheDriversLimits) {
  alignas(16) static unsigned char cache[64];
  cuda::MqaLaunch p = real_mqa_launch();
  p.kv = cache;
  // The geometry of a launch of `queries` (in sequences of `per_seq`; 0: one sequence)
  // over caches of `keys` rows from position `offset`, which the driver must accept.
  const auto geometry_at = [&](std::int64_t queries, std::int64_t per_seq, std::int64_t keys, std::int64_t offset) {
    p.queries = queries;
    p.seq_queries = per_seq;
    p.keys = keys;
    p.query_offset = offset;
    const auto g = cuda::mqa_dense_cache_geometry(p, 64);
    EXPECT_EQ(cuda::cache_map_problem(g, p.kv), std::nullopt) << queries << " queries over " << keys << " keys";
    return g;
  };
  // Dense decode, one query at 64K: every row, one sequence.
  auto g = geometry_at(1, 0, 65536, 65535);
  EXPECT_EQ(g.dims[0], 576u);
  EXPECT_EQ(g.dims[1], 65536u);
  EXPECT_EQ(g.dims[2], 1u);
  EXPECT_EQ(g.strides[0], 1152u);
  EXPECT_EQ(g.strides[1], 65536u * 1152);
  EXPECT_EQ(g.box[0], 64u);
  EXPECT_EQ(g.box[1], 64u);
  // 64 sequences x 2 next tokens over 128K-row caches, the queries at the last two
  // positions but one: rows to the second query's end, sequences one cache apart.
  g = geometry_at(128, 2, 131072, 131000);
  EXPECT_EQ(g.dims[1], 131002u);
  EXPECT_EQ(g.dims[2], 64u);
  EXPECT_EQ(g.strides[1], 131072u * 1152);
  // A context shorter than one box: the map ends with it (the box's rest arrives as zeros).
  g = geometry_at(1, 0, 10, 9);
  EXPECT_EQ(g.dims[1], 10u);
  // What the driver would refuse is named: a misaligned cache, a row of 100 bf16 (200 B,
  // no multiple of 16), a box of 512 rows.
  EXPECT_NE(cuda::cache_map_problem(g, cache + 8).value_or("").find("16-byte aligned"), std::string::npos);
  auto bad = g;
  bad.strides[0] = 200;
  bad.dims[0] = 100;
  EXPECT_NE(cuda::cache_map_problem(bad, p.kv).value_or("").find("stride 0 is 200"), std::string::npos);
  bad = g;
  bad.box[1] = 512;
  EXPECT_NE(cuda::cache_map_problem(bad, p.kv).value_or("").find("box dimension 1 is 512"), std::string::npos);
  bad = g;
  bad.box[0] = 128;  // 256 bytes: wider than the 128-byte swizzle span
  EXPECT_NE(cuda::cache_map_problem(bad, p.kv).value_or("").find("inner extent is 256"), std::string::npos);
}

// The split top-k: about two blocks per SM over the launch, slices of >= 2048 positions.
TEST(CudaLaunchPlan, SplitTopkCutsFewLongRowsOnly) {
  EXPECT_EQ(cuda::topk_split_blocks(1, 131072, 132), 64);     // capped by 2048-position slices
  EXPECT_EQ(cuda::topk_split_blocks(1, 1 << 20, 132), 264);   // 2 x 132 SMs
  EXPECT_EQ(cuda::topk_split_blocks(64, 131072, 132), 5);     // ceil(264 / 64)
  EXPECT_EQ(cuda::topk_split_blocks(4096, 131072, 132), 1);   // enough rows already
  EXPECT_EQ(cuda::topk_split_blocks(1, 1000, 132), 1);        // a short row stays whole
  EXPECT_EQ(cuda::topk_split_hist_words(3), 3u * (2048 + 2048 + 1024));
  EXPECT_TRUE(cuda::topk_split_unsupported(1, 1LL << 33, 1).has_value());
  EXPECT_TRUE(cuda::topk_split_unsupported(1LL << 30, 100, 4).has_value());
  cuda::TopkSplitLaunch p;
  p.rows = 1;
  p.cols = 10;
  EXPECT_THROW(cuda::launch_topk_split(p, nullptr), CudaError);  // no workspace
}

// The filter top-k: 64 KB of workspace a row up to a round of 1024 rows and no more
// beyond (rounds reuse it), rows up to 2^20 columns (its select kernel's bitmap), and
// the launcher refuses what it cannot take before touching the device.
// The fused filter top-k selects in the block that finishes a row's filter blocks last:
// its count must be exactly the blocks of the grid that start before the row's end, or
// the row is never selected (count too high) or selected early (too low).
TEST(CudaLaunchPlan, FusedFilterTopkCountsTheBlocksThatTakePartInARow) {
  for (const std::int64_t cols : {std::int64_t{1}, std::int64_t{8192}, std::int64_t{8193}, std::int64_t{65536},
                                  std::int64_t{131072} + 5})
    for (const std::int64_t end : {std::int64_t{1}, std::int64_t{100}, std::int64_t{8191}, std::int64_t{8192},
                                   std::int64_t{8193}, std::int64_t{61441}, std::int64_t{65536}, cols}) {
      if (end > cols) continue;
      const std::int64_t slices = (cols + cuda::kTopkFilterSlice - 1) / cuda::kTopkFilterSlice;  // the launcher's grid
      std::int64_t taking_part = 0;
      for (std::int64_t b = 0; b < slices; ++b) taking_part += b * cuda::kTopkFilterSlice < end ? 1 : 0;
      EXPECT_EQ(cuda::topk_filter_row_blocks(end), taking_part) << "cols " << cols << ", end " << end;
      EXPECT_GE(taking_part, 1);
    }
}

TEST(CudaLaunchPlan, FilterTopkBoundsItsWorkspaceAndRowLength) {
  const std::size_t per_row = 2 * sizeof(std::uint32_t) * static_cast<std::size_t>(cuda::kTopkSampleCapacity);
  EXPECT_GE(cuda::topk_filter_workspace_bytes(1), per_row + 12);  // and a bound and two counts
  EXPECT_GE(cuda::topk_filter_workspace_bytes(512), 512 * (per_row + 12));
  EXPECT_LT(cuda::topk_filter_workspace_bytes(512), 512 * (per_row + 12) + 256);
  EXPECT_EQ(cuda::topk_filter_workspace_bytes(5000), cuda::topk_filter_workspace_bytes(cuda::kTopkFilterRowsPerRound));
  EXPECT_FALSE(cuda::topk_filter_unsupported(cuda::kTopkFilterMaxCols).has_value());
  EXPECT_NE(cuda::topk_filter_unsupported(cuda::kTopkFilterMaxCols + 1).value_or("").find("bit per position"),
            std::string::npos);
  cuda::TopkFilterLaunch p;
  p.rows = 1;
  p.cols = 10;
  p.k = 4;
  EXPECT_THROW(cuda::launch_topk_filter(p, nullptr), CudaError);  // no workspace
  p.cols = cuda::kTopkFilterMaxCols + 1;
  std::vector<unsigned char> not_device(16);
  p.workspace = not_device.data();
  EXPECT_THROW(cuda::launch_topk_filter(p, nullptr), CudaError);  // too long a row, refused before any launch
}

// The sampled top-k: rows to choose nothing from, rows collected whole, sampled rows
// with about 2k expected candidates inside the buffer, and the exact way for large k.
TEST(CudaLaunchPlan, SampledTopkPlansEachRowLength) {
  using Plan = cuda::TopkSamplePlan;
  EXPECT_EQ(cuda::topk_sample_plan(2048, 2048).mode, Plan::take_all);
  EXPECT_EQ(cuda::topk_sample_plan(100, 2048).mode, Plan::take_all);
  EXPECT_EQ(cuda::topk_sample_plan(2049, 2048).mode, Plan::collect_all);
  EXPECT_EQ(cuda::topk_sample_plan(cuda::kTopkSampleCapacity, 2048).mode, Plan::collect_all);
  EXPECT_EQ(cuda::topk_sample_plan(65536, 4096).mode, Plan::exact);  // 4k above the buffer
  for (const std::int64_t end : {8193LL, 65536LL, 131072LL, 262144LL, 4000000LL}) {
    const Plan p = cuda::topk_sample_plan(end, 2048);
    ASSERT_EQ(p.mode, Plan::sample) << end;
    EXPECT_EQ(p.samples % cuda::kTopkSampleRun, 0) << end;
    EXPECT_LE(p.samples, cuda::kTopkSampleCapacity) << end;
    EXPECT_LE(p.samples * 16, end) << end;  // at most one key in 16 is read twice
    EXPECT_GE(p.rank, 1) << end;
    EXPECT_LE(p.rank, p.samples) << end;
    // Expected candidates: the rank's share of the row. Above k (else the fallback is the
    // rule) and below the buffer (else too).
    const double expected = static_cast<double>(p.rank) * static_cast<double>(end) / static_cast<double>(p.samples);
    EXPECT_GT(expected, 1.5 * 2048) << end;
    if (end <= 262144) {  // beyond, the 8192-key sample is too thin and rows usually go the exact way
      EXPECT_LT(expected, 0.7 * cuda::kTopkSampleCapacity) << end;
    }
  }
  // The real prefill row: 4096 sampled keys of 64K, 128 of them expected in the top 2048.
  const Plan real = cuda::topk_sample_plan(65536, 2048);
  EXPECT_EQ(real.samples, 4096);
  EXPECT_EQ(real.rank, 128 + 4 * 32 + 8);
}

// The wgmma indexer takes the real FP8 shape only and says so for the rest.
TEST(CudaLaunchPlan, WgmmaIndexerTakesTheRealFp8ShapeOnly) {
  EXPECT_FALSE(cuda::indexer_wgmma_unsupported(64, 128, 131072, true).has_value());
  EXPECT_NE(cuda::indexer_wgmma_unsupported(64, 128, 1000, false).value_or("").find("FP8"), std::string::npos);
  EXPECT_NE(cuda::indexer_wgmma_unsupported(32, 128, 1000, true).value_or("").find("64 heads x 128"), std::string::npos);
  EXPECT_TRUE(cuda::indexer_wgmma_unsupported(64, 128, 1000, true, 0).has_value());
  cuda::IndexerLaunch p;
  p.heads = 4;
  p.head_dim = 32;
  p.queries = p.keys = 1;
  EXPECT_THROW(cuda::launch_indexer_wgmma(p, nullptr), CudaError);
}

// The sampled top-k's bound on rows shaped like the indexer scores the sweeps feed it
// (the structured generator: a sink, a local window and needles over noise; FP8
// operands, the real 64 x 128 shape) and on Gaussian rows (the kernel cases'), emulated
// on the host with the kernel's plan and key order: every row's candidates (keys at or
// above the bound) must number between n and the shared-memory buffer's capacity. A row
// outside takes the exact path, about five reads of the row, and with one block per row
// the whole launch waits for it. Both bounds the kernels use: the exact rank-th
// largest sampled key (4 radix passes) and its top 16 bits (2 passes: sample256 and the
// prefetch forms).
TEST(CudaLaunchPlan, SampledTopkKeepsRealisticRowsOnItsFastPath) {
  constexpr std::int64_t kK = 2048, kRows = 16;
  for (const std::int64_t S : {65536, 131072})
    for (const char* generator : {"structured", "gaussian"}) {
      const std::string json = std::string(R"({"cases": [{"name": "rows", "op": "indexer", "generator": ")") + generator +
                               R"(", "dtype": "fp8", "queries": )" + std::to_string(kRows) + R"(, "context": )" +
                               std::to_string(S) + R"(, "query_offset": )" + std::to_string(S - kRows) + "}]}";
      const bench::CaseSpec c = bench::parse_suite(json, "topk-rows").cases[0];
      const bench::IndexerData d = bench::make_indexer_data(c, derive_seed(13, generator, static_cast<std::uint64_t>(S)));
      HostTensor<float> scores({kRows, S});
      const IndexerArgs args{d.shape, d.ops, scores};
      std::string why;
      const auto* cpu = pick_variant(indexer_variants(), Backend::cpu, args, "", &why);
      ASSERT_NE(cpu, nullptr) << why;
      auto run = cpu->prepare(args);
      run->run();
      run->fetch();
      for (std::int64_t t = 0; t < kRows; ++t) {
        const std::int64_t end = S - kRows + t + 1, n = std::min(kK, end);
        const cuda::TopkSamplePlan plan = cuda::topk_sample_plan(end, kK);
        ASSERT_EQ(plan.mode, cuda::TopkSamplePlan::sample) << end;
        const float* x = &scores(t, 0);
        const std::int64_t runs = plan.samples / cuda::kTopkSampleRun;
        std::vector<std::uint32_t> sample(static_cast<std::size_t>(plan.samples));
        for (std::int64_t i = 0; i < plan.samples; ++i)
          sample[static_cast<std::size_t>(i)] =
              cuda::topk_rank_key(x[i / cuda::kTopkSampleRun * end / runs + i % cuda::kTopkSampleRun]);
        std::nth_element(sample.begin(), sample.begin() + (plan.rank - 1), sample.end(), std::greater<>());
        const std::uint32_t exact = sample[static_cast<std::size_t>(plan.rank - 1)];
        for (const std::uint32_t lo : {exact, exact & 0xFFFF0000u}) {
          std::int64_t found = 0;
          for (std::int64_t s = 0; s < end; ++s) found += cuda::topk_rank_key(x[s]) >= lo ? 1 : 0;
          EXPECT_GE(found, n) << generator << " row " << t << " of " << S << ": too few candidates (bound "
                              << (lo == exact ? "exact" : "16-bit") << ")";
          EXPECT_LE(found, cuda::kTopkSampleCapacity) << generator << " row " << t << " of " << S
                                                      << ": more candidates than the buffer holds";
        }
      }
    }
}

// The keys-as-rows indexer takes the real FP8 shape and says why not otherwise. Its runs
// of key tiles put a decode batch in one wave of blocks (264 slots: two blocks on each of
// 132 SMs) and give prefill's many query groups runs of at most 16 tiles.
TEST(CudaLaunchPlan, KeyrowsIndexerRunsFillOneWaveInDecode) {
  EXPECT_FALSE(cuda::indexer_keyrows_unsupported(64, 128, 4096, true, 1).has_value());
  EXPECT_FALSE(cuda::indexer_keyrows_unsupported(64, 128, 2, true, 64).has_value());
  EXPECT_NE(cuda::indexer_keyrows_unsupported(64, 128, 1, false).value_or("").find("FP8"), std::string::npos);
  EXPECT_NE(cuda::indexer_keyrows_unsupported(4, 32, 1, true).value_or("").find("64 heads x 128"), std::string::npos);
  EXPECT_TRUE(cuda::indexer_keyrows_unsupported(64, 128, 2, true, 65536).has_value());
  EXPECT_TRUE(cuda::indexer_keyrows_unsupported(64, 128, 65535LL * 8 + 1, true).has_value());
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(64, 512, 264), 128);   // batch 64 at 64K: 4 runs each, 256 blocks
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(1, 1024, 264), 4);     // batch 1 at 128K: 256 blocks
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(1, 32, 264), 1);       // batch 1 at 4K: 32 blocks of one tile
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(512, 512, 264), 16);   // 4096 queries (512 groups) at 64K
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(300, 512, 264), 16);   // a batch beyond the slots
  EXPECT_EQ(cuda::indexer_keyrows_tiles_per_block(3, 0, 264), 1);
  for (const std::int64_t units : {1, 2, 7, 64, 128, 263})
    for (const std::int64_t tiles : {1, 5, 32, 512, 1024}) {
      const std::int64_t run = cuda::indexer_keyrows_tiles_per_block(units, tiles, 264);
      ASSERT_GE(run, 1);
      EXPECT_LE(units * ((tiles + run - 1) / run), 264) << units << " x " << tiles;  // one wave
      EXPECT_GE(run * (264 / units), tiles) << units << " x " << tiles;             // every tile in a run
    }
  cuda::IndexerLaunch p;
  p.heads = 4;
  p.head_dim = 32;
  p.queries = 1;
  p.keys = 100;
  EXPECT_THROW(cuda::launch_indexer_keyrows(p, nullptr), CudaError);
}

// Every score of a keys-as-rows launch is written exactly once, by the blocks the
// launcher starts: the units' lanes over each block's run of live tiles, the blocks'
// -inf loop past the group's last causal end. Walks the kernel's loops with its own
// helpers (indexer.h) over decode batches, prefill chunks with ragged groups, causal
// and not, forced run lengths and the launcher's own.
TEST(CudaLaunchPlan, KeyrowsIndexerWritesEveryScoreOnce) {
  struct Shape {
    std::int64_t T, S, offset;
    bool causal;
  };
  constexpr int kThreadsPerBlock = 128;
  for (const Shape sh : {Shape{1, 1, 0, true}, Shape{1, 4097, 4096, true}, Shape{2, 5000, 4998, true},
                         Shape{3, 2049, 2046, true}, Shape{4, 700, 300, true}, Shape{20, 3000, 2980, true},
                         Shape{13, 2500, 700, true}, Shape{9, 1000, 0, false}, Shape{37, 3000, 2963, true},
                         Shape{64, 20000, 19936, true}, Shape{5, 300, -2, true}})
    for (const int forced : {0, 1, 3, 70})
      for (const int batch : {1, 64}) {  // the batch changes the runs; each sequence is walked alike
        cuda::IndexerLaunch p;
        p.queries = sh.T;
        p.keys = sh.S;
        p.query_offset = sh.offset;
        p.causal = sh.causal;
        p.key_tiles_per_block = forced;
        p.batch = batch;
        const cuda::KeyrowsGrid grid = cuda::indexer_keyrows_grid(p, 264);
        const int pairs = cuda::keyrows_pairs(sh.T), group = 2 * pairs;
        ASSERT_TRUE(grid.groups * group >= sh.T && (grid.groups - 1) * group < sh.T) << sh.T;
        std::vector<int> writes(static_cast<std::size_t>(sh.T * sh.S), 0);
        for (std::int64_t y = 0; y < grid.groups; ++y) {
          const std::int64_t t0 = y * group;
          const int nq = static_cast<int>(std::min<std::int64_t>(group, sh.T - t0));
          const std::int64_t live = cuda::keyrows_live_tiles(p, t0, nq);
          for (std::int64_t x = 0; x < grid.chunks; ++x) {
            for (int tid = 0; tid < kThreadsPerBlock; ++tid)
              for (std::int64_t s = live * cuda::kKeyrowsTileKeys + x * kThreadsPerBlock + tid; s < sh.S;
                   s += grid.chunks * kThreadsPerBlock)
                for (int qi = 0; qi < nq; ++qi) ++writes[static_cast<std::size_t>((t0 + qi) * sh.S + s)];
            const std::int64_t first = x * grid.run, count = std::min(grid.run, live - first);
            for (std::int64_t i = 0; i < count; ++i)
              for (int pair = 0; pair < pairs; ++pair)
                for (int half = 0; half < 2; ++half)
                  for (int warp = 0; warp < 4; ++warp)
                    for (int lane = 0; lane < 32; ++lane) {
                      int qi = 0, key = 0;
                      cuda::keyrows_slot(half, pair, warp, lane, qi, key);
                      const std::int64_t s = (first + i) * cuda::kKeyrowsTileKeys + key;
                      if (qi < nq && s < sh.S) ++writes[static_cast<std::size_t>((t0 + qi) * sh.S + s)];
                    }
          }
        }
        for (std::int64_t t = 0; t < sh.T; ++t)
          for (std::int64_t s = 0; s < sh.S; ++s)
            ASSERT_EQ(writes[static_cast<std::size_t>(t * sh.S + s)], 1)
                << "T=" << sh.T << " S=" << sh.S << " offset " << sh.offset << " run " << forced << " batch " << batch
                << ": score (" << t << ", " << s << ")";
      }
}

// The split top-k is picked for a few long rows only (its measured niche: decode at
// batch 1 over long contexts); many rows or short rows go to the sampled kernel.
TEST(CudaLaunchPlan, SplitTopkIsFirstForAFewLongRowsOnly) {
  EXPECT_TRUE(cuda::topk_split_first_for(1, 131072));
  EXPECT_TRUE(cuda::topk_split_first_for(8, 32768));
  EXPECT_FALSE(cuda::topk_split_first_for(9, 131072));
  EXPECT_FALSE(cuda::topk_split_first_for(64, 131072));
  EXPECT_FALSE(cuda::topk_split_first_for(1, 4096));
  EXPECT_FALSE(cuda::topk_split_first_for(0, 131072));
  const std::vector<std::int64_t> ends = {131072};
  HostTensor<float> row({1, 131072});
  HostTensor<std::int32_t> idx({1, 2048});
  const TopkArgs a{row, ends, idx};
  std::string why;
  EXPECT_EQ(pick_variant(topk_variants(), Backend::cuda, a, "", &why)->name, "cuda.topk.split");
  HostTensor<float> rows({64, 4096});
  HostTensor<std::int32_t> idx64({64, 2048});
  const std::vector<std::int64_t> ends64(64, 4096);
  const TopkArgs b{rows, ends64, idx64};
  EXPECT_EQ(pick_variant(topk_variants(), Backend::cuda, b, "", &why)->name, "cuda.topk.sample");
}

// The wgmma indexer's blocks walk runs of key tiles: long runs where the grid stays
// several waves deep (the 4096 x 64K prefill: 512 groups x 512 tiles), one tile per
// block where it would not (decode at batch 1), never more than 16 (the kernel's bound).
TEST(CudaLaunchPlan, WgmmaIndexerWalksLongerKeyRunsOnlyWhenTheGridStaysFull) {
  EXPECT_EQ(cuda::indexer_wgmma_tiles_per_block(512, 512, 132), 16);
  EXPECT_EQ(cuda::indexer_wgmma_tiles_per_block(1, 512, 132), 1);
  EXPECT_EQ(cuda::indexer_wgmma_tiles_per_block(1, 1, 132), 1);
  for (const std::int64_t groups : {1, 8, 64, 512})
    for (const std::int64_t tiles : {1, 32, 512, 1024}) {
      const int t = cuda::indexer_wgmma_tiles_per_block(groups, tiles, 132);
      EXPECT_GE(t, 1);
      EXPECT_LE(t, 16);
      // Blocks: at least 16 per SM's worth whenever a run is longer than one tile.
      if (t > 1) {
        EXPECT_GE(groups * ((tiles + t - 1) / t), 16 * 132 * 0.5) << groups << " x " << tiles;
      }
    }
  EXPECT_EQ(cuda::indexer_wgmma_tiles_per_block(512, 512, 0), 16);  // an unknown SM count is not a division by zero
}

TEST(CudaLaunchPlan, LaunchersRefuseBadArgumentsBeforeTouchingTheDevice) {
  cuda::MqaLaunch p = real_mqa_launch();
  p.queries = 1;
  p.keys = 10;
  p.scale = 0.1f;
  p.splits = 4;  // and no workspace
  EXPECT_THROW(cuda::launch_mqa(p, nullptr), CudaError);
  p.splits = 1;
  p.scale = 0.0f;
  EXPECT_THROW(cuda::launch_mqa(p, nullptr), CudaError);
  p.scale = 0.1f;
  p.queries = 3;
  p.seq_queries = 2;  // 3 tokens are not whole sequences of 2
  EXPECT_THROW(cuda::launch_mqa(p, nullptr), CudaError);
  cuda::MhaLaunch m;
  m.heads = 8;
  m.d_qk = 100;
  m.d_v = 64;
  m.scale = 0.1f;
  EXPECT_THROW(cuda::launch_mha(m, nullptr), CudaError);
  EXPECT_TRUE(cuda::mha_unsupported(8, 192, 128) == std::nullopt);
  EXPECT_TRUE(cuda::mha_unsupported(8, 48, 32) == std::nullopt);
  EXPECT_TRUE(cuda::mqa_unsupported(4, 144, 128, 64, true, false) == std::nullopt);
  EXPECT_TRUE(cuda::mqa_unsupported(4, 144, 128, 64, true, true).has_value());  // FP8 rows only at 576/512
  EXPECT_TRUE(cuda::indexer_unsupported(4, 32, 1000, true) == std::nullopt);
  EXPECT_TRUE(cuda::indexer_unsupported(200, 128, 1000, true).has_value());
  EXPECT_TRUE(cuda::indexer_unsupported(64, 128, 1000, true, 70000).has_value());  // grid.z
  // The wgmma MQA kernel: the model's dimensions, whole groups of 64 heads, the same
  // launch checks as the mma.sync one.
  EXPECT_TRUE(cuda::mqa_wgmma_unsupported(128, 576, 512, 2048, true) == std::nullopt);
  EXPECT_TRUE(cuda::mqa_wgmma_unsupported(64, 576, 512, 0, false) == std::nullopt);
  EXPECT_NE(cuda::mqa_wgmma_unsupported(96, 576, 512, 2048, true).value_or("").find("multiple of 64"), std::string::npos);
  EXPECT_NE(cuda::mqa_wgmma_unsupported(4, 144, 128, 64, true).value_or("").find("576 / 512"), std::string::npos);
  EXPECT_TRUE(cuda::mqa_wgmma_unsupported(128, 576, 512, 0, true).has_value());
  p.seq_queries = 0;
  p.scale = 0.0f;
  EXPECT_THROW(cuda::launch_mqa_wgmma(p, nullptr), CudaError);
  p.scale = 0.1f;
  p.heads = 96;
  EXPECT_THROW(cuda::launch_mqa_wgmma(p, nullptr), CudaError);
  // The seesaw MQA kernel: what the wgmma one takes, with a bf16 cache only.
  EXPECT_TRUE(cuda::mqa_seesaw_unsupported(128, 576, 512, 2048, true, false) == std::nullopt);
  EXPECT_TRUE(cuda::mqa_seesaw_unsupported(128, 576, 512, 0, false, false) == std::nullopt);
  EXPECT_NE(cuda::mqa_seesaw_unsupported(128, 576, 512, 2048, true, true).value_or("").find("bf16 cache only"),
            std::string::npos);
  EXPECT_NE(cuda::mqa_seesaw_unsupported(96, 576, 512, 0, false, false).value_or("").find("multiple of 64"),
            std::string::npos);
  EXPECT_THROW(cuda::launch_mqa_seesaw(p, nullptr), CudaError);  // 96 heads
  p.heads = 128;
  p.fp8_cache = true;
  EXPECT_THROW(cuda::launch_mqa_seesaw(p, nullptr), CudaError);
  p.fp8_cache = false;
  p.scale = 0.0f;
  EXPECT_THROW(cuda::launch_mqa_seesaw(p, nullptr), CudaError);
  p.scale = 0.1f;
  // Its TMA form: dense attention only (a box is consecutive rows), else the same checks.
  const std::int32_t* const indices = p.indices;
  std::int32_t one_index = 0;
  p.indices = &one_index;
  EXPECT_THROW(cuda::launch_mqa_seesaw_tma(p, nullptr), CudaError);
  p.indices = nullptr;
  p.fp8_cache = true;
  EXPECT_THROW(cuda::launch_mqa_seesaw_tma(p, nullptr), CudaError);
  p.fp8_cache = false;
  p.heads = 96;
  EXPECT_THROW(cuda::launch_mqa_seesaw_tma(p, nullptr), CudaError);
  p.heads = 128;
  p.indices = indices;
  // The FP8 register-staged wgmma kernel: FP8 caches only, else the wgmma kernel's checks.
  EXPECT_NE(cuda::mqa_wgmma_fp8regs_unsupported(128, 576, 512, 2048, true, false).value_or("").find("FP8 cache only"),
            std::string::npos);
  EXPECT_TRUE(cuda::mqa_wgmma_fp8regs_unsupported(128, 576, 512, 2048, true, true) == std::nullopt);
  EXPECT_TRUE(cuda::mqa_wgmma_fp8regs_unsupported(128, 576, 512, 0, false, true) == std::nullopt);
  EXPECT_NE(cuda::mqa_wgmma_fp8regs_unsupported(96, 576, 512, 0, false, true).value_or("").find("multiple of 64"),
            std::string::npos);
  EXPECT_THROW(cuda::launch_mqa_wgmma_fp8regs(p, nullptr), CudaError);  // a bf16 cache
  // The lock-step kernel's TMA form: dense over a bf16 cache only.
  EXPECT_NE(cuda::mqa_wgmma_tma_unsupported(128, 576, 512, true, false).value_or("").find("dense attention only"),
            std::string::npos);
  EXPECT_NE(cuda::mqa_wgmma_tma_unsupported(128, 576, 512, false, true).value_or("").find("bf16 cache only"),
            std::string::npos);
  EXPECT_TRUE(cuda::mqa_wgmma_tma_unsupported(128, 576, 512, false, false) == std::nullopt);
  p.fp8_cache = true;
  EXPECT_THROW(cuda::launch_mqa_wgmma_tma(p, nullptr), CudaError);
  p.fp8_cache = false;
  // The wgmma MHA kernel: the model's 192 / 128 only.
  EXPECT_TRUE(cuda::mha_wgmma_unsupported(128, 192, 128) == std::nullopt);
  EXPECT_NE(cuda::mha_wgmma_unsupported(4, 48, 32).value_or("").find("192 / 128"), std::string::npos);
  EXPECT_TRUE(cuda::mha_wgmma_unsupported(70000, 192, 128).has_value());
  m.d_qk = 192;
  m.d_v = 128;
  m.scale = 0.0f;
  EXPECT_THROW(cuda::launch_mha_wgmma(m, nullptr), CudaError);
  EXPECT_THROW(cuda::launch_mha_overlap(m, nullptr), CudaError);
  m.scale = 0.1f;
  m.d_qk = 48;  // the overlapped variant is the same kernel: the model's 192 / 128 only
  EXPECT_THROW(cuda::launch_mha_overlap(m, nullptr), CudaError);
}

// The GPU's FP8 cache writer is bit-identical to the reference quantiser, on values
// that exercise its edges: zeros, tiny tiles (the 1e-4 amax floor), amax exactly
// 448 * 2^k (the scale's power-of-two boundary), ties in the e4m3 rounding.
TEST(CudaFp8Cache, PackIsBitIdenticalToReference) {
  REQUIRE_CUDA_DEVICE();
  const int rank = 512, rope = 64, width = rank + rope;
  const std::int64_t n = 1000;
  HostTensor<float> rows({n, width});
  Rng rng(99);
  for (std::int64_t r = 0; r < n; ++r)
    for (int i = 0; i < width; ++i) {
      const double x = rng.normal();
      float v = static_cast<float>(x * std::ldexp(1.0, static_cast<int>(r % 40) - 20));
      if (r % 7 == 0 && i < 128) v = 0.0f;                                   // an all-zero tile
      if (r % 11 == 0 && i % 128 == 5) v = std::ldexp(448.0f, static_cast<int>(r % 9) - 4);  // amax on the boundary
      if (r % 13 == 0 && i < 256) v = 1e-7f * static_cast<float>(x);         // below the amax floor
      if (r % 17 == 0 && i % 2) v = 1.0f + 0x1p-4f;                          // a tie: halfway between e4m3 values
      rows(r, i) = v;
    }
  const std::size_t row_bytes = fp8_mla_row_bytes(rank, rope);
  std::vector<std::uint8_t> expect(row_bytes * n), got(row_bytes * n, 0xAB);
  for (std::int64_t r = 0; r < n; ++r) pack_fp8_mla_row(&rows(r, 0), rank, rope, &expect[r * row_bytes]);
  auto d_rows = to_device(rows.data(), rows.numel());
  DeviceBuffer<std::uint8_t> d_out(got.size());
  d_out.fill_bytes(0xAB);
  cuda::launch_pack_fp8_mla(d_rows.get(), n, rank, rope, d_out.get(), nullptr);
  d_out.download(got.data(), got.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], expect[i]) << "row " << i / row_bytes << " byte " << i % row_bytes;
  // And the kernels read what it wrote: unpacking gives the values the CPU sees.
  std::vector<float> back(width), cpu(width);
  for (std::int64_t r = 0; r < n; r += 97) {
    unpack_fp8_mla_row(&got[r * row_bytes], rank, rope, back.data());
    unpack_fp8_mla_row(&expect[r * row_bytes], rank, rope, cpu.data());
    for (int i = 0; i < width; ++i) ASSERT_EQ(back[i], cpu[i]);
  }
}
#endif

}  // namespace
}  // namespace dsa
