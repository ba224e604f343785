// dsa-bench: runs suites of DSA cases (validate against the CPU reference, time,
// report) and writes versioned JSON results. See README.md for the formats.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/console.h"
#include "bench/dump.h"
#include "bench/results.h"
#include "bench/runner.h"
#include "bench/suite.h"
#include "bench/supervisor.h"
#include "bench/sysinfo.h"
#include "bench/timing.h"
#include "core/parallel.h"
#include "kernels/cuda_device.h"

namespace {

using namespace dsa::bench;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitInterrupted = 130;
constexpr std::uint64_t kDefaultSeed = 20250929;  // DeepSeek-V3.2-Exp's release date

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_sigint(int) {
  g_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
  static const char msg[] = "\ndsa-bench: interrupted; finishing the current case (Ctrl-C again to stop now)\n";
  [[maybe_unused]] auto n = write(2, msg, sizeof msg - 1);  // async-signal-safe, unlike stdio
}

// SIGTERM (a time limit's `timeout`, a job scheduler) ends the run at once, but first the
// results file says so: the run and the case in progress become "interrupted" and every
// finished case stays. A thread waits for the signal (blocked in every other thread), so
// the file is written by ordinary code, under the results file's own lock.
constexpr int kExitTerminated = 128 + SIGTERM;
std::mutex g_terminate_mu;
ResultsFile* g_results = nullptr;  // the run's results file while cases run

void set_results_for_termination(ResultsFile* r) {
  const std::lock_guard<std::mutex> lock(g_terminate_mu);
  g_results = r;
}

// Called first in main, before any thread exists, so every later thread inherits the mask.
void watch_for_sigterm() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    // A supervisor passes it on and exits with its worker, once the worker has marked
    // the results file.
    if (forward_to_worker(SIGTERM)) return;
    {
      const std::lock_guard<std::mutex> lock(g_terminate_mu);
      if (g_results) {
        try {
          g_results->abandon("the run was terminated (SIGTERM) during this case");
          std::fprintf(stderr, "\ndsa-bench: terminated; the results file keeps every finished case\n");
        } catch (const std::exception& e) {
          std::fprintf(stderr, "\ndsa-bench: terminated; %s\n", e.what());
        }
      }
    }
    std::fflush(nullptr);
    std::_Exit(kExitTerminated);
  }).detach();
}

const char* kMainHelp = R"(dsa-bench: benchmark and validate DeepSeek Sparse Attention against dense attention

usage: dsa-bench <command> [options]

commands:
  run SUITE.json    run a suite's cases, write JSON results, print a summary
  list SUITE.json   validate a suite file and list its cases
  dump SUITE.json   write one case's inputs and reference outputs as .npy files
  variants          list every implementation of each op (names for a case's
                    implementation fields and for --prefer) and which one is picked

`dsa-bench <command> --help` describes each command. `dsa-bench --version` prints the version.
exit codes: 0 all cases passed (or were skipped / not verified), 1 a case failed,
errored or ran out of memory (oom), 2 bad usage or a bad suite file, 130 interrupted
(Ctrl-C: the current case finishes first), 143 terminated (SIGTERM: at once; the results
file marks the run and the case in progress "interrupted").
)";

const char* kRunHelp = R"(usage: dsa-bench run SUITE.json [--out RESULTS.json] [--backend auto|cpu|cuda]
                     [--filter REGEX] [--seed N] [--threads N] [--short] [--quiet]
                     [--prefer VARIANT,...] [--resume] [--case-timeout S] [--in-process]

Runs every case of the suite (or those whose name matches --filter), each on its
own: one failing case never stops the run. Results are written to --out after
every case, atomically, so an interrupted run keeps what finished.

