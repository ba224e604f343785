// Argument checks at op boundaries: a wrong shape or parameter is an exception with
// a message naming what was wrong, which the runner turns into a case status.
#pragma once

#include <stdexcept>
#include <string>

namespace dsa {

inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

}  // namespace dsa
