// The model file format (include/hsrnet/io/tensor_file.hpp): round trips, every kind of damage, and the two
// committed fixtures that tie the C++ and Python implementations together:
//   tests/data/tensor_file_python.hsrt  written by python/hsrnet/tensor_file.py, read here;
//   tests/data/tensor_file_cpp.hsrt     written by this file (HSRNET_REGENERATE_FIXTURES=1), read by
//                                       tests/python/test_model_files.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hsrnet/io/tensor_file.hpp"

namespace {

namespace fs = std::filesystem;
using hsrnet::DType;
using hsrnet::Tensor;
using hsrnet::TensorFileError;

std::string data_dir() {
  if (const char* env = std::getenv("HSRNET_TEST_DATA")) return env;
  return (fs::path(__FILE__).parent_path().parent_path() / "data").string();  // tests/cpp/.. /data
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

/// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("hsrnet-tensor-file-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::size_t count() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), {})); }

 private:
  fs::path path_;
};

template <class T>
std::vector<T> values(const Tensor& t) {
  std::vector<T> v(static_cast<std::size_t>(t.count()));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

std::vector<Tensor> sample_tensors() {
  const float w[6] = {1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.125f};
  const double b = 1.0 / 3.0;
  const std::int64_t ids[3] = {1, -2, std::int64_t{1} << 40};
  const std::int32_t small[2] = {-7, 2147483647};
  const std::string text = "h\xc3\xa9llo";  // UTF-8
  std::vector<Tensor> ts;
  ts.push_back(Tensor::from("w", DType::Float32, {2, 3}, w));
  ts.push_back(Tensor::from("b", DType::Float64, {}, &b));
  ts.push_back(Tensor::from("ids", DType::Int64, {3}, ids));
  ts.push_back(Tensor::from("small", DType::Int32, {2, 1}, small));
  ts.push_back(Tensor::from("name", DType::UInt8, {text.size()}, text.data()));
  const float unused = 0.0f;  // a (0, 4) tensor copies nothing
  ts.push_back(Tensor::from("empty", DType::Float32, {0, 4}, &unused));
  return ts;
}

/// The tensors of the C++ fixture (tests/data/tensor_file_cpp.hsrt); test_model_files.py expects the same.
std::vector<Tensor> cpp_fixture_tensors() {
  const double a[4] = {0.5, -1e300, 3.25, std::ldexp(1.0, -20)};
  const std::int32_t n[4] = {-1, 0, 7, 2147483647};
  const std::string text = "C++ wrote this";
  const float s = 3.5f;
  std::vector<Tensor> ts;
  ts.push_back(Tensor::from("cpp/a", DType::Float64, {2, 2}, a));
  ts.push_back(Tensor::from("cpp/n", DType::Int32, {4}, n));
  ts.push_back(Tensor::from("cpp/text", DType::UInt8, {text.size()}, text.data()));
  ts.push_back(Tensor::from("cpp/s", DType::Float32, {}, &s));
  return ts;
}

void expect_same(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].dtype, want[i].dtype) << want[i].name;
    EXPECT_EQ(got[i].shape, want[i].shape) << want[i].name;
    EXPECT_EQ(got[i].bytes, want[i].bytes) << want[i].name;
  }
}

