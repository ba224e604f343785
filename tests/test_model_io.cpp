// The model path's inputs: config.json parsing, safetensors files (round trip and every
// kind of corruption), sharded checkpoints and weight loading.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/mla_cache.h"
#include "core/rng.h"
#include "model/config.h"
#include "model/json_keys.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "test_util.h"

namespace dsa::model {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) { return test::scratch_path(name); }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, PresetsLoadAndTheRealOneHasThePublishedShape) {
  const ModelConfig c = preset_config("deepseek-v3.2-exp");
  EXPECT_EQ(c.hidden, 7168);
  EXPECT_EQ(c.layers, 61);
  EXPECT_EQ(c.routed_experts, 256);
  EXPECT_NEAR(c.softmax_scale(), 0.13524, 5e-5);  // not 192^-0.5 = 0.0722
  EXPECT_TRUE(c.layer_is_moe(3));
  EXPECT_FALSE(c.layer_is_moe(2));
  // 671B parameters without the multi-token-prediction layer (the published total).
  EXPECT_NEAR(c.parameters() / 1e9, 671, 8);
  const ModelConfig small = preset_config("dsa-small");
  EXPECT_EQ(small.heads, 128);
  EXPECT_EQ(small.kv_lora_rank + small.qk_rope, 576);
  EXPECT_EQ(small.index_topk, 2048);
  EXPECT_FALSE(small.layer_is_moe(2));
  EXPECT_NO_THROW(preset_config("dsa-tiny"));
  EXPECT_NE(error_of([] { preset_config("dsa-huge"); }).find("presets: "), std::string::npos);
}

// A case's "model" names a preset or, with a "/" or a ".json" ending, a config.json file.
TEST(ModelConfig, ModelIsAPresetOrAConfigFile) {
  EXPECT_FALSE(names_config_file("dsa-tiny"));
  EXPECT_TRUE(names_config_file("mine.json"));
  EXPECT_TRUE(names_config_file("configs/mine"));
  EXPECT_FALSE(names_config_file(".json"));
  EXPECT_EQ(model_config("dsa-small").name, "dsa-small");
  nlohmann::json j = config_to_json(preset_config("dsa-tiny"));
  j["num_hidden_layers"] = 2;
  const std::string path = test::scratch_path("two layers.json");
  std::ofstream(path) << j.dump();
  const ModelConfig c = model_config(path);
  EXPECT_EQ(c.layers, 2);
  EXPECT_EQ(c.name, path);
  EXPECT_NE(error_of([] { model_config("no-such-dir/mine.json"); }).find("no-such-dir/mine.json: no such config.json"),
            std::string::npos);
  EXPECT_NE(error_of([] { preset_config("../presets/dsa-tiny"); }).find("unknown model preset"), std::string::npos);
  const std::vector<std::string> names = preset_names();
  EXPECT_EQ(names, (std::vector<std::string>{"deepseek-v3.2-exp", "dsa-small", "dsa-tiny"}));
}

// The GPU bundle's binary runs on a machine without this build's source folder: the
// presets then come from the checkout it runs in.
TEST(ModelConfig, PresetsAreFoundInTheCheckoutWhenTheSourceFolderIsGone) {
  const std::filesystem::path before = std::filesystem::current_path();
  const std::filesystem::path root = test::scratch_path("checkout");
  std::filesystem::create_directories(root / "model" / "presets");
  std::filesystem::current_path(root);
  EXPECT_EQ(find_presets_dir(nullptr, "/no-such-source/model/presets"), "model/presets");
  EXPECT_EQ(find_presets_dir(nullptr, before.string()), before.string());  // present: the build's own
  EXPECT_EQ(find_presets_dir("/env/presets", "/no-such-source/model/presets"), "/env/presets");
  std::filesystem::current_path(root / "model");  // no model/presets here either: the build's path, for the error
  EXPECT_EQ(find_presets_dir(nullptr, "/no-such-source/model/presets"), "/no-such-source/model/presets");
  std::filesystem::current_path(before);
}

