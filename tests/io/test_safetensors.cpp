// test_safetensors.cpp — the safetensors reader/writer and the checkpoint folder.
// Oracles: the bytes written are checked with a tiny reader written here (u64 + nlohmann), the
// real Gemma file against its config.json, and every corruption is hand-built bytes with the
// expected xla::Status and message; truncations and byte flips must be errors, never crashes.
#include "xla/safetensors.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <source_location>
#include <sstream>
#include <type_traits>

#include "../tensor/test_util.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"  // the lead's CMake defines it as the absolute path of ../shared
#endif

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using xla::DType;
using xla::Shape;
using xla::Status;
using xla::Tensor;
using xla::io::Checkpoint;
using xla::io::SafetensorsFile;
using xla::io::save_safetensors;
using xt::expect_bitwise_equal;

const std::string kGemmaDir = XLA_SHARED_DIR "/oracle/gemma/gemma1";

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}
// A whole file: u64 header length, the header text, the data section.
std::string st_bytes(const std::string& header, const std::string& data = "") {
  return u64le(header.size()) + header + data;
}
std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
template <class E>
std::string bytes_of(const std::vector<E>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(E));
}
std::string bytes_of(const Tensor& t) {
  std::string s(t.nbytes(), '\0');
  if (!s.empty()) t.copy_to(s.data());
  return s;
}

// The test's own reader: header JSON and data section of a file, no libxla involved.
struct RawFile {
  json header;
  std::string data;
};
RawFile raw_read(const std::string& path) {
  std::string b = read_bytes(path);
  EXPECT_GE(b.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(b[size_t(i)]);
  return {json::parse(b.substr(8, n)), b.substr(8 + n)};
}

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / (std::string("xla_st_") + t->test_suite_name() + "." + t->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  std::string write(const std::string& file, const std::string& bytes) const {
    std::ofstream out(path(file), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    EXPECT_TRUE(out.good()) << "cannot write " << path(file);
    return path(file);
  }

  // Opening `p` must throw xla::Error with `status`, naming `needle` and the file.
  static void expect_open_error(const std::string& p, Status status, const std::string& needle,
                                std::source_location loc = std::source_location::current()) {
    testing::ScopedTrace trace(loc.file_name(), int(loc.line()), "expect_open_error " + needle);
    try {
      SafetensorsFile::open(p);
      ADD_FAILURE() << "open succeeded";
    } catch (const xla::Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(int(e.status()), int(status)) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << "message should name '" << needle << "': " << msg;
      EXPECT_NE(msg.find(p), std::string::npos) << "message should name the file: " << msg;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an xla::Error: " << e.what();
    }
  }
  // A corrupt header (data section `data`) written to a file named after the case.
  void expect_header_error(const std::string& header, const std::string& needle, const std::string& data = "",
                           std::source_location loc = std::source_location::current()) {
    expect_open_error(write("case" + std::to_string(++cases_) + ".safetensors", st_bytes(header, data)),
                      Status::Format, needle, loc);
  }

  fs::path dir_;
  int cases_ = 0;
};

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

TEST_F(Safetensors, RoundTripEveryDtype) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"f32", xt::T({1.5f, -0.f, inf, -inf, nan, 1e-45f}, Shape{2, 3})},  // (2, 3): NaN, -0, subnormal
      {"bf16", xt::BF16({1.f, -2.5f, 3.140625f, 65504.f}, Shape{4})},
      {"f16", xt::F16({0.5f, -1.f, 6.1e-5f}, Shape{3, 1})},
      {"i32", xt::I32({std::numeric_limits<int32_t>::min(), -1, 0, 7, std::numeric_limits<int32_t>::max()}, Shape{5})},
      {"i64", xt::I64({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}, Shape{1, 2})},
      {"u8", xt::U8({0, 1, 128, 255}, Shape{2, 2})},
  };
  const std::string p = path("all.safetensors");
  save_safetensors(p, ts);

  SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(f.path(), p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"f32", "bf16", "f16", "i32", "i64", "u8"}));  // saved order
  EXPECT_TRUE(f.metadata().empty());
  uint64_t offset = 0;
  for (const auto& [name, t] : ts) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(f.contains(name));
    const auto& ti = f.info(name);
    EXPECT_EQ(ti.dtype, t.dtype());
    EXPECT_EQ(ti.shape, t.shape());
    EXPECT_EQ(ti.begin, offset);  // packed back to back, in order
    EXPECT_EQ(ti.end, offset + t.nbytes());
    offset = ti.end;
    expect_bitwise_equal(f.tensor(name), t);
  }

  // The same bytes seen by the test's own reader: header fields and the data section.
  RawFile raw = raw_read(p);
  EXPECT_EQ((read_bytes(p).size() - raw.data.size()) % 8, 0u) << "data section is 8-byte aligned";
  EXPECT_EQ(raw.header["bf16"]["dtype"], "BF16");
  EXPECT_EQ(raw.header["i64"]["shape"], json::array({1, 2}));
  std::string all;
  for (const auto& [name, t] : ts) all += bytes_of(t);
  EXPECT_TRUE(raw.data == all);
  EXPECT_FALSE(raw.header.contains("__metadata__"));
}

