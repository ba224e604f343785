// The CUDA device probe of a build without the CUDA backend.
#include "kernels/cuda_device.h"

namespace dsa {

bool built_with_cuda() { return false; }

int cuda_device_count(std::string* why) {
  if (why) *why = "no CUDA device (built without the CUDA backend)";
  return 0;
}

std::optional<CudaDeviceInfo> cuda_device_info(int) { return std::nullopt; }

}  // namespace dsa