// Keys whose other values mean other math (a V2-style softmax router, unnormalised
// expert weights, another activation) are refused by name, not run as V3's.
TEST(ModelConfig, KeysThatWouldChangeTheMathMustHaveV3sValues) {
  const nlohmann::json base = config_to_json(preset_config("deepseek-v3.2-exp"));
  for (const auto& [key, value, want] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"scoring_func", "softmax", "expected \"sigmoid\" (DeepSeek-V3's routing"},
           {"topk_method", "greedy", "expected \"noaux_tc\""},
           {"norm_topk_prob", false, "expected true"},
           {"hidden_act", "gelu", "expected \"silu\" (the SwiGLU FFN"}}) {
    nlohmann::json j = base;
    j[key] = value;
    EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("c.json: key \"" + key + "\": " + want), std::string::npos)
        << key;
    j[key] = nullptr;  // absent or null: V3's value
    EXPECT_NO_THROW(parse_config(j, "c.json")) << key;
  }
  nlohmann::json j = base;
  j["topk_method"] = "noaux_tc";
  j["hidden_act"] = "silu";
  EXPECT_NO_THROW(parse_config(j, "c.json"));
  // Without experts the routing keys say nothing.
  j = config_to_json(preset_config("dsa-small"));
  j["scoring_func"] = "softmax";
  EXPECT_NO_THROW(parse_config(j, "c.json"));
}

TEST(ModelConfig, UnknownKeysAreIgnoredAndRoundTrip) {
  nlohmann::json j = config_to_json(preset_config("dsa-tiny"));
  j["some_future_key"] = {1, 2, 3};
  const ModelConfig c = parse_config(j, "x.json");
  EXPECT_EQ(c.experts_per_token, 2);
  EXPECT_EQ(config_to_json(c), config_to_json(preset_config("dsa-tiny")));
}

TEST(ModelConfig, MissingOrIllTypedKeysAreNamed) {
  const nlohmann::json base = config_to_json(preset_config("dsa-tiny"));
  nlohmann::json j = base;
  j.erase("kv_lora_rank");
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("c.json: key \"kv_lora_rank\": expected an integer >= 1, got nothing"),
            std::string::npos);
  j = base;
  j["num_attention_heads"] = "128";
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("key \"num_attention_heads\""), std::string::npos);
  j = base;
  j["rms_norm_eps"] = nullptr;
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("\"rms_norm_eps\""), std::string::npos);
  j = base;
  j["rope_scaling"]["type"] = "dynamic";
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("\"yarn\""), std::string::npos);
  // Zero or negative where the value divides or scales.
  for (const char* key : {"rms_norm_eps", "rope_theta", "routed_scaling_factor"}) {
    j = base;
    j[key] = 0.0;
    EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find(std::string("key \"") + key + "\": expected a number > 0, got 0.0"),
              std::string::npos)
        << key;
  }
  j = base;
  j["rope_scaling"]["factor"] = -4;
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("c.json: rope_scaling: key \"factor\": expected a number > 0"),
            std::string::npos);
  j = base;
  j["rope_scaling"]["type"] = 5;  // not a string: named, not a JSON library message
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("rope_scaling: key \"type\": expected a string"), std::string::npos);
  j = base;
  j["n_group"] = 3;  // 8 experts do not split into 3 groups
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("\"n_group\""), std::string::npos);
  j = base;
  j.erase("moe_intermediate_size");  // needed because n_routed_experts > 0
  EXPECT_NE(error_of([&] { parse_config(j, "c.json"); }).find("\"moe_intermediate_size\""), std::string::npos);
  j = base;
  j["n_routed_experts"] = 0;  // a dense model needs no MoE keys
  j.erase("moe_intermediate_size");
  EXPECT_NO_THROW(parse_config(j, "c.json"));
}

// Seeded random damage to every shipped preset (test::damage_text): each damaged
// config.json either loads or fails with a ConfigError naming the file, never another
// exception (a JSON library type error) or a crash under the sanitiser build.
TEST(ModelConfig, DamagedConfigsLoadOrFailWithANamedError) {
  std::vector<std::string> presets;
  for (const auto& e : fs::directory_iterator(presets_dir())) {
    std::ifstream in(e.path());
    presets.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(presets.size(), 3u);
  const std::string path = tmp("config.json");
  Rng rng(61);
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 800; ++iter) {
    const std::string text = test::damage_text(presets[rng.below(presets.size())], rng);
    std::ofstream(path, std::ios::trunc) << text;
    try {
      const ModelConfig c = load_config(path);
      ++loaded;
      EXPECT_GT(c.rms_eps, 0.0);
      EXPECT_GE(c.hidden, 1);
    } catch (const ConfigError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << iter << ": " << e.what() << "\n" << text;
    }
  }
  EXPECT_GT(loaded, 50);
  EXPECT_GT(rejected, 200);
}