TEST_F(Safetensors, ZeroDimAndZeroSizeTensors) {
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"empty_before", Tensor::zeros(Shape{0}, DType::I64)},    // [0]: no bytes at offset 0
      {"scalar", Tensor::scalar(-3.25f)},                        // []: one element
      {"empty_mid", Tensor::zeros(Shape{2, 0, 3}, DType::BF16)}, // [2, 0, 3]
      {"after", xt::I32({42}, Shape{1})},
  };
  save_safetensors(path("z.safetensors"), ts);
  SafetensorsFile f = SafetensorsFile::open(path("z.safetensors"));
  ASSERT_EQ(f.names().size(), 4u);
  EXPECT_EQ(f.info("scalar").shape.size(), 0);
  EXPECT_EQ(f.info("scalar").end - f.info("scalar").begin, 4u);
  EXPECT_EQ(f.info("empty_mid").begin, f.info("empty_mid").end);
  xt::expect_tensor(f.tensor("scalar"), Shape{}, {-3.25f});
  xt::expect_shape(f.tensor("empty_before"), Shape{0});
  xt::expect_shape(f.tensor("empty_mid"), Shape{2, 0, 3});
  EXPECT_EQ(f.tensor("empty_mid").dtype(), DType::BF16);
  EXPECT_EQ(xt::raw<int32_t>(f.tensor("after")), std::vector<int32_t>{42});
}

TEST_F(Safetensors, MetadataRoundTrip) {
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"quoted\""}, {"empty", ""}};
  save_safetensors(path("m.safetensors"), {{"w", xt::T({1, 2})}}, meta);
  SafetensorsFile f = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(raw_read(path("m.safetensors")).header["__metadata__"]["note"], "caf\xc3\xa9 \"quoted\"");
}

TEST_F(Safetensors, ReadWithConversion) {
  // bf16 bits 0x3fc0 = 1.5, 0xc020 = -2.5, 0x7f80 = +inf (bf16 is the top half of an f32).
  std::vector<uint16_t> bits = {0x3fc0, 0xc020, 0x7f80};
  save_safetensors(path("c.safetensors"), {{"b", xt::from_vec(bits, Shape{3}, DType::BF16)},
                                           {"i", xt::I32({-7, 0, 9}, Shape{3})},
                                           {"f", xt::T({1.f, 1.00390625f}, Shape{2})}});
  SafetensorsFile f = SafetensorsFile::open(path("c.safetensors"));
  xt::expect_tensor(f.tensor("b", DType::F32), Shape{3}, {1.5f, -2.5f, std::numeric_limits<float>::infinity()});
  xt::expect_tensor(f.tensor("i", DType::F32), Shape{3}, {-7.f, 0.f, 9.f});
  // 1.00390625 = 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even -> 1.0 (0x3f80).
  EXPECT_EQ(xt::raw<uint16_t>(f.tensor("f", DType::BF16)), (std::vector<uint16_t>{0x3f80, 0x3f80}));
  EXPECT_EQ(f.tensor("b", DType::BF16).dtype(), DType::BF16);
}

TEST_F(Safetensors, SavesStridedViewsRowMajor) {
  Tensor x = xt::iota(Shape{2, 3});  // [[0 1 2] [3 4 5]]
  save_safetensors(path("t.safetensors"), {{"xt", x.transpose(0, 1)}, {"col", x.slice(1, 1, 2)}});
  SafetensorsFile f = SafetensorsFile::open(path("t.safetensors"));
  xt::expect_tensor(f.tensor("xt"), Shape{3, 2}, {0, 3, 1, 4, 2, 5});
  xt::expect_tensor(f.tensor("col"), Shape{2, 1}, {1, 4});
}

