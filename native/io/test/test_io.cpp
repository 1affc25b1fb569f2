// Standalone tests for native/io: safetensors round trips, dtype conversions,
// every malformed-file rejection, and the GPT-2 / Qwen2 layout mappers.
// Usage: test_io <fixtures_dir> <scratch_dir>   (exit code 0 when all pass)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "../hf_layout.h"
#include "../json.h"
#include "../safetensors.h"
#include "../../src/param_names.h"

using namespace arclight::io;

namespace {

struct Ctx {
  int failures = 0;
  int checks = 0;
  std::string fixtures, scratch;
};

#define CHECK(ctx, cond)                                                            \
  do {                                                                              \
    ++(ctx).checks;                                                                 \
    if (!(cond)) {                                                                  \
      ++(ctx).failures;                                                             \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond << "\n"; \
    }                                                                               \
  } while (0)

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[size_t(k)] = char((n >> (8 * k)) & 0xFF);
  return s;
}

// A safetensors file from a header string and a data section, with the
// length field computed unless the case overrides it.
std::string craft(const std::string& header, const std::string& data, int64_t len_override = -1) {
  uint64_t n = len_override >= 0 ? uint64_t(len_override) : header.size();
  return le64(n) + header + data;
}

std::string f32_bytes(std::initializer_list<float> xs) {
  std::string s;
  for (float x : xs) s.append(reinterpret_cast<const char*>(&x), 4);
  return s;
}

// Expects read_safetensors to throw SafetensorsError whose message contains `needle`.
void expect_reject(Ctx& ctx, const std::string& label, const std::string& bytes, const std::string& needle) {
  std::string path = ctx.scratch + "/bad.safetensors";
  write_bytes(path, bytes);
  ++ctx.checks;
  try {
    read_safetensors(path);
    ++ctx.failures;
    std::cerr << "malformed case '" << label << "' was accepted\n";
  } catch (const SafetensorsError& e) {
    std::string msg = e.what();
    if (msg.find(needle) == std::string::npos || msg.find(path) == std::string::npos) {
      ++ctx.failures;
      std::cerr << "malformed case '" << label << "': message \"" << msg << "\" lacks \"" << needle << "\"\n";
    }
  } catch (const std::exception& e) {
    ++ctx.failures;
    std::cerr << "malformed case '" << label << "' threw a non-SafetensorsError: " << e.what() << "\n";
  }
}

