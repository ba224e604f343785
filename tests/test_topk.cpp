// Top-k selection: the reference's tie rule, and the CPU radix select against it
// on the rows that break real implementations (dsa-spec.md section 10).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/rng.h"
#include "kernels/cpu/cpu_ops.h"
#include "reference/topk.h"
#include "test_util.h"

namespace dsa {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// The rule written as a full sort, independent of nth_element and radix select.
std::vector<std::int32_t> brute_force(const std::vector<float>& row, std::int64_t end, std::int64_t k) {
  std::vector<std::int32_t> pos(static_cast<std::size_t>(end));
  std::iota(pos.begin(), pos.end(), 0);
  std::stable_sort(pos.begin(), pos.end(), [&](std::int32_t a, std::int32_t b) {
    const float x = row[a], y = row[b];
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return x > y;  // stable: equal scores keep position order
  });
  pos.resize(static_cast<std::size_t>(std::min(k, end)));
  std::sort(pos.begin(), pos.end());
  pos.resize(static_cast<std::size_t>(k), -1);
  return pos;
}

HostTensor<float> one_row(const std::vector<float>& v) {
  HostTensor<float> t({1, static_cast<std::int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

std::vector<std::int32_t> row_of(const HostTensor<std::int32_t>& t, std::int64_t r) {
  return {&t(r, 0), &t(r, 0) + t.size(1)};
}

TEST(TopkRule, TiesBreakBySmallerPositionAndSignedZerosTie) {
  const auto s = one_row({0.0f, 5.0f, -0.0f, 5.0f, 0.0f, 1.0f});
  HostTensor<std::int32_t> idx;
  const std::int64_t end[] = {6};
  ref::topk(s, end, 4, idx);
  // 5 (pos 1), 5 (pos 3), 1 (pos 5), then the first of the zeros: pos 0 (+0, -0 equal).
  EXPECT_EQ(row_of(idx, 0), (std::vector<std::int32_t>{0, 1, 3, 5}));
}

TEST(TopkRule, NanRanksLastAndMinusInfBeforeIt) {
  const auto s = one_row({kNan, -kInf, 2.0f, kNan, -1.0f});
  HostTensor<std::int32_t> idx;
  const std::int64_t end[] = {5};
  ref::topk(s, end, 4, idx);
  EXPECT_EQ(row_of(idx, 0), (std::vector<std::int32_t>{0, 1, 2, 4}));  // 2, -1, -inf, then NaN at 0
}

TEST(TopkRule, CausalBoundAndPadding) {
  const auto s = one_row({1, 2, 3, 4, 5, 6});
  HostTensor<std::int32_t> idx;
  const std::int64_t end[] = {3};
  ref::topk(s, end, 5, idx);  // only positions 0..2 are valid
  EXPECT_EQ(row_of(idx, 0), (std::vector<std::int32_t>{0, 1, 2, -1, -1}));
  const std::int64_t none[] = {0};
  ref::topk(s, none, 2, idx);
  EXPECT_EQ(row_of(idx, 0), (std::vector<std::int32_t>{-1, -1}));
}

// Rows that have broken published top-k kernels.
struct RowCase {
  const char* name;
  std::int64_t cols, k;
  std::function<float(Rng&, std::int64_t)> gen;
  friend void PrintTo(const RowCase& c, std::ostream* os) { *os << c.name; }
};

class TopkRows : public ::testing::TestWithParam<RowCase> {};

TEST_P(TopkRows, RadixSelectMatchesReferenceAndBruteForce) {
  const RowCase& rc = GetParam();
  const std::int64_t T = 4;
  HostTensor<float> scores({T, rc.cols});
  Rng rng(derive_seed(99, rc.name));
  for (std::int64_t i = 0; i < scores.numel(); ++i) scores.data()[i] = rc.gen(rng, i % rc.cols);
  // Rows of different valid lengths: exactly k, one less, one more, everything.
  std::vector<std::int64_t> ends = {std::min(rc.k, rc.cols), std::max<std::int64_t>(std::min(rc.k, rc.cols) - 1, 0),
                                    std::min(rc.k + 1, rc.cols), rc.cols};
  HostTensor<std::int32_t> ref_idx, cpu_idx({T, rc.k}, -2);
  ref::topk(scores, ends, rc.k, ref_idx);
  cpu::topk_radix(scores, ends, cpu_idx);
  for (std::int64_t t = 0; t < T; ++t) {
    const std::vector<float> row(&scores(t, 0), &scores(t, 0) + rc.cols);
    ASSERT_EQ(row_of(ref_idx, t), brute_force(row, ends[t], rc.k)) << "reference, row " << t;
    ASSERT_EQ(row_of(cpu_idx, t), row_of(ref_idx, t)) << "radix select, row " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, TopkRows,
    ::testing::Values(
        RowCase{"gaussian", 5000, 300, [](Rng& r, std::int64_t) { return static_cast<float>(r.normal()); }},
        RowCase{"all_zero_signed", 262144, 2048,
                [](Rng& r, std::int64_t) { return r.uniform() < 0.5 ? -0.0f : 0.0f; }},
        RowCase{"mostly_zero", 131072, 2048,
                [](Rng& r, std::int64_t) { return r.uniform() < 0.97 ? 0.0f : static_cast<float>(std::fabs(r.normal())); }},
        RowCase{"low_bits_only", 262144, 2048,
                [](Rng& r, std::int64_t) {
                  float v = 1.0f;
                  for (auto n = r.below(4); n > 0; --n) v = std::nextafter(v, 2.0f);
                  return v;
                }},
        RowCase{"nan_and_inf", 3000, 1000,
                [](Rng& r, std::int64_t) {
                  const double u = r.uniform();
                  return u < 0.1 ? kNan : u < 0.2 ? -kInf : u < 0.25 ? kInf : static_cast<float>(r.normal());
                }},
        RowCase{"k_larger_than_row", 100, 2048, [](Rng& r, std::int64_t) { return static_cast<float>(r.normal()); }},
        RowCase{"one_column", 1, 2048, [](Rng&, std::int64_t) { return 0.0f; }}),
    [](const ::testing::TestParamInfo<RowCase>& i) { return std::string(i.param.name); });

TEST(TopkDeterminism, IdenticalAcrossRunsAndThreadCounts) {
  const std::int64_t T = 24, S = 20000, k = 2048;
  HostTensor<float> scores({T, S});
  Rng rng(5);
  for (float& v : scores.span()) v = rng.uniform() < 0.9 ? 0.0f : static_cast<float>(rng.normal());
  const auto ends = key_ends(T, S - T, S, true);
  HostTensor<std::int32_t> first_ref, first_cpu({T, k});
  test::with_threads(1, [&] {
    ref::topk(scores, ends, k, first_ref);
    cpu::topk_radix(scores, ends, first_cpu);
  });
  for (int threads : {1, 2, 3, 8}) {
    for (int rep = 0; rep < 2; ++rep) {
      HostTensor<std::int32_t> r, c({T, k});
      test::with_threads(threads, [&] {
        ref::topk(scores, ends, k, r);
        cpu::topk_radix(scores, ends, c);
      });
      ASSERT_TRUE(std::equal(r.span().begin(), r.span().end(), first_ref.span().begin())) << threads;
      ASSERT_TRUE(std::equal(c.span().begin(), c.span().end(), first_ref.span().begin())) << threads;
    }
  }
}

}  // namespace
}  // namespace dsa
