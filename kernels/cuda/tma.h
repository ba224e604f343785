// Tensor maps for the tensor memory accelerator (TMA) on the host side.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/cuda/attention.h"

namespace dsa::cuda {

// A dense MQA launch's bf16 latent cache as a 3-D tensor map: (d_qk columns, rows up to
// the launch's last causal end, sequences), boxes of 64 columns x `box_rows` rows x 1,
// 128-byte swizzle (the wgmma tiles' layout: kernels/cuda/wgmma.cuh). Rows past the
// last causal end are outside the map, so a box that reaches them brings zeros instead
// of whatever the cache holds there.
struct CacheMapGeometry {
  std::uint64_t dims[3];     // elements: columns, rows, sequences
  std::uint64_t strides[2];  // bytes between rows, between sequences
  std::uint32_t box[3];      // elements: 64 columns, box_rows rows, 1 sequence
};
CacheMapGeometry mqa_dense_cache_geometry(const MqaLaunch& p, int box_rows);

// What cuTensorMapEncodeTiled would refuse in a geometry for a bf16, non-interleaved,
// 128-byte-swizzled map of the cache at `base` (its documented requirements: a 16-byte
// aligned base, dimensions in [1, 2^32], strides multiples of 16 below 2^40 that hold a
// whole row / sequence, boxes in [1, 256] whose inner extent is a multiple of 16 bytes
// and at most the 128-byte swizzle span), or nothing.
std::optional<std::string> cache_map_problem(const CacheMapGeometry& g, const void* base);

// The map itself. The encoder is taken from the driver through the runtime (nothing
// links libcuda); `who` names the launcher in errors, which a geometry problem raises
// before the driver is asked.
CUtensorMap mqa_dense_cache_map(const MqaLaunch& p, int box_rows, const char* who);

}  // namespace dsa::cuda
