// A build without the CUDA backend: the GPU forward is not available.
#include <stdexcept>

#include "model/model.h"

namespace dsa::model {

std::unique_ptr<Model> make_cuda_model(const ModelWeights&, DType, const CudaKernelChoice&) {
  throw std::runtime_error("this build has no CUDA backend (configure with CUDA to get the GPU forward)");
}

std::vector<std::string> cuda_model_kernel_names(const std::string&) { return {}; }

}  // namespace dsa::model