The cases run in a worker process. A case that crashes it, leaves its GPU context
unusable (a faulting kernel: every later CUDA call would fail) or outlives
--case-timeout is recorded as an error, and a new worker goes on with the next case.

  --out FILE       results file (default: results/<suite name>.json)
  --backend B      auto (default: the GPU when present, else the CPU), cpu, or cuda
                   (without a CUDA device every case is skipped, not failed)
  --filter REGEX   only cases whose name contains a match (ECMAScript syntax)
  --seed N         run seed (default 20250929); each case's seed derives from it
                   and the case name, so filtering never changes a case's inputs
  --threads N      CPU threads (default: all hardware threads)
  --short          quick mode: at most 1 warm-up, 10 samples and 0.25 s of samples per
                   measurement (a smoke check of a suite, not a benchmark)
  --prefer A,B     variant names to pick first wherever they take a case's shape, e.g.
                   cuda.topk.sample,cuda.sparse_mqa.wgmma (kernels under evaluation, in a
                   whole suite); a case that names its variants (the implementation or
                   implementations field) keeps them, and model cases are not affected
  --quiet          no progress lines on stderr (without it, a case still running a
                   minute after it began says so and what it is doing, again at 2,
                   4, 8... minutes; DSA_BENCH_HEARTBEAT_S=S: S seconds, 0: never)
  --resume         go on with the run whose results are in --out: keep its finished
                   cases, run the others (those it left running or interrupted, and
                   those it never reached); the suite file, seed, backend, filter,
                   --short, --prefer and the build must be the earlier run's
  --case-timeout S stop a case that has no result after S seconds (a hung kernel)
                   and record it as an error (default: the suite's case_timeout_s,
                   else no limit; 0: no limit)
  --in-process     run the cases in this process, with no restarts (for a debugger)

With a GPU in use, the device's ceilings (bf16 and fp8 matrix products through
cuBLASLt, device-to-device copy) are measured once at the start and each GPU record
reports its share of them.
)";

const char* kListHelp = R"(usage: dsa-bench list SUITE.json [--filter REGEX]

Validates the suite file (exit 2 with a message naming the file, case and field
on any problem) and lists its cases with their shapes.
)";

const char* kDumpHelp = R"(usage: dsa-bench dump SUITE.json --case NAME --out DIR [--seed N] [--context L]

Writes the inputs and the CPU reference outputs of one case as .npy files, with
manifest.json (shapes, dtypes, roles, parameters, seeds), into DIR. The seed rule
is the same as `run`, so the files hold exactly what a run with that seed checks.
For a dsa_vs_dense case, --context picks one of its contexts (default: the first);
the other ops have one shape and take no --context. Model cases are not dumped.
)";

const char* kVariantsHelp = R"(usage: dsa-bench variants [--op OP] [--unvalidated]

Lists the implementations (variants) of each op in this build, in the order they are
picked on each backend: the first one that takes a case's shape runs, unless the case
names one (implementation, implementations), `run --prefer` puts others first, or a
variant is marked as first for some shapes (e.g. the split top-k for a few long rows).
Variants not yet validated on their hardware say so; nothing picks them by default.
OP: indexer, topk, sparse_attention, dense_attention_mqa, dense_attention_mha.
--unvalidated: only the names of the variants not yet validated, one per line (for
scripts: scripts/gpu-check.sh runs each one's first-run tests in a process of its own).
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> opts;
  bool help = false;
};

// Parses "--name value" pairs; `flags` take no value. Unknown options are errors, and so is
// a valued option given twice with different values.
bool parse_args(int argc, char** argv, int first, const std::vector<std::string>& valued,
                const std::vector<std::string>& flags, Args& a, std::string& err) {
  for (int i = first; i < argc; ++i) {
    const std::string s = argv[i];
    if (s == "--help" || s == "-h") { a.help = true; continue; }
    if (s.rfind("--", 0) == 0) {
      if (std::find(flags.begin(), flags.end(), s) != flags.end()) { a.opts[s] = "1"; continue; }
      if (std::find(valued.begin(), valued.end(), s) == valued.end()) { err = "unknown option " + s; return false; }
      if (i + 1 >= argc) { err = "option " + s + " needs a value"; return false; }
      // A second, different value used to replace the first without a word: `--filter
      // indexer --filter topk` ran only the top-k cases, which reads as "both".
      const auto given = a.opts.find(s);
      if (given != a.opts.end() && given->second != argv[i + 1]) {
        err = s + " given twice (\"" + given->second + "\", then \"" + argv[i + 1] + "\"): it takes one value";
        if (s == "--filter") err += "; one regular expression takes either: \"" + given->second + "|" + argv[i + 1] + "\"";
        if (s == "--prefer") err += "; list several variants as one value: \"" + given->second + "," + argv[i + 1] + "\"";
        return false;
      }
      a.opts[s] = argv[++i];
      continue;
    }
    // "-o FILE" would otherwise pass as a second positional argument and be reported as
    // "takes one suite file", which hides the real mistake: every option is spelled long.
    if (s.size() > 1 && s[0] == '-') {
      err = "unknown option " + s + " (options are spelled with two dashes";
      std::vector<std::string> names(valued);
      names.insert(names.end(), flags.begin(), flags.end());
      const auto like = std::find_if(names.begin(), names.end(),
                                     [&](const std::string& o) { return o.size() > 2 && o[2] == s[1]; });
      if (like != names.end()) err += ", e.g. " + *like;
      err += "; see --help)";
      return false;
    }
    a.positional.push_back(s);
  }
  return true;
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return false;
  out = std::stoull(s);
  return true;
}

