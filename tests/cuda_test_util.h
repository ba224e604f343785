// Shared by the GPU tests: skip without a device (with the reason), find a variant.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_device.h"
#include "kernels/registry.h"

#define REQUIRE_CUDA_DEVICE()                              \
  do {                                                     \
    std::string why_;                                      \
    if (::dsa::cuda_device_count(&why_) == 0) GTEST_SKIP() << why_; \
  } while (0)

namespace dsa {

template <class Args>
const Variant<Args>& cuda_variant(const std::vector<Variant<Args>>& all, const std::string& name) {
  for (const auto& v : all)
    if (v.name == name) return v;
  throw std::runtime_error("no variant " + name);
}

}  // namespace dsa
