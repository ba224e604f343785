#include "kernels/cuda/device_buffer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "core/out_of_memory.h"

namespace dsa {

namespace {
std::atomic<std::size_t> g_in_use{0}, g_peak{0};

std::string amount(double bytes) {
  char buf[32];
  if (bytes >= 1e12) std::snprintf(buf, sizeof buf, "%.1f TB", bytes / 1e12);
  else if (bytes >= 1e9) std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}
}  // namespace

std::string device_oom_message(std::size_t asked, std::size_t held, std::int64_t free_bytes, std::size_t total) {
  std::string m = "out of device memory: " + amount(static_cast<double>(asked)) + " asked for, with " +
                  amount(static_cast<double>(held)) + " already held by the harness";
  if (free_bytes >= 0)
    m += " and " + amount(static_cast<double>(free_bytes)) + " free of the device's " + amount(static_cast<double>(total));
  return m;
}

void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    // Not sticky: clear it, so the case ends as oom and the next call starts clean.
    cudaGetLastError();
    std::size_t free_bytes = 0, total = 0;
    const bool known = cudaMemGetInfo(&free_bytes, &total) == cudaSuccess;
    if (!known) cudaGetLastError();
    throw OutOfMemory(device_oom_message(bytes, g_in_use.load(), known ? static_cast<std::int64_t>(free_bytes) : -1, total));
  }
  // The call's own text: the macro would name the variable.
  ::dsa::cuda_check(err, "cudaMalloc(&p, bytes)", __FILE__, __LINE__);
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
