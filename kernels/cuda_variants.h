// The CUDA variants of each op, for the registry. A build without the CUDA backend
// returns empty lists (kernels/cuda_device_none.cpp).
#pragma once

#include <vector>

#include "kernels/registry.h"

namespace dsa {

std::vector<Variant<IndexerArgs>> cuda_indexer_variants();
std::vector<Variant<TopkArgs>> cuda_topk_variants();
std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_variants();
std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_variants();
std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_variants();

// Profiled instantiations of some of those kernels (kernels/cuda/phase_clock.cuh: the
// cycles of each phase go to kernels/cuda/phases.h's sink), under the names of the
// kernels they time. For the micro-benchmarks' phase tables; the registry never
// lists them.
std::vector<Variant<IndexerArgs>> cuda_indexer_phase_variants();
std::vector<Variant<TopkArgs>> cuda_topk_phase_variants();
std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_phase_variants();
std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_phase_variants();
std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_phase_variants();

// cuda.topk.filter cut after each of its three kernels (the bound; the bound and the
// filter pass; all three), in that order, under the kernel's name: a micro-benchmark
// times each kernel by difference. Only the last writes the indices.
std::vector<Variant<TopkArgs>> cuda_topk_filter_stage_variants();

}  // namespace dsa
