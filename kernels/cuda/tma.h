// Tensor maps for the tensor memory accelerator (TMA) on the host side.
#pragma once

#include <cuda.h>

#include "kernels/cuda/attention.h"

namespace dsa::cuda {

// A dense MQA launch's bf16 latent cache as a 3-D tensor map: (d_qk columns, rows up to
// the launch's last causal end, sequences), boxes of 64 columns x `box_rows` rows x 1,
// 128-byte swizzle (the wgmma tiles' layout: kernels/cuda/wgmma.cuh). Rows past the
// last causal end are outside the map, so a box that reaches them brings zeros instead
// of whatever the cache holds there. The encoder is taken from the driver through the
// runtime (nothing links libcuda); `who` names the launcher in errors.
CUtensorMap mqa_dense_cache_map(const MqaLaunch& p, int box_rows, const char* who);

}  // namespace dsa::cuda
