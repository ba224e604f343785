// Running cases: one call per case, which never throws. Whatever goes wrong inside a
// case (a failed check, an exception, running out of memory) becomes that case's
// status in its record, and the run goes on with the next case.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/case_spec.h"
#include "core/out_of_memory.h"
#include "kernels/registry.h"

namespace dsa::model {
class Model;
}

namespace dsa::bench {

enum class BackendRequest { automatic, cpu, cuda };
const char* backend_request_name(BackendRequest b);

struct RunContext {
  BackendRequest backend = BackendRequest::automatic;
  std::uint64_t seed = 0;
  // Progress within a long case (a sweep's points); may be empty.
  std::function<void(const std::string&)> progress;
  // What a case does now (making inputs, a validation run, the reference, timing), shown
  // only if it is still at it a minute on; may be empty.
  std::function<void(const std::string&)> phase;
  // Called with the record as it stands after each finished sweep point, so an
  // interrupted sweep keeps its finished points; may be empty.
  std::function<void(const nlohmann::json&)> partial;
  // The device's measured ceilings ({bf16_tflops, fp8_tflops, copy_gbps}), when the
  // run measured them; GPU records then report their share of each.
  nlohmann::json ceilings;
  // Variant names to pick first wherever they take a case's shape (run --prefer); a
  // case's own "implementation(s)" still decide for it.
  std::vector<std::string> prefer;
};

// Share of the measured ceilings for a GPU record: achieved TFLOPS over the ceiling
// named by `compute_ceiling` (empty: memory-bound op, no compute share) and achieved
// GB/s over the copy bandwidth. Null when no ceilings were measured.
nlohmann::json ceiling_share(const nlohmann::json& ceilings, const nlohmann::json& throughput,
                             const std::string& compute_ceiling);

// Statuses: passed, failed, not_verified (ran in bench mode; nothing validated),
// skipped (with reason), not_supported (no variant handles the shape), oom, error.
nlohmann::json run_case(const CaseSpec& c, const RunContext& ctx);

// The statuses that fail a run (exit status 1).
inline constexpr std::array<const char*, 3> kFailureStatuses = {"failed", "error", "oom"};
inline bool is_failure_status(const std::string& s) {
  return std::find(kFailureStatuses.begin(), kFailureStatuses.end(), s) != kFailureStatuses.end();
}

// The seed of a case: derived from the run's seed and the case name only, so a
// filtered or reordered run gives each case the same inputs.
std::uint64_t case_seed(std::uint64_t run_seed, const std::string& case_name);

// Which backends to try for a request, best first; empty with `why` when none can
// run here (cuda requested without a device).
std::vector<Backend> candidate_backends(BackendRequest req, std::string* why);

// ---- internals shared by the op and sweep runners ------------------------------
nlohmann::json case_params_json(const CaseSpec& c);
nlohmann::json run_op_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                           const std::vector<Backend>& backends);
nlohmann::json run_sweep_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                              const std::vector<Backend>& backends);
nlohmann::json run_model_case(const CaseSpec& c, const RunContext& ctx, std::uint64_t seed,
                              const std::vector<Backend>& backends);
// One context of a model_decode case on a model already loaded: `batch` sequences
// prefilled to L, then `decode_steps` steps timed as a server runs them and as many
// again op by op (the op times), for dense and for DSA.
nlohmann::json model_decode_point(const CaseSpec& c, const model::Model& m, std::int64_t L, std::uint64_t seed,
                                  const RunContext& ctx);

// The crossover record of a sweep from its timed points (contexts increasing).
nlohmann::json crossover(const std::vector<std::int64_t>& contexts, const std::vector<double>& speedups);

// The points of a multi-context case (sweeps, model runs), each on its own: an
// exception ends its point (status oom or error, with the reason), not the case; only
// NotSupported, which concerns the whole case, passes through. Points are appended to
// rec["points"] and the record so far goes to ctx.partial after each one. Sets the
// case's status (error > failed > passed, or not_verified when nothing was validated)
// and the first problem as its reason.
void run_points(const std::vector<std::int64_t>& contexts, const RunContext& ctx, bool validated, nlohmann::json& rec,
                const std::function<nlohmann::json(std::int64_t context, std::size_t index)>& point);

// Adds rec["not_validated"] = {variant: note} for every variant of `variants` with a
// not_validated note that rec["implementation"] names (a string, or per stage), so a
// result measured with a kernel not yet validated on its hardware says so.
void note_unvalidated_variants(nlohmann::json& rec, const std::vector<VariantSummary>& variants);

// Picks a variant on the first candidate backend that has one for `args`. When none has,
// `why` gets each backend's reason. When a later backend has one, `why` gets why the
// earlier ones had none ("cuda: ..."), for the record's "backend_fallback"; it is left
// empty when `name` picks the variant, and so its backend, on purpose.
template <class Args>
const Variant<Args>* choose_variant(const std::vector<Variant<Args>>& all, const std::vector<Backend>& backends,
                                    const Args& args, std::string* why, const std::string& name = "",
                                    const std::vector<std::string>* prefer = nullptr) {
  std::string reasons, passed_over;
  for (Backend b : backends) {
    std::string r;
    if (const auto* v = pick_variant(all, b, args, name, &r, prefer)) {
      if (why) *why = name.empty() ? passed_over : std::string();
      return v;
    }
    reasons += (reasons.empty() ? "" : "; ") + r;
    passed_over += (passed_over.empty() ? "" : "; ") + std::string(backend_name(b)) + ": " + r;
  }
  if (why) *why = reasons;
  return nullptr;
}

// Why a case or point ran out of host memory: "out of host memory <what>", then, with
// `needs_bytes` > 0, ": <needs> about 4.1 TB as fp32", and what this process had to use
// when it began (the machine's available memory, or less under a container's limit;
// negative: unknown, left out).
std::string host_oom_reason(const std::string& what, std::int64_t available_at_start, double needs_bytes = 0,
                            const std::string& needs = "its inputs and outputs alone take");

// Throws OutOfMemory with host_oom_reason's text, then `advice`, when `needs_bytes` (a
// lower bound of what is about to be allocated) exceed `available` (negative: unknown,
// not checked). Checked before tensors are made one by one: each smaller than the
// machine, the kernel hands them out and then kills the process that touches them.
void require_host_memory(const std::string& what, std::int64_t available, double needs_bytes, const std::string& needs,
                         const std::string& advice = "");

// Thrown inside a case to end it as not_supported.
struct NotSupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown inside a case to end it (or its point) as oom with the reason: what would not
// fit and what is there, before anything is allocated, or a device allocation that
// failed (kernels/cuda/device_buffer.cu).
using dsa::OutOfMemory;

// Removes from `folder` the half-written synthetic checkpoints ("NAME.tmp-PID") of
// processes that no longer exist (killed while writing one: a real layer's is 11 GB).
void remove_abandoned_checkpoints(const std::string& folder);

// Throws when a model case's weights cannot be made and loaded on this machine:
// `disk_needed` bytes of synthetic checkpoint to write (0: none) against `disk_free`
// bytes free in `folder`, and `memory_needed` bytes of host memory against
// `memory_available` (a negative amount: unknown, not checked). `what` names the model
// and its layers. The memory shortfall is an OutOfMemory, the disk one a runtime_error.
void check_model_resources(const std::string& what, std::uint64_t disk_needed, std::int64_t disk_free,
                           const std::string& folder, std::uint64_t memory_needed, std::int64_t memory_available);

}  // namespace dsa::bench