int usage_error(const std::string& msg, const char* help) {
  std::fprintf(stderr, "dsa-bench: %s\n\n%s", msg.c_str(), help);
  return kExitUsage;
}

// A bad option value, quoted as given: "--threads takes a whole number from 1 to 4096 (got "0")".
int bad_value(const Args& a, const char* option, const char* expected, const char* help) {
  return usage_error(std::string(option) + " takes " + expected + " (got \"" + a.opts.at(option) + "\")", help);
}

std::vector<std::size_t> select_cases(const Suite& suite, const std::string& filter) {
  std::vector<std::size_t> idx;
  const std::regex re(filter.empty() ? std::string(".*") : filter);
  for (std::size_t i = 0; i < suite.cases.size(); ++i)
    if (std::regex_search(suite.cases[i].name, re)) idx.push_back(i);
  return idx;
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

int cmd_variants(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse_args(argc, argv, 2, {"--op"}, {"--unvalidated"}, a, err)) return usage_error(err, kVariantsHelp);
  if (a.help) { std::fputs(kVariantsHelp, stdout); return kExitOk; }
  if (!a.positional.empty()) return usage_error("variants takes no positional arguments", kVariantsHelp);
  const std::vector<dsa::VariantSummary> all = dsa::variant_summaries();
  const std::string op = a.opts.count("--op") ? a.opts["--op"] : "";
  if (!op.empty() && std::none_of(all.begin(), all.end(), [&](const dsa::VariantSummary& v) { return v.op == op; }))
    return usage_error("--op: no op \"" + op + "\"", kVariantsHelp);
  if (a.opts.count("--unvalidated")) {
    for (const dsa::VariantSummary& v : all)
      if ((op.empty() || v.op == op) && !v.not_validated.empty()) std::printf("%s\n", v.name.c_str());
    return kExitOk;
  }
  int name_width = 0;  // the longest name, so the columns line up however names grow
  for (const dsa::VariantSummary& v : all) name_width = std::max(name_width, static_cast<int>(v.name.size()));
  std::string current;
  for (const dsa::VariantSummary& v : all) {
    if (!op.empty() && v.op != op) continue;
    if (v.op != current) {
      std::printf("%s%s\n", current.empty() ? "" : "\n", v.op.c_str());
      current = v.op;
    }
    std::string pick = v.first_on_backend ? "default" : "";
    if (v.first_for_some) pick += std::string(pick.empty() ? "" : ", ") + "first for some shapes";
    std::printf("  %-*s %-5s %-30s %s\n", name_width, v.name.c_str(), v.backend.c_str(), pick.c_str(),
                v.description.c_str());
    if (!v.not_validated.empty())
      std::printf("  %-*s %-5s %-30s %s\n", name_width, "", "", "", ("(" + v.not_validated + ")").c_str());
  }
  return kExitOk;
}

