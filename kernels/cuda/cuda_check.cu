#include "kernels/cuda/cuda_check.h"

#include <cstdio>

namespace dsa {

std::string cuda_error_message(cudaError_t err, const char* call, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);  // best effort: the device is context, not a second failure
  return std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") in " + call +
         " at " + file + ":" + std::to_string(line) + " on device " + std::to_string(device);
}

void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw CudaError(cuda_error_message(err, call, file, line));
}

void cuda_check_nothrow(cudaError_t err, const char* call, const char* file, int line) noexcept {
  if (err != cudaSuccess) std::fprintf(stderr, "%s\n", cuda_error_message(err, call, file, line).c_str());
}

}  // namespace dsa
