// Shared by the GPU tests: skip without a device (with the reason), find a variant.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
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

// A parameterised test suite over `values` and its first-run twin: `Suite` runs
// check(param, false) (the validated variants), `FirstRunSuite` check(param, true) (the
// variants the registry marks not yet validated, which scripts/gpu-check.sh runs in a
// process of their own). Instantiated as Prefix/Suite.Test/<namer(param)>.
#define DSA_SUITE_AND_FIRST_RUN_TWIN(Param, Suite, FirstRunSuite, Test, Prefix, check, values, namer) \
  class Suite : public ::testing::TestWithParam<Param> {};                                            \
  TEST_P(Suite, Test) { check(GetParam(), false); }                                                  \
  INSTANTIATE_TEST_SUITE_P(Prefix, Suite, ::testing::ValuesIn(values), namer);                       \
  class FirstRunSuite : public ::testing::TestWithParam<Param> {};                                    \
  TEST_P(FirstRunSuite, Test) { check(GetParam(), true); }                                           \
  INSTANTIATE_TEST_SUITE_P(Prefix, FirstRunSuite, ::testing::ValuesIn(values), namer)

namespace dsa {

// Whether a first-run test checks variant `name`: all of them, unless the environment
// names one in DSA_FIRST_RUN_VARIANT (scripts/gpu-check.sh runs each first-run suite
// once per kernel not yet validated, so one kernel that faults or hangs on its first
// run does not take the others' results with it).
inline bool first_run_selected(const std::string& name) {
  const char* only = std::getenv("DSA_FIRST_RUN_VARIANT");
  return only == nullptr || *only == '\0' || name == only;
}

template <class Args>
const Variant<Args>& cuda_variant(const std::vector<Variant<Args>>& all, const std::string& name) {
  for (const auto& v : all)
    if (v.name == name) return v;
  throw std::runtime_error("no variant " + name);
}

}  // namespace dsa