int cmd_list(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse_args(argc, argv, 2, {"--filter"}, {}, a, err)) return usage_error(err, kListHelp);
  if (a.help) { std::fputs(kListHelp, stdout); return kExitOk; }
  if (a.positional.size() != 1) return usage_error("list takes one suite file", kListHelp);
  try {
    const Suite suite = load_suite(a.positional[0]);
    const auto idx = select_cases(suite, a.opts.count("--filter") ? a.opts["--filter"] : "");
    std::printf("suite %s (%s): %zu case%s%s", suite.name.c_str(), suite.path.c_str(), suite.cases.size(),
                suite.cases.size() == 1 ? "" : "s", idx.size() == suite.cases.size() ? "" : (", " + std::to_string(idx.size()) + " selected").c_str());
    if (suite.case_timeout_s > 0) std::printf(", each stopped after %g s without a result", suite.case_timeout_s);
    std::printf("\n");
    if (!suite.description.empty()) std::printf("%s\n", suite.description.c_str());
    int width = 34;  // the name column fits the longest name, so the columns stay aligned
    for (std::size_t i : idx) width = std::max(width, static_cast<int>(suite.cases[i].name.size()));
    for (std::size_t i : idx) {
      const CaseSpec& c = suite.cases[i];
      std::printf("%3zu  %-*s %-20s %-9s %s\n", i + 1, width, c.name.c_str(), op_name(c.op), mode_name(c.mode),
                  case_shape(c).c_str());
    }
  } catch (const SuiteError& e) {
    std::fprintf(stderr, "dsa-bench: %s\n", e.what());
    return kExitUsage;
  } catch (const std::regex_error& e) {
    return usage_error(std::string("--filter is not a valid regular expression (") + e.what() + ")", kListHelp);
  }
  return kExitOk;
}

int cmd_dump(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse_args(argc, argv, 2, {"--case", "--out", "--seed", "--context"}, {}, a, err)) return usage_error(err, kDumpHelp);
  if (a.help) { std::fputs(kDumpHelp, stdout); return kExitOk; }
  if (a.positional.size() != 1) return usage_error("dump takes one suite file", kDumpHelp);
  if (!a.opts.count("--case") || !a.opts.count("--out")) return usage_error("dump needs --case NAME and --out DIR", kDumpHelp);
  if (a.opts["--out"].empty()) return bad_value(a, "--out", "the folder the arrays go to", kDumpHelp);
  if (std::filesystem::exists(a.opts["--out"]) && !std::filesystem::is_directory(a.opts["--out"]))
    return usage_error("--out " + a.opts["--out"] + ": a file is there; --out names the folder the arrays go to", kDumpHelp);
  std::uint64_t seed = kDefaultSeed, context = 0;
  if (a.opts.count("--seed") && !parse_u64(a.opts["--seed"], seed)) return bad_value(a, "--seed", "a whole number >= 0", kDumpHelp);
  if (a.opts.count("--context") && (!parse_u64(a.opts["--context"], context) || context == 0))
    return bad_value(a, "--context", "one of the case's contexts, a whole number > 0", kDumpHelp);
  try {
    const Suite suite = load_suite(a.positional[0]);
    const CaseSpec* found = nullptr;
    for (const auto& c : suite.cases)
      if (c.name == a.opts["--case"]) found = &c;
    if (!found) {
      std::fprintf(stderr, "dsa-bench: %s: no case named \"%s\" (see `dsa-bench list %s`)\n", suite.path.c_str(),
                   a.opts["--case"].c_str(), suite.path.c_str());
      return kExitUsage;
    }
    const auto manifest = dump_case(*found, seed, static_cast<std::int64_t>(context), a.opts["--out"], suite.path);
    std::printf("wrote %zu arrays and manifest.json to %s\n", manifest["files"].size(), a.opts["--out"].c_str());
  } catch (const SuiteError& e) {
    std::fprintf(stderr, "dsa-bench: %s\n", e.what());
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "dsa-bench: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsa-bench: dump failed: %s\n", e.what());
    return kExitFailed;
  }
  return kExitOk;
}

// The fields every record of a case starts with (also a lost case's, written by the
// supervisor).
nlohmann::json case_base_record(const CaseSpec& c) {
  return {{"name", c.name}, {"op", op_name(c.op)}, {"mode", mode_name(c.mode)}, {"params", case_params_json(c)}};
}

// Why an earlier run's results cannot be resumed by this one (empty: they can): its
// cases must be what this run would have recorded.
std::string resume_mismatch(const nlohmann::json& doc, const nlohmann::json& prov, const nlohmann::json& suite) {
  const auto differs = [](const nlohmann::json& in, const nlohmann::json& now, const char* section, const char* key) {
    const nlohmann::json was = in.contains(key) ? in[key] : nlohmann::json();
    const nlohmann::json is = now.contains(key) ? now[key] : nlohmann::json();
    if (was == is) return std::string();
    return std::string("field ") + section + "." + key + " is " + was.dump() + " there and " + is.dump() +
           " in this run";
  };
  std::string why;
  for (const char* key : {"name", "content_fnv1a64", "filter"})
    if (why.empty()) why = differs(doc["suite"], suite, "suite", key);
  for (const char* key : {"git_commit", "git_dirty", "seed", "backend_requested", "short_mode", "preferred_variants"})
    if (why.empty()) why = differs(doc["provenance"], prov, "provenance", key);
  if (!why.empty())
    why += " (resume with the same suite file, build and options: the earlier run was `" +
           doc["provenance"].value("command_line", std::string("?")) + "`)";
  return why;
}

