// A small tensor view (shape, strides in elements, host or device memory) and an
// owning, contiguous host tensor. Deliberately minimal: ops take views, validate
// shapes at their boundary, and index with operator() on the host.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/host_memory.h"

namespace dsa {

enum class MemoryKind { host, device };

inline constexpr int kMaxRank = 4;

struct Shape {
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> d) {
    if (d.size() > kMaxRank) throw std::invalid_argument("Shape: rank above 4");
    for (std::int64_t v : d) {
      if (v < 0) throw std::invalid_argument("Shape: negative dimension");
      dims[rank++] = v;
    }
  }
  std::int64_t operator[](int i) const { return dims[i]; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  std::vector<std::int64_t> to_vector() const { return {dims.begin(), dims.begin() + rank}; }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) {
      if (i) s += ',';
      s += std::to_string(dims[i]);  // (not `"," + to_string`: GCC 12 warns falsely on that)
    }
    return s + "]";
  }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i) if (dims[i] != o.dims[i]) return false;
    return true;
  }
};

inline std::array<std::int64_t, kMaxRank> contiguous_strides(const Shape& s) {
  std::array<std::int64_t, kMaxRank> st{};
  std::int64_t acc = 1;
  for (int i = s.rank - 1; i >= 0; --i) { st[i] = acc; acc *= s.dims[i]; }
  return st;
}

template <class T>
struct TensorView {
  T* data = nullptr;
  Shape shape;
  std::array<std::int64_t, kMaxRank> strides{};
  MemoryKind memory = MemoryKind::host;

  TensorView() = default;
  TensorView(T* p, Shape s, MemoryKind m = MemoryKind::host)
      : data(p), shape(s), strides(contiguous_strides(s)), memory(m) {}

  std::int64_t numel() const { return shape.numel(); }
  std::int64_t size(int i) const { return shape[i]; }
  bool is_contiguous() const { return strides == contiguous_strides(shape); }

  // Host element access; the rank of the call must match the view's rank.
  template <class... I>
  T& operator()(I... idx) const {
    static_assert(sizeof...(I) <= kMaxRank);
    const std::int64_t ix[] = {static_cast<std::int64_t>(idx)...};
    std::int64_t off = 0;
    for (std::size_t k = 0; k < sizeof...(I); ++k) off += ix[k] * strides[k];
    return data[off];
  }
  // A contiguous host view as a span (throws otherwise: a span cannot describe strides).
  std::span<T> span() const {
    if (!is_contiguous()) throw std::logic_error("TensorView::span on a strided view");
    return {data, static_cast<std::size_t>(numel())};
  }
};

// Owning, contiguous, host memory (host_memory.h: large tensors on huge pages, filled
// by every thread).
template <class T>
class HostTensor {
 public:
  HostTensor() = default;
  explicit HostTensor(Shape s, T fill = T{}) : HostTensor(s, Unwritten{}) { host_fill(data_.data(), data_.size(), fill); }
  // A tensor whose values are unset until written, for a destination its maker writes
  // whole (a copy, a product): filling it first would write every byte twice, 21 GB more
  // per point for the MHA keys and values of a 128K prefill sweep.
  static HostTensor unwritten(Shape s) { return HostTensor(s, Unwritten{}); }

  const Shape& shape() const { return shape_; }
  std::int64_t size(int i) const { return shape_[i]; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t bytes() const { return data_.size() * sizeof(T); }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  std::span<T> span() { return data_; }
  std::span<const T> span() const { return data_; }
  TensorView<T> view() { return {data_.data(), shape_}; }
  TensorView<const T> view() const { return {data_.data(), shape_}; }

  template <class... I>
  T& operator()(I... idx) { return view()(idx...); }
  template <class... I>
  const T& operator()(I... idx) const { return view()(idx...); }

 private:
  struct Unwritten {};
  HostTensor(Shape s, Unwritten) : shape_(s), data_(static_cast<std::size_t>(s.numel())) {}

  Shape shape_;
  HostVector<T> data_;
};

}  // namespace dsa
