// Shared by the GPU tests: skip without a device (with the reason), find a variant.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_device.h"
#include "kernels/registry.h"

#if DSA_HAVE_CUDA
#include "kernels/cuda/phases.h"
#endif

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

#if DSA_HAVE_CUDA
// A profiled instantiation (`phased`, from cuda_*_phase_variants: --phases and the
// micro-benchmarks' phase tables) against the plain kernel of its name, each on its own
// copy of the arguments: `same()` must find their outputs the same bits (the clock adds
// reads and barriers, not arithmetic), and the phase sink must hold recorded time.
template <class Args>
void expect_profiled_like_plain(const std::vector<Variant<Args>>& plain_all, const Variant<Args>& phased,
                                const Args& plain_args, const Args& phased_args, const std::function<bool()>& same) {
  SCOPED_TRACE(phased.name);
  auto plain = cuda_variant(plain_all, phased.name).prepare(plain_args);
  auto profiled = phased.prepare(phased_args);
  plain->run();
  plain->fetch();
  cuda::phase_sink_reset();
  profiled->run();
  profiled->fetch();
  const cuda::PhaseTotals t = cuda::phase_sink_read();
  unsigned long long cycles = 0;
  for (unsigned long long c : t.cycles) cycles += c;
  EXPECT_GT(t.recorders, 0u) << "no recording thread counted itself in";
  EXPECT_GT(cycles, 0u) << "no phase recorded any time";
  EXPECT_TRUE(same()) << "the profiled kernel's output differs from the plain kernel's";
}

// Every profiled variant of `all` that takes the arguments some case of `run_case` makes:
// run_case(v) returns false where v does not take them. Each variant must run once.
template <class Args>
void expect_every_profiled_variant_ran(const std::vector<Variant<Args>>& all,
                                       const std::function<bool(const Variant<Args>&)>& run_case) {
  std::set<std::string> ran;
  for (const auto& v : all)
    if (run_case(v)) ran.insert(v.name);
  for (const auto& v : all) EXPECT_TRUE(ran.count(v.name) == 1) << v.name << " took none of the shapes";
}
#endif

}  // namespace dsa
