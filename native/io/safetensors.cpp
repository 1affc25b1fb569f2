// Safetensors reader and writer. The reader validates the whole header before
// it touches the data, so a malformed file fails fast with one clear message
// and never allocates more than the file could hold.
#include "safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this reader copies it raw");

namespace arclight::io {

// ----------------------------------------------------------------------------
// conversions

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);  // rebias 15 -> 127
  } else if (man == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: renormalise, since every half subnormal is a normal float.
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400u) == 0);
    bits = sign | uint32_t(112 - e) << 23 | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw SafetensorsError("negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(n, d, &n)) throw SafetensorsError("shape element count overflows int64");
  }
  return n;
}

// ----------------------------------------------------------------------------
// reader

namespace {

struct DtypeInfo {
  const char* name;
  int size;
};

// Known safetensors dtypes; only the float ones convert to fp32. The rest are
// recognised so the error says "unsupported" rather than "unknown".
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8},  {"I32", 4},     {"I16", 2},     {"I8", 1},
    {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

bool is_convertible(const std::string& dt) { return dt == "F32" || dt == "F16" || dt == "BF16" || dt == "F64"; }

struct Entry {
  std::string name;
  std::string dtype;
  int dsize = 0;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  uint64_t begin = 0, end = 0;
};

class File {
 public:
  explicit File(const std::string& path, const char* mode) : f_(std::fopen(path.c_str(), mode)) {}
  ~File() {
    if (f_) std::fclose(f_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  std::FILE* get() const { return f_; }

 private:
  std::FILE* f_;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw SafetensorsError("safetensors: " + path + ": " + what);
}

uint64_t require_offset(const std::string& path, const std::string& name, const json::Value& v) {
  if (v.kind != json::Kind::Int || v.i < 0)
    fail(path, "tensor \"" + name + "\": data_offsets must be non-negative integers");
  return static_cast<uint64_t>(v.i);
}

Entry parse_entry(const std::string& path, const std::string& name, const json::Value& v) {
  if (name.empty()) fail(path, "empty tensor name");
  if (v.kind != json::Kind::Object)
    fail(path, "tensor \"" + name + "\": expected an object, got " + json::kind_name(v.kind));
  Entry e;
  e.name = name;
  const json::Value *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& m : v.members) {
    if (m.first == "dtype")
      dtype = &m.second;
    else if (m.first == "shape")
      shape = &m.second;
    else if (m.first == "data_offsets")
      offsets = &m.second;
    else
      fail(path, "tensor \"" + name + "\": unknown field \"" + m.first + "\"");
  }
  if (!dtype || !shape || !offsets) fail(path, "tensor \"" + name + "\": needs dtype, shape and data_offsets");
  if (dtype->kind != json::Kind::String) fail(path, "tensor \"" + name + "\": dtype must be a string");
  e.dtype = dtype->s;
  for (const auto& d : kDtypes)
    if (e.dtype == d.name) e.dsize = d.size;
  if (e.dsize == 0) fail(path, "tensor \"" + name + "\": unknown dtype \"" + e.dtype + "\"");
  if (!is_convertible(e.dtype))
    fail(path, "tensor \"" + name + "\": unsupported dtype " + e.dtype + " (Arclight reads F32, F16, BF16 and F64)");

  if (shape->kind != json::Kind::Array) fail(path, "tensor \"" + name + "\": shape must be an array");
  for (const auto& d : shape->items) {
    if (d.kind != json::Kind::Int) fail(path, "tensor \"" + name + "\": shape entries must be integers");
    if (d.i < 0) fail(path, "tensor \"" + name + "\": negative dimension " + std::to_string(d.i));
    e.shape.push_back(d.i);
  }
  try {
    e.numel = shape_numel(e.shape);
  } catch (const SafetensorsError& err) { fail(path, "tensor \"" + name + "\": " + err.what()); }
  int64_t nbytes;
  if (__builtin_mul_overflow(e.numel, int64_t(e.dsize), &nbytes))
    fail(path, "tensor \"" + name + "\": byte size overflows int64");

  if (offsets->kind != json::Kind::Array || offsets->items.size() != 2)
    fail(path, "tensor \"" + name + "\": data_offsets must be [begin, end]");
  e.begin = require_offset(path, name, offsets->items[0]);
  e.end = require_offset(path, name, offsets->items[1]);
  if (e.end < e.begin) fail(path, "tensor \"" + name + "\": data_offsets end < begin");
  if (e.end - e.begin != static_cast<uint64_t>(nbytes))
    fail(path, "tensor \"" + name + "\": shape and dtype need " + std::to_string(nbytes) +
                   " bytes but data_offsets span " + std::to_string(e.end - e.begin));
  return e;
}

void read_exact(const std::string& path, std::FILE* f, void* dst, uint64_t n, const char* what) {
  if (n == 0) return;
  if (std::fread(dst, 1, n, f) != n) fail(path, std::string("file truncated while reading ") + what);
}

void convert(const Entry& e, const std::vector<unsigned char>& raw, std::vector<float>& out) {
  const unsigned char* p = raw.data();
  size_t n = static_cast<size_t>(e.numel);
  if (e.dtype == "F16" || e.dtype == "BF16") {
    bool half = e.dtype == "F16";
    for (size_t k = 0; k < n; ++k) {
      uint16_t h = uint16_t(p[2 * k] | (p[2 * k + 1] << 8));
      out[k] = half ? f16_to_f32(h) : bf16_to_f32(h);
    }
  } else {  // F64
    for (size_t k = 0; k < n; ++k) {
      double d;
      std::memcpy(&d, p + 8 * k, 8);
      out[k] = static_cast<float>(d);
    }
  }
}

}  // namespace

std::map<std::string, TensorF32> read_safetensors(const std::string& path,
                                                  std::map<std::string, std::string>* metadata) {
  File file(path, "rb");
  std::FILE* f = file.get();
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8)
    fail(path, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");

  unsigned char len_bytes[8];
  read_exact(path, f, len_bytes, 8, "the header length");
  uint64_t header_len = 0;
  for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | len_bytes[k];
  if (header_len > kMaxSafetensorsHeader)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > file_size - 8)
    fail(path, "header length " + std::to_string(header_len) + " is larger than the file (" +
                   std::to_string(file_size) + " bytes)");
  if (header_len < 2) fail(path, "header is too short to be a JSON object");

  std::string header(header_len, '\0');
  read_exact(path, f, header.data(), header_len, "the header");
  if (header[0] != '{') fail(path, "header must start with '{'");
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const json::ParseError& e) { fail(path, std::string("header: ") + e.what()); }
  if (root.kind != json::Kind::Object) fail(path, "header must be a JSON object");

  std::vector<Entry> entries;
  for (const auto& m : root.members) {
    if (m.first == "__metadata__") {
      if (m.second.kind != json::Kind::Object) fail(path, "__metadata__ must be an object of strings");
      for (const auto& kv : m.second.members) {
        if (kv.second.kind != json::Kind::String)
          fail(path, "__metadata__ value for \"" + kv.first + "\" must be a string");
        if (metadata) (*metadata)[kv.first] = kv.second.s;
      }
      continue;
    }
    entries.push_back(parse_entry(path, m.first, m.second));
  }

  // The spec requires the data section to be exactly covered, in some order,
  // with no gaps or overlaps: anything else hides bytes or aliases tensors.
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  for (const Entry* e : order) {
    if (e->end > data_size)
      fail(path, "tensor \"" + e->name + "\": data_offsets [" + std::to_string(e->begin) + ", " +
                     std::to_string(e->end) + "] run past the data section (" + std::to_string(data_size) +
                     " bytes); file truncated?");
    if (e->begin < covered) fail(path, "tensor \"" + e->name + "\": data overlaps the previous tensor");
    if (e->begin > covered)
      fail(path, "tensor \"" + e->name + "\": gap of " + std::to_string(e->begin - covered) +
                     " bytes before its data (non-contiguous)");
    covered = e->end;
  }
  if (covered != data_size)
    fail(path, "data section has " + std::to_string(data_size - covered) + " trailing bytes not covered by any tensor");

  std::map<std::string, TensorF32> out;
  std::vector<unsigned char> raw;
  for (const Entry* e : order) {
    TensorF32 t;
    t.shape = e->shape;
    t.data.resize(static_cast<size_t>(e->numel));
    if (e->dtype == "F32") {
      read_exact(path, f, t.data.data(), e->end - e->begin, ("tensor \"" + e->name + "\"").c_str());
    } else {
      raw.resize(static_cast<size_t>(e->end - e->begin));
      read_exact(path, f, raw.data(), raw.size(), ("tensor \"" + e->name + "\"").c_str());
      convert(*e, raw, t.data);
    }
    out.emplace(e->name, std::move(t));
  }
  return out;
}

