// Error metrics, following the conventions of FlashMLA's and DeepGEMM's own tests
// (dsa-spec.md section 8): structure first (NaN / inf positions must match exactly),
// then values on the finite positions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dsa {

// Where NaN, +inf and -inf sit must be identical in x and ref.
struct StructureReport {
  std::int64_t compared = 0;
  std::int64_t mismatches = 0;
  std::int64_t first_mismatch = -1;  // flat index, -1 if none
  std::int64_t ref_nan = 0, ref_posinf = 0, ref_neginf = 0;
  bool ok() const { return mismatches == 0; }
};
StructureReport compare_structure(std::span<const float> x, std::span<const float> ref);

// Value metrics over the positions where both x and ref are finite.
struct ValueReport {
  std::int64_t compared = 0;
  double rel_l2 = 0.0;       // ||x - ref|| / ||ref||
  double cos_diff = 0.0;     // 1 - 2 sum(x ref) / sum(x^2 + ref^2)
  double max_abs = 0.0;      // largest |x - ref|
  std::int64_t max_abs_index = -1;
  std::int64_t failures = 0; // elements with |x-ref| > max(abs_tol, rel_tol * |ref|) + allowance
  std::int64_t helped = 0;   // elements that pass only because of their allowance
  std::int64_t first_failure = -1;
  double pass_fraction = 1.0;
};
// `allowance`, when not empty, gives every element an extra absolute bound of its own
// (a rounding error the implementation may make there, derived from the data).
ValueReport compare_values(std::span<const float> x, std::span<const float> ref,
                           double abs_tol, double rel_tol, std::span<const float> allowance = {});

double rel_l2(std::span<const float> x, std::span<const float> ref);
double cos_diff(std::span<const float> x, std::span<const float> y);

// |selected ∩ truth| / |truth|, ignoring negative entries (the -1 padding).
// Returns 1 when truth is empty.
double set_recall(std::span<const std::int32_t> selected, std::span<const std::int32_t> truth);

// Share of the softmax mass of `logits` (one query, one head, over keys 0..n-1)
// that falls on the selected keys (negative or out-of-range indices ignored, a
// repeated index counted once).
double attention_mass_recall(std::span<const double> logits, std::span<const std::int32_t> selected);

// "[i,j,k]" for a flat row-major index into `shape`.
std::string unravel_index(std::int64_t flat, const std::vector<std::int64_t>& shape);

}  // namespace dsa
