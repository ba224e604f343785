// NumPy .npy files (format version 1.0), so any other implementation can load the
// same inputs and reference outputs with numpy.load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsa {

struct NpyArray {
  std::string descr;                 // "<f4", "<i4", "<i8", "|u1"
  std::vector<std::int64_t> shape;
  std::vector<char> data;            // raw little-endian bytes
};

template <class T> const char* npy_descr();
template <> inline const char* npy_descr<float>() { return "<f4"; }
template <> inline const char* npy_descr<double>() { return "<f8"; }
template <> inline const char* npy_descr<std::int32_t>() { return "<i4"; }
template <> inline const char* npy_descr<std::int64_t>() { return "<i8"; }
template <> inline const char* npy_descr<std::uint8_t>() { return "|u1"; }

// Throws std::runtime_error naming the file on failure.
void write_npy(const std::string& path, const std::string& descr, const std::vector<std::int64_t>& shape,
               const void* data, std::size_t bytes);

template <class T>
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const T* data) {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  write_npy(path, npy_descr<T>(), shape, data, n * sizeof(T));
}

NpyArray read_npy(const std::string& path);

}  // namespace dsa