TEST_F(Safetensors, SaveRejectsBadInput) {
  const std::string p = path("bad.safetensors");
  EXPECT_XLA_ERROR(save_safetensors(p, {{"a", xt::T({1})}, {"a", xt::T({2})}}), Status::InvalidArg, "appears twice");
  EXPECT_XLA_ERROR(save_safetensors(p, {{"__metadata__", xt::T({1})}}), Status::InvalidArg, "__metadata__");
  EXPECT_XLA_ERROR(save_safetensors(p, {{"u", Tensor()}}), Status::InvalidArg, "undefined");
  EXPECT_XLA_ERROR(save_safetensors(path("no/such/dir/x.safetensors"), {}), Status::IO, "no/such/dir");
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST_F(Safetensors, AtomicSaveReplacesAndLeavesNoTmp) {
  const std::string p = path("a.safetensors");
  save_safetensors(p, {{"v", xt::T({1, 2, 3})}});
  SafetensorsFile before = SafetensorsFile::open(p);  // keeps the old file mapped

  save_safetensors(p, {{"v", xt::T({9, 8})}, {"w", xt::I64({5}, Shape{1})}});
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  SafetensorsFile after = SafetensorsFile::open(p);
  xt::expect_tensor(after.tensor("v"), Shape{2}, {9, 8});
  EXPECT_TRUE(after.contains("w"));
  // rename() swapped the directory entry: the open map still sees the old bytes.
  xt::expect_tensor(before.tensor("v"), Shape{3}, {1, 2, 3});

  // A failed save (the .tmp path cannot be created) leaves the current file untouched.
  fs::create_directory(p + ".tmp");
  EXPECT_XLA_ERROR(save_safetensors(p, {{"v", xt::T({0})}}), Status::IO, ".tmp");
  fs::remove(p + ".tmp");
  xt::expect_tensor(SafetensorsFile::open(p).tensor("v"), Shape{2}, {9, 8});

  // A stale .tmp from an earlier crash is simply overwritten.
  write("a.safetensors.tmp", "garbage");
  save_safetensors(p, {{"v", xt::T({4})}});
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  xt::expect_tensor(SafetensorsFile::open(p).tensor("v"), Shape{1}, {4});
}

TEST_F(Safetensors, MoveAndLookup) {
  static_assert(!std::is_copy_constructible_v<SafetensorsFile> && std::is_nothrow_move_constructible_v<SafetensorsFile>);
  static_assert(!std::is_copy_constructible_v<Checkpoint> && std::is_move_constructible_v<Checkpoint>);
  save_safetensors(path("m.safetensors"), {{"a", xt::T({1, 2})}});
  SafetensorsFile f = SafetensorsFile::open(path("m.safetensors"));
  SafetensorsFile g = std::move(f);
  xt::expect_tensor(g.tensor("a"), Shape{2}, {1, 2});
  save_safetensors(path("n.safetensors"), {{"b", xt::T({3})}});
  g = SafetensorsFile::open(path("n.safetensors"));  // unmaps the old one
  EXPECT_FALSE(g.contains("a"));
  xt::expect_tensor(g.tensor("b"), Shape{1}, {3});
  EXPECT_XLA_ERROR(g.info("nope"), Status::InvalidArg, "no tensor 'nope' in " + path("n.safetensors"));
  EXPECT_XLA_ERROR(g.tensor("nope", DType::F32), Status::InvalidArg, "'nope'");
}

// ---------------------------------------------------------------------------------------
// The real Gemma test checkpoint
// ---------------------------------------------------------------------------------------

TEST_F(Safetensors, ReadsGemmaOracleFile) {
  const std::string p = kGemmaDir + "/model.safetensors";
  json cfg = json::parse(read_bytes(kGemmaDir + "/config.json"));
  const int64_t hidden = cfg["hidden_size"], vocab = cfg["vocab_size"], inter = cfg["intermediate_size"];
  const int64_t layers = cfg["num_hidden_layers"];

  SafetensorsFile f = SafetensorsFile::open(p);
  // Gemma: embed + final norm, and per layer 2 norms + 3 MLP + 4 attention projections.
  EXPECT_EQ(int64_t(f.names().size()), 2 + 9 * layers);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.names().front(), "model.embed_tokens.weight");  // lowest offset
  EXPECT_EQ(f.info("model.norm.weight").shape, (Shape{hidden}));
  EXPECT_EQ(f.info("model.embed_tokens.weight").shape, (Shape{vocab, hidden}));
  EXPECT_EQ(f.info("model.layers.0.mlp.gate_proj.weight").shape, (Shape{inter, hidden}));
  EXPECT_EQ(f.info("model.norm.weight").dtype, DType::F32);

  // Values against the test's own reader, for every tensor.
  RawFile raw = raw_read(p);
  for (const std::string& name : f.names()) {
    SCOPED_TRACE(name);
    const auto& ti = f.info(name);
    EXPECT_EQ(ti.begin, raw.header[name]["data_offsets"][0].get<uint64_t>());
    EXPECT_TRUE(bytes_of(f.tensor(name)) == raw.data.substr(ti.begin, ti.end - ti.begin));
  }
  // Narrowing to bf16 on read matches dtype.hpp's rounding of the same values.
  std::vector<float> norm = f.tensor("model.norm.weight").to_vector();
  std::vector<uint16_t> want;
  for (float v : norm) want.push_back(xla::f32_to_bf16(v));
  EXPECT_EQ(xt::raw<uint16_t>(f.tensor("model.norm.weight", DType::BF16)), want);

  Checkpoint c = Checkpoint::open(kGemmaDir);  // a folder with a single model.safetensors
  EXPECT_EQ(c.names().size(), f.names().size());
  expect_bitwise_equal(c.tensor("model.norm.weight"), f.tensor("model.norm.weight"));
}

