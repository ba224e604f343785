// The CUDA device probe of a build without the CUDA backend.
#include "kernels/cuda_device.h"

namespace dsa {

bool built_with_cuda() { return false; }

int cuda_device_count(std::string* why) {
  if (why) *why = "no CUDA device (built without the CUDA backend)";
  return 0;
}

std::optional<CudaDeviceInfo> cuda_device_info(int) { return std::nullopt; }
bool cuda_context_lost(std::string*) { return false; }
bool cuda_break_context_for_test() { return false; }
int cuda_sm_count() { return 132; }

DeviceCeilings measure_device_ceilings() { return {0, 0, 0, "built without the CUDA backend"}; }
void reset_device_memory_peak() {}
std::int64_t device_memory_peak() { return 0; }
int current_sm_clock_mhz() { return -1; }

}  // namespace dsa

#include "kernels/cuda_variants.h"

namespace dsa {

std::vector<Variant<IndexerArgs>> cuda_indexer_variants() { return {}; }
std::vector<Variant<TopkArgs>> cuda_topk_variants() { return {}; }
std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_variants() { return {}; }
std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_variants() { return {}; }
std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_variants() { return {}; }
std::vector<Variant<IndexerArgs>> cuda_indexer_phase_variants() { return {}; }
std::vector<Variant<TopkArgs>> cuda_topk_phase_variants() { return {}; }
std::vector<Variant<SparseMqaArgs>> cuda_sparse_mqa_phase_variants() { return {}; }
std::vector<Variant<DenseMqaArgs>> cuda_dense_mqa_phase_variants() { return {}; }
std::vector<Variant<DenseMhaArgs>> cuda_dense_mha_phase_variants() { return {}; }
std::vector<Variant<TopkArgs>> cuda_topk_filter_stage_variants() { return {}; }

}  // namespace dsa
