// Named implementations ("variants") of each op, per backend. The runner asks for a
// variant of an op on a backend; a variant that cannot handle a shape says why, and
// the case reports "not_supported" with that reason instead of failing.
//
// A variant prepares a run from its arguments (a CUDA variant uploads inputs and
// allocates outputs there); run() does the op once and returns its duration, taken
// the backend's honest way; fetch() makes the outputs visible in the host tensors.
// The Args object passed to prepare() must outlive the OpRun: runs refer to it.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/indexer_operands.h"
#include "core/op_shapes.h"
#include "core/tensor.h"

namespace dsa {

enum class Backend { cpu, cuda };
const char* backend_name(Backend b);

// What a run observed besides its durations (GPU runs: the SM clock after each
// sample, the harness's device memory).
struct RunTelemetry {
  std::vector<int> sm_clock_mhz;      // one per run() call; -1 where unreadable
  std::int64_t device_peak_bytes = -1;  // peak of the harness's device allocations
};

class OpRun {
 public:
  virtual ~OpRun() = default;
  virtual double run() = 0;  // seconds
  virtual void fetch() {}
  // Read the inputs again from the host tensors the run was prepared with. A GPU run
  // took its device copy at prepare(), so a pipeline whose earlier stage has just
  // rewritten those tensors (top-k reading the indexer's scores, attention reading
  // top-k's indices) calls this between the stages; a CPU run reads in place.
  virtual void refresh_inputs() {}
  virtual RunTelemetry telemetry() const { return {}; }
};

struct IndexerArgs {
  const IndexerShape& shape;
  const IndexerOperands& in;
  HostTensor<float>& scores;  // [T, S]
};
struct TopkArgs {
  const HostTensor<float>& scores;  // [T, S]
  std::span<const std::int64_t> ends;
  HostTensor<std::int32_t>& indices;  // [T, k]
};
// MQA-mode ops: `fp8_cache` says the latent cache is stored in the 656-byte FP8 rows
// of dsa-spec.md section 5. `kv` then holds the dequantised values (what the CPU and
// the reference compute on); a GPU variant packs them back into the FP8 rows, which
// reproduces exactly these values (re-quantising a dequantised tile never needs a
// larger scale, and every value stays representable).
struct SparseMqaArgs {
  const AttentionShape& shape;
  const HostTensor<float>& q;
  const HostTensor<float>& kv;
  const HostTensor<std::int32_t>& indices;
  HostTensor<float>& out;
  HostTensor<float>& lse;
  DType dtype;  // storage of q, out (and kv unless fp8_cache)
  bool fp8_cache = false;
};
struct DenseMqaArgs {
  const AttentionShape& shape;
  const HostTensor<float>& q;
  const HostTensor<float>& kv;
  HostTensor<float>& out;
  HostTensor<float>& lse;
  DType dtype;
  bool fp8_cache = false;
};
struct DenseMhaArgs {
  const AttentionShape& shape;
  const HostTensor<float>& q;
  const HostTensor<float>& k;
  const HostTensor<float>& v;
  HostTensor<float>& out;
  HostTensor<float>& lse;
  DType dtype;
};

template <class Args>
struct Variant {
  std::string name;
  Backend backend;
  std::string description;
  // nullopt when the variant handles these arguments, else the reason it does not.
  std::function<std::optional<std::string>(const Args&)> unsupported;
  std::function<std::unique_ptr<OpRun>(const Args&)> prepare;
  // Optional: the ops of several sequences of one shape (a decode batch) as one run,
  // the way a server batches them. Without it, prepare_batch() runs them one by one.
  std::function<std::unique_ptr<OpRun>(const std::vector<const Args*>&)> prepare_batched{};
  // Optional: the shapes where this variant is the default pick ahead of those listed
  // before it (the list is ordered by what is fastest for most shapes; e.g. the split
  // top-k wins only on a few long rows).
  std::function<bool(const Args&)> first_for{};
  // Null once the variant has passed its tests on the hardware it runs on; else why not
  // yet (e.g. a CUDA kernel written without a GPU). tests/ check such variants in suites
  // of their own; `dsa-bench variants` shows it. (A plain pointer: a std::string member
  // here made GCC 12 fail with an internal compiler error.)
  const char* not_validated = nullptr;
};

// Several runs as one: run() runs each in turn and returns the summed time.
std::unique_ptr<OpRun> in_sequence(std::vector<std::unique_ptr<OpRun>> runs);

// The SM clock of each of the last `samples` run() calls of runs that ran once per
// sample, in order; per sample the lowest the runs read (-1 where none could read it).
// Empty where a run recorded fewer (a CPU run records none).
std::vector<int> timed_sm_clocks(std::initializer_list<const OpRun*> runs, std::size_t samples);

// One run for the op of every sequence in `args` (all of one shape): the variant's
// batched form where it has one, else its runs in sequence.
template <class Args>
std::unique_ptr<OpRun> prepare_batch(const Variant<Args>& v, const std::vector<const Args*>& args) {
  if (v.prepare_batched && args.size() > 1) return v.prepare_batched(args);
  std::vector<std::unique_ptr<OpRun>> runs;
  for (const Args* a : args) runs.push_back(v.prepare(*a));
  return runs.size() == 1 ? std::move(runs.front()) : in_sequence(std::move(runs));
}

// Each list holds the CPU variants, then (in a CUDA build) the CUDA ones.
const std::vector<Variant<IndexerArgs>>& indexer_variants();
const std::vector<Variant<TopkArgs>>& topk_variants();
const std::vector<Variant<SparseMqaArgs>>& sparse_mqa_variants();
const std::vector<Variant<DenseMqaArgs>>& dense_mqa_variants();
const std::vector<Variant<DenseMhaArgs>>& dense_mha_variants();

// Every variant's name, op by op (for checking names a user gives).
std::vector<std::string> all_variant_names();

// One line of `dsa-bench variants`: a variant of an op (the suite's op name) in the
// registry's order, which is the order of choice on each backend.
struct VariantSummary {
  std::string op, name, backend, description, not_validated;
  bool first_on_backend = false;  // picked when no name, preference or first_for decides
  bool first_for_some = false;    // picked ahead of the list's order for some shapes
};
std::vector<VariantSummary> variant_summaries();

// The first variant on `backend` that supports `args` (or the one named `name` when
// not empty). Without a name, the variants named in `prefer` come first, in its order,
// where they are on `backend` and support `args` (kernels under evaluation, run in a
// whole suite without editing it); then those whose first_for() takes `args`; then the
// list's order. Returns nullptr with `why` set when there is none.
template <class Args>
const Variant<Args>* pick_variant(const std::vector<Variant<Args>>& all, Backend backend, const Args& args,
                                  const std::string& name, std::string* why,
                                  const std::vector<std::string>* prefer = nullptr) {
  if (name.empty() && prefer)
    for (const std::string& wanted : *prefer)
      for (const auto& v : all)
        if (v.name == wanted && v.backend == backend && !(v.unsupported && v.unsupported(args))) return &v;
  if (name.empty())
    for (const auto& v : all)
      if (v.backend == backend && v.first_for && v.first_for(args) && !(v.unsupported && v.unsupported(args))) return &v;
  std::string reasons;
  for (const auto& v : all) {
    if (v.backend != backend || (!name.empty() && v.name != name)) continue;
    if (auto r = v.unsupported ? v.unsupported(args) : std::nullopt) {
      reasons += (reasons.empty() ? "" : "; ") + v.name + ": " + *r;
      continue;
    }
    return &v;
  }
  if (why) {
    *why = reasons.empty() ? std::string("no ") + backend_name(backend) + " implementation" +
                                 (name.empty() ? "" : " named " + name)
                           : reasons;
  }
  return nullptr;
}

}  // namespace dsa
