// The SIMT emulator's stand-in for CUB's BlockReduce::Sum: the total in thread 0 only,
// as CUB promises; other threads get a value no caller may use (all bits set).
// No barrier at the end, as in CUB: reusing the storage needs the caller's.
#pragma once

#include "../../scheduler.h"

namespace cub {

template <class T, int kThreads>
class BlockReduce {
 public:
  struct TempStorage {
    T value[kThreads];
  };

  explicit BlockReduce(TempStorage& storage) : s_(storage) {}

  T Sum(T in) {
    const int tid = ::simt::block_rank(kThreads, "cub::BlockReduce");
    s_.value[tid] = in;
    ::simt::block_barrier();
    T total = T();
    if (tid == 0)
      for (int i = 0; i < kThreads; ++i) total += s_.value[i];
    return tid == 0 ? total : static_cast<T>(~T());
  }

 private:
  TempStorage& s_;
};

}  // namespace cub
