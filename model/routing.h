// DeepSeek's MoE routing (grouped sigmoid), shared by the CPU and GPU forwards so both
// send every token to the same experts with the same weights.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "model/config.h"

namespace dsa::model {

// logits [n, routed_experts] of the router; bias [routed_experts] (steers the choice
// only). Returns, per expert, the (token, weight) pairs routed to it; weights are the
// unbiased sigmoid scores of the chosen experts, normalised, times routed_scaling.
std::vector<std::vector<std::pair<std::int64_t, double>>> route_tokens(const ModelConfig& c, const float* logits,
                                                                       std::int64_t n, const std::vector<float>& bias);

}  // namespace dsa::model