template <class E>
void expect_throw(Ctx& ctx, const std::string& label, const std::function<void()>& fn, const std::string& needle) {
  ++ctx.checks;
  try {
    fn();
    ++ctx.failures;
    std::cerr << "case '" << label << "' did not throw\n";
  } catch (const E& e) {
    if (std::string(e.what()).find(needle) == std::string::npos) {
      ++ctx.failures;
      std::cerr << "case '" << label << "': message \"" << e.what() << "\" lacks \"" << needle << "\"\n";
    }
  }
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// ----------------------------------------------------------------------------
// conversions

// Independent reference: value = (-1)^s * 2^(e-15) * (1 + m/1024), or the subnormal form.
double f16_reference(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = std::ldexp(double(m), -24);
  else
    v = std::ldexp(1.0 + m / 1024.0, e - 15);
  return s ? -v : v;
}

void test_f16_all_values(Ctx& ctx) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    float got = f16_to_f32(uint16_t(h));
    double want = f16_reference(uint16_t(h));
    if (std::isnan(want)) {
      uint32_t bits;
      std::memcpy(&bits, &got, 4);
      // NaN stays NaN with its payload and sign.
      if (!std::isnan(got) || ((bits >> 13) & 0x3FF) != (h & 0x3FF) || (bits >> 31) != (h >> 15)) ++bad;
    } else if (double(got) != want || std::signbit(got) != std::signbit(want)) {
      ++bad;
    }
  }
  CHECK(ctx, bad == 0);
  CHECK(ctx, f16_to_f32(0x3C00) == 1.0f);
  CHECK(ctx, f16_to_f32(0x7BFF) == 65504.0f);
  CHECK(ctx, f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(ctx, f16_to_f32(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(ctx, f16_to_f32(0x0400) == std::ldexp(1.0f, -14));
  CHECK(ctx, f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(ctx, same_bits(f16_to_f32(0x8000), -0.0f));
  CHECK(ctx, std::isinf(f16_to_f32(0xFC00)) && f16_to_f32(0xFC00) < 0);
}

void test_bf16(Ctx& ctx) {
  CHECK(ctx, bf16_to_f32(0x3F80) == 1.0f);
  CHECK(ctx, bf16_to_f32(0x4049) == 3.140625f);
  CHECK(ctx, bf16_to_f32(0xC2F7) == -123.5f);
  CHECK(ctx, bf16_to_f32(0x0001) == std::ldexp(1.0f, -133));
  CHECK(ctx, std::isinf(bf16_to_f32(0x7F80)));
  CHECK(ctx, std::isnan(bf16_to_f32(0x7FC0)));
  CHECK(ctx, same_bits(bf16_to_f32(0x8000), -0.0f));
}

// ----------------------------------------------------------------------------
// round trips and fixtures

void test_round_trip(Ctx& ctx) {
  TensorF32 a{{2, 3}, {1, -2, 3.5f, 0, -0.0f, 1e-30f}};
  TensorF32 scalar{{}, {42.0f}};
  TensorF32 empty{{0, 4}, {}};
  TensorF32 odd{{3}, {INFINITY, -INFINITY, 7}};
  std::map<std::string, std::string> meta = {{"arclight.family", "gpt2"},
                                             {"weird \"key\"\n", "tab\there \xC3\xA9 \x01"}};
  std::string path = ctx.scratch + "/rt.safetensors";
  // Given out of order on purpose: the file must not depend on caller order.
  write_safetensors(path, {{"z.odd", &odd}, {"a", &a}, {"empty", &empty}, {"scalar", &scalar}}, meta);
  std::map<std::string, std::string> got_meta;
  auto got = read_safetensors(path, &got_meta);
  CHECK(ctx, got.size() == 4);
  CHECK(ctx, got["a"].shape == a.shape && got["a"].data == a.data);
  CHECK(ctx, same_bits(got["a"].data[4], -0.0f));
  CHECK(ctx, got["scalar"].shape.empty() && got["scalar"].data == scalar.data);
  CHECK(ctx, got["empty"].shape == empty.shape && got["empty"].data.empty());
  CHECK(ctx, got["z.odd"].data == odd.data);
  CHECK(ctx, got_meta == meta);

  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | uint8_t(bytes[size_t(k)]);
  CHECK(ctx, n % 8 == 0);
  CHECK(ctx, bytes.size() == 8 + n + (6 + 1 + 0 + 3) * 4);
  std::string path2 = ctx.scratch + "/rt2.safetensors";
  write_safetensors(path2, {{"scalar", &scalar}, {"empty", &empty}, {"a", &a}, {"z.odd", &odd}}, meta);
  CHECK(ctx, read_bytes(path2) == bytes);  // deterministic

  // Overwriting an existing checkpoint replaces it whole.
  write_safetensors(path, {{"only", &scalar}}, {});
  auto again = read_safetensors(path);
  CHECK(ctx, again.size() == 1 && again.count("only") == 1);
}

void test_writer_rejects_bad_input(Ctx& ctx) {
  TensorF32 bad{{2, 2}, {1, 2, 3}};
  TensorF32 ok{{1}, {1}};
  TensorF32 neg{{-1}, {}};
  std::string p = ctx.scratch + "/w.safetensors";
  expect_throw<SafetensorsError>(
      ctx, "shape/data mismatch",
      [&] {
        write_safetensors(p, {{"x", &bad}}, {});
      },
      "4 elements but data has 3");
  expect_throw<SafetensorsError>(
      ctx, "duplicate",
      [&] {
        write_safetensors(p, {{"x", &ok}, {"x", &ok}}, {});
      },
      "duplicate");
  expect_throw<SafetensorsError>(
      ctx, "reserved",
      [&] {
        write_safetensors(p, {{"__metadata__", &ok}}, {});
      },
      "reserved");
  expect_throw<SafetensorsError>(
      ctx, "null",
      [&] {
        write_safetensors(p, {{"x", nullptr}}, {});
      },
      "null");
  expect_throw<SafetensorsError>(
      ctx, "negative",
      [&] {
        write_safetensors(p, {{"x", &neg}}, {});
      },
      "negative");
  expect_throw<SafetensorsError>(
      ctx, "no dir",
      [&] {
        write_safetensors(ctx.scratch + "/no/such/dir/x.st", {{"x", &ok}}, {});
      },
      "cannot create");
}

void test_fixtures(Ctx& ctx) {
  // Arclight's writer reproduces the reference library's bytes exactly.
  TensorF32 a{{2}, {1.0f, -2.5f}}, b{{1, 2}, {0.5f, 3.0f}};
  std::string p = ctx.scratch + "/tiny.safetensors";
  write_safetensors(p, {{"b", &b}, {"a", &a}}, {{"format", "pt"}});
  std::string want = read_bytes(ctx.fixtures + "/tiny_f32.safetensors");
  CHECK(ctx, !want.empty());
  CHECK(ctx, read_bytes(p) == want);

  std::map<std::string, std::string> meta;
  auto t = read_safetensors(ctx.fixtures + "/mixed.safetensors", &meta);
  CHECK(ctx, meta["source"] == "make_fixtures.py" && meta["quote"] == "a\"b");
  CHECK(ctx, t["d"].shape == std::vector<int64_t>{1} && t["d"].data[0] == float(0.1));
  CHECK(ctx, t["w"].data.size() == 2 && t["w"].data[0] == 1.5f && same_bits(t["w"].data[1], -0.0f));
  CHECK(ctx, (t["g"].shape == std::vector<int64_t>{2, 1}) && t["g"].data == (std::vector<float>{3.140625f, -123.5f}));
  CHECK(ctx, (t["h"].shape == std::vector<int64_t>{2, 2}));
  CHECK(ctx, t["h"].data.size() == 4 && t["h"].data[0] == 1.0f && t["h"].data[1] == std::ldexp(1.0f, -24) &&
                 std::isinf(t["h"].data[2]) && t["h"].data[3] == -2.0f);
}

// ----------------------------------------------------------------------------
// malformed files

void test_malformed(Ctx& ctx) {
  const std::string one = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string d8 = f32_bytes({1, 2});
  auto hdr = [](const std::string& body) { return "{" + body + "}"; };

  expect_reject(ctx, "tiny file", std::string("\x01\x00\x00", 3), "too short");
  expect_reject(ctx, "header longer than file", craft(hdr(one), d8, 4096), "larger than the file");
  expect_reject(ctx, "huge header", craft(hdr(one), d8, 200ll * 1000 * 1000), "100 MB");
  expect_reject(ctx, "header length u64 max", le64(~0ull) + hdr(one) + d8, "100 MB");
  expect_reject(ctx, "header not an object", craft("[1,2,3] ", ""), "must start with '{'");
  expect_reject(ctx, "trailing comma", craft(hdr(one + ","), d8), "invalid JSON");
  expect_reject(ctx, "unterminated string", craft(R"({"x":{"dtype":"F32)", ""), "invalid JSON");
  expect_reject(ctx, "bad escape", craft(R"({"x\q":1})", ""), "unknown escape");
  expect_reject(ctx, "lone surrogate", craft(R"({"\ud800":1})", ""), "surrogate");
  expect_reject(ctx, "raw control char", craft("{\"a\x01\":1}", ""), "control character");
  expect_reject(ctx, "leading zero", craft(R"({"x":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", d8),
                "leading zero");
  expect_reject(ctx, "garbage after JSON", craft(hdr(one) + "}", d8), "trailing characters");
  expect_reject(ctx, "deep nesting", craft("{\"x\":" + std::string(100, '[') + std::string(100, ']') + "}", ""),
                "nesting");
  expect_reject(ctx, "duplicate tensor", craft(hdr(one + "," + one), d8 + d8), "duplicate key");
  expect_reject(ctx, "unknown dtype", craft(R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", d8),
                "unknown dtype \"Q4\"");
  expect_reject(ctx, "unsupported dtype", craft(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", d8),
                "unsupported dtype I64");
  expect_reject(ctx, "missing field", craft(R"({"x":{"dtype":"F32","shape":[2]}})", d8),
                "needs dtype, shape and data_offsets");
  expect_reject(ctx, "unknown field", craft(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"z":1}})", d8),
                "unknown field");
  expect_reject(ctx, "shape mismatch", craft(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8),
                "need 12 bytes");
  expect_reject(ctx, "f16 size mismatch", craft(R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", d8),
                "need 4 bytes");
  expect_reject(ctx, "negative dim", craft(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8),
                "negative dimension");
  expect_reject(ctx, "float dim", craft(R"({"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8), "integers");
  expect_reject(ctx, "numel overflow",
                craft(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8),
                "overflows int64");
  expect_reject(ctx, "byte size overflow",
                craft(R"({"x":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", d8),
                "overflows int64");
  expect_reject(ctx, "dim beyond int64",
                craft(R"({"x":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", d8), "integers");
  expect_reject(ctx, "end before begin", craft(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", d8),
                "end < begin");
  expect_reject(ctx, "negative offset", craft(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8),
                "non-negative");
  expect_reject(ctx, "offsets length", craft(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d8),
                "[begin, end]");
  expect_reject(ctx, "offsets out of range", craft(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", d8),
                "run past");
  expect_reject(ctx, "truncated data", craft(hdr(one), d8.substr(0, 5)), "run past");
  expect_reject(
      ctx, "overlap",
      craft(
          R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          d8),
      "overlaps");
  expect_reject(
      ctx, "aliased tensors",
      craft(
          R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
          d8),
      "overlaps");
  expect_reject(
      ctx, "hole",
      craft(
          R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          f32_bytes({1, 2, 3})),
      "gap of 4 bytes");
  expect_reject(ctx, "hole at start", craft(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8),
                "gap of 4 bytes");
  expect_reject(ctx, "trailing bytes", craft(hdr(one), d8 + "xyz"), "3 trailing bytes");
  expect_reject(ctx, "metadata not strings", craft(R"({"__metadata__":{"n":1}})", ""), "must be a string");
  expect_reject(ctx, "metadata not object", craft(R"({"__metadata__":"x"})", ""), "must be an object");
  expect_reject(ctx, "empty name", craft(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8),
                "empty tensor name");
  expect_reject(ctx, "entry not object", craft(R"({"x":5})", ""), "expected an object");

  // Valid edge cases the checks must not reject.
  std::string p = ctx.scratch + "/edge.safetensors";
  write_bytes(p, craft("{}      ", ""));
  CHECK(ctx, read_safetensors(p).empty());
  write_bytes(
      p,
      craft(
          R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
          f32_bytes({5, 6})));
  auto t = read_safetensors(p);
  CHECK(ctx, t["a"].data[0] == 5 && t["b"].data[0] == 6);  // any order in the header
  write_bytes(
      p,
      craft(
          R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
          f32_bytes({9})));
  t = read_safetensors(p);
  CHECK(ctx, t["e"].data.empty() && t["x"].data[0] == 9);
  expect_throw<SafetensorsError>(
      ctx, "missing file", [&] { read_safetensors(ctx.scratch + "/nope.safetensors"); }, "cannot open");
}

// ----------------------------------------------------------------------------
// HF layouts

TensorF32 iota(std::vector<int64_t> shape, float base) {
  TensorF32 t;
  t.shape = std::move(shape);
  t.data.resize(size_t(shape_numel(t.shape)));
  for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = base + float(k);
  return t;
}

float at2(const TensorF32& t, int64_t r, int64_t c) { return t.data[size_t(r * t.shape[1] + c)]; }

void save_dir(const std::string& dir, const std::string& config, const std::map<std::string, TensorF32>& tensors,
              const std::string& file = "model.safetensors") {
  write_bytes(dir + "/config.json", config);
  std::vector<std::pair<std::string, const TensorF32*>> list;
  for (const auto& kv : tensors) list.emplace_back(kv.first, &kv.second);
  write_safetensors(dir + "/" + file, list, {{"format", "pt"}});
}

void test_config(Ctx& ctx) {
  HfConfig g = parse_hf_config(R"({"model_type":"gpt2","n_layer":12,"n_head":12,"n_embd":768,"n_positions":1024,
      "vocab_size":50257,"n_inner":null,"layer_norm_epsilon":1e-05,"activation_function":"gelu_new"})");
  CHECK(ctx, g.family == "gpt2" && g.layers == 12 && g.heads == 12 && g.kv_heads == 12 && g.d_model == 768);
  CHECK(ctx, g.ffn == 3072 && g.ctx == 1024 && g.vocab == 50257 && g.norm_eps == 1e-5 && g.tie_embeddings);

  // Qwen2-0.5B's config.json (abridged).
  HfConfig q = parse_hf_config(R"({"architectures":["Qwen2ForCausalLM"],"hidden_act":"silu","hidden_size":896,
      "intermediate_size":4864,"max_position_embeddings":32768,"model_type":"qwen2","num_attention_heads":14,
      "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
      "tie_word_embeddings":true,"torch_dtype":"bfloat16","vocab_size":151936})");
  CHECK(ctx, q.family == "qwen2" && q.layers == 24 && q.heads == 14 && q.kv_heads == 2 && q.d_model == 896);
  CHECK(ctx, q.ffn == 4864 && q.ctx == 32768 && q.vocab == 151936 && q.norm_eps == 1e-6 && q.rope_theta == 1e6 &&
                 q.tie_embeddings);

  expect_throw<HfLayoutError>(
      ctx, "missing key", [] { parse_hf_config(R"({"model_type":"gpt2","n_layer":2})"); }, "missing \"n_head\"");
  expect_throw<HfLayoutError>(
      ctx, "mistral", [] { parse_hf_config(R"({"model_type":"mistral"})"); }, "unsupported model_type");
  expect_throw<HfLayoutError>(
      ctx, "heads",
      [] {
        parse_hf_config(R"({"model_type":"qwen2","num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2,
        "hidden_size":12,"intermediate_size":8,"vocab_size":5,"max_position_embeddings":8})");
      },
      "not a multiple");
  expect_throw<HfLayoutError>(
      ctx, "gpt2 attention variant",
      [] {
        parse_hf_config(R"({"model_type":"gpt2","n_layer":1,"n_head":1,"n_embd":4,"n_positions":4,"vocab_size":5,
        "scale_attn_by_inverse_layer_idx":true})");
      },
      "scale_attn_by_inverse_layer_idx");
  expect_throw<HfLayoutError>(
      ctx, "rope scaling",
      [] {
        parse_hf_config(
            R"({"model_type":"qwen2","num_hidden_layers":1,"num_attention_heads":2,"hidden_size":8,"intermediate_size":8,
        "vocab_size":5,"max_position_embeddings":8,"rope_scaling":{"type":"yarn","factor":4.0}})");
      },
      "rope_scaling");
  CHECK(
      ctx,
      parse_hf_config(
          R"({"model_type":"qwen2","num_hidden_layers":1,"num_attention_heads":2,"hidden_size":8,"intermediate_size":8,
        "vocab_size":5,"max_position_embeddings":8,"rope_scaling":null})")
              .kv_heads == 2);
  expect_throw<HfLayoutError>(
      ctx, "bad json", [] { parse_hf_config("{\"n_layer\":1,}"); }, "invalid JSON");
  expect_throw<HfLayoutError>(
      ctx, "bad type", [] { parse_hf_config(R"({"model_type":"gpt2","n_layer":"2"})"); }, "positive integer");
}

void test_gpt2_mapping(Ctx& ctx) {
  const int64_t L = 2, C = 4, V = 7, T = 5, F = 16;
  std::map<std::string, TensorF32> hf;
  float base = 0;
  auto add = [&](const std::string& n, std::vector<int64_t> s) {
    hf[n] = iota(std::move(s), base);
    base += 1000;
  };
  add("transformer.wte.weight", {V, C});
  add("transformer.wpe.weight", {T, C});
  for (int i = 0; i < L; ++i) {
    std::string h = "transformer.h." + std::to_string(i) + ".";
    add(h + "ln_1.weight", {C});
    add(h + "ln_1.bias", {C});
    add(h + "attn.c_attn.weight", {C, 3 * C});
    add(h + "attn.c_attn.bias", {3 * C});
    add(h + "attn.c_proj.weight", {C, C});
    add(h + "attn.c_proj.bias", {C});
    add(h + "ln_2.weight", {C});
    add(h + "ln_2.bias", {C});
    add(h + "mlp.c_fc.weight", {C, F});
    add(h + "mlp.c_fc.bias", {F});
    add(h + "mlp.c_proj.weight", {F, C});
    add(h + "mlp.c_proj.bias", {C});
    add(h + "attn.bias", {1, 1, T, T});  // causal-mask buffer, not a parameter
  }
  add("transformer.ln_f.weight", {C});
  add("transformer.ln_f.bias", {C});
  add("lm_head.weight", {V, C});
  std::string dir = ctx.scratch + "/gpt2";
  std::string cfg =
      R"({"model_type":"gpt2","n_layer":2,"n_head":2,"n_embd":4,"n_positions":5,"vocab_size":7,"n_inner":16})";
  std::string mk = "mkdir -p " + dir;
  CHECK(ctx, std::system(mk.c_str()) == 0);
  save_dir(dir, cfg, hf);
  HfConfig c;
  auto w = load_hf_checkpoint(dir, &c);
  CHECK(ctx, c.family == "gpt2" && c.ffn == F);
  CHECK(ctx, w.size() == size_t(2 + 12 * L + 2));
  CHECK(ctx, w[arclight::names::kWte].data == hf["transformer.wte.weight"].data);
  CHECK(ctx, w[arclight::names::kLnfBias].data == hf["transformer.ln_f.bias"].data);
  for (int i = 0; i < L; ++i) {
    std::string h = "transformer.h." + std::to_string(i) + ".";
    const TensorF32& qkv = w[arclight::names::layer(i, arclight::names::kQkvWeight)];
    const TensorF32& src = hf[h + "attn.c_attn.weight"];
    CHECK(ctx, (qkv.shape == std::vector<int64_t>{3 * C, C}));
    bool ok = true;
    for (int64_t o = 0; o < 3 * C; ++o)
      for (int64_t in = 0; in < C; ++in) ok = ok && at2(qkv, o, in) == at2(src, in, o);
    CHECK(ctx, ok);
    const TensorF32& fc = w[arclight::names::layer(i, arclight::names::kFcWeight)];
    CHECK(ctx, (fc.shape == std::vector<int64_t>{F, C}) && at2(fc, 9, 2) == at2(hf[h + "mlp.c_fc.weight"], 2, 9));
    const TensorF32& mp = w[arclight::names::layer(i, arclight::names::kMlpProjWeight)];
    CHECK(ctx, (mp.shape == std::vector<int64_t>{C, F}) && at2(mp, 3, 11) == at2(hf[h + "mlp.c_proj.weight"], 11, 3));
    CHECK(ctx, w[arclight::names::layer(i, arclight::names::kQkvBias)].data == hf[h + "attn.c_attn.bias"].data);
  }

  // Bare GPT2Model names (no "transformer." prefix, as in openai-community/gpt2).
  std::map<std::string, TensorF32> bare;
  for (auto& kv : hf)
    if (kv.first.rfind("transformer.", 0) == 0) bare[kv.first.substr(12)] = kv.second;
  auto w2 = map_hf_weights(bare, c);
  CHECK(ctx, w2.size() == w.size() && w2[arclight::names::kWpe].data == w[arclight::names::kWpe].data);

  auto wrong = hf;
  wrong["transformer.h.1.mlp.c_fc.weight"] = iota({F, C}, 0);
  expect_throw<HfLayoutError>(
      ctx, "gpt2 shape", [&] { map_hf_weights(wrong, c); }, "config expects [4, 16]");
  auto missing = hf;
  missing.erase("transformer.h.0.ln_2.bias");
  expect_throw<HfLayoutError>(
      ctx, "gpt2 missing", [&] { map_hf_weights(missing, c); }, "missing tensor \"transformer.h.0.ln_2.bias\"");
  auto extra = hf;
  extra["transformer.h.2.ln_1.weight"] = iota({C}, 0);
  expect_throw<HfLayoutError>(
      ctx, "gpt2 extra layer", [&] { map_hf_weights(extra, c); }, "not used by the config");
}

void test_qwen2_mapping(Ctx& ctx) {
  const int64_t L = 2, C = 8, H = 4, KV = 2, D = C / H, F = 12, V = 11;
  std::map<std::string, TensorF32> hf;
  float base = 0;
  auto add = [&](const std::string& n, std::vector<int64_t> s) {
    hf[n] = iota(std::move(s), base);
    base += 1000;
  };
  add("model.embed_tokens.weight", {V, C});
  for (int i = 0; i < L; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {C});
    add(p + "self_attn.q_proj.weight", {H * D, C});
    add(p + "self_attn.q_proj.bias", {H * D});
    add(p + "self_attn.k_proj.weight", {KV * D, C});
    add(p + "self_attn.k_proj.bias", {KV * D});
    add(p + "self_attn.v_proj.weight", {KV * D, C});
    add(p + "self_attn.v_proj.bias", {KV * D});
    add(p + "self_attn.o_proj.weight", {C, H * D});
    add(p + "post_attention_layernorm.weight", {C});
    add(p + "mlp.gate_proj.weight", {F, C});
    add(p + "mlp.up_proj.weight", {F, C});
    add(p + "mlp.down_proj.weight", {C, F});
  }
  add("model.norm.weight", {C});
  std::string cfg_untied =
      R"({"model_type":"qwen2","num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
      "hidden_size":8,"intermediate_size":12,"vocab_size":11,"max_position_embeddings":16,"rope_theta":10000.0,
      "rms_norm_eps":1e-6,"tie_word_embeddings":false})";
  HfConfig tied =
      parse_hf_config(R"({"model_type":"qwen2","num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
      "hidden_size":8,"intermediate_size":12,"vocab_size":11,"max_position_embeddings":16,"tie_word_embeddings":true})");
  auto w = map_hf_weights(hf, tied);
  CHECK(ctx, w.count(arclight::names::kLmHead) == 0);
  CHECK(ctx, w.size() == size_t(1 + 7 * L + 1));
  for (int i = 0; i < L; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    const TensorF32& qkv = w[arclight::names::layer(i, arclight::names::kQkvWeight)];
    CHECK(ctx, (qkv.shape == std::vector<int64_t>{(H + 2 * KV) * D, C}));
    // Rows: Q first, then K, then V.
    CHECK(ctx, at2(qkv, 0, 0) == at2(hf[p + "self_attn.q_proj.weight"], 0, 0));
    CHECK(ctx, at2(qkv, H * D, 3) == at2(hf[p + "self_attn.k_proj.weight"], 0, 3));
    CHECK(ctx, at2(qkv, H * D + KV * D + 1, 5) == at2(hf[p + "self_attn.v_proj.weight"], 1, 5));
    const TensorF32& qkvb = w[arclight::names::layer(i, arclight::names::kQkvBias)];
    CHECK(ctx, qkvb.data.size() == size_t((H + 2 * KV) * D) &&
                   qkvb.data[size_t(H * D)] == hf[p + "self_attn.k_proj.bias"].data[0]);
    const TensorF32& gu = w[arclight::names::layer(i, arclight::names::kGateUpWeight)];
    CHECK(ctx, (gu.shape == std::vector<int64_t>{2 * F, C}));
    CHECK(ctx, at2(gu, F - 1, 7) == at2(hf[p + "mlp.gate_proj.weight"], F - 1, 7) &&
                   at2(gu, F, 0) == at2(hf[p + "mlp.up_proj.weight"], 0, 0));
    CHECK(ctx,
          w[arclight::names::layer(i, arclight::names::kMlpProjWeight)].data == hf[p + "mlp.down_proj.weight"].data);
    CHECK(ctx, w[arclight::names::layer(i, arclight::names::kAttnProjWeight)].data ==
                   hf[p + "self_attn.o_proj.weight"].data);
  }

  // Untied, sharded across two files with an index, as larger Qwen2 models ship.
  std::string dir = ctx.scratch + "/qwen2";
  std::string mk = "mkdir -p " + dir;
  CHECK(ctx, std::system(mk.c_str()) == 0);
  hf["lm_head.weight"] = iota({V, C}, 5e5f);
  std::map<std::string, TensorF32> s1, s2;
  std::string index = R"({"metadata":{"total_size":0},"weight_map":{)";
  bool first = true;
  for (auto& kv : hf) {
    bool one = kv.first.find("layers.1.") == std::string::npos;
    (one ? s1 : s2)[kv.first] = kv.second;
    index += std::string(first ? "" : ",") + "\"" + kv.first + "\":\"" +
             (one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") + "\"";
    first = false;
  }
  index += "}}";
  save_dir(dir, cfg_untied, s1, "model-00001-of-00002.safetensors");
  save_dir(dir, cfg_untied, s2, "model-00002-of-00002.safetensors");
  write_bytes(dir + "/model.safetensors.index.json", index);
  HfConfig c;
  auto w2 = load_hf_checkpoint(dir, &c);
  CHECK(ctx, !c.tie_embeddings && w2.size() == w.size() + 1);
  CHECK(ctx, w2[arclight::names::kLmHead].data == hf["lm_head.weight"].data);
  CHECK(ctx, w2[arclight::names::layer(1, arclight::names::kGateUpWeight)].data ==
                 w[arclight::names::layer(1, arclight::names::kGateUpWeight)].data);

  auto no_head = hf;
  no_head.erase("lm_head.weight");
  expect_throw<HfLayoutError>(
      ctx, "untied without head", [&] { map_hf_weights(no_head, c); }, "missing tensor \"lm_head.weight\"");
  HfConfig gqa_wrong = c;
  gqa_wrong.kv_heads = 4;
  expect_throw<HfLayoutError>(
      ctx, "kv heads mismatch", [&] { map_hf_weights(hf, gqa_wrong); }, "self_attn.k_proj.weight");
}

