#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda_device.h"

namespace dsa {

bool built_with_cuda() { return true; }

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    // No driver or no device is a normal state on CI machines, not an error.
    if (why) *why = std::string("no CUDA device (") + cudaGetErrorString(err) + ")";
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device";
  return n;
}

namespace {
__global__ void trap_kernel() { __trap(); }
}  // namespace

bool cuda_break_context_for_test() {
  if (cuda_device_count() == 0) return false;
  trap_kernel<<<1, 1>>>();
  cudaDeviceSynchronize();  // returns the launch failure; it stays for the process
  return true;
}

bool cuda_context_lost(std::string* why) {
  // A non-sticky error (a bad launch configuration, an allocation that failed) is
  // cleared by reading it; a sticky one is returned again by every call, so a second
  // synchronisation after clearing tells the two apart.
  cudaGetLastError();
  if (cudaDeviceSynchronize() == cudaSuccess) return false;
  cudaGetLastError();
  const cudaError_t err = cudaDeviceSynchronize();
  if (err == cudaSuccess) return false;
  if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  return true;
}

int cuda_sm_count() {
  static const int n = [] {
    const auto info = cuda_device_info(0);
    return info ? info->sm_count : 132;
  }();
  return n;
}

std::optional<CudaDeviceInfo> cuda_device_info(int index) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) { cudaGetLastError(); return std::nullopt; }
  CudaDeviceInfo info;
  info.index = index;
  info.name = p.name;
  info.sm_count = p.multiProcessorCount;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  info.memory_bytes = p.totalGlobalMem;
  info.memory_bus_bits = p.memoryBusWidth;
  info.l2_bytes = static_cast<std::size_t>(p.l2CacheSize);
  // Clock rates moved out of cudaDeviceProp in CUDA 13: ask the attributes.
  cudaDeviceGetAttribute(&info.sm_clock_khz, cudaDevAttrClockRate, index);
  cudaDeviceGetAttribute(&info.memory_clock_khz, cudaDevAttrMemoryClockRate, index);
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaGetLastError();
  return info;
}

}  // namespace dsa
