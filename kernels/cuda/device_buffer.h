// Device memory that frees itself, and a count of what the harness holds: the peak
// of our own allocations is a case's "device_peak_bytes" (exact for everything the
// harness allocates; cuBLAS workspaces and the CUDA context are not in it).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace dsa {

// Throws dsa::OutOfMemory (core/out_of_memory.h) with device_oom_message's text when the
// device cannot hold `bytes` more, so the case ends as oom; any other failure is a CudaError.
void* device_alloc(std::size_t bytes);
// "out of device memory: 12.9 GB asked for, with 60.2 GB already held by the harness and
// 4.1 GB free of the device's 79.1 GB" (the last part when `free_bytes` >= 0).
std::string device_oom_message(std::size_t asked, std::size_t held, std::int64_t free_bytes, std::size_t total);
void device_free(void* p, std::size_t bytes) noexcept;
std::size_t device_bytes_in_use();
std::size_t device_bytes_peak();
void reset_device_bytes_peak();

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n), p_(static_cast<T*>(device_alloc(n * sizeof(T)))) {}
  ~DeviceBuffer() { device_free(p_, n_ * sizeof(T)); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : n_(o.n_), p_(o.p_) { o.n_ = 0; o.p_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(p_, n_ * sizeof(T));
      n_ = o.n_; p_ = o.p_;
      o.n_ = 0; o.p_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

  void upload(const T* host, std::size_t n) {
    if (n > n_) throw CudaError("DeviceBuffer::upload: more elements than the buffer holds");
    DSA_CUDA_CHECK(cudaMemcpy(p_, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, std::size_t n) const {
    if (n > n_) throw CudaError("DeviceBuffer::download: more elements than the buffer holds");
    DSA_CUDA_CHECK(cudaMemcpy(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  // Every byte set to `byte` (0xFF makes fp32 NaN and int32 -1 patterns visible).
  void fill_bytes(int byte) { DSA_CUDA_CHECK(cudaMemset(p_, byte, bytes())); }

 private:
  std::size_t n_ = 0;
  T* p_ = nullptr;
};

template <class T>
DeviceBuffer<T> to_device(const T* host, std::size_t n) {
  DeviceBuffer<T> b(n);
  if (n) b.upload(host, n);
  return b;
}

}  // namespace dsa
