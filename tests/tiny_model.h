// The dsa-tiny synthetic checkpoint (seed 42) a test process writes once under its
// scratch folder, and its weights: shared by the CPU and GPU model tests.
#pragma once

#include <filesystem>
#include <string>

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

}  // namespace dsa::test
