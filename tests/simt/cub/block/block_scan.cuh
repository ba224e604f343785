// The SIMT emulator's stand-in for CUB's BlockScan (the calls the kernels make): a
// block-wide prefix sum through the block's shared storage. Like CUB's it ends without a
// barrier, so a caller that reuses the storage without one of its own races here too.
#pragma once

#include "../../scheduler.h"

namespace cub {

template <class T, int kThreads>
class BlockScan {
 public:
  struct TempStorage {
    T value[kThreads];
  };

  explicit BlockScan(TempStorage& storage) : s_(storage) {}

  void ExclusiveSum(T in, T& out) {
    T total;
    ExclusiveSum(in, out, total);
  }

  void ExclusiveSum(T in, T& out, T& aggregate) {
    T incl;
    InclusiveSum(in, incl, aggregate);
    out = incl - in;
  }

  void InclusiveSum(T in, T& out) {
    T total;
    InclusiveSum(in, out, total);
  }

  void InclusiveSum(T in, T& out, T& aggregate) {
    const int tid = ::simt::block_rank(kThreads, "cub::BlockScan");
    s_.value[tid] = in;
    ::simt::block_barrier();
    T acc = T();
    for (int i = 0; i <= tid; ++i) acc += s_.value[i];
    T all = acc;
    for (int i = tid + 1; i < kThreads; ++i) all += s_.value[i];
    out = acc;
    aggregate = all;
  }

  // kItems consecutive items a thread (CUB's blocked arrangement): thread t holds items
  // [t * kItems, + kItems) of the block's sequence.
  template <int kItems>
  void InclusiveSum(const T (&in)[kItems], T (&out)[kItems]) {
    T mine = T();
    for (int i = 0; i < kItems; ++i) mine += in[i];
    T before, total;
    ExclusiveSum(mine, before, total);
    for (int i = 0; i < kItems; ++i) {
      before += in[i];
      out[i] = before;
    }
  }

 private:
  TempStorage& s_;
};

}  // namespace cub