// A case after which the GPU context was lost: it errs, whatever its checks said. In
// one process (--in-process) the context stays lost, and a later case that fails for it
// names the case that lost it (`lost_in`), not itself.
void note_context_lost(nlohmann::json& rec, const std::string& why, bool supervised, const std::string& lost_in) {
  const std::string what =
      lost_in.empty() ? "the GPU context was lost during this case (" + why + "); " +
                            (supervised ? "the run went on in a new process"
                                        : "the later GPU cases of this process fail (--in-process)")
                      : "the GPU context was lost before this case, during " + lost_in + " (" + why +
                            "): every later GPU case of this process fails (--in-process)";
  if (is_failure_status(rec.value("status", ""))) {
    rec["reason"] = rec.value("reason", std::string()) + (rec.contains("reason") ? "; " : "") + what;
  } else {
    rec["status"] = "error";
    rec["reason"] = what;
  }
}

int cmd_run(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse_args(argc, argv, 2, {"--out", "--backend", "--filter", "--seed", "--threads", "--prefer", "--case-timeout"},
                  {"--quiet", "--short", "--resume", "--in-process"}, a, err))
    return usage_error(err, kRunHelp);
  if (a.help) { std::fputs(kRunHelp, stdout); return kExitOk; }
  if (a.positional.size() != 1) return usage_error("run takes one suite file", kRunHelp);

  if (a.opts.count("--out") && a.opts["--out"].empty()) return bad_value(a, "--out", "a results file's path", kRunHelp);

  RunContext ctx;
  if (a.opts.count("--prefer")) {
    // Variant names, comma-separated: each must be one of this build's (a CUDA name is
    // accepted in a build without CUDA, whose cases skip anyway).
    const std::vector<std::string> known = dsa::all_variant_names();
    std::stringstream list(a.opts["--prefer"]);
    for (std::string name; std::getline(list, name, ',');) {
      const bool ok = std::find(known.begin(), known.end(), name) != known.end() ||
                      (name.rfind("cuda.", 0) == 0 && !dsa::built_with_cuda());
      if (!ok) {
        std::string all;
        for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
        return usage_error("--prefer: \"" + name + "\" is not a variant of this build (" + all + ")", kRunHelp);
      }
      ctx.prefer.push_back(name);
    }
  }
  ctx.seed = kDefaultSeed;
  if (a.opts.count("--seed") && !parse_u64(a.opts["--seed"], ctx.seed)) return bad_value(a, "--seed", "a whole number >= 0", kRunHelp);
  const std::string backend = a.opts.count("--backend") ? a.opts["--backend"] : "auto";
  if (backend == "auto") ctx.backend = BackendRequest::automatic;
  else if (backend == "cpu") ctx.backend = BackendRequest::cpu;
  else if (backend == "cuda") ctx.backend = BackendRequest::cuda;
  else return bad_value(a, "--backend", "auto, cpu or cuda", kRunHelp);
  if (a.opts.count("--threads")) {
    std::uint64_t n = 0;
    if (!parse_u64(a.opts["--threads"], n) || n == 0 || n > 4096) return bad_value(a, "--threads", "a whole number from 1 to 4096", kRunHelp);
    dsa::set_max_threads(static_cast<int>(n));
  }

  double case_timeout_s = -1;  // -1: the suite's
  if (a.opts.count("--case-timeout")) {
    std::uint64_t t = 0;
    if (!parse_u64(a.opts["--case-timeout"], t)) return bad_value(a, "--case-timeout", "a whole number of seconds (0: no limit)", kRunHelp);
    case_timeout_s = static_cast<double>(t);
  }
  // Seconds before a running case first says it is still running (then 2x, 4x, ...);
  // tests shorten it. 0: never.
  double heartbeat_s = 60;
  if (const char* h = std::getenv("DSA_BENCH_HEARTBEAT_S")) {
    std::uint64_t s = 0;
    if (!parse_u64(h, s)) return usage_error(std::string("DSA_BENCH_HEARTBEAT_S takes a whole number of seconds (0: no \"still running\" lines), got \"") + h + "\"", kRunHelp);
    heartbeat_s = static_cast<double>(s);
  }

  Suite suite;
  std::vector<std::size_t> selected;
  try {
    suite = load_suite(a.positional[0]);
    selected = select_cases(suite, a.opts.count("--filter") ? a.opts["--filter"] : "");
  } catch (const SuiteError& e) {
    std::fprintf(stderr, "dsa-bench: %s\n", e.what());
    return kExitUsage;
  } catch (const std::regex_error& e) {
    return usage_error(std::string("--filter is not a valid regular expression (") + e.what() + ")", kRunHelp);
  }
  if (selected.empty()) {
    std::fprintf(stderr, "dsa-bench: no case of %s matches --filter \"%s\"\n", suite.path.c_str(), a.opts["--filter"].c_str());
    return kExitUsage;
  }
  const std::string out = a.opts.count("--out") ? a.opts["--out"] : "results/" + suite.name + ".json";
  std::vector<CaseSpec> cases;
  for (std::size_t i : selected) cases.push_back(suite.cases[i]);
  const bool short_mode = a.opts.count("--short") > 0;
  if (short_mode)
    for (CaseSpec& c : cases) {
      c.timing.warmup = std::min(c.timing.warmup, 1);
      c.timing.max_samples = std::max(c.timing.min_samples, std::min(c.timing.max_samples, 10));
      c.timing.max_seconds = std::min(c.timing.max_seconds, 0.25);
    }

  // The process the user started supervises; the cases run in its worker (this same
  // program, started again with this variable set). Nothing above touched the GPU.
  const WorkerChannel channel = WorkerChannel::from_environment();
  if (!channel.active() && !a.opts.count("--in-process")) {
    std::map<std::string, nlohmann::json> base;
    for (const CaseSpec& c : cases) base[c.name] = case_base_record(c);
    SupervisorOptions opt{out, suite.case_timeout_s, "the suite's case_timeout_s"};
    if (case_timeout_s >= 0) opt = {out, case_timeout_s, "--case-timeout " + a.opts["--case-timeout"]};
    return supervise_run(argc, argv, base, opt);
  }
  const bool resume = a.opts.count("--resume") > 0;

  nlohmann::json prov = provenance_json();
  prov["command_line"] = command_line(argc, argv);
  prov["seed"] = ctx.seed;
  prov["backend_requested"] = backend;
  prov["short_mode"] = short_mode;
  prov["case_timeout_s"] = case_timeout_s < 0 ? suite.case_timeout_s : case_timeout_s;  // 0: none
  if (!ctx.prefer.empty()) prov["preferred_variants"] = ctx.prefer;
  const nlohmann::json suite_json = {{"name", suite.name},
                                     {"path", suite.path},
                                     {"description", suite.description},
                                     {"content_fnv1a64", suite.content_hash},
                                     {"cases_in_suite", suite.cases.size()},
                                     {"cases_selected", cases.size()},
                                     {"filter", a.opts.count("--filter") ? a.opts["--filter"] : ""}};
  std::unique_ptr<ResultsFile> results;
  try {
    if (resume) {
      if (!std::filesystem::exists(out)) {
        std::fprintf(stderr, "dsa-bench: --resume: %s: no such results file (nothing to resume: run without --resume)\n", out.c_str());
        return kExitUsage;
      }
      results = ResultsFile::open(out);
      const std::string why = resume_mismatch(results->document(), prov, suite_json);
      if (!why.empty()) {
        std::fprintf(stderr, "dsa-bench: --resume: %s: %s\n", out.c_str(), why.c_str());
        return kExitUsage;
      }
      const char* reason = std::getenv("DSA_BENCH_RESUME_REASON");  // set by the supervisor
      results->reopen({{"timestamp_utc", prov["timestamp_utc"]},
                       {"command_line", prov["command_line"]},
                       {"reason", reason ? reason : "run --resume"}});
    } else {
      if (std::filesystem::is_directory(out)) {
        std::fprintf(stderr, "dsa-bench: --out %s: a folder; --out names the results file (e.g. %s/%s.json)\n",
                     out.c_str(), out.c_str(), suite.name.c_str());
        return kExitUsage;
      }
      const auto parent = std::filesystem::path(out).parent_path();
      std::error_code ec;
      if (!parent.empty() && !std::filesystem::create_directories(parent, ec) && ec) {
        // Not the library's "filesystem error: cannot create directories: ... [/etc/passwd]".
        std::fprintf(stderr, "dsa-bench: --out %s: cannot create its folder %s (%s)\n", out.c_str(), parent.c_str(),
                     ec.message().c_str());
        return kExitUsage;
      }
      results = std::make_unique<ResultsFile>(out, prov, suite_json);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsa-bench: %s%s\n", resume ? "--resume: " : "", e.what());
    return kExitUsage;
  }
  std::set<std::string> kept;  // finished by an earlier process of this run
  for (const auto& c : results->document()["cases"]) kept.insert(c.value("name", ""));

  const bool quiet = a.opts.count("--quiet") > 0;
  if (!quiet)
    std::fprintf(stderr, "dsa-bench: suite %s, %zu case%s, backend %s, %d threads, seed %llu -> %s\n",
                 suite.name.c_str(), cases.size(), cases.size() == 1 ? "" : "s", backend.c_str(), dsa::max_threads(),
                 static_cast<unsigned long long>(ctx.seed), out.c_str());
  // The GPU's ceilings, once per run, before any case: every GPU record's share of them
  // is computed against these figures, taken at this run's clocks.
  std::string no_gpu;
  const auto backends = candidate_backends(ctx.backend, &no_gpu);
  const bool uses_gpu = std::find(backends.begin(), backends.end(), dsa::Backend::cuda) != backends.end();
  if (uses_gpu && resume && results->document().contains("device_ceilings")) {
    // Measured by the first process of this run: every record shares one set.
    ctx.ceilings = results->document()["device_ceilings"];
    if (!quiet) std::fprintf(stderr, "dsa-bench: the device's ceilings as the earlier process of this run measured them\n");
  } else if (uses_gpu) {
    if (!quiet) std::fprintf(stderr, "dsa-bench: measuring the device's ceilings (cuBLASLt bf16/fp8, copy) ...\n");
    const dsa::DeviceCeilings dc = dsa::measure_device_ceilings();
    ctx.ceilings = {{"bf16_tflops", dc.bf16_tflops}, {"fp8_tflops", dc.fp8_tflops}, {"copy_gbps", dc.copy_gbps},
                    {"method", "cuBLASLt 8192^3 TN products on random data (median of 10); 1 GiB device-to-device copy, "
                               "bytes read + written"}};
    if (!dc.notes.empty()) ctx.ceilings["notes"] = dc.notes;
    results->set("device_ceilings", ctx.ceilings);
    // A ceiling that could not be measured is recorded as 0 (the reports take it as
    // missing); printed as a figure it would read as a device that reached nothing.
    const auto figure = [](double v, const char* unit) {
      return v > 0 ? std::to_string(static_cast<long long>(std::lround(v))) + " " + unit : std::string("not measured");
    };
    if (!quiet)
      std::fprintf(stderr, "dsa-bench: ceilings: bf16 %s, fp8 %s, copy %s%s%s\n", figure(dc.bf16_tflops, "TFLOP/s").c_str(),
                   figure(dc.fp8_tflops, "TFLOP/s").c_str(), figure(dc.copy_gbps, "GB/s").c_str(),
                   dc.notes.empty() ? "" : "; ", dc.notes.c_str());
  }
  std::signal(SIGINT, on_sigint);
  set_results_for_termination(results.get());
  Progress progress(cases, !quiet, heartbeat_s);
  std::size_t to_run = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (kept.count(cases[i].name)) progress.skip(i);
    else ++to_run;
  }
  if (resume && !quiet)
    std::fprintf(stderr, "dsa-bench: resuming %s: %zu of %zu cases kept, %zu to run\n", out.c_str(), cases.size() - to_run,
                 cases.size(), to_run);
  const double t0 = now_seconds();
  bool interrupted = false;
  std::string lost_in;  // the case during which this process lost its GPU context
  // A record into the results file; false (said on stderr) when the file cannot be written.
  const auto write_record = [&](const nlohmann::json& rec) {
    try {
      results->put_case(rec);
      return true;
    } catch (const std::exception& e) {
      set_results_for_termination(nullptr);
      std::fprintf(stderr, "dsa-bench: %s\n", e.what());
      return false;
    }
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (g_interrupted) { interrupted = true; break; }
    const CaseSpec& c = cases[i];
    if (kept.count(c.name)) continue;
    progress.begin(i);
    channel.begin(c.name);
    // The case is in the file from its start, so a run stopped at once (SIGTERM: a time
    // limit, a scheduler) says which case it was in: abandon() marks it interrupted.
    nlohmann::json started = case_base_record(c);
    started["status"] = "running";
    if (!write_record(started)) return kExitFailed;
    const InjectedFault fault = injected_fault(c.name);
    act_on_injected_fault(fault);
    ctx.progress = [&](const std::string& m) {
      progress.detail(m);
      channel.phase(m);
    };
    ctx.phase = [&](const std::string& m) {
      progress.phase(m);
      channel.phase(m);
    };
    ctx.partial = [&](const nlohmann::json& body) {
      nlohmann::json r = case_base_record(c);
      r.update(body);
      results->put_case(r);
    };
    nlohmann::json rec = run_case(c, ctx);
    // A faulting kernel leaves the context unusable for the rest of the process: the
    // case says so, and a supervised worker hands the rest of the run to a new one. Every
    // CUDA call is checked, so a fault always ends its case as failed or error: the
    // probe runs after those only, and never calls a case that passed lost.
    const bool bad_case = is_failure_status(rec.value("status", ""));
    std::string lost_why;
    const bool lost = fault == InjectedFault::lost_context ? (lost_why = "injected by DSA_BENCH_INJECT_FAULT", true)
                                                          : uses_gpu && bad_case && dsa::cuda_context_lost(&lost_why);
    if (lost) note_context_lost(rec, lost_why, channel.active(), lost_in);
    if (lost && lost_in.empty()) lost_in = c.name;
    if (!write_record(rec)) return kExitFailed;
    progress.end(i, rec);
    channel.end(c.name);
    if (lost && channel.active()) {
      set_results_for_termination(nullptr);
      std::fflush(nullptr);
      std::_Exit(kExitContextLost);  // no CUDA teardown in a broken context
    }
    if (lost) std::fprintf(stderr, "dsa-bench: the GPU context is lost (%s): the later GPU cases will fail\n", lost_why.c_str());
  }
  // Over every record, those of earlier processes of this run too.
  std::map<std::string, int> counts;
  for (const auto& r : results->document()["cases"]) ++counts[r.value("status", "?")];
  int failures = 0;  // every failure status gets a count, 0 included
  for (const char* s : kFailureStatuses) failures += counts[s];
  const bool bad = failures > 0;
  double before = 0;  // the earlier processes' time
  const auto& pv = results->document()["provenance"];
  if (pv.contains("resumed") && !pv["resumed"].empty()) before = pv["resumed"].back().value("duration_s_before", 0.0);
  nlohmann::json summary = {{"counts", counts}, {"duration_s", before + now_seconds() - t0}, {"all_ok", !bad}};
  results->finish(interrupted ? "interrupted" : "complete", summary);
  set_results_for_termination(nullptr);
  std::fputs(summary_table(results->document()).c_str(), stdout);
  std::printf("results: %s\n", out.c_str());
  if (interrupted) {
    std::fprintf(stderr, "dsa-bench: interrupted; finished cases are in %s\n", out.c_str());
    return kExitInterrupted;
  }
  return bad ? kExitFailed : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  watch_for_sigterm();
  if (argc < 2) { std::fputs(kMainHelp, stderr); return kExitUsage; }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") { std::fputs(kMainHelp, stdout); return kExitOk; }
  if (cmd == "--version") { std::printf("dsa-bench %s\n", DSA_VERSION); return kExitOk; }
  if (cmd == "run") return cmd_run(argc, argv);
  if (cmd == "list") return cmd_list(argc, argv);
  if (cmd == "dump") return cmd_dump(argc, argv);
  if (cmd == "variants") return cmd_variants(argc, argv);
  return usage_error("unknown command \"" + cmd + "\"", kMainHelp);
}
