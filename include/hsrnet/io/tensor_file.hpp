// The hsrnet model file: a small, versioned container of named tensors with a checksum.
//
// Layout (little-endian), version 1:
//   offset 0   char[8]  magic "HSRNETMF"
//          8   u32      format version (1)
//         12   u32      number of tensors T
//         16   u64      total file size in bytes (detects truncation before anything is parsed)
//         24   T entries of 128 bytes: char[64] name (NUL padded), u32 dtype, u32 ndim,
//                       u64 shape[4], u64 offset of the data from the start of the file, u64 nbytes
//         ...  tensor data, each starting on a 64-byte boundary
//   size-4     u32      CRC-32 (zlib polynomial) of every byte before it
// dtypes: 1 float32, 2 float64, 3 int32, 4 int64, 5 uint8 (also UTF-8 text).
// Saving writes "<path>.tmp-<random>" in the same directory, flushes it and renames it over <path>, so a crash
// mid-save never destroys an earlier file. python/hsrnet/tensor_file.py implements the same format.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace hsrnet {

enum class DType : std::uint32_t { Float32 = 1, Float64 = 2, Int32 = 3, Int64 = 4, UInt8 = 5 };

inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  throw std::runtime_error("hsrnet: unknown dtype code " + std::to_string(static_cast<std::uint32_t>(t)));
}

struct Tensor {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<std::uint64_t> shape;  // at most 4 dimensions; empty = scalar
  std::vector<unsigned char> bytes;

  std::uint64_t count() const {
    std::uint64_t c = 1;
    for (std::uint64_t s : shape) c *= s;
    return c;
  }
  template <class T>
  static Tensor from(const std::string& name, DType dt, std::vector<std::uint64_t> shape, const T* data) {
    Tensor t{name, dt, std::move(shape), {}};
    t.bytes.resize(static_cast<std::size_t>(t.count() * dtype_size(dt)));
    if (!t.bytes.empty()) std::memcpy(t.bytes.data(), data, t.bytes.size());
    return t;
  }
  template <class T>
  const T* as() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
};

class TensorFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline std::uint32_t crc32_update(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}
template <class T>
void put(std::vector<unsigned char>& out, std::size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(T));
}
template <class T>
T get(const std::vector<unsigned char>& in, std::size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  return v;
}
}  // namespace detail

constexpr char kTensorFileMagic[8] = {'H', 'S', 'R', 'N', 'E', 'T', 'M', 'F'};
constexpr std::uint32_t kTensorFileVersion = 1;
constexpr std::size_t kEntryBytes = 128, kHeaderBytes = 24, kMaxDims = 4, kMaxName = 63;

inline std::vector<unsigned char> encode_tensor_file(const std::vector<Tensor>& tensors) {
  const std::size_t T = tensors.size();
  std::size_t pos = (kHeaderBytes + T * kEntryBytes + 63) / 64 * 64;
  std::vector<std::size_t> offsets(T);
  for (std::size_t i = 0; i < T; ++i) {
    const Tensor& t = tensors[i];
    if (t.name.empty() || t.name.size() > kMaxName)
      throw TensorFileError("hsrnet: tensor name must have 1..63 bytes: '" + t.name + "'");
    if (t.shape.size() > kMaxDims) throw TensorFileError("hsrnet: tensor '" + t.name + "' has more than 4 dimensions");
    if (t.bytes.size() != t.count() * dtype_size(t.dtype))
      throw TensorFileError("hsrnet: tensor '" + t.name + "' size does not match its shape");
    offsets[i] = pos;
    pos = (pos + t.bytes.size() + 63) / 64 * 64;
  }
  const std::size_t total = pos + 4;
  std::vector<unsigned char> out(total, 0);
  std::memcpy(out.data(), kTensorFileMagic, 8);
  detail::put<std::uint32_t>(out, 8, kTensorFileVersion);
  detail::put<std::uint32_t>(out, 12, static_cast<std::uint32_t>(T));
  detail::put<std::uint64_t>(out, 16, total);
  for (std::size_t i = 0; i < T; ++i) {
    const Tensor& t = tensors[i];
    const std::size_t e = kHeaderBytes + i * kEntryBytes;
    std::memcpy(out.data() + e, t.name.data(), t.name.size());
    detail::put<std::uint32_t>(out, e + 64, static_cast<std::uint32_t>(t.dtype));
    detail::put<std::uint32_t>(out, e + 68, static_cast<std::uint32_t>(t.shape.size()));
    for (std::size_t k = 0; k < t.shape.size(); ++k) detail::put<std::uint64_t>(out, e + 72 + 8 * k, t.shape[k]);
    detail::put<std::uint64_t>(out, e + 104, offsets[i]);
    detail::put<std::uint64_t>(out, e + 112, t.bytes.size());
    if (!t.bytes.empty()) std::memcpy(out.data() + offsets[i], t.bytes.data(), t.bytes.size());
  }
  detail::put<std::uint32_t>(out, total - 4, detail::crc32_update(0, out.data(), total - 4));
  return out;
}

