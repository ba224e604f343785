// GPU timing as nvbench does it: each cold sample starts with the L2 cache flushed
// (a buffer twice the L2 size overwritten), then CUDA events are recorded around the
// launch alone. The SM clock is read (through NVML, when the driver provides it) after
// each sample, so throttled samples can be told apart.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <memory>

#include "kernels/cuda/device_buffer.h"

namespace dsa {

// The buffer is shared by every flusher alive at once and freed with the last of them:
// a sweep's point times dense and three DSA stages turn about, and a buffer each held
// four times the memory (400 MB on an H100) in every point's device peak, for nothing.
class L2Flusher {
 public:
  L2Flusher();
  void flush(cudaStream_t stream);
  std::size_t bytes() const { return buf_->bytes(); }

 private:
  std::shared_ptr<DeviceBuffer<unsigned char>> buf_;
  int value_ = 0;
};

class EventTimer {
 public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  // Seconds taken by `launch` on `stream`, between events recorded just before and
  // just after it; waits for the stop event.
  double time(cudaStream_t stream, const std::function<void()>& launch);

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// The current SM clock of the current device in MHz, or -1 when NVML is unavailable.
int sm_clock_mhz();

}  // namespace dsa
