// The CPU backend against the fp64 reference, on Gaussian and structured inputs,
// with the corner shapes that catch blocking and masking bugs.
#include <gtest/gtest.h>

#include <limits>

#include "bench/inputs.h"
#include "core/indexer_operands.h"
#include "kernels/cpu/cpu_ops.h"
#include "reference/attention.h"
#include "reference/indexer.h"
#include "test_util.h"

namespace dsa {
namespace {

using test::all_close;
using test::random_tensor;

struct IndexerCase {
  std::int64_t T, S, offset;
  bool causal;
  friend void PrintTo(const IndexerCase& c, std::ostream* os) {
    *os << "T=" << c.T << " S=" << c.S << " offset=" << c.offset << (c.causal ? "" : " non-causal");
  }
};

class CpuIndexer : public ::testing::TestWithParam<IndexerCase> {};

TEST_P(CpuIndexer, MatchesReferenceIncludingMaskedPositions) {
  const auto p = GetParam();
  const auto q = random_tensor({p.T, 6, 64}, 1), k = random_tensor({p.S, 64}, 2), w = random_tensor({p.T, 6}, 3, 0.1);
  const auto ops = prepare_indexer_operands(q, k, w, DType::fp8_e4m3, false);
  const IndexerShape sh{p.T, p.S, 6, 64, p.offset, p.causal};
  HostTensor<float> ref, out({p.T, p.S}, std::numeric_limits<float>::quiet_NaN());  // poisoned
  ref::indexer_scores(sh, ops.q, ops.k, ops.w, ref);
  cpu::indexer_scores(sh, ops.q, ops.k, ops.w, out);
  EXPECT_TRUE(all_close(out, ref, 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuIndexer,
                         ::testing::Values(IndexerCase{1, 1, 0, true},        // one token
                                           IndexerCase{1, 1000, 999, true},   // decode, ragged last block
                                           IndexerCase{17, 300, 283, true},   // prefill chunk at the end
                                           IndexerCase{9, 500, 100, true},    // chunk in the middle of a longer cache
                                           IndexerCase{5, 130, 0, false}),    // no mask
                         [](const ::testing::TestParamInfo<IndexerCase>& i) {
                           const auto& p = i.param;
                           return "T" + std::to_string(p.T) + "_S" + std::to_string(p.S) + "_at" +
                                  std::to_string(p.offset) + (p.causal ? "" : "_noncausal");
                         });

TEST(CpuAttention, SparseMatchesReferenceWithInvalidIndicesAndEmptyRows) {
  const std::int64_t T = 6, S = 700, K = 256;
  const auto q = random_tensor({T, 10, 96}, 11, 0.3), kv = random_tensor({S, 96}, 12, 0.3);
  const auto ends = key_ends(T, S - T, S, true);
  const auto idx = bench::make_sparse_indices(ends, S, K, 0.3, 2, 13);
  const AttentionShape sh{T, S, 10, 96, 64, 0.2, S - T};
  HostTensor<float> ro, rl, o({T, 10, 64}), l({T, 10});
  ref::sparse_mqa(sh, q, kv, idx, ro, rl);
  cpu::sparse_mqa(sh, q, kv, idx, o, l, DType::f32);
  EXPECT_TRUE(all_close(o, ro, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(l, rl, 1e-5, 1e-6));
  for (int h = 0; h < 10; ++h) EXPECT_EQ(l(0, h), -std::numeric_limits<float>::infinity());  // empty row
}

TEST(CpuAttention, DenseMqaMatchesReferenceAcrossBlockBoundaries) {
  for (std::int64_t S : {1, 63, 64, 65, 200}) {
    const std::int64_t T = std::min<std::int64_t>(S, 3);
    const auto q = random_tensor({T, 9, 80}, 21, 0.3), kv = random_tensor({S, 80}, 22, 0.3);
    const AttentionShape sh{T, S, 9, 80, 48, 0.25, S - T};
    HostTensor<float> ro, rl, o({T, 9, 48}), l({T, 9});
    ref::dense_mqa(sh, q, kv, ro, rl);
    cpu::dense_mqa(sh, q, kv, o, l, DType::f32);
    EXPECT_TRUE(all_close(o, ro, 1e-5, 1e-6)) << "S=" << S;
    EXPECT_TRUE(all_close(l, rl, 1e-5, 1e-6)) << "S=" << S;
  }
}

TEST(CpuAttention, DenseMhaMatchesReferenceWithChunkOffsets) {
  // 21 queries at positions [40, 61) over a cache of 90 keys: the keys past each
  // query's position exist and must be masked.
  const std::int64_t T = 21, S = 90;
  const auto q = random_tensor({T, 3, 40}, 31, 0.4), k = random_tensor({S, 3, 40}, 32, 0.4), v = random_tensor({S, 3, 24}, 33);
  const AttentionShape sh{T, S, 3, 40, 24, 0.3, 40};
  HostTensor<float> ro, rl, o({T, 3, 24}), l({T, 3});
  ref::dense_mha(sh, q, k, v, ro, rl);
  cpu::dense_mha(sh, q, k, v, o, l, DType::f32);
  EXPECT_TRUE(all_close(o, ro, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(l, rl, 1e-5, 1e-6));
}

TEST(CpuAttention, Bf16OutputsStayWithinFlashMlaTolerance) {
  const std::int64_t T = 4, S = 300;
  const auto q = random_tensor({T, 16, 576}, 41, 0.2), kv = random_tensor({S, 576}, 42, 0.2);
  const AttentionShape sh{T, S, 16, 576, 512, ref::model_softmax_scale(), S - T};
  HostTensor<float> ro, rl, o({T, 16, 512}), l({T, 16});
  ref::dense_mqa(sh, q, kv, ro, rl);
  cpu::dense_mqa(sh, q, kv, o, l, DType::bf16);
  for (std::int64_t i = 0; i < o.numel(); ++i) {
    EXPECT_EQ(o.data()[i], round_to_bf16(o.data()[i]));  // really bf16 values
    const double d = std::fabs(o.data()[i] - ro.data()[i]);
    ASSERT_TRUE(d <= 8e-4 || d <= 3.01 / 128 * std::fabs(ro.data()[i])) << i;
  }
}

TEST(CpuAttention, RejectsWrongShapes) {
  const auto q = random_tensor({2, 4, 16}, 1), kv = random_tensor({10, 16}, 2);
  HostTensor<float> o({2, 4, 8}), l({2, 4});
  EXPECT_THROW(cpu::dense_mqa(AttentionShape{2, 10, 4, 16, 8, 0.0, 8}, q, kv, o, l, DType::f32), std::invalid_argument);
  EXPECT_THROW(cpu::dense_mqa(AttentionShape{2, 11, 4, 16, 8, 0.1, 8}, q, kv, o, l, DType::f32), std::invalid_argument);
}

}  // namespace
}  // namespace dsa