// --- safetensors -----------------------------------------------------------------

// A file with a hand-written header and `data` bytes after it.
std::string raw_file(const std::string& name, const std::string& header, std::size_t data_bytes, std::int64_t claim = -1) {
  const std::string path = tmp(name);
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t n = claim >= 0 ? static_cast<std::uint64_t>(claim) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << header;
  out << std::string(data_bytes, '\x01');
  return path;
}

TEST(Safetensors, RoundTripOfEveryDtype) {
  SafetensorsWriter w;
  w.add_f32("a", {2, 3}, {1, 2, 3, 4, 5, 6});
  w.add("b", StDtype::BF16, {2}, {0x80, 0x3F, 0x00, 0xC0});        // 1.0, -2.0
  w.add("c", StDtype::F8_E4M3, {3}, {0x38, 0xC0, 0x7E});           // 1, -2, 448
  w.write(tmp("ok.safetensors"));
  const auto f = SafetensorsFile::open(tmp("ok.safetensors"));
  ASSERT_EQ(f->tensors().size(), 3u);
  const StTensor* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  float v[6];
  std::memcpy(v, a->data, 24);
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ(f->find("b")->dtype, StDtype::BF16);
  EXPECT_EQ(f->find("c")->data[2], 0x7E);
  EXPECT_EQ(f->find("missing"), nullptr);
}

// The message SafetensorsFile::open gives for a file with this header and `data` bytes
// after it ("" when it opens).
std::string open_error(const std::string& name, const std::string& header, std::size_t data, std::int64_t claim = -1) {
  return error_of([&] { SafetensorsFile::open(raw_file(name, header, data, claim)); });
}