inline std::vector<Tensor> decode_tensor_file(const std::vector<unsigned char>& in, const std::string& what = "file") {
  auto fail = [&](const std::string& why) { throw TensorFileError("hsrnet: cannot read " + what + ": " + why); };
  if (in.size() < kHeaderBytes + 4 || std::memcmp(in.data(), kTensorFileMagic, 8) != 0)
    fail("not an hsrnet model file (bad magic)");
  const std::uint32_t version = detail::get<std::uint32_t>(in, 8);
  if (version > kTensorFileVersion)
    fail("format version " + std::to_string(version) + " is newer than this hsrnet reads (" +
         std::to_string(kTensorFileVersion) + "); upgrade hsrnet");
  if (version == 0) fail("format version 0 is invalid");
  const std::uint64_t total = detail::get<std::uint64_t>(in, 16);
  if (total != in.size())
    fail("size is " + std::to_string(in.size()) + " bytes, the header says " + std::to_string(total) +
         " (truncated or padded)");
  if (detail::get<std::uint32_t>(in, in.size() - 4) != detail::crc32_update(0, in.data(), in.size() - 4))
    fail("checksum mismatch (the file is corrupted)");
  const std::uint32_t T = detail::get<std::uint32_t>(in, 12);
  if (kHeaderBytes + static_cast<std::uint64_t>(T) * kEntryBytes > in.size() - 4) fail("tensor table exceeds the file");
  std::vector<Tensor> tensors(T);
  for (std::size_t i = 0; i < T; ++i) {
    const std::size_t e = kHeaderBytes + i * kEntryBytes;
    Tensor& t = tensors[i];
    const char* name = reinterpret_cast<const char*>(in.data() + e);
    t.name.assign(name, strnlen(name, 64));
    const std::uint32_t dt = detail::get<std::uint32_t>(in, e + 64);
    if (dt < 1 || dt > 5) fail("tensor '" + t.name + "' has unknown dtype code " + std::to_string(dt));
    t.dtype = static_cast<DType>(dt);
    const std::uint32_t ndim = detail::get<std::uint32_t>(in, e + 68);
    if (ndim > kMaxDims) fail("tensor '" + t.name + "' has " + std::to_string(ndim) + " dimensions");
    t.shape.resize(ndim);
    for (std::size_t k = 0; k < ndim; ++k) t.shape[k] = detail::get<std::uint64_t>(in, e + 72 + 8 * k);
    const std::uint64_t off = detail::get<std::uint64_t>(in, e + 104), nb = detail::get<std::uint64_t>(in, e + 112);
    long double expect = dtype_size(t.dtype);
    for (std::uint64_t s : t.shape) expect *= static_cast<long double>(s);
    if (static_cast<long double>(nb) != expect) fail("tensor '" + t.name + "' byte count does not match its shape");
    if (off > in.size() - 4 || nb > in.size() - 4 - off) fail("tensor '" + t.name + "' lies outside the file");
    t.bytes.assign(in.begin() + static_cast<std::ptrdiff_t>(off), in.begin() + static_cast<std::ptrdiff_t>(off + nb));
  }
  return tensors;
}

/// Writes atomically: a temporary file in the same directory, flushed to disk, then renamed over `path`.
inline void save_tensor_file(const std::string& path, const std::vector<Tensor>& tensors) {
  const std::vector<unsigned char> bytes = encode_tensor_file(tensors);
  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(rd());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw TensorFileError("hsrnet: cannot write " + tmp);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      throw TensorFileError("hsrnet: writing " + tmp + " failed (disk full?)");
    }
  }
#if defined(__unix__) || defined(__APPLE__)
  const int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
#endif
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw TensorFileError("hsrnet: cannot rename " + tmp + " to " + path);
  }
}

inline std::vector<Tensor> load_tensor_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw TensorFileError("hsrnet: cannot open " + path);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_tensor_file(bytes, path);
}

inline const Tensor& find_tensor(const std::vector<Tensor>& ts, const std::string& name) {
  for (const Tensor& t : ts)
    if (t.name == name) return t;
  throw TensorFileError("hsrnet: model file has no tensor '" + name + "'");
}

}  // namespace hsrnet
