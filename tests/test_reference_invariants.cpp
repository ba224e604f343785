// Invariants the reference must satisfy (issue #2, section 3): properties that hold
// in exact arithmetic, checked between independently written code paths.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/indexer_operands.h"
#include "core/metrics.h"
#include "core/quant.h"
#include "reference/attention.h"
#include "reference/indexer.h"
#include "reference/mla.h"
#include "reference/topk.h"
#include "test_util.h"

namespace dsa {
namespace {

using test::all_close;
using test::random_tensor;

TEST(ReferenceAttention, ModelSoftmaxScaleIsNotTheGenericOne) {
  EXPECT_NEAR(ref::model_softmax_scale(), 0.13524, 5e-5);
  EXPECT_GT(std::fabs(ref::model_softmax_scale() - 1.0 / std::sqrt(576.0)), 0.09);
}

// Two keys with logits 0 and ln 3: p = 1/4, 3/4; values 2 and -3.
TEST(ReferenceAttention, MagnitudeIsTheProbabilityWeightedAbsoluteValue) {
  const AttentionShape sh{1, 2, 1, 2, 1, 1.0, 1};
  HostTensor<float> q({1, 1, 2}), kv({2, 2});
  q(0, 0, 1) = 1.0f;
  kv(0, 0) = 2.0f;
  kv(1, 0) = -3.0f;
  kv(1, 1) = static_cast<float>(std::log(3.0));
  HostTensor<float> out, lse, mag, mag_mha;
  ref::dense_mqa(sh, q, kv, out, lse, &mag);
  EXPECT_NEAR(out(0, 0, 0), -1.75, 1e-6);
  EXPECT_NEAR(mag(0, 0, 0), 2.75, 1e-6);
  EXPECT_NEAR(lse(0, 0), std::log(4.0), 1e-6);
  // The same through MHA mode (keys and values given separately).
  HostTensor<float> k({2, 1, 2}), v({2, 1, 1});
  for (int s = 0; s < 2; ++s) {
    k(s, 0, 0) = kv(s, 0);
    k(s, 0, 1) = kv(s, 1);
    v(s, 0, 0) = kv(s, 0);
  }
  ref::dense_mha(sh, q, k, v, out, lse, &mag_mha);
  EXPECT_NEAR(mag_mha(0, 0, 0), 2.75, 1e-6);
}

TEST(ReferenceAttention, SparseWithTopkCoveringTheContextEqualsDenseMqa) {
  const std::int64_t T = 5, S = 40;
  const AttentionShape sh{T, S, 3, 24, 16, 0.2, S - T};
  const auto q = random_tensor({T, 3, 24}, 1), kv = random_tensor({S, 24}, 2);
  // Selection by the reference top-k over arbitrary scores with k >= context: every
  // causal key is chosen.
  const auto scores = random_tensor({T, S}, 3);
  HostTensor<std::int32_t> idx;
  ref::topk(scores, key_ends(T, S - T, S, true), 64, idx);
  HostTensor<float> so, sl, dout, dl;
  ref::sparse_mqa(sh, q, kv, idx, so, sl);
  ref::dense_mqa(sh, q, kv, dout, dl);
  EXPECT_TRUE(all_close(so, dout, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(sl, dl, 1e-6, 1e-7));
}

TEST(ReferenceAttention, MhaModeEqualsAbsorbedMqaMode) {
  const ref::MlaDims md{4, 16, 8, 12, 32};
  const std::int64_t T = 6, S = 30;
  const auto w_kvb = random_tensor({4 * (16 + 12), 32}, 11, 1.0 / std::sqrt(32.0));
  const auto cache = random_tensor({S, 32 + 8}, 12);
  const auto q = random_tensor({T, 4, 16 + 8}, 13);
  const auto w = ref::split_kv_b(w_kvb, md);
  HostTensor<float> k, v;
  ref::expand_latent_cache(cache, w, md, k, v);
  const double scale = 0.3;
  HostTensor<float> mha_out, mha_lse, mqa_out, mqa_lse;
  ref::dense_mha(AttentionShape{T, S, 4, 24, 12, scale, S - T}, q, k, v, mha_out, mha_lse);
  const auto q_abs = ref::absorb_query(q, w, md);
  ref::dense_mqa(AttentionShape{T, S, 4, 40, 32, scale, S - T}, q_abs, cache, mqa_out, mqa_lse);
  const auto projected = ref::project_latent_output(mqa_out, w, md);
  EXPECT_TRUE(all_close(projected, mha_out, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(mqa_lse, mha_lse, 1e-5, 1e-6));
}

// Splits queries [0, T) into [0, T1) over the first T1 keys and [T1, T) at offset T1.
template <class Fn>
void expect_chunked_equals_unchunked(std::int64_t T, std::int64_t T1, Fn run) {
  HostTensor<float> full_out, full_lse, a_out, a_lse, b_out, b_lse;
  run(0, T, 0, T, full_out, full_lse);
  run(0, T1, 0, T1, a_out, a_lse);
  run(T1, T, T1, T, b_out, b_lse);
  const std::int64_t row = full_out.numel() / T, lrow = full_lse.numel() / T;
  for (std::int64_t i = 0; i < T1 * row; ++i) ASSERT_EQ(a_out.data()[i], full_out.data()[i]) << i;
  for (std::int64_t i = 0; i < (T - T1) * row; ++i) ASSERT_EQ(b_out.data()[i], full_out.data()[T1 * row + i]) << i;
  for (std::int64_t i = 0; i < T1 * lrow; ++i) ASSERT_EQ(a_lse.data()[i], full_lse.data()[i]);
  for (std::int64_t i = 0; i < (T - T1) * lrow; ++i) ASSERT_EQ(b_lse.data()[i], full_lse.data()[T1 * lrow + i]);
}

template <class T>
HostTensor<T> rows(const HostTensor<T>& t, std::int64_t lo, std::int64_t hi) {
  Shape s = t.shape();
  s.dims[0] = hi - lo;
  HostTensor<T> out(s);
  const std::int64_t row = t.numel() / t.size(0);
  std::copy(t.data() + lo * row, t.data() + hi * row, out.data());
  return out;
}

TEST(ReferenceAttention, ChunkedPrefillEqualsUnchunked) {
  const std::int64_t T = 37, T1 = 16;
  const auto q = random_tensor({T, 2, 20}, 21), k = random_tensor({T, 2, 20}, 22), v = random_tensor({T, 2, 8}, 23);
  const auto kv = random_tensor({T, 20}, 24);
  // A chunk of queries at positions [p0, p0 + n) sees a cache of p0 + n keys.
  expect_chunked_equals_unchunked(T, T1, [&](std::int64_t q0, std::int64_t q1, std::int64_t p0, std::int64_t keys,
                                             HostTensor<float>& o, HostTensor<float>& l) {
    ref::dense_mha(AttentionShape{q1 - q0, keys, 2, 20, 8, 0.25, p0}, rows(q, q0, q1), rows(k, 0, keys), rows(v, 0, keys), o, l);
  });
  expect_chunked_equals_unchunked(T, T1, [&](std::int64_t q0, std::int64_t q1, std::int64_t p0, std::int64_t keys,
                                             HostTensor<float>& o, HostTensor<float>& l) {
    ref::dense_mqa(AttentionShape{q1 - q0, keys, 2, 20, 8, 0.25, p0}, rows(q, q0, q1), rows(kv, 0, keys), o, l);
  });
}

TEST(ReferenceIndexer, ChunkedEqualsUnchunked) {
  const std::int64_t T = 30, T1 = 11;
  const auto q = random_tensor({T, 4, 16}, 31), k = random_tensor({T, 16}, 32), w = random_tensor({T, 4}, 33);
  HostTensor<float> full, a, b;
  ref::indexer_scores(IndexerShape{T, T, 4, 16, 0, true}, q, k, w, full);
  ref::indexer_scores(IndexerShape{T - T1, T, 4, 16, T1, true}, rows(q, T1, T), k, rows(w, T1, T), b);
  for (std::int64_t t = T1; t < T; ++t)
    for (std::int64_t s = 0; s < T; ++s) ASSERT_EQ(b(t - T1, s), full(t, s)) << t << "," << s;
  // Causal structure: -inf exactly past each query's position.
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t s = 0; s < T; ++s) ASSERT_EQ(std::isinf(full(t, s)), s > t);
}

TEST(ReferenceIndexer, HadamardRotationLeavesUnquantisedScoresUnchanged) {
  const std::int64_t T = 8, S = 50;
  const auto q = random_tensor({T, 4, 128}, 41), k = random_tensor({S, 128}, 42), w = random_tensor({T, 4}, 43);
  const IndexerShape sh{T, S, 4, 128, S - T, true};
  const auto plain = prepare_indexer_operands(q, k, w, DType::f32, false);
  const auto rotated = prepare_indexer_operands(q, k, w, DType::f32, true);
  HostTensor<float> a, b;
  ref::indexer_scores(sh, plain.q, plain.k, plain.w, a);
  ref::indexer_scores(sh, rotated.q, rotated.k, rotated.w, b);
  EXPECT_TRUE(all_close(b, a, 1e-4, 1e-4));
}

TEST(ReferenceIndexer, Fp8ScoresStayWithinDeepGemmBoundWithAndWithoutRotation) {
  // FP8 with per-token power-of-two scales keeps Gaussian scores within DeepGEMM's
  // cos_diff 1e-3 of the exact ones, rotated or not (the rotation moves where the
  // rounding error falls, not the dot products). With strong outlier channels neither
  // path is guaranteed to stay inside that bound, so none are planted here.
  const std::int64_t T = 16, S = 256;
  const auto q = random_tensor({T, 8, 128}, 51), k = random_tensor({S, 128}, 52), w = random_tensor({T, 8}, 53);
  const IndexerShape sh{T, S, 8, 128, S - T, true};
  HostTensor<float> exact;
  ref::indexer_scores(sh, q, k, w, exact);
  for (bool rotate : {false, true}) {
    const auto ops = prepare_indexer_operands(q, k, w, DType::fp8_e4m3, rotate);
    HostTensor<float> got;
    ref::indexer_scores(sh, ops.q, ops.k, ops.w, got);
    const ValueReport v = compare_values(got.span(), exact.span(), 0, 0);
    EXPECT_GT(v.cos_diff, 0.0) << "rotate=" << rotate << ": quantisation must change something";
    EXPECT_LT(v.cos_diff, 1e-3) << "rotate=" << rotate;
    EXPECT_TRUE(compare_structure(got.span(), exact.span()).ok());
  }
}

TEST(ReferenceAttention, InvalidIndicesAreSkippedAndEmptyRowsGiveZeroAndMinusInf) {
  const std::int64_t S = 10;
  const auto q = random_tensor({2, 2, 8}, 61), kv = random_tensor({S, 8}, 62);
  HostTensor<std::int32_t> idx({2, 4});
  // Row 0: keys 3 and 5 plus garbage; row 1: only garbage.
  const std::int32_t r0[] = {3, -1, 5, 10}, r1[] = {-1, 12, -7, 10};
  for (int j = 0; j < 4; ++j) { idx(0, j) = r0[j]; idx(1, j) = r1[j]; }
  HostTensor<std::int32_t> clean({2, 4}, -1);
  clean(0, 0) = 3;
  clean(0, 1) = 5;
  const AttentionShape sh{2, S, 2, 8, 6, 0.5, 0};
  HostTensor<float> o, l, oc, lc;
  ref::sparse_mqa(sh, q, kv, idx, o, l);
  ref::sparse_mqa(sh, q, kv, clean, oc, lc);
  for (int h = 0; h < 2; ++h) {
    for (int d = 0; d < 6; ++d) {
      EXPECT_EQ(o(0, h, d), oc(0, h, d));
      EXPECT_EQ(o(1, h, d), 0.0f);
    }
    EXPECT_EQ(l(0, h), lc(0, h));
    EXPECT_EQ(l(1, h), -std::numeric_limits<float>::infinity());
  }
}

}  // namespace
}  // namespace dsa