// A header of one tensor "t".
std::string one_tensor(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"t": {"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "data_offsets": )" + offsets + "}}";
}

TEST(Safetensors, EveryCorruptionIsRejectedWithItsReason) {
  const std::string good = one_tensor("F32", "[2]", "[0, 8]");
  const auto says = [](const std::string& message, const std::string& part) {
    return ::testing::AssertionResult(message.find(part) != std::string::npos) << "\"" << message << "\" lacks \"" << part << "\"";
  };
  EXPECT_EQ(open_error("good.st", good, 8), "");
  // Truncated: the data ends before the tensor does.
  EXPECT_TRUE(says(open_error("trunc.st", good, 5), "out of range"));
  // Not even the header length.
  std::ofstream(tmp("tiny.st"), std::ios::binary) << "abc";
  EXPECT_TRUE(says(error_of([&] { SafetensorsFile::open(tmp("tiny.st")); }), "truncated"));
  // Header length claims more than the file holds.
  EXPECT_TRUE(says(open_error("long.st", good, 8, 1 << 20), "longer than the file"));
  // Offsets past the data.
  EXPECT_TRUE(says(open_error("range.st", one_tensor("F32", "[2]", "[8, 16]"), 8), "out of range"));
  // Overlapping tensors.
  EXPECT_TRUE(says(open_error("overlap.st",
                              R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                              12),
                   "overlap"));
  // A dtype this project does not read.
  EXPECT_TRUE(says(open_error("dtype.st", one_tensor("F16", "[2]", "[0, 4]"), 4), "unknown dtype \"F16\""));
  // Byte count not matching shape and dtype.
  EXPECT_TRUE(says(open_error("size.st", one_tensor("F32", "[3]", "[0, 8]"), 8), "needing 12"));
  // A shape whose element count wraps a 64-bit integer (2^62 x 4 = 2^64, i.e. 0 after
  // wrapping) would otherwise match an empty data range; so would 2^62 elements of 4 bytes.
  EXPECT_TRUE(says(open_error("wrap.st", one_tensor("F32", "[4611686018427387904, 4]", "[0, 0]"), 0),
                   "needs more bytes than 2^63 - 1"));
  EXPECT_TRUE(says(open_error("wrap4.st", one_tensor("F32", "[4611686018427387904]", "[0, 0]"), 0),
                   "needs more bytes than 2^63 - 1"));
  // A shape entry beyond a signed 64-bit integer (it would turn negative).
  EXPECT_TRUE(says(open_error("huge.st", one_tensor("F32", "[9223372036854775813]", "[0, 8]"), 8), "above 2^63 - 1"));
  // A zero dimension is an empty tensor, not an error.
  EXPECT_EQ(open_error("empty.st", one_tensor("F32", "[0, 4611686018427387904]", "[0, 0]"), 0), "");
  // Header not JSON; every message names the file.
  EXPECT_TRUE(says(open_error("json.st", "{not json", 0), "not valid JSON"));
  EXPECT_TRUE(says(open_error("named.st", "{not json", 0), "named.st"));
}

// Seeded random damage to a valid file (its header through test::damage_text, the
// header length off by a little, the file cut short): each damaged file either opens, with every tensor's bytes inside the file's
// data section and matching its shape and dtype, or is rejected with a CheckpointError
// naming the file. Anything else (another exception type, a crash, an out-of-bounds read
// under the sanitiser build) fails.
TEST(Safetensors, DamagedFilesOpenConsistentlyOrFailWithANamedError) {
  SafetensorsWriter w;
  w.add_f32("a", {2, 3}, {1, 2, 3, 4, 5, 6});
  w.add("b", StDtype::BF16, {4}, std::vector<std::uint8_t>(8, 0x3F));
  w.add("c", StDtype::F8_E4M3, {3, 1}, {0x38, 0xC0, 0x7E});
  const std::string good_path = tmp("fuzz-good.safetensors");
  w.write(good_path);
  std::string good;
  {
    std::ifstream in(good_path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(good[static_cast<std::size_t>(i)]);
  ASSERT_LT(8 + header_len, good.size());
  const std::string header = good.substr(8, header_len), data = good.substr(8 + header_len);
  const std::string path = tmp("fuzz.safetensors");
  Rng rng(20261206);
  int opened = 0, rejected = 0;
  for (int iter = 0; iter < 600; ++iter) {
    const std::string h = test::damage_text(header, rng);
    std::uint64_t claim = h.size();
    if (rng.below(8) == 0) claim += rng.below(64) - 32;  // the length field off (may wrap: also tested)
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<char>((claim >> (8 * i)) & 0xFF);
    file += h + data;
    if (rng.below(8) == 0) file.resize(rng.below(file.size() + 1));
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(file.data(), static_cast<std::streamsize>(file.size()));
    }
    SCOPED_TRACE("iteration " + std::to_string(iter) + ", header: " + h);
    try {
      const auto f = SafetensorsFile::open(path);
      ++opened;
      // Data section: after the 8-byte length and the claimed header.
      ASSERT_LE(8 + claim, file.size());
      const std::size_t data_bytes = file.size() - 8 - claim;
      std::size_t total = 0;
      for (const auto& [name, t] : f->tensors()) {
        std::uint64_t want = st_dtype_bytes(t.dtype);
        for (const auto d : t.shape) {
          ASSERT_GE(d, 0) << name;
          ASSERT_FALSE(__builtin_mul_overflow(want, static_cast<std::uint64_t>(d), &want)) << name;
        }
        EXPECT_EQ(t.bytes, want) << name;
        total += t.bytes;
        unsigned sum = 0;  // every byte readable (the sanitiser build checks the bounds)
        for (std::size_t i = 0; i < t.bytes; ++i) sum += t.data[i];
        (void)sum;
      }
      EXPECT_LE(total, data_bytes) << "tensors claim more bytes than the data section holds (and none overlap)";
    } catch (const CheckpointError& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  // The damage must have exercised both outcomes, or the test checks nothing.
  EXPECT_GT(opened, 10);
  EXPECT_GT(rejected, 100);
}

// --- checkpoints and weights -----------------------------------------------------------

TEST(Fp8MlaCache, LayoutAndRoundTrip) {
  // 512 latent + 64 rope values: 656 bytes, scales at 512, bf16 rope at 528.
  EXPECT_EQ(fp8_mla_row_bytes(512, 64), 656u);
  std::vector<float> row(576);
  for (int i = 0; i < 576; ++i) row[i] = static_cast<float>((i % 17) - 8) * 0.25f;  // exact in e4m3 and bf16
  row[300] = 3.0f;  // tile 2's largest magnitude: its scale is 2^ceil(log2(3/448)) = 2^-7
  std::vector<std::uint8_t> packed(656);
  pack_fp8_mla_row(row.data(), 512, 64, packed.data());
  float s2;
  std::memcpy(&s2, &packed[512 + 8], 4);
  EXPECT_EQ(s2, 0x1p-7f);
  std::uint16_t rope0;
  std::memcpy(&rope0, &packed[528], 2);
  EXPECT_EQ(bf16_bits_to_float(rope0), row[512]);
  std::vector<float> back(576);
  unpack_fp8_mla_row(packed.data(), 512, 64, back.data());
  EXPECT_EQ(back, row);  // every value was representable
  EXPECT_THROW(fp8_mla_row_bytes(100, 64), std::invalid_argument);
}

TEST(Checkpoint, SyntheticShardedCheckpointLoadsCompletely) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string dir = tmp("tiny-bf16");
  fs::remove_all(dir);
  write_synthetic_checkpoint(c, dir, 1, StDtype::BF16, 256 * 1024);  // small shards: several files
  int shards = 0;
  for (const auto& e : fs::directory_iterator(dir)) shards += e.path().extension() == ".safetensors";
  EXPECT_GT(shards, 1);
  EXPECT_EQ(config_to_json(load_config(dir + "/config.json")), config_to_json(c));
  const auto ck = Checkpoint::open(dir);
  const ModelWeights w = load_weights(c, *ck);
  ASSERT_EQ(w.layers.size(), 3u);
  EXPECT_FALSE(w.layers[0].moe);
  EXPECT_TRUE(w.layers[1].moe);
  EXPECT_EQ(w.layers[2].expert_gate.size(), 8u);
  EXPECT_EQ(w.layers[0].kv_b.rows, 4 * (32 + 32));
  EXPECT_EQ(w.embed.rows, 512);
  // One layer of the checkpoint, without embeddings and head.
  const ModelWeights one = load_weights(c, *ck, {2, 3, false});
  ASSERT_EQ(one.layers.size(), 1u);
  EXPECT_EQ(one.layers[0].q_a.data, w.layers[2].q_a.data);
  EXPECT_TRUE(one.embed.data.empty());
  // The size the writer plans is the size it wrote.
  nlohmann::json index;
  std::ifstream(dir + "/model.safetensors.index.json") >> index;
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), synthetic_checkpoint_bytes(c, StDtype::BF16));
  EXPECT_EQ(index["metadata"]["layers"], nlohmann::json::array({0, 3}));
}

// A user without the real weights runs one layer of the real dimensions from a partial
// synthetic checkpoint: it must hold that layer's tensors with the very values of the
// whole checkpoint, and nothing else.
TEST(Checkpoint, SyntheticLayerRangeHoldsThoseLayersWithTheWholeCheckpointsValues) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string whole = tmp("tiny-fp8-whole"), part = tmp("tiny-fp8-layers-1-3");
  fs::remove_all(whole);
  fs::remove_all(part);
  const LayerRange range{1, 3, false};
  write_synthetic_checkpoint(c, whole, 9, StDtype::F8_E4M3);
  write_synthetic_checkpoint(c, part, 9, StDtype::F8_E4M3, 256 * 1024, range);
  const auto ck_whole = Checkpoint::open(whole), ck_part = Checkpoint::open(part);
  std::vector<std::string> expected;
  for (const TensorSpec& s : expected_tensors(c, range)) {
    expected.push_back(s.name);
    if (s.kind == TensorKind::linear) expected.push_back(s.name + "_scale_inv");
  }
  std::vector<std::string> names = ck_part->names();
  std::sort(expected.begin(), expected.end());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, expected);
  EXPECT_NE(error_of([&] { ck_part->get("model.layers.0.input_layernorm.weight"); }).find("missing tensor"),
            std::string::npos);
  for (const std::string& n : expected) {
    const StTensor& a = ck_part->get(n);
    const StTensor& b = ck_whole->get(n);
    ASSERT_EQ(a.shape, b.shape) << n;
    ASSERT_EQ(a.dtype, b.dtype) << n;
    ASSERT_EQ(std::memcmp(a.data, b.data, static_cast<std::size_t>(a.numel()) * st_dtype_bytes(a.dtype)), 0) << n;
  }
  EXPECT_EQ(load_weights(c, *ck_part, range).layers[1].expert_down[3].data,
            load_weights(c, *ck_whole, range).layers[1].expert_down[3].data);
  // Asked for the whole model, the partial checkpoint names what it lacks.
  EXPECT_NE(error_of([&] { load_weights(c, *ck_part); }).find("missing tensor \"model.embed_tokens.weight\""),
            std::string::npos);
  nlohmann::json index;
  std::ifstream(part + "/model.safetensors.index.json") >> index;
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), synthetic_checkpoint_bytes(c, StDtype::F8_E4M3, range));
  EXPECT_EQ(index["metadata"]["layers"], nlohmann::json::array({1, 3}));
  EXPECT_FALSE(index["metadata"]["with_head"].get<bool>());
  EXPECT_THROW(write_synthetic_checkpoint(c, tmp("tiny-bad-range"), 9, StDtype::BF16, 1 << 20, {2, 2, false}),
               CheckpointError);
}

