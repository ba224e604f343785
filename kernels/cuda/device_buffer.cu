#include "kernels/cuda/device_buffer.h"

#include <algorithm>
#include <atomic>

namespace dsa {

namespace {
std::atomic<std::size_t> g_in_use{0}, g_peak{0};
}

void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  DSA_CUDA_CHECK(cudaMalloc(&p, bytes));
  const std::size_t now = g_in_use.fetch_add(bytes) + bytes;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {}
  return p;
}

void device_free(void* p, std::size_t bytes) noexcept {
  if (!p) return;
  DSA_CUDA_CHECK_NOTHROW(cudaFree(p));
  g_in_use.fetch_sub(bytes);
}

std::size_t device_bytes_in_use() { return g_in_use.load(); }
std::size_t device_bytes_peak() { return g_peak.load(); }
void reset_device_bytes_peak() { g_peak.store(g_in_use.load()); }

}  // namespace dsa
