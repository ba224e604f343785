#include "bench/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "bench/results.h"
#include "bench/timing.h"
#include "kernels/cuda_device.h"

extern char** environ;

namespace dsa::bench {

namespace {

constexpr const char* kWorkerFdVar = "DSA_BENCH_WORKER_FD";
constexpr const char* kResumeReasonVar = "DSA_BENCH_RESUME_REASON";

std::atomic<pid_t> g_worker{0};
static_assert(std::atomic<pid_t>::is_always_lock_free, "read in a signal handler");
volatile std::sig_atomic_t g_stop_requested = 0;  // a forwarded Ctrl-C or SIGTERM: no restart

// Ctrl-C reaches the supervisor alone (the worker has a process group of its own), so
// each press is passed on once: the worker's first finishes its case, a second ends it.
extern "C" void forward_sigint(int) {
  g_stop_requested = 1;
  const pid_t p = g_worker.load();
  if (p > 0) kill(p, SIGINT);
}

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the supervisor is gone; the run goes on without it
    done += static_cast<std::size_t>(n);
  }
}

std::string self_executable(const char* argv0) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
  return argv0;  // no /proc: the path it was started by
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;  // the read end of its channel
};

// Everything the child needs is built before fork(): between fork and exec a child of a
// threaded process may only make async-signal-safe calls.
Worker start_worker(const std::string& exe, const std::vector<std::string>& args, const std::string& resume_reason) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot create a pipe (") + std::strerror(errno) + ")");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string s = *e;
    if (s.rfind(std::string(kWorkerFdVar) + "=", 0) == 0 || s.rfind(std::string(kResumeReasonVar) + "=", 0) == 0) continue;
    env_strings.push_back(s);
  }
  env_strings.push_back(std::string(kWorkerFdVar) + "=" + std::to_string(p[1]));
  if (!resume_reason.empty()) env_strings.push_back(std::string(kResumeReasonVar) + "=" + resume_reason);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_copy = args;
  for (auto& s : arg_copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    throw std::runtime_error(std::string("cannot start a worker process (") + std::strerror(errno) + ")");
  }
  if (pid == 0) {
    setpgid(0, 0);                        // Ctrl-C at the terminal reaches the supervisor only
    prctl(PR_SET_PDEATHSIG, SIGTERM);     // a supervisor killed outright still ends its worker cleanly
    if (getppid() != parent) _exit(127);  // it died before the line above took effect
    fcntl(p[1], F_SETFD, 0);              // the write end survives exec
    execve(exe.c_str(), argv.data(), envp.data());
    static const char msg[] = "dsa-bench: cannot start the worker process (this program's file is gone or not executable)\n";
    [[maybe_unused]] const auto n = write(2, msg, sizeof msg - 1);  // async-signal-safe, unlike stdio
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so it holds whichever process runs first
  close(p[1]);
  g_worker = pid;
  return {pid, p[0]};
}

// The record of a case its worker could not finish: the worker's own record of it (each
// case writes one as it starts; a sweep's adds its finished points), else, where the
// worker died before writing it, the case's base fields; an error with `reason`.
void record_lost_case(const std::string& path, nlohmann::json base, const std::string& reason, double duration_s) {
  const auto results = ResultsFile::open(path);
  for (const auto& c : results->document()["cases"])
    if (c.value("name", "") == base.value("name", "")) base = c;
  base["status"] = "error";
  base["reason"] = reason;
  base["duration_s"] = duration_s;
  results->put_case(base);
}

std::string signal_text(int sig) {
  const char* d = strsignal(sig);
  return "signal " + std::to_string(sig) + (d ? std::string(" (") + d + ")" : "");
}

struct WorkerEnd {
  int status = 0;            // waitpid's
  bool timed_out = false;
  std::string current;       // the case begun and not ended when the worker stopped
  double current_began = 0;  // now_seconds() at its begin
  std::string phase;         // the current case's last phase line
};