// What a single-layer run of the real dimensions writes and holds, planned without
// generating anything: one MoE layer is its 257 experts' FP8 codes and a little more,
// a small share of the whole model.
TEST(Checkpoint, OneRealLayerIsASmallShareOfTheWholeCheckpoint) {
  const ModelConfig c = preset_config("deepseek-v3.2-exp");
  ASSERT_TRUE(c.layer_is_moe(3));
  const std::uint64_t layer3 = synthetic_checkpoint_bytes(c, StDtype::F8_E4M3, {3, 4, false});
  const std::uint64_t layer4 = synthetic_checkpoint_bytes(c, StDtype::F8_E4M3, {4, 5, false});
  const std::uint64_t both = synthetic_checkpoint_bytes(c, StDtype::F8_E4M3, {3, 5, false});
  const std::uint64_t whole = synthetic_checkpoint_bytes(c, StDtype::F8_E4M3);
  EXPECT_EQ(layer3 + layer4, both);
  const double experts = static_cast<double>(c.routed_experts + c.shared_experts) * 3.0 * c.hidden * c.moe_intermediate;
  EXPECT_GE(static_cast<double>(layer3), experts);
  EXPECT_LT(static_cast<double>(layer3), 1.05 * experts);
  EXPECT_GT(whole, 50 * layer3);
  // In memory (fp32 on the host) the same layer takes 4 bytes per value.
  const std::int64_t values = tensor_values(expected_tensors(c, {3, 4, false}));
  EXPECT_GE(static_cast<double>(values), experts);
  EXPECT_LT(static_cast<double>(values), 1.05 * experts);
  EXPECT_THROW(synthetic_checkpoint_bytes(c, StDtype::BF16, {60, 62, false}), CheckpointError);
}