// Mutated copies of a valid file must either load or throw SafetensorsError:
// never crash, hang, or over-allocate. Seeded, so failures reproduce.
void test_fuzz(Ctx& ctx) {
  std::string good = read_bytes(ctx.fixtures + "/mixed.safetensors");
  CHECK(ctx, good.size() > 16);
  std::string path = ctx.scratch + "/fuzz.safetensors";
  uint64_t s = 0x9E3779B97F4A7C15ull;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  int loaded = 0, rejected = 0, other = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = good;
    int edits = 1 + int(next() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = size_t(next() % b.size());
      switch (next() % 4) {
        case 0:
          b[at] = char(next());
          break;  // random byte
        case 1:
          b[at] = "{}[],:\"0123456789-e."[next() % 20];
          break;  // JSON-ish byte
        case 2:
          b.resize(at);
          break;  // truncate
        default:
          b.insert(at, 1, char(next()));
          break;  // insert
      }
      if (b.empty()) b = "x";
    }
    write_bytes(path, b);
    try {
      read_safetensors(path);
      ++loaded;
    } catch (const SafetensorsError&) { ++rejected; } catch (...) {
      ++other;
    }
  }
  CHECK(ctx, other == 0);
  CHECK(ctx, rejected > 2000);
  std::cout << "     fuzz: " << loaded << " loaded, " << rejected << " rejected\n";
}

