// The sink that profiled kernel instantiations (kernels/cuda/phase_clock.cuh) add their
// per-phase cycle counts to, and how the host reads it. One per process: profiling is
// a micro-benchmark's business, one launch at a time.
#pragma once

#include <cstdint>
#include <vector>

namespace dsa::cuda {

constexpr int kPhaseSlots = 24;  // cycle totals, one per phase
constexpr int kPhaseEvents = 8;  // event counters (steps taken, rows on a slow path)
// Layout: kPhaseSlots cycle totals, kPhaseEvents events, then the number of recorders.
constexpr int kPhaseWords = kPhaseSlots + kPhaseEvents + 1;

// The device sink (allocated and zeroed on first use; never freed, as it may be used
// until the process ends).
unsigned long long* phase_sink();
void phase_sink_reset();

struct PhaseTotals {
  std::vector<unsigned long long> cycles;  // [kPhaseSlots]
  std::vector<unsigned long long> events;  // [kPhaseEvents]
  unsigned long long recorders = 0;
};
// Waits for the device, then reads the sink.
PhaseTotals phase_sink_read();

}  // namespace dsa::cuda