TEST(Checkpoint, Fp8WeightsDequantiseThroughTheirBlockScales) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string d8 = tmp("tiny-fp8"), d32 = tmp("tiny-f32");
  fs::remove_all(d8);
  fs::remove_all(d32);
  write_synthetic_checkpoint(c, d8, 5, StDtype::F8_E4M3);
  write_synthetic_checkpoint(c, d32, 5, StDtype::F32);
  const auto ck8 = Checkpoint::open(d8), ck32 = Checkpoint::open(d32);
  EXPECT_EQ(ck8->get("model.layers.0.self_attn.q_b_proj.weight").dtype, StDtype::F8_E4M3);
  EXPECT_EQ(ck8->get("model.layers.0.self_attn.q_b_proj.weight_scale_inv").shape, (std::vector<std::int64_t>{2, 1}));
  const ModelWeights w8 = load_weights(c, *ck8), w32 = load_weights(c, *ck32);
  const auto& a = w8.layers[0].q_b.data;
  const auto& b = w32.layers[0].q_b.data;
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err += (a[i] - b[i]) * (a[i] - b[i]);
    ref += b[i] * b[i];
  }
  EXPECT_GT(std::sqrt(err / ref), 1e-4);  // really quantised
  EXPECT_LT(std::sqrt(err / ref), 0.05);  // e4m3 keeps about 2^-4 relative
}