TEST_F(Safetensors, TruncatedGemmaFilesAreErrors) {
  const std::string whole = read_bytes(kGemmaDir + "/model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(whole[size_t(i)]);
  ASSERT_LT(8 + n, whole.size());
  const size_t h = size_t(8 + n);
  struct Cut { size_t len; const char* needle; };
  for (Cut c : {Cut{0, "shorter than the 8-byte"}, Cut{1, "shorter"}, Cut{7, "shorter"},
                Cut{8, "runs past the end of the file"}, Cut{9, "past the end of the file"},
                Cut{100, "past the end of the file"}, Cut{h - 1, "past the end of the file"},
                Cut{h, "past the end of the data section"}, Cut{h + 1, "past the end of the data section"},
                Cut{h + 1000, "past the end of the data section"}, Cut{whole.size() / 2, "data section"},
                Cut{whole.size() - 1, "data section"}}) {
    SCOPED_TRACE("length " + std::to_string(c.len));
    expect_open_error(write("cut" + std::to_string(c.len), whole.substr(0, c.len)), Status::Format, c.needle);
  }
}

// ---------------------------------------------------------------------------------------
// Corrupt files: each problem as bytes, each with its status and message
// ---------------------------------------------------------------------------------------

TEST_F(Safetensors, UnreadableFilesAreIOErrors) {
  expect_open_error(path("does_not_exist.safetensors"), Status::IO, "cannot open");
  fs::create_directory(path("folder.safetensors"));
  expect_open_error(path("folder.safetensors"), Status::IO, "is a directory");
}

// A FIFO under the name: refused at once (the child's alarm turns a blocking open into a
// failure, not a hung test), both as a file and as a checkpoint folder's model.safetensors.
TEST_F(Safetensors, FifoIsRefusedWithoutBlocking) {
  const std::string dir = path("fifo_model");
  fs::create_directories(dir);
  const std::string fifo = dir + "/model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EXIT(
      {
        ::alarm(10);
        int refused = 0;
        for (int i = 0; i < 2; ++i) {
          try {
            if (i == 0) (void)SafetensorsFile::open(fifo);
            else (void)Checkpoint::open(dir);
          } catch (const xla::Error& e) {
            if (e.status() == Status::IO && std::string(e.what()).find("is not a regular file") != std::string::npos)
              ++refused;
          }
        }
        std::fprintf(stderr, "refused %d\n", refused);
        std::_Exit(refused == 2 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "refused 2");
}

TEST_F(Safetensors, BadLengthPrefix) {
  expect_open_error(write("empty", ""), Status::Format, "0 bytes, shorter than the 8-byte");
  expect_open_error(write("five", std::string("\x02\0\0\0\0", 5)), Status::Format, "shorter");
  expect_open_error(write("absurd", u64le(uint64_t(1) << 40) + "{}"), Status::Format, "absurd");
  expect_open_error(write("max", u64le(~uint64_t(0)) + "{}"), Status::Format, "absurd");
  expect_open_error(write("long", u64le(200) + std::string(50, ' ')), Status::Format, "header length 200 runs past");
}

TEST_F(Safetensors, HeaderNotAJsonObject) {
  expect_header_error("{\"a\": ", "not valid JSON");
  expect_header_error("", "not valid JSON");
  expect_header_error("{} trailing", "not valid JSON");
  expect_header_error("{\"\xff\": 1}", "not valid JSON");  // not UTF-8
  expect_header_error("[1, 2]", "not a JSON object");
  expect_header_error("\"text\"", "not a JSON object");
}

TEST_F(Safetensors, EntryFieldsMissingOrMistyped) {
  const std::string data(8, '\0');
  expect_header_error(R"({"w": 3})", "tensor 'w' is not a JSON object", data);
  expect_header_error(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", "'w' has no \"dtype\"", data);
  expect_header_error(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", "has no \"shape\"", data);
  expect_header_error(R"({"w": {"dtype": "F32", "shape": [2]}})", "has no \"data_offsets\"", data);
  expect_header_error(R"({"w": {"dtype": 1, "shape": [2], "data_offsets": [0, 8]}})", "\"dtype\" is not a string", data);
  expect_header_error(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", "\"shape\" is not an array", data);
  expect_header_error(R"({"w": {"dtype": "F32", "shape": {"a": 2}, "data_offsets": [0, 8]}})", "not an array", data);
  for (const char* offs : {"[0]", "[0, 8, 8]", "[-1, 8]", "[0, 8.0]", "\"0-8\"", "[0, \"8\"]", "{}"})
    expect_header_error(std::string(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": )") + offs + "}}",
                        "\"data_offsets\" is not [begin, end]", data);
}

TEST_F(Safetensors, UnsupportedDtypesNameTensorAndDtype) {
  for (const char* dt : {"F64", "BOOL", "I16", "U16", "F8_E4M3", "f32", ""})
    expect_header_error(std::string(R"({"w": {"dtype": ")") + dt + R"(", "shape": [1], "data_offsets": [0, 1]}})",
                        std::string("tensor 'w' has dtype ") + dt + ",", std::string(8, '\0'));
}

// Q8 weights: written as NAME (I8 values) and NAME_scale (F16 block scales), read back as the
// same bytes; an I8 tensor without fitting scales is refused at open, naming both.
TEST_F(Safetensors, Q8TensorsRoundTripAsInt8ValuesAndF16Scales) {
  std::vector<float> v(3 * 64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(float(i)) * float(i % 7);
  Tensor q = xla::quantize_q8(Tensor::from_vector(v, {3, 64}));
  save_safetensors(path("q.safetensors"), {{"w.weight", q}, {"b", Tensor::from_vector({1, 2}, {2})}});
  RawFile raw = raw_read(path("q.safetensors"));
  EXPECT_EQ(raw.header["w.weight"]["dtype"], "I8");
  EXPECT_EQ(raw.header["w.weight"]["shape"], json::array({3, 64}));
  EXPECT_EQ(raw.header["w.weight_scale"]["dtype"], "F16");
  EXPECT_EQ(raw.header["w.weight_scale"]["shape"], json::array({3, 2}));
  SafetensorsFile f = SafetensorsFile::open(path("q.safetensors"));
  Tensor back = f.tensor("w.weight");
  ASSERT_EQ(back.dtype(), DType::Q8);
  EXPECT_EQ(std::memcmp(back.raw_data(), q.raw_data(), q.nbytes()), 0);
  EXPECT_EQ(std::memcmp(back.q8_scales(), q.q8_scales(), 6 * sizeof(uint16_t)), 0);
  EXPECT_EQ(f.tensor("w.weight", DType::F32).to_vector(), q.to_vector());
  Tensor row = f.rows("w.weight", 2, 3, DType::F32);
  EXPECT_EQ(row.to_vector(), q.slice(0, 2, 3).to_vector());
  // values without scales, or with scales of the wrong shape
  const std::string data(64 + 8, '\0');
  expect_header_error(R"({"w": {"dtype": "I8", "shape": [1, 64], "data_offsets": [0, 64]}})", "needs its block scales 'w_scale'", data);
  expect_header_error(R"({"w": {"dtype": "I8", "shape": [1, 64], "data_offsets": [0, 64]},
                          "w_scale": {"dtype": "F16", "shape": [1, 3], "data_offsets": [64, 70]}})",
                      "(F16, [1, 2])", data);
}

TEST_F(Safetensors, BadDimensions) {
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offs) {
    return R"({"w": {"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "data_offsets": )" + offs + "}}";
  };
  const std::string data(16, '\0');
  expect_header_error(entry("F32", "[-1]", "[0, 4]"), "negative dimension -1", data);
  expect_header_error(entry("F32", "[2, -3]", "[0, 4]"), "negative dimension -3", data);
  expect_header_error(entry("F32", "[1.5]", "[0, 4]"), "dimension 1.5 is not an integer", data);
  expect_header_error(entry("F32", "[2.0]", "[0, 8]"), "is not an integer", data);
  expect_header_error(entry("F32", "[\"2\"]", "[0, 8]"), "is not an integer", data);
  expect_header_error(entry("F32", "[null]", "[0, 8]"), "is not an integer", data);
  expect_header_error(entry("F32", "[1,1,1,1,1,1,1,1,1]", "[0, 4]"), "9 dimensions (at most 8)", data);
  // 2^32 * 2^32 = 2^64 elements; 2^62 * 4 = 2^64; 2^61 * 2 f32 = 2^62 elements but 2^64 bytes.
  expect_header_error(entry("U8", "[4294967296, 4294967296]", "[0, 4]"), "too many elements", data);
  expect_header_error(entry("U8", "[4611686018427387904, 4]", "[0, 4]"), "too many elements", data);
  expect_header_error(entry("F32", "[2305843009213693952, 2]", "[0, 4]"), "too large in bytes", data);
  expect_header_error(entry("U8", "[18446744073709551615]", "[0, 4]"), "too many elements", data);
  expect_header_error(entry("U8", "[1e3]", "[0, 4]"), "is not an integer", data);
  // [huge, huge, 0] holds no elements, but contiguous strides of it would overflow: rejected.
  expect_header_error(entry("U8", "[4294967296, 4294967296, 0]", "[0, 0]"), "too many elements", data);
  // -0 is a fine zero.
  SafetensorsFile ok = SafetensorsFile::open(write("negzero", st_bytes(entry("U8", "[-0, 3]", "[0, 0]"))));
  EXPECT_EQ(ok.info("w").shape, (Shape{0, 3}));
}

