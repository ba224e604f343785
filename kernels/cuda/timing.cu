#include "kernels/cuda/timing.h"

#include <dlfcn.h>

#include <mutex>

namespace dsa {

L2Flusher::L2Flusher() {
  static std::mutex mu;
  static std::weak_ptr<DeviceBuffer<unsigned char>> shared;
  std::lock_guard<std::mutex> lock(mu);
  buf_ = shared.lock();
  if (buf_) return;
  int device = 0, l2 = 0;
  DSA_CUDA_CHECK(cudaGetDevice(&device));
  DSA_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  // Twice the L2: writing it evicts whatever the previous sample left there.
  buf_ = std::make_shared<DeviceBuffer<unsigned char>>(static_cast<std::size_t>(l2 > 0 ? 2 * l2 : 1 << 20));
  shared = buf_;
}

void L2Flusher::flush(cudaStream_t stream) {
  value_ = (value_ + 1) & 0xFF;  // a different value each time, so no write can be elided
  DSA_CUDA_CHECK(cudaMemsetAsync(buf_->get(), value_, buf_->bytes(), stream));
}

EventTimer::EventTimer() {
  DSA_CUDA_CHECK(cudaEventCreate(&start_));
  DSA_CUDA_CHECK(cudaEventCreate(&stop_));
}

EventTimer::~EventTimer() {
  if (start_) DSA_CUDA_CHECK_NOTHROW(cudaEventDestroy(start_));
  if (stop_) DSA_CUDA_CHECK_NOTHROW(cudaEventDestroy(stop_));
}

double EventTimer::time(cudaStream_t stream, const std::function<void()>& launch) {
  DSA_CUDA_CHECK(cudaEventRecord(start_, stream));
  launch();
  DSA_CUDA_CHECK(cudaEventRecord(stop_, stream));
  DSA_CUDA_CHECK(cudaEventSynchronize(stop_));
  float ms = 0;
  DSA_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
  return static_cast<double>(ms) * 1e-3;
}

namespace {

// The few NVML entry points we need, loaded at run time: NVML ships with the driver,
// not the toolkit, so linking it would break machines without a driver.
struct Nvml {
  using Device = void*;
  int (*init)() = nullptr;
  int (*by_pci)(const char*, Device*) = nullptr;
  int (*clock)(Device, int, unsigned*) = nullptr;
  bool ok = false;
};

const Nvml& nvml() {
  static Nvml n;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    n.init = reinterpret_cast<int (*)()>(dlsym(h, "nvmlInit_v2"));
    n.by_pci = reinterpret_cast<int (*)(const char*, Nvml::Device*)>(dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2"));
    n.clock = reinterpret_cast<int (*)(Nvml::Device, int, unsigned*)>(dlsym(h, "nvmlDeviceGetClockInfo"));
    n.ok = n.init && n.by_pci && n.clock && n.init() == 0;  // NVML_SUCCESS
  });
  return n;
}

}  // namespace

int sm_clock_mhz() {
  const Nvml& n = nvml();
  if (!n.ok) return -1;
  int device = 0;
  char pci[32] = {};
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetPCIBusId(pci, sizeof pci, device) != cudaSuccess) return -1;
  Nvml::Device handle = nullptr;
  unsigned mhz = 0;
  constexpr int kNvmlClockSm = 1;  // NVML_CLOCK_SM
  if (n.by_pci(pci, &handle) != 0 || n.clock(handle, kNvmlClockSm, &mhz) != 0) return -1;
  return static_cast<int>(mhz);
}

}  // namespace dsa
