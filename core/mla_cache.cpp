#include "core/mla_cache.h"

#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "core/quant.h"

namespace dsa {

namespace {
constexpr int kTile = 128;
void check(int kv_rank, int rope) {
  if (kv_rank <= 0 || kv_rank % kTile != 0 || rope < 0)
    throw std::invalid_argument("fp8 MLA cache: kv_rank must be a positive multiple of 128");
}
}  // namespace

std::size_t fp8_mla_row_bytes(int kv_rank, int rope) {
  check(kv_rank, rope);
  return static_cast<std::size_t>(kv_rank) + 4u * static_cast<std::size_t>(kv_rank / kTile) + 2u * static_cast<std::size_t>(rope);
}

void pack_fp8_mla_row(const float* row, int kv_rank, int rope, std::uint8_t* out) {
  check(kv_rank, rope);
  const int tiles = kv_rank / kTile;
  float scales[64];  // up to 8192 latent values
  if (tiles > 64) throw std::invalid_argument("fp8 MLA cache: kv_rank above 8192");
  quantize_fp8_blocks(std::span<const float>(row, static_cast<std::size_t>(kv_rank)), kTile,
                      std::span<std::uint8_t>(out, static_cast<std::size_t>(kv_rank)),
                      std::span<float>(scales, static_cast<std::size_t>(tiles)));
  std::memcpy(out + kv_rank, scales, 4u * static_cast<std::size_t>(tiles));  // little-endian fp32
  std::uint8_t* r = out + kv_rank + 4 * tiles;
  for (int i = 0; i < rope; ++i) {
    const std::uint16_t b = float_to_bf16_bits(row[kv_rank + i]);
    std::memcpy(r + 2 * i, &b, 2);
  }
}

void unpack_fp8_mla_row(const std::uint8_t* in, int kv_rank, int rope, float* row) {
  check(kv_rank, rope);
  const int tiles = kv_rank / kTile;
  for (int t = 0; t < tiles; ++t) {
    float s;
    std::memcpy(&s, in + kv_rank + 4 * t, 4);
    for (int i = t * kTile; i < (t + 1) * kTile; ++i) row[i] = e4m3_bits_to_float(in[i]) * s;
  }
  const std::uint8_t* r = in + kv_rank + 4 * tiles;
  for (int i = 0; i < rope; ++i) {
    std::uint16_t b;
    std::memcpy(&b, r + 2 * i, 2);
    row[kv_rank + i] = bf16_bits_to_float(b);
  }
}

void round_through_fp8_mla(float* rows, std::int64_t n, int kv_rank, int rope) {
  const std::int64_t width = kv_rank + rope, block = 256;  // rows per task: caches reach 128K rows
  parallel_for((n + block - 1) / block, [&](std::int64_t b) {
    std::vector<std::uint8_t> packed(fp8_mla_row_bytes(kv_rank, rope));
    for (std::int64_t r = b * block; r < std::min(n, (b + 1) * block); ++r) {
      pack_fp8_mla_row(rows + r * width, kv_rank, rope, packed.data());
      unpack_fp8_mla_row(packed.data(), kv_rank, rope, rows + r * width);
    }
  });
}

}  // namespace dsa