// ----------------------------------------------------------------------------
// writer

namespace {

void write_all(int fd, const void* p, size_t n, const std::string& path) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, std::string("write failed: ") + std::strerror(errno));
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, const TensorF32*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, const TensorF32*>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t k = 0; k < sorted.size(); ++k) {
    const auto& [name, t] = sorted[k];
    if (name.empty()) fail(path, "cannot write a tensor with an empty name");
    if (name == "__metadata__") fail(path, "\"__metadata__\" is reserved and cannot name a tensor");
    if (k > 0 && sorted[k - 1].first == name) fail(path, "duplicate tensor name \"" + name + "\"");
    if (!t) fail(path, "tensor \"" + name + "\" is null");
    int64_t n;
    try {
      n = shape_numel(t->shape);
    } catch (const SafetensorsError& e) { fail(path, "tensor \"" + name + "\": " + e.what()); }
    if (static_cast<uint64_t>(n) != t->data.size())
      fail(path, "tensor \"" + name + "\": shape holds " + std::to_string(n) + " elements but data has " +
                     std::to_string(t->data.size()));
  }

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      json::append_quoted(header, k);
      header += ':';
      json::append_quoted(header, v);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    if (header.size() > 1) header += ',';
    json::append_quoted(header, name);
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t d = 0; d < t->shape.size(); ++d) {
      if (d) header += ',';
      header += std::to_string(t->shape[d]);
    }
    uint64_t bytes = t->data.size() * sizeof(float);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += '}';
  // Space padding keeps the data section 8-byte aligned for mmap readers.
  while (header.size() % 8) header += ' ';

  std::random_device rd;
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create " + tmp + ": " + std::strerror(errno));
  try {
    unsigned char len_bytes[8];
    uint64_t n = header.size();
    for (int k = 0; k < 8; ++k) len_bytes[k] = static_cast<unsigned char>(n >> (8 * k));
    write_all(fd, len_bytes, 8, path);
    write_all(fd, header.data(), header.size(), path);
    for (const auto& [name, t] : sorted) write_all(fd, t->data.data(), t->data.size() * sizeof(float), path);
    if (::fsync(fd) != 0) fail(path, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(path, std::string("close failed: ") + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string("rename failed: ") + std::strerror(err));
  }
}

}  // namespace arclight::io
