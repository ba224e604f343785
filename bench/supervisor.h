// Process isolation for `dsa-bench run`. The cases run in a worker process that a
// supervisor (the process the user started) watches. When a case takes the worker down
// with it (a crash, a GPU context lost to a faulting kernel, no end within
// --case-timeout) the supervisor records that case as an error and starts a new worker
// that resumes the results file after it. Without this, one faulting kernel would fail
// every later GPU case of a nightly run (a sticky CUDA error stays for the process's
// life) and one hung kernel would hold the run until an outside time limit ended it all.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace dsa::bench {

// A worker's exit status when its CUDA context was lost during the case it has just
// recorded: the supervisor goes on in a new process (EX_TEMPFAIL).
inline constexpr int kExitContextLost = 75;

// The worker's side of the supervisor's pipe (its descriptor in DSA_BENCH_WORKER_FD):
// a line when a case begins, when it starts a phase (so a case stopped at its time limit
// or killed says where it was) and when its record is written.
class WorkerChannel {
 public:
  static WorkerChannel from_environment();  // inactive where the variable is unset
  bool active() const { return fd_ >= 0; }
  void begin(const std::string& case_name) const;
  void phase(const std::string& what) const;
  void end(const std::string& case_name) const;

 private:
  int fd_ = -1;
};

struct SupervisorOptions {
  std::string results_path;
  double case_timeout_s = 0;    // 0: no limit
  std::string timeout_source;  // where the limit came from, for the record
};

// The supervisor: starts this binary again with the same arguments as a worker, and a
// new one (with --resume) after each lost case. `base_records` holds, by case name, the
// fields a lost case's record starts from where the worker wrote none (name, op, mode,
// params). Returns the run's exit status: the last worker's.
int supervise_run(int argc, char** argv, const std::map<std::string, nlohmann::json>& base_records,
                  const SupervisorOptions& opt);

// Passes `sig` on to the running worker; false where there is none (not a supervisor,
// or between workers). The supervisor then waits for the worker's own exit.
bool forward_to_worker(int sig);

// Test hook: DSA_BENCH_INJECT_FAULT=CASE:KIND makes the worker fail at case CASE the way
// KIND says (crash: SIGSEGV before the case; hang: never start it; lost_context: run it,
// then act as if the GPU context were lost; gpu_fault: launch a kernel that traps before
// the case, a real lost context on a GPU), so the supervisor's paths are tested without
// a faulty kernel. Unset, nothing happens.
enum class InjectedFault { none, crash, hang, lost_context, gpu_fault };
InjectedFault injected_fault(const std::string& case_name);
// Crashes or hangs here for those kinds; returns for the others.
void act_on_injected_fault(InjectedFault f);

}  // namespace dsa::bench