// Follows a worker's begin / end lines until it exits, or stops it when a case outlives
// the limit.
WorkerEnd follow_worker(const Worker& w, double case_timeout_s) {
  WorkerEnd end;
  std::string buf;
  for (;;) {
    int timeout_ms = -1;
    if (!end.current.empty() && case_timeout_s > 0) {
      const double left = end.current_began + case_timeout_s - now_seconds();
      timeout_ms = left <= 0 ? 0 : static_cast<int>(left * 1000) + 1;
    }
    pollfd pfd{w.fd, POLLIN, 0};
    const int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      end.timed_out = true;
      kill(w.pid, SIGKILL);  // a hung kernel ignores anything milder
      break;
    }
    char chunk[4096];
    const ssize_t n = r < 0 ? -1 : read(w.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the worker has exited (or closed its end)
    buf.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      const std::string line = buf.substr(0, nl);
      if (line.rfind("begin ", 0) == 0) {
        end.current = line.substr(6);
        end.current_began = now_seconds();
        end.phase.clear();
      } else if (line.rfind("phase ", 0) == 0) {
        end.phase = line.substr(6);
      } else if (line.rfind("end ", 0) == 0) {
        end.current.clear();
        end.phase.clear();
      }
    }
  }
  close(w.fd);
  while (waitpid(w.pid, &end.status, 0) < 0 && errno == EINTR) {
  }
  g_worker = 0;
  return end;
}

}  // namespace

WorkerChannel WorkerChannel::from_environment() {
  WorkerChannel ch;
  const char* v = std::getenv(kWorkerFdVar);
  if (v && *v) {
    char* endp = nullptr;
    const long fd = std::strtol(v, &endp, 10);
    if (*endp == '\0' && fd >= 0 && fcntl(static_cast<int>(fd), F_GETFD) != -1) {
      ch.fd_ = static_cast<int>(fd);
      // Not inherited by anything this worker starts: one that outlived the worker would
      // keep the pipe open and the supervisor waiting.
      fcntl(ch.fd_, F_SETFD, FD_CLOEXEC);
      // A supervisor killed outright closes the pipe before its death sends this worker
      // SIGTERM: a phase line written in between raised SIGPIPE, whose default ends the
      // process at once, so the worker died without marking the results file. Ignored,
      // the write fails (EPIPE), write_all gives up, and SIGTERM's handler marks the file.
      std::signal(SIGPIPE, SIG_IGN);
    }
  }
  return ch;
}

void WorkerChannel::begin(const std::string& case_name) const {
  if (active()) write_all(fd_, "begin " + case_name + "\n");
}

void WorkerChannel::phase(const std::string& what) const {
  if (!active()) return;
  std::string line = what;
  std::replace(line.begin(), line.end(), '\n', ' ');  // one line each
  write_all(fd_, "phase " + line + "\n");
}

void WorkerChannel::end(const std::string& case_name) const {
  if (active()) write_all(fd_, "end " + case_name + "\n");
}

bool forward_to_worker(int sig) {
  const pid_t p = g_worker.load();
  if (p <= 0) return false;
  g_stop_requested = 1;
  kill(p, sig);
  return true;
}

