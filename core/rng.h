// Seeded, reproducible random numbers. We implement the generator and the normal
// transform ourselves because std::normal_distribution differs between standard
// libraries: a seed must give the same inputs wherever the harness runs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dsa {

// FNV-1a over bytes: a stable 64-bit hash (suite contents, config contents, seed tags).
std::uint64_t fnv1a64(std::string_view bytes);
// 16 lower-case hex digits.
std::string hex64(std::uint64_t v);

// Mixes a 64-bit value (splitmix64 finaliser); used to derive independent streams.
std::uint64_t mix64(std::uint64_t x);

// A seed for one named stream: the same (base, tag, index) always gives the same
// seed, so filtering a suite or reordering cases never changes a case's inputs.
std::uint64_t derive_seed(std::uint64_t base, std::string_view tag, std::uint64_t index = 0);

// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift with rejection).
  std::uint64_t below(std::uint64_t n);
  // Standard normal (Box-Muller in fp64; the spare value is kept for the next call).
  double normal();
  void fill_normal(std::span<float> out, double mean = 0.0, double stddev = 1.0);

 private:
  std::uint64_t s_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace dsa