TEST(Checkpoint, MissingTensorsAndMismatchedShapesAreNamed) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string dir = tmp("tiny-check");
  fs::remove_all(dir);
  write_synthetic_checkpoint(c, dir, 2);
  const auto ck = Checkpoint::open(dir);
  ModelConfig more = c;
  more.layers = 4;  // asks for a layer the checkpoint lacks
  EXPECT_NE(error_of([&] { load_weights(more, *ck); }).find("missing tensor \"model.layers.3."), std::string::npos);
  ModelConfig wider = c;
  wider.hidden = 256;
  const std::string msg = error_of([&] { load_weights(wider, *ck); });
  EXPECT_NE(msg.find("has shape [512, 128]; the config needs [512, 256]"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { load_weights(c, *ck, {2, 9}); }).find("not within"), std::string::npos);
}

// nlohmann::json::parse keeps a repeated key's last value without a word; every file a user
// brings is read so that the repeat is an error naming the key and where it is.
TEST(JsonKeys, AKeyGivenTwiceIsNamedWithItsPlace) {
  const auto dup = [](const std::string& text) { return error_of([&] { parse_json_unique_keys(text); }); };
  EXPECT_EQ(dup(R"({"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]})"), "");  // the same key in other objects
  EXPECT_EQ(dup(R"({"a": 1, "a": 2})"), "key \"a\" given twice in the top level");
  EXPECT_EQ(dup(R"({"x": {"y": 1, "z": {}, "y": 2}})"), "key \"y\" given twice in x");
  EXPECT_EQ(dup(R"({"c": [1, [2, 3], {"k": 0}, {"k": 0, "k": 0}]})"), "key \"k\" given twice in c[3]");
  EXPECT_EQ(dup(R"([{}, {"t": {"u": [{"v": 1, "v": 1}]}}])"), "key \"v\" given twice in [1].t.u[0]");
  EXPECT_EQ(parse_json_unique_keys(R"({"a": [1, {"b": 2}]})")["a"][1]["b"], 2);  // the value as parse gives it
  EXPECT_THROW(parse_json_unique_keys("{\"a\": "), nlohmann::json::parse_error);

  // config.json: the message names the file.
  const std::string config = tmp("twice-config.json");
  std::string text = config_to_json(preset_config("dsa-tiny")).dump();
  text.insert(1, R"("num_hidden_layers": 9, )");
  std::ofstream(config, std::ios::trunc) << text;
  EXPECT_EQ(error_of([&] { load_config(config); }),
            config + ": key \"num_hidden_layers\" given twice in the top level (one value each: which one was meant?)");
  // A safetensors header naming a tensor twice: which entry holds its data?
  EXPECT_NE(open_error("twice.st",
                       R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                       16)
                .find("twice.st: header: key \"t\" given twice in the top level"),
            std::string::npos);
  // A checkpoint index naming a tensor twice (here with the same file: still refused, as
  // one copy edited and the other not is what a repeat usually is).
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string dir = tmp("tiny-index-twice");
  fs::remove_all(dir);
  write_synthetic_checkpoint(c, dir, 2);
  const std::string index = dir + "/model.safetensors.index.json";
  std::string map;
  {
    std::ifstream in(index);
    map.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t at = map.find("\"weight_map\"");
  ASSERT_NE(at, std::string::npos);
  const std::string file = nlohmann::json::parse(map)["weight_map"]["model.norm.weight"];
  map.insert(map.find('{', at) + 1, "\"model.norm.weight\": \"" + file + "\", ");
  std::ofstream(index, std::ios::trunc) << map;
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("key \"model.norm.weight\" given twice in weight_map"),
            std::string::npos);
}

TEST(Checkpoint, IndexPointingAtTheWrongFileIsRejected) {
  const ModelConfig c = preset_config("dsa-tiny");
  const std::string dir = tmp("tiny-index");
  fs::remove_all(dir);
  write_synthetic_checkpoint(c, dir, 3, StDtype::BF16, 256 * 1024);
  nlohmann::json index;
  std::ifstream(dir + "/model.safetensors.index.json") >> index;
  std::string first_file = index["weight_map"].begin().value();
  std::string other;
  for (const auto& [k, v] : index["weight_map"].items())
    if (v != first_file) { other = k; break; }
  ASSERT_FALSE(other.empty());
  index["weight_map"]["extra.weight"] = first_file;
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  EXPECT_NE(error_of([&] { Checkpoint::open(dir); }).find("\"extra.weight\""), std::string::npos);
}

}  // namespace
}  // namespace dsa::model