void test_json(Ctx& ctx) {
  auto v = json::parse(R"( {"a":[1,-2,3.5e2,true,null],"s":"\u00e9\ud83d\ude00\n"} )");
  CHECK(ctx, v.kind == json::Kind::Object && v.find("a")->items.size() == 5);
  CHECK(ctx, v.find("a")->items[1].i == -2 && v.find("a")->items[2].f == 350.0);
  CHECK(ctx, v.find("s")->s == "\xC3\xA9\xF0\x9F\x98\x80\n");
  std::string q;
  json::append_quoted(q, std::string("a\"\\\x01\xC3\xA9", 6));
  CHECK(ctx, q == "\"a\\\"\\\\\\u0001\xC3\xA9\"");
  CHECK(ctx, json::parse(q).s == std::string("a\"\\\x01\xC3\xA9", 6));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: test_io <fixtures_dir> <scratch_dir>\n";
    return 2;
  }
  Ctx ctx;
  ctx.fixtures = argv[1];
  ctx.scratch = argv[2];
  const std::pair<const char*, void (*)(Ctx&)> tests[] = {
      {"json", test_json},
      {"f16 all 65536 values", test_f16_all_values},
      {"bf16", test_bf16},
      {"round trip", test_round_trip},
      {"writer input checks", test_writer_rejects_bad_input},
      {"reference fixtures", test_fixtures},
      {"malformed files", test_malformed},
      {"hf config", test_config},
      {"gpt2 layout", test_gpt2_mapping},
      {"qwen2 layout", test_qwen2_mapping},
      {"fuzzed files", test_fuzz},
  };
  for (const auto& [name, fn] : tests) {
    int before = ctx.failures;
    try {
      fn(ctx);
    } catch (const std::exception& e) {
      ++ctx.failures;
      std::cerr << "test '" << name << "' threw: " << e.what() << "\n";
    }
    std::cout << (ctx.failures == before ? "ok   " : "FAIL ") << name << "\n";
  }
  std::cout << ctx.checks << " checks, " << ctx.failures << " failures\n";
  return ctx.failures == 0 ? 0 : 1;
}
