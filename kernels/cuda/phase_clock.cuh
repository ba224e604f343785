// Where a kernel's time goes, measured from inside it (device code). A kernel built
// with kPhases = true (a separate instantiation behind its own launch function: the
// registry's kernels read no clock) adds, for each of its phases, the SM cycles that
// its recording threads spent from the previous lap to this one into a sink in global
// memory (kernels/cuda/phases.h). The totals over a launch, divided by the recorders
// (and the steps of a loop), say what a block spends per phase: the data Nsight
// Compute's whole-kernel averages cannot split by phase.
#pragma once

#include <cstdint>

#include "kernels/cuda/phases.h"

namespace dsa::cuda {

template <bool kOn>
class PhaseClock {
 public:
  // `recorder`: whether this thread adds its laps (one thread per block or per
  // warpgroup, so a total divides by a known count).
  __device__ PhaseClock(unsigned long long* sink, bool recorder) {
    if constexpr (kOn) {
      sink_ = sink;
      recorder_ = recorder && sink != nullptr;
      last_ = clock64();
    }
  }

  // Ends phase `phase` (< kPhaseSlots) here: the cycles since the last lap go to it.
  // The atomic is a reduction without a result, so the thread does not wait for it.
  __device__ void lap(int phase) {
    if constexpr (kOn) {
      const long long now = clock64();
      if (recorder_) atomicAdd(&sink_[phase], static_cast<unsigned long long>(now - last_));
      last_ = now;
    }
  }

  // The same after a barrier of the whole block, so the phase ends when its slowest
  // warp does (for code whose phases do not end in one already). Every thread of the
  // block must call it.
  __device__ void lap_synced(int phase) {
    if constexpr (kOn) {
      __syncthreads();
      lap(phase);
    }
  }

  // Adds n to event counter `slot` (< kPhaseEvents): steps taken, rows that took a
  // slower path.
  __device__ void count(int slot, unsigned long long n) {
    if constexpr (kOn)
      if (recorder_) atomicAdd(&sink_[kPhaseSlots + slot], n);
  }

  // Counts this thread among the recorders; call once, at the end.
  __device__ void done() {
    if constexpr (kOn)
      if (recorder_) atomicAdd(&sink_[kPhaseSlots + kPhaseEvents], 1ull);
  }

 private:
  unsigned long long* sink_ = nullptr;
  long long last_ = 0;
  bool recorder_ = false;
};

}  // namespace dsa::cuda
