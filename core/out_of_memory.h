// The one exception for memory that runs out, host or device, so the runner can end a
// case (or a sweep's or model's point) as "oom" rather than "error": the shape is too
// big for this machine, which is not a defect of the code. The message says what was
// asked for and what there was.
#pragma once

#include <stdexcept>

namespace dsa {

struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace dsa