/// Decoding `bytes` must throw TensorFileError whose message contains `what`.
void expect_error(const std::vector<unsigned char>& bytes, const std::string& what) {
  try {
    hsrnet::decode_tensor_file(bytes, "test input");
    ADD_FAILURE() << "no error, expected one mentioning '" << what << "'";
  } catch (const TensorFileError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

void fix_crc(std::vector<unsigned char>& bytes) {
  const std::uint32_t crc = hsrnet::detail::crc32_update(0, bytes.data(), bytes.size() - 4);
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
}

TEST(TensorFile, Crc32MatchesZlib) {
  const std::string s = "123456789";  // the standard check value of CRC-32 (zlib, PNG, gzip)
  EXPECT_EQ(hsrnet::detail::crc32_update(0, reinterpret_cast<const unsigned char*>(s.data()), s.size()), 0xCBF43926u);
  EXPECT_EQ(hsrnet::detail::crc32_update(0, nullptr, 0), 0u);
}

TEST(TensorFile, EncodeDecodeRoundTrip) {
  const auto ts = sample_tensors();
  const auto bytes = hsrnet::encode_tensor_file(ts);
  EXPECT_EQ(std::memcmp(bytes.data(), "HSRNETMF", 8), 0);
  EXPECT_EQ(hsrnet::detail::get<std::uint64_t>(bytes, 16), bytes.size());
  expect_same(hsrnet::decode_tensor_file(bytes), ts);
  EXPECT_EQ(hsrnet::encode_tensor_file(hsrnet::decode_tensor_file(bytes)), bytes);  // deterministic
}

TEST(TensorFile, DataIsAligned) {
  const auto bytes = hsrnet::encode_tensor_file(sample_tensors());
  for (std::size_t i = 0; i < sample_tensors().size(); ++i)
    EXPECT_EQ(hsrnet::detail::get<std::uint64_t>(bytes, hsrnet::kHeaderBytes + i * hsrnet::kEntryBytes + 104) % 64, 0u);
}

TEST(TensorFile, EmptyFileOfTensors) {
  const auto bytes = hsrnet::encode_tensor_file({});
  EXPECT_TRUE(hsrnet::decode_tensor_file(bytes).empty());
}

TEST(TensorFile, SaveLoadRoundTrip) {
  TempDir dir;
  const auto ts = sample_tensors();
  hsrnet::save_tensor_file(dir.file("m.hsrt"), ts);
  const auto back = hsrnet::load_tensor_file(dir.file("m.hsrt"));
  expect_same(back, ts);
  EXPECT_FLOAT_EQ(values<float>(hsrnet::find_tensor(back, "w"))[5], -0.125f);
  EXPECT_EQ(values<std::int64_t>(hsrnet::find_tensor(back, "ids"))[2], std::int64_t{1} << 40);
  EXPECT_THROW(hsrnet::find_tensor(back, "missing"), TensorFileError);
  EXPECT_EQ(dir.count(), 1u);  // no temporary file left behind
}

TEST(TensorFile, SaveReplacesAnExistingFile) {
  TempDir dir;
  hsrnet::save_tensor_file(dir.file("m.hsrt"), sample_tensors());
  hsrnet::save_tensor_file(dir.file("m.hsrt"), cpp_fixture_tensors());
  expect_same(hsrnet::load_tensor_file(dir.file("m.hsrt")), cpp_fixture_tensors());
  EXPECT_EQ(dir.count(), 1u);
}

TEST(TensorFile, FailedSaveKeepsTheOldFile) {
  TempDir dir;
  hsrnet::save_tensor_file(dir.file("m.hsrt"), sample_tensors());
  const auto before = read_bytes(dir.file("m.hsrt"));
  // An invalid tensor fails during encoding, before anything touches the disk.
  std::vector<Tensor> bad = cpp_fixture_tensors();
  bad[0].shape = {3, 3};  // byte count no longer matches
  EXPECT_THROW(hsrnet::save_tensor_file(dir.file("m.hsrt"), bad), TensorFileError);
  EXPECT_EQ(read_bytes(dir.file("m.hsrt")), before);
  EXPECT_EQ(dir.count(), 1u);
  // The rename fails: the target is a non-empty directory. The temporary file is removed.
  fs::create_directories(dir.file("dir.hsrt") + "/inside");
  EXPECT_THROW(hsrnet::save_tensor_file(dir.file("dir.hsrt"), sample_tensors()), TensorFileError);
  EXPECT_EQ(dir.count(), 2u);  // m.hsrt and dir.hsrt only
}

TEST(TensorFile, MissingFile) {
  TempDir dir;
  EXPECT_THROW(hsrnet::load_tensor_file(dir.file("nope.hsrt")), TensorFileError);
}

TEST(TensorFile, RejectsBadTensorsOnEncode) {
  float x = 1.0f;
  EXPECT_THROW(hsrnet::encode_tensor_file({Tensor::from("", DType::Float32, {}, &x)}), TensorFileError);
  EXPECT_THROW(hsrnet::encode_tensor_file({Tensor::from(std::string(64, 'n'), DType::Float32, {}, &x)}),
               TensorFileError);
  EXPECT_NO_THROW(hsrnet::encode_tensor_file({Tensor::from(std::string(63, 'n'), DType::Float32, {}, &x)}));
  std::vector<float> many(1, 1.0f);
  EXPECT_THROW(hsrnet::encode_tensor_file({Tensor::from("x", DType::Float32, {1, 1, 1, 1, 1}, many.data())}),
               TensorFileError);
}

TEST(TensorFile, Truncated) {
  const auto bytes = hsrnet::encode_tensor_file(sample_tensors());
  for (std::size_t keep : {bytes.size() - 1, bytes.size() - 4, bytes.size() / 2, std::size_t{40}})
    expect_error(std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)),
                 "truncated");
  expect_error(std::vector<unsigned char>(bytes.begin(), bytes.begin() + 10), "bad magic");  // too short
  auto padded = bytes;
  padded.push_back(0);
  expect_error(padded, "padded");
}