TEST_F(Safetensors, BadSpans) {
  auto f32 = [](const char* name, const char* shape, const char* offs) {
    return "\"" + std::string(name) + R"(": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": )" + offs + "}";
  };
  const std::string d16(16, '\0');
  expect_header_error("{" + f32("w", "[1]", "[8, 4]") + "}", "data_offsets [8, 4] has begin > end", d16);
  expect_header_error("{" + f32("w", "[2]", "[0, 4]") + "}", "shape [2] of F32 needs 8 bytes but data_offsets [0, 4] spans 4", d16);
  expect_header_error("{" + f32("w", "[]", "[0, 8]") + "}", "needs 4 bytes", d16);
  expect_header_error("{" + f32("w", "[0]", "[0, 4]") + "}", "needs 0 bytes", d16);
  expect_header_error("{" + f32("w", "[4]", "[4, 20]") + "}", "data_offsets [4, 20] runs past the end of the data section (16 bytes)", d16);
  expect_header_error("{" + f32("w", "[1]", "[18446744073709551612, 18446744073709551615]") + "}", "needs 4 bytes", d16);
  expect_header_error("{" + f32("w", "[1]", "[18446744073709551611, 18446744073709551615]") + "}", "past the end", d16);
  expect_header_error("{" + f32("w", "[0]", "[17, 17]") + "}", "past the end", d16);  // even empty spans stay inside
  // Overlaps: partial, contained, identical.
  expect_header_error("{" + f32("a", "[2]", "[0, 8]") + ", " + f32("b", "[2]", "[4, 12]") + "}",
                      "tensors 'a' and 'b' have overlapping data_offsets", d16);
  expect_header_error("{" + f32("a", "[4]", "[0, 16]") + ", " + f32("b", "[1]", "[8, 12]") + "}", "overlapping", d16);
  expect_header_error("{" + f32("a", "[1]", "[4, 8]") + ", " + f32("b", "[1]", "[4, 8]") + "}", "overlapping", d16);
  expect_header_error("{" + f32("a", "[3]", "[0, 12]") + ", " + f32("c", "[1]", "[12, 16]") + ", " +
                          f32("b", "[1]", "[8, 12]") + "}", "overlapping", d16);

  // Allowed: empty spans anywhere inside, unused gaps, trailing bytes, space-padded headers.
  std::string ok = "{" + f32("a", "[1]", "[0, 4]") + ", " + f32("e", "[0]", "[2, 2]") + ", " +
                   f32("b", "[1]", "[8, 12]") + "}      ";
  SafetensorsFile f = SafetensorsFile::open(write("ok.safetensors", st_bytes(ok, d16)));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "e", "b"}));
}

