// What the runner needs to know about CUDA devices, available whether or not the
// project was built with CUDA (a CPU-only build reports no device, with the reason).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace dsa {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  std::size_t memory_bytes = 0;
  int sm_clock_khz = 0;       // maximum SM clock
  int memory_clock_khz = 0;
  int memory_bus_bits = 0;
  std::size_t l2_bytes = 0;
  int driver_version = 0;     // e.g. 13000 for 13.0
  int runtime_version = 0;
};

// Number of usable CUDA devices; 0 with `why` set when there is none, no driver,
// or the build has no CUDA backend.
int cuda_device_count(std::string* why = nullptr);

std::optional<CudaDeviceInfo> cuda_device_info(int index);

// Device 0's SM count, read once per process (launch plans size their grids by it);
// 132, an H100's, where there is no device.
int cuda_sm_count();

// True when this binary was built with the CUDA backend.
bool built_with_cuda();

// True when this process's CUDA context can no longer be used: a kernel faulted (an
// illegal address, a trap) and every later CUDA call would return the same error until
// the process ends. `why` gets the error. Clears non-sticky errors on the way. Call it
// only where a device is in use (without one it would report the missing device);
// false in a build without CUDA.
bool cuda_context_lost(std::string* why = nullptr);

// Test hook: leaves this process's CUDA context unusable as a faulting kernel does (a
// kernel that traps), so the runner's recovery can be checked on a real GPU. True when a
// kernel was launched; false without CUDA or a device.
bool cuda_break_context_for_test();

// What the device can do, measured once per run on random data: a large bf16 and fp8
// matrix product through cuBLASLt (8192^3; FLOP / s) and a device-to-device copy
// (bytes read + bytes written / s). A measurement that fails is 0 with the reason in
// `notes`; the run goes on.
struct DeviceCeilings {
  double bf16_tflops = 0, fp8_tflops = 0, copy_gbps = 0;
  std::string notes;
};
DeviceCeilings measure_device_ceilings();

// The peak of the harness's own device allocations since the last reset (0 without CUDA).
void reset_device_memory_peak();
std::int64_t device_memory_peak();

// Device 0's SM clock now, in MHz (NVML); -1 without CUDA or where it cannot be read.
// Read after each timed sample of a GPU run, so throttled samples show in the results.
int current_sm_clock_mhz();

}  // namespace dsa