TEST(TensorFile, EveryFlippedByteIsDetected) {
  const auto bytes = hsrnet::encode_tensor_file(sample_tensors());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x01;
    EXPECT_THROW(hsrnet::decode_tensor_file(bad), TensorFileError) << "byte " << i;
  }
  auto bad = bytes;
  bad[bytes.size() / 2] ^= 0x40;  // in the data: only the checksum can tell
  expect_error(bad, "checksum");
}

TEST(TensorFile, ForeignFile) {
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  png.resize(100, 0);
  expect_error(png, "bad magic");
  expect_error({}, "bad magic");
}

TEST(TensorFile, NewerVersion) {
  auto bytes = hsrnet::encode_tensor_file(sample_tensors());
  hsrnet::detail::put<std::uint32_t>(bytes, 8, hsrnet::kTensorFileVersion + 1);
  fix_crc(bytes);
  expect_error(bytes, "newer");
  hsrnet::detail::put<std::uint32_t>(bytes, 8, 0);
  fix_crc(bytes);
  expect_error(bytes, "version 0");
}

TEST(TensorFile, InconsistentTableWithValidChecksum) {
  const auto good = hsrnet::encode_tensor_file(sample_tensors());
  const std::size_t e = hsrnet::kHeaderBytes;  // first entry
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint32_t>(bytes, e + 64, 9);  // dtype
    fix_crc(bytes);
    expect_error(bytes, "unknown dtype");
  }
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint32_t>(bytes, e + 68, 5);  // ndim
    fix_crc(bytes);
    expect_error(bytes, "dimensions");
  }
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint64_t>(bytes, e + 72, 1000);  // shape[0]
    fix_crc(bytes);
    expect_error(bytes, "byte count");
  }
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint64_t>(bytes, e + 104, good.size());  // offset past the end
    fix_crc(bytes);
    expect_error(bytes, "outside the file");
  }
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint64_t>(bytes, e + 104, std::numeric_limits<std::uint64_t>::max() - 8);
    fix_crc(bytes);
    expect_error(bytes, "outside the file");  // no overflow in off + nbytes
  }
  {
    auto bytes = good;
    hsrnet::detail::put<std::uint32_t>(bytes, 12, 1000);  // tensor count
    fix_crc(bytes);
    expect_error(bytes, "table exceeds");
  }
}

TEST(TensorFile, ReadsThePythonFixture) {
  const std::string path = data_dir() + "/tensor_file_python.hsrt";
  ASSERT_TRUE(fs::exists(path)) << path;
  const auto ts = hsrnet::load_tensor_file(path);
  ASSERT_EQ(ts.size(), 4u);
  const Tensor& w = hsrnet::find_tensor(ts, "py/w");
  EXPECT_EQ(w.dtype, DType::Float32);
  EXPECT_EQ(w.shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(values<float>(w), (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.125f}));
  const Tensor& b = hsrnet::find_tensor(ts, "py/b");
  EXPECT_EQ(b.dtype, DType::Float64);
  EXPECT_TRUE(b.shape.empty());  // a scalar keeps shape () on both sides
  EXPECT_EQ(b.count(), 1u);
  EXPECT_EQ(values<double>(b)[0], 1.0 / 3.0);
  const Tensor& ids = hsrnet::find_tensor(ts, "py/ids");
  EXPECT_EQ(ids.dtype, DType::Int64);
  EXPECT_EQ(values<std::int64_t>(ids), (std::vector<std::int64_t>{1, -2, std::int64_t{1} << 40}));
  const Tensor& text = hsrnet::find_tensor(ts, "py/text");
  EXPECT_EQ(text.dtype, DType::UInt8);
  EXPECT_EQ(std::string(text.bytes.begin(), text.bytes.end()), "Python wrote this: h\xc3\xa9llo");
  // C++ encodes the same tensors to the same bytes.
  EXPECT_EQ(hsrnet::encode_tensor_file(ts), read_bytes(path));
}

TEST(TensorFile, CppFixtureIsStable) {
  const std::string path = data_dir() + "/tensor_file_cpp.hsrt";
  const auto bytes = hsrnet::encode_tensor_file(cpp_fixture_tensors());
  if (std::getenv("HSRNET_REGENERATE_FIXTURES")) {
    hsrnet::save_tensor_file(path, cpp_fixture_tensors());
    GTEST_SKIP() << "wrote " << path;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " (regenerate with HSRNET_REGENERATE_FIXTURES=1)";
  EXPECT_EQ(read_bytes(path), bytes) << "the format changed: the committed fixture no longer matches";
  expect_same(hsrnet::load_tensor_file(path), cpp_fixture_tensors());
}

}  // namespace
