// Every CUDA top-k kernel run by the SIMT emulator (tests/simt/) on the CPU, against the
// reference, bit for bit, under several thread orders. The top-k kernels are plain CUDA
// (shared memory, barriers, warp votes and shuffles, atomics: no tensor cores, no inline
// PTX), so their logic can be checked in CI, where there is no GPU. A pass here is not a
// GPU validation (no timing, no weak memory ordering): docs/gpu-validation.md keeps what
// ran on a GPU.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_filter.h"
#include "kernels/cuda/topk_split.h"
#include "reference/topk.h"
#include "tests/simt/scheduler.h"
#include "tests/topk_rows.h"

namespace dsa {
namespace {

using test::TopkRowCase;

struct Kernel {
  const char* name;  // the registry's name without "cuda.topk."
  // Launches on p (device pointers) with what workspace the kernel needs.
  std::function<void(const cuda::TopkLaunch&)> launch;
};

void with_filter(const cuda::TopkLaunch& p, bool fused) {
  DeviceBuffer<unsigned char> ws(cuda::topk_filter_workspace_bytes(p.rows));
  cuda::TopkFilterLaunch f;
  static_cast<cuda::TopkLaunch&>(f) = p;
  f.workspace = ws.get();
  fused ? cuda::launch_topk_filter_fused(f, nullptr) : cuda::launch_topk_filter(f, nullptr);
}

void with_split(const cuda::TopkLaunch& p) {
  cuda::TopkSplitLaunch s;
  static_cast<cuda::TopkLaunch&>(s) = p;
  s.blocks = cuda::topk_split_blocks(p.rows, p.cols, 132);  // an H100's SMs
  DeviceBuffer<unsigned int> hist(cuda::topk_split_hist_words(p.rows));
  DeviceBuffer<unsigned long long> counts(static_cast<std::size_t>(p.rows * s.blocks));
  s.hist = hist.get();
  s.counts = counts.get();
  cuda::launch_topk_split(s, nullptr);
}

const std::vector<Kernel>& kernels() {
  static const std::vector<Kernel> k = {
      {"radix", [](const cuda::TopkLaunch& p) { cuda::launch_topk(p, nullptr); }},
      {"sample", [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample(p, nullptr); }},
      {"sample_phases", [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample_phases(p, nullptr); }},
      {"sample256", [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample256(p, nullptr); }},
      {"sample_prefetch", [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample_prefetch(p, nullptr); }},
      {"sample_atomics", [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample_atomics(p, nullptr); }},
      {"sample_atomics_prefetch",
       [](const cuda::TopkLaunch& p) { cuda::launch_topk_sample_atomics_prefetch(p, nullptr); }},
      {"split", with_split},
      {"filter", [](const cuda::TopkLaunch& p) { with_filter(p, false); }},
      {"filter_fused", [](const cuda::TopkLaunch& p) { with_filter(p, true); }},
  };
  return k;
}

// The kernel's output for these rows, or the launch's error.
::testing::AssertionResult run_emulated(const Kernel& kernel, const HostTensor<float>& scores,
                                        const std::vector<std::int64_t>& ends, std::int64_t k,
                                        HostTensor<std::int32_t>& out) {
  const std::int64_t rows = scores.size(0), cols = scores.size(1);
  const auto s = to_device(scores.data(), static_cast<std::size_t>(rows * cols));
  const auto e = to_device(ends.data(), ends.size());
  DeviceBuffer<std::int32_t> idx(static_cast<std::size_t>(rows * k));
  idx.fill_bytes(0x7B);  // poison: unwritten slots show
  cuda::TopkLaunch p;
  p.scores = s.get();
  p.ends = e.get();
  p.indices = idx.get();
  p.rows = rows;
  p.cols = cols;
  p.k = k;
  cudaGetLastError();
  try {
    kernel.launch(p);
  } catch (const std::exception& ex) {
    return ::testing::AssertionFailure() << kernel.name << " threw: " << ex.what();
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ::testing::AssertionFailure() << kernel.name << ": " << cudaGetErrorString(err);
  idx.download(out.data(), idx.size());
  return ::testing::AssertionSuccess();
}

// Each kernel (whose name contains `only`) against the reference, and against itself
// under other thread orders.
void expect_every_kernel_matches(const HostTensor<float>& scores, const std::vector<std::int64_t>& ends, std::int64_t k,
                                 int orders, const std::string& only = "") {
  const std::int64_t rows = scores.size(0);
  HostTensor<std::int32_t> ref({rows, k}), got({rows, k});
  ref::topk(scores, ends, k, ref);
  int tried = 0;
  for (const Kernel& kernel : kernels()) {
    if (std::string(kernel.name).find(only) == std::string::npos) continue;
    ++tried;
    for (int order = 0; order < orders; ++order) {
      simt::set_schedule_seed(1000 + static_cast<std::uint64_t>(order));
      ASSERT_TRUE(run_emulated(kernel, scores, ends, k, got)) << "thread order " << order;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < k; ++j)
          ASSERT_EQ(got(r, j), ref(r, j)) << kernel.name << ": row " << r << " (end " << ends[static_cast<std::size_t>(r)]
                                          << ") slot " << j << ", thread order " << order;
    }
  }
  EXPECT_GT(tried, 0) << "no kernel named like '" << only << "'";
}

class SimtTopk : public ::testing::TestWithParam<TopkRowCase> {};

TEST_P(SimtTopk, EveryKernelIdenticalToTheReference) {
  const TopkRowCase& c = GetParam();
  expect_every_kernel_matches(test::topk_scores(c), test::topk_row_ends(c), c.k, 2);
}

// The GPU tests' row cases (test_cuda_kernels.cpp), at lengths an emulated thread per
// fiber gets through in seconds: each still takes the path it was written for (rows
// past the sampled kernels' 8192-key buffer, so they sample; rows of several filter
// slices; ties across slices; unaligned rows; k above a quarter of the buffer).
const std::vector<TopkRowCase> kRows = {
    {"gaussian_16k", 8, 16384, 2048, test::topk_gaussian},
    {"gaussian_40k", 4, 40000, 2048, test::topk_gaussian},
    {"all_zero_24k", 4, 24576, 2048, test::topk_signed_zeros},
    {"low_bits_24k", 4, 24576, 2048, test::topk_low_bits},
    {"mostly_zero_33k", 4, 33000, 2048, test::topk_mostly_zero},
    {"nan_inf_5k", 8, 5000, 1000, test::topk_nan_inf},
    {"short_rows", 8, 100, 2048, test::topk_gaussian},
    {"one_column", 4, 1, 2048, test::topk_signed_zeros},
    {"odd_columns_20001", 4, 20001, 2048, test::topk_gaussian},
    {"k_4096_of_20k", 4, 20480, 4096, test::topk_gaussian},
    {"coarse_ties_32k", 4, 32768, 2048, test::topk_coarse},
    {"small_k_many_rows", 40, 3000, 64, test::topk_gaussian},
};

INSTANTIATE_TEST_SUITE_P(Rows, SimtTopk, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<TopkRowCase>& i) { return std::string(i.param.name); });

TEST(SimtTopk, ExactWhenTheSampleMisjudges) {
  constexpr std::int64_t kCols = 32768, kK = 1024;
  ASSERT_EQ(cuda::topk_sample_plan(kCols, kK).mode, cuda::TopkSamplePlan::sample);
  expect_every_kernel_matches(test::topk_rows_the_sample_misjudges(kCols, kK), {kCols, kCols, kCols}, kK, 1);
}

// More rows than the filter kernels take in one round (kTopkFilterRowsPerRound): the
// second round's pointers and workspace. Only those two kernels: the rest have no rounds.
TEST(SimtTopk, FilterKernelsTakeRowsInRounds) {
  const TopkRowCase c{"filter_rounds", cuda::kTopkFilterRowsPerRound + 6, 9000, 256, test::topk_gaussian};
  expect_every_kernel_matches(test::topk_scores(c), test::topk_row_ends(c), c.k, 1, "filter");
}

}  // namespace
}  // namespace dsa
