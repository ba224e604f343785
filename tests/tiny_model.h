// The dsa-tiny synthetic checkpoint (seed 42) a test process writes once under its
// scratch folder, its weights, and random token ids: shared by the CPU and GPU model tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.h"

#include "model/config.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "test_util.h"

namespace dsa::test {

inline const std::string& tiny_checkpoint() {
  static const std::string dir = [] {
    const std::string d = scratch_path("tiny-checkpoint");
    std::filesystem::remove_all(d);
    model::write_synthetic_checkpoint(model::preset_config("dsa-tiny"), d, 42);
    return d;
  }();
  return dir;
}

inline const model::ModelWeights& tiny_weights() {
  static const model::ModelWeights w =
      model::load_weights(model::preset_config("dsa-tiny"), *model::Checkpoint::open(tiny_checkpoint()));
  return w;
}

// n token ids drawn uniformly from [0, vocab), seeded.
inline std::vector<std::int32_t> random_tokens(std::int64_t n, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab)));
  return t;
}

}  // namespace dsa::test