int supervise_run(int argc, char** argv, const std::map<std::string, nlohmann::json>& base_records,
                  const SupervisorOptions& opt) {
  struct sigaction sa {};
  sa.sa_handler = forward_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);

  const std::string exe = self_executable(argv[0]);
  std::vector<std::string> args(argv, argv + argc);
  std::set<std::string> lost;  // recorded here; a new worker resumes after each
  std::string resume_reason;
  for (;;) {
    Worker w;
    try {
      w = start_worker(exe, args, resume_reason);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dsa-bench: %s\n", e.what());
      return 1;
    }
    const WorkerEnd end = follow_worker(w, opt.case_timeout_s);
    const bool signaled = WIFSIGNALED(end.status);
    if (g_stop_requested) {
      // Stopped from outside: the worker wrote what it could; a second Ctrl-C may have
      // ended it inside a case, which the file then still calls running.
      if (signaled) {
        try {
          ResultsFile::open(opt.results_path)->abandon("the run was stopped (a second Ctrl-C) during this case");
        } catch (const std::exception&) {
        }
        return 128 + WTERMSIG(end.status);
      }
      return WIFEXITED(end.status) ? WEXITSTATUS(end.status) : 1;
    }
    std::string reason;
    const bool context_lost = WIFEXITED(end.status) && WEXITSTATUS(end.status) == kExitContextLost;
    if (end.timed_out) {
      std::ostringstream limit;
      limit << opt.case_timeout_s;
      reason = "no result within " + limit.str() + " s (" + opt.timeout_source + "): the process was stopped";
    } else if (signaled && !end.current.empty()) {
      reason = "the process ended on " + signal_text(WTERMSIG(end.status)) + " during this case";
      if (WTERMSIG(end.status) == SIGKILL) reason += " (the system's out-of-memory killer sends this signal)";
    } else if (!context_lost) {
      if (WIFEXITED(end.status)) return WEXITSTATUS(end.status);  // the run is over
      std::fprintf(stderr, "dsa-bench: the worker process ended on %s outside any case\n",
                   signal_text(WTERMSIG(end.status)).c_str());
      return 128 + WTERMSIG(end.status);
    }
    // Where it was: a kernel hung in its validation run reads differently from one hung in
    // its timing loop, and a CPU reference of hours from either.
    if (!reason.empty() && !end.phase.empty()) reason += " (at: " + end.phase + ")";
    std::string name = end.current;
    if (!context_lost) {
      if (lost.count(name)) {  // a resumed worker ran it again: never loop on one case
        std::fprintf(stderr, "dsa-bench: case %s was lost twice; stopping the run\n", name.c_str());
        return 1;
      }
      lost.insert(name);
      const auto it = base_records.find(name);
      try {
        record_lost_case(opt.results_path, it != base_records.end() ? it->second : nlohmann::json{{"name", name}},
                         reason + "; the run went on in a new process", now_seconds() - end.current_began);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "dsa-bench: case %s: %s, and its record could not be written: %s\n", name.c_str(),
                     reason.c_str(), e.what());
        return 1;
      }
      std::fprintf(stderr, "dsa-bench: case %s: %s; recorded as an error, the run goes on in a new process\n",
                   name.c_str(), reason.c_str());
      resume_reason = "case " + name + ": " + reason;
    } else {
      std::fprintf(stderr, "dsa-bench: the GPU context was lost (the case's record says where); the run goes on in a new process\n");
      resume_reason = "the GPU context was lost";
    }
    if (std::find(args.begin(), args.end(), "--resume") == args.end()) args.push_back("--resume");
  }
}

InjectedFault injected_fault(const std::string& case_name) {
  const char* v = std::getenv("DSA_BENCH_INJECT_FAULT");
  if (!v) return InjectedFault::none;
  const std::string s = v;
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || s.substr(0, colon) != case_name) return InjectedFault::none;
  const std::string kind = s.substr(colon + 1);
  if (kind == "crash") return InjectedFault::crash;
  if (kind == "hang") return InjectedFault::hang;
  if (kind == "lost_context") return InjectedFault::lost_context;
  if (kind == "gpu_fault") return InjectedFault::gpu_fault;
  return InjectedFault::none;
}

void act_on_injected_fault(InjectedFault f) {
  if (f == InjectedFault::crash) {
    std::signal(SIGSEGV, SIG_DFL);
    std::raise(SIGSEGV);
  }
  if (f == InjectedFault::hang)
    for (;;) pause();
  if (f == InjectedFault::gpu_fault && !cuda_break_context_for_test())
    std::fprintf(stderr, "dsa-bench: DSA_BENCH_INJECT_FAULT: gpu_fault needs a CUDA device\n");
}

}  // namespace dsa::bench
