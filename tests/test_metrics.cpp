// Error metrics against hand computations.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/metrics.h"

namespace dsa {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Metrics, CosDiffAndRelL2) {
  const std::vector<float> y = {1, 2, 3}, x2 = {2, 4, 6}, orth_a = {1, 0}, orth_b = {0, 1};
  EXPECT_DOUBLE_EQ(cos_diff(y, y), 0.0);
  EXPECT_NEAR(cos_diff(x2, y), 0.2, 1e-12);  // 1 - 2*2|y|^2 / (5|y|^2)
  EXPECT_DOUBLE_EQ(cos_diff(orth_a, orth_b), 1.0);
  EXPECT_DOUBLE_EQ(rel_l2(x2, y), 1.0);      // |2y - y| / |y|
  EXPECT_DOUBLE_EQ(rel_l2(y, y), 0.0);
}

TEST(Metrics, StructureComparesNanAndInfPositionsExactly) {
  const std::vector<float> ref = {1, kNan, kInf, -kInf, 5};
  EXPECT_TRUE(compare_structure(ref, ref).ok());
  const std::vector<float> swapped = {1, kNan, -kInf, -kInf, 5};  // +inf became -inf
  const StructureReport r = compare_structure(swapped, ref);
  EXPECT_EQ(r.mismatches, 1);
  EXPECT_EQ(r.first_mismatch, 2);
  const std::vector<float> filled = {1, 2, kInf, -kInf, 5};       // NaN replaced by a number
  EXPECT_EQ(compare_structure(filled, ref).first_mismatch, 1);
  EXPECT_EQ(compare_structure(ref, ref).ref_nan, 1);
}

TEST(Metrics, AbsOrRelPassFractionAndMaxPosition) {
  const std::vector<float> ref = {1.0f, 100.0f, 0.0f, 10.0f};
  const std::vector<float> x = {1.0005f, 101.0f, 0.002f, 10.0f};
  // abs 1e-3 or rel 1.5%: elements 0 (abs), 1 (rel 1%) and 3 pass; 2 fails both.
  const ValueReport v = compare_values(x, ref, 1e-3, 0.015);
  EXPECT_EQ(v.compared, 4);
  EXPECT_EQ(v.failures, 1);
  EXPECT_EQ(v.first_failure, 2);
  EXPECT_DOUBLE_EQ(v.pass_fraction, 0.75);
  EXPECT_NEAR(v.max_abs, 1.0, 1e-6);
  EXPECT_EQ(v.max_abs_index, 1);
  EXPECT_EQ(unravel_index(5, {2, 3}), "[1,2]");
}

TEST(Metrics, AnElementsAllowanceAddsToItsBound) {
  const std::vector<float> ref = {1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<float> x = {1.0005f, 1.003f, 1.006f, 1.003f};
  const std::vector<float> allowance = {0.0f, 0.0025f, 0.0025f, 0.0f};
  // Bound 1e-3 + allowance: 0 passes alone, 1 passes by its allowance, 2 exceeds
  // bound + allowance, 3 has no allowance.
  const ValueReport v = compare_values(x, ref, 1e-3, 0, allowance);
  EXPECT_EQ(v.failures, 2);
  EXPECT_EQ(v.first_failure, 2);
  EXPECT_EQ(v.helped, 1);
  EXPECT_EQ(compare_values(x, ref, 1e-3, 0).failures, 3);
  EXPECT_THROW(compare_values(x, ref, 1e-3, 0, std::span(allowance).first(2)), std::exception);
}

TEST(Metrics, ValuesSkipNonFinitePositions) {
  const std::vector<float> ref = {1, -kInf, 3}, x = {1, -kInf, 3};
  const ValueReport v = compare_values(x, ref, 0, 0);
  EXPECT_EQ(v.compared, 2);
  EXPECT_EQ(v.failures, 0);
}

TEST(Metrics, SetRecallIgnoresPadding) {
  const std::vector<std::int32_t> truth = {1, 2, 3, 4, -1}, sel = {2, 4, 9, -1, -1};
  EXPECT_DOUBLE_EQ(set_recall(sel, truth), 0.5);
  EXPECT_DOUBLE_EQ(set_recall(sel, std::vector<std::int32_t>{-1}), 1.0);
}

TEST(Metrics, AttentionMassRecall) {
  const std::vector<double> logits = {0.0, 0.0, std::log(2.0)};  // probabilities 1/4, 1/4, 1/2
  EXPECT_NEAR(attention_mass_recall(logits, std::vector<std::int32_t>{2}), 0.5, 1e-12);
  // Repeats count once; -1 and out-of-range entries are ignored.
  EXPECT_NEAR(attention_mass_recall(logits, std::vector<std::int32_t>{0, 2, 2, -1, 7}), 0.75, 1e-12);
  EXPECT_NEAR(attention_mass_recall(logits, std::vector<std::int32_t>{0, 1, 2}), 1.0, 1e-12);
}

}  // namespace
}  // namespace dsa