TEST_F(Safetensors, DuplicateKeysAndMetadata) {
  const std::string d8(8, '\0');
  const std::string e = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  const std::string e2 = R"({"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})";
  // nlohmann alone would keep the last "w" silently; the reader refuses the ambiguity.
  expect_header_error("{\"w\": " + e + ", \"w\": " + e2 + "}", "key 'w' appears twice", d8);
  expect_header_error(R"({"w": {"dtype": "F32", "dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
                      "key 'dtype' appears twice", d8);
  expect_header_error(R"({"__metadata__": {"k": "a", "k": "b"}})", "key 'k' appears twice");
  expect_header_error(R"({"__metadata__": ["pt"]})", "__metadata__ is not a JSON object");
  expect_header_error(R"({"__metadata__": {"format": "pt", "n": 3}})", "__metadata__ value of 'n' is not a string");
  expect_header_error(R"({"__metadata__": {"x": null}})", "value of 'x' is not a string");
  // The same key in different objects is fine.
  SafetensorsFile f = SafetensorsFile::open(
      write("ok", st_bytes(R"({"__metadata__": {"w": "w"}, "w": )" + e + ", \"v\": " + e2 + "}", d8)));
  EXPECT_EQ(f.metadata().at("w"), "w");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"w", "v"}));
  // An empty header object is a valid file with no tensors.
  EXPECT_TRUE(SafetensorsFile::open(write("none", st_bytes("{}"))).names().empty());
}

