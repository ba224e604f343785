// What the results record about the machine, the build and the process's memory.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace dsa::bench {

// Peak resident memory of this process since the last reset, in bytes (Linux
// VmHWM). reset_peak_rss() asks the kernel to restart the peak at the current RSS
// (writing "5" to /proc/self/clear_refs), so each case gets its own peak; where
// that is not permitted the peak stays process-wide and `peak_is_per_case` says so.
void reset_peak_rss();
std::int64_t peak_rss_bytes();
bool peak_is_per_case();
// Memory that can be allocated without swapping, in bytes: the machine's MemAvailable,
// or less where this process's memory cgroup (a container's limit) leaves less; -1
// where neither says.
std::int64_t available_memory_bytes();

std::string cpu_model();
std::string host_name();
std::string utc_timestamp();

// Tool, git commit, compiler, build type, host, CPU, threads, and CUDA device(s).
nlohmann::json provenance_json();

}  // namespace dsa::bench
