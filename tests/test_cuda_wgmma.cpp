// The warpgroup-MMA conventions the wgmma kernels rely on, each form alone on one small
// product against the host (ctest label "gpu"; skipped without a device, and on a
// device that is not sm_90). Inputs are small integers, exact in bf16 and e4m3, so the
// products are exact and any difference is a layout or descriptor error: the message
// names the first wrong element and how many there are.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/rng.h"
#include "cuda_test_util.h"

#if DSA_HAVE_CUDA
#include "kernels/cuda/wgmma_probe.h"
#endif

namespace dsa {
namespace {

#if DSA_HAVE_CUDA
class CudaWgmma : public ::testing::TestWithParam<cuda::WgmmaProbeKind> {};

TEST_P(CudaWgmma, ProductMatchesTheHost) {
  REQUIRE_CUDA_DEVICE();
  const auto info = cuda_device_info(0);
  if (!info || info->cc_major != 9 || info->cc_minor != 0) GTEST_SKIP() << "wgmma needs an sm_90 device";
  const cuda::WgmmaProbeShape sh = cuda::wgmma_probe_shape(GetParam());
  Rng rng(derive_seed(31, cuda::wgmma_probe_name(GetParam())));
  const auto values = [&](std::size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>(static_cast<int>(rng.below(7)) - 3);
    return v;
  };
  const std::vector<float> a = values(static_cast<std::size_t>(64 * sh.k));
  const std::vector<float> b = values(static_cast<std::size_t>(sh.k * sh.n));
  const auto bits = [&](const std::vector<float>& v) {
    std::vector<unsigned char> out;
    for (const float x : v) {
      if (sh.element_bytes == 1) {
        out.push_back(float_to_e4m3_bits(x));
      } else {
        const std::uint16_t h = float_to_bf16_bits(x);
        out.push_back(static_cast<unsigned char>(h & 0xFF));
        out.push_back(static_cast<unsigned char>(h >> 8));
      }
    }
    return out;
  };
  const std::vector<float> d = cuda::wgmma_probe(GetParam(), bits(a), bits(b));
  ASSERT_EQ(d.size(), static_cast<std::size_t>(64 * sh.n));
  int wrong = 0;
  std::string first;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < sh.n; ++c) {
      double want = 0;
      for (int k = 0; k < sh.k; ++k) want += static_cast<double>(a[r * sh.k + k]) * b[k * sh.n + c];
      const float got = d[r * sh.n + c];
      if (static_cast<double>(got) != want && wrong++ == 0)
        first = "D[" + std::to_string(r) + "][" + std::to_string(c) + "] = " + std::to_string(got) + ", want " +
                std::to_string(want);
    }
  EXPECT_EQ(wrong, 0) << cuda::wgmma_probe_name(GetParam()) << ": " << wrong << " of " << 64 * sh.n
                      << " elements wrong; first " << first;
}

INSTANTIATE_TEST_SUITE_P(Forms, CudaWgmma,
                         ::testing::Values(cuda::WgmmaProbeKind::indexer_e4m3, cuda::WgmmaProbeKind::mqa_scores,
                                           cuda::WgmmaProbeKind::mqa_scores_n64,
                                           cuda::WgmmaProbeKind::mqa_values, cuda::WgmmaProbeKind::mha_scores,
                                           cuda::WgmmaProbeKind::mha_values),
                         [](const ::testing::TestParamInfo<cuda::WgmmaProbeKind>& i) {
                           const std::string n = cuda::wgmma_probe_name(i.param);
                           return n.substr(0, n.find(' '));
                         });
#endif

}  // namespace
}  // namespace dsa