// Every byte of a small valid file replaced by a few values: open() either succeeds (and then
// every tensor reads) or throws xla::Error — never another exception, never a crash.
TEST_F(Safetensors, ByteFlipsNeverCrash) {
  const std::string p = path("src.safetensors");
  save_safetensors(p, {{"a", xt::T({1, 2, 3}, Shape{3})}, {"bb", xt::I64({4}, Shape{1, 1})}, {"c", xt::U8({}, Shape{0})}},
                   {{"k", "v"}});
  const std::string good = read_bytes(p);
  int opened = 0, refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    const uint8_t g = uint8_t(good[i]);
    for (uint8_t v : std::vector<uint8_t>{0x00, 0xff, uint8_t(g ^ 0x01), uint8_t(g ^ 0x80), '"', '}', '9', '-', ','}) {
      std::string bad = good;
      bad[i] = char(v);
      const std::string q = write("flip", bad);
      try {
        SafetensorsFile f = SafetensorsFile::open(q);
        for (const auto& name : f.names()) (void)f.tensor(name, DType::F32);
        ++opened;
      } catch (const xla::Error&) {
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " = " << int(v) << ": not an xla::Error: " << e.what();
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(opened, 0);  // flips inside the data section still give a readable file
}

// ---------------------------------------------------------------------------------------
// Checkpoint folders
// ---------------------------------------------------------------------------------------

class SafetensorsCheckpoint : public Safetensors {
 protected:
  // Two shards: a, b in the first, c in the second, plus the index.
  void write_sharded(const json& weight_map) {
    save_safetensors(path("model-00001-of-00002.safetensors"), {{"a", a}, {"b", b}});
    save_safetensors(path("model-00002-of-00002.safetensors"), {{"c", c}});
    write("model.safetensors.index.json", json{{"metadata", {{"total_size", 40}}}, {"weight_map", weight_map}}.dump());
  }
  json full_map() const {
    return {{"a", "model-00001-of-00002.safetensors"},
            {"b", "model-00001-of-00002.safetensors"},
            {"c", "model-00002-of-00002.safetensors"}};
  }
  Tensor a = xt::T({1, 2, 3, 4}, Shape{2, 2}), b = xt::BF16({0.5f, -8.f}, Shape{2}),
         c = xt::I64({-5, 6, 7}, Shape{3});
};

TEST_F(SafetensorsCheckpoint, ShardedRoundTrip) {
  write_sharded(full_map());
  Checkpoint ck = Checkpoint::open(dir_.string());
  EXPECT_EQ(ck.dir(), dir_.string());
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(ck.contains("c"));
  EXPECT_FALSE(ck.contains("d"));
  expect_bitwise_equal(ck.tensor("a"), a);
  expect_bitwise_equal(ck.tensor("b"), b);
  expect_bitwise_equal(ck.tensor("c"), c);
  EXPECT_EQ(ck.info("c").shape, (Shape{3}));
  EXPECT_EQ(ck.info("b").begin, 16u);  // after a's 4 f32 in shard 1
  xt::expect_tensor(ck.tensor("b", DType::F32), Shape{2}, {0.5f, -8.f});
  EXPECT_XLA_ERROR(ck.info("d"), Status::InvalidArg, "no tensor 'd' in checkpoint");
  Checkpoint moved = std::move(ck);
  expect_bitwise_equal(moved.tensor("c"), c);
}

TEST_F(SafetensorsCheckpoint, IndexListsOnlySomeTensors) {
  write_sharded({{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00002-of-00002.safetensors"}});
  Checkpoint ck = Checkpoint::open(dir_.string());
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "c"}));  // the index decides what exists
}

TEST_F(SafetensorsCheckpoint, SingleFileFolder) {
  save_safetensors(path("model.safetensors"), {{"c", c}, {"a", a}});
  Checkpoint ck = Checkpoint::open(dir_.string());
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "c"}));
  expect_bitwise_equal(ck.tensor("c"), c);
}

