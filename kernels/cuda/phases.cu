// The profiled kernels' sink (phases.h).
#include "kernels/cuda/phases.h"

#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"

namespace dsa::cuda {

unsigned long long* phase_sink() {
  static unsigned long long* sink = [] {
    void* p = nullptr;
    DSA_CUDA_CHECK(cudaMalloc(&p, kPhaseWords * sizeof(unsigned long long)));
    DSA_CUDA_CHECK(cudaMemset(p, 0, kPhaseWords * sizeof(unsigned long long)));
    return static_cast<unsigned long long*>(p);
  }();
  return sink;
}

void phase_sink_reset() {
  DSA_CUDA_CHECK(cudaDeviceSynchronize());
  DSA_CUDA_CHECK(cudaMemset(phase_sink(), 0, kPhaseWords * sizeof(unsigned long long)));
}

PhaseTotals phase_sink_read() {
  DSA_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<unsigned long long> w(kPhaseWords);
  DSA_CUDA_CHECK(cudaMemcpy(w.data(), phase_sink(), w.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  PhaseTotals t;
  t.cycles.assign(w.begin(), w.begin() + kPhaseSlots);
  t.events.assign(w.begin() + kPhaseSlots, w.begin() + kPhaseSlots + kPhaseEvents);
  t.recorders = w[kPhaseSlots + kPhaseEvents];
  return t;
}

}  // namespace dsa::cuda