TEST_F(SafetensorsCheckpoint, MissingFolderOrFiles) {
  const std::string nowhere = path("nowhere");
  EXPECT_XLA_ERROR(Checkpoint::open(nowhere), Status::IO, "'" + nowhere + "' does not exist");
  write("plain_file", "x");
  EXPECT_XLA_ERROR(Checkpoint::open(path("plain_file")), Status::IO, "is not a folder");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::IO, "no model.safetensors or model.safetensors.index.json");
}

TEST_F(SafetensorsCheckpoint, MissingShard) {
  write_sharded(full_map());
  fs::remove(path("model-00002-of-00002.safetensors"));
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::IO, "shard 'model-00002-of-00002.safetensors', which is missing");
}

TEST_F(SafetensorsCheckpoint, CorruptShardIsFormatErrorNamingIt) {
  write_sharded(full_map());
  write("model-00002-of-00002.safetensors", st_bytes("{oops"));
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "model-00002-of-00002.safetensors");
}

TEST_F(SafetensorsCheckpoint, TensorNotInItsShard) {
  json m = full_map();
  m["c"] = "model-00001-of-00002.safetensors";
  write_sharded(m);
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format,
                   "maps 'c' to shard 'model-00001-of-00002.safetensors', which does not contain it");
}

TEST_F(SafetensorsCheckpoint, BadIndex) {
  write_sharded(full_map());
  const std::string idx = "model.safetensors.index.json";
  write(idx, "{\"weight_map\": ");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "not valid JSON");
  write(idx, R"({"metadata": {}})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "has no \"weight_map\" object");
  write(idx, R"({"weight_map": ["a"]})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "has no \"weight_map\" object");
  write(idx, R"({"weight_map": {"a": 1}})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "weight_map entry 'a' is not a string");
  write(idx, R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "is not a file in the folder");
  write(idx, R"({"weight_map": {"a": "/etc/passwd"}})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "is not a file in the folder");
  write(idx, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "a": "model-00002-of-00002.safetensors"}})");
  EXPECT_XLA_ERROR(Checkpoint::open(dir_.string()), Status::Format, "key 'a' appears twice");
}

}  // namespace
