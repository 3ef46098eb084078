// safetensors.cpp — the .safetensors reader (mmap + up-front validation), the atomic writer
// and the Hugging Face checkpoint folder (single file or index + shards).
// Layout: u64 little-endian N, N bytes of JSON header, then the data section; every
// data_offsets pair is relative to the start of the data section.
#include "xla/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "strict_json.hpp"
#include "text_file.hpp"

namespace xla::io {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // real headers are kilobytes; more is corruption

std::string q(const std::string& s) { return "'" + s + "'"; }
std::string errno_text() { return std::strerror(errno); }

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::Q8: return "I8";  // the values; the scales are a separate F16 tensor (q8_scale_name)
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U8, DType::Q8})
    if (s == st_dtype_name(t)) return *out = t, true;
  return false;
}

// The strict parse (duplicate keys refused: two readers could otherwise disagree about which
// span a name refers to), of text that must be a JSON object.
json parse_object_strict(const char* first, const char* last, const std::string& where) {
  json j = xla::detail::parse_json_strict(std::string_view(first, size_t(last - first)), where);
  if (!j.is_object()) fail(Status::Format, where + ": header is not a JSON object");
  return j;
}

// A JSON number that is a non-negative integer, as u64; false for anything else (floats too:
// 2.0 is not a dimension). nlohmann keeps non-negative integers as unsigned, "-0" as signed.
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) return *out = v.get<uint64_t>(), true;
  if (v.is_number_integer() && v.get<int64_t>() == 0) return *out = 0, true;
  return false;
}
bool is_negative_integer(const json& v) { return v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0; }

// Checks one tensor entry of the header and returns its TensorInfo.
TensorInfo parse_entry(const std::string& name, const json& e, uint64_t data_size, const std::string& where) {
  const std::string at = where + ": tensor " + q(name);
  if (!e.is_object()) fail(Status::Format, at + " is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) fail(Status::Format, at + " has no \"" + key + "\"");
  const json &jd = e["dtype"], &js = e["shape"], &jo = e["data_offsets"];

  TensorInfo info{};
  if (!jd.is_string()) fail(Status::Format, at + ": \"dtype\" is not a string");
  const auto& dname = jd.get_ref<const std::string&>();
  if (!parse_st_dtype(dname, &info.dtype))
    fail(Status::Format, at + " has dtype " + dname + ", which libxla does not read (F32, BF16, F16, I32, I64, U8)");

  if (!js.is_array()) fail(Status::Format, at + ": \"shape\" is not an array");
  if (js.size() > size_t(kMaxDims))
    fail(Status::Format, at + " has " + std::to_string(js.size()) + " dimensions (at most 8)");
  // numel and bytes with overflow checks; zero dims are set aside so that [huge, huge, 0] cannot
  // overflow later in contiguous_strides either (it multiplies max(dim, 1)).
  uint64_t nonzero_product = 1;
  bool has_zero = false;
  for (const json& d : js) {
    if (is_negative_integer(d))
      fail(Status::Format, at + " has a negative dimension " + d.dump());
    uint64_t v;
    if (!as_u64(d, &v)) fail(Status::Format, at + ": dimension " + d.dump() + " is not an integer");
    if (v == 0) has_zero = true;
    else if (__builtin_mul_overflow(nonzero_product, v, &nonzero_product) ||
             nonzero_product > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(Status::Format, at + ": shape " + js.dump() + " has too many elements");
    info.shape.push_back(int64_t(v));
  }
  uint64_t nbytes = 0;
  if (!has_zero && __builtin_mul_overflow(nonzero_product, uint64_t(dtype_size(info.dtype)), &nbytes))
    fail(Status::Format, at + ": shape " + js.dump() + " is too large in bytes");

  if (!jo.is_array() || jo.size() != 2 || !as_u64(jo[0], &info.begin) || !as_u64(jo[1], &info.end))
    fail(Status::Format, at + ": \"data_offsets\" is not [begin, end] with non-negative integers");
  const std::string span = "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]";
  if (info.begin > info.end) fail(Status::Format, at + ": " + span + " has begin > end");
  if (info.end - info.begin != nbytes)
    fail(Status::Format, at + ": shape " + info.shape.str() + " of " + dname + " needs " + std::to_string(nbytes) +
                             " bytes but " + span + " spans " + std::to_string(info.end - info.begin));
  if (info.end > data_size)
    fail(Status::Format, at + ": " + span + " runs past the end of the data section (" +
                             std::to_string(data_size) + " bytes)");
  return info;
}

// write(2) until done; false with errno set on failure.
bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= size_t(w);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// SafetensorsFile
// ---------------------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");
  const std::string where = "safetensors " + q(path);
  SafetensorsFile f;
  f.path_ = path;

  // regular files only, opened without blocking: a FIFO under the name fails, never hangs
  int fd = open_regular_file(path, "safetensors file " + q(path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    fail(Status::IO, where + ": fstat failed: " + why);
  }
  const uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(Status::Format, where + " is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  }
  void* m = ::mmap(nullptr, size_t(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the map keeps its own reference to the file
  if (m == MAP_FAILED) fail(Status::IO, where + ": mmap failed: " + std::strerror(map_errno));
  f.map_ = m;  // from here on the destructor unmaps, also when validation throws
  f.map_size_ = size_t(file_size);

  const auto* bytes = static_cast<const unsigned char*>(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes)
    fail(Status::Format, where + ": header length " + std::to_string(n) + " is absurd (more than 100 MB)");
  if (n > file_size - 8)
    fail(Status::Format, where + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                             std::to_string(file_size) + " bytes)");
  f.data_start_ = size_t(8 + n);
  const uint64_t data_size = file_size - 8 - n;
  const char* hdr = reinterpret_cast<const char*>(bytes + 8);
  json header = parse_object_strict(hdr, hdr + n, where);

  struct Span { uint64_t begin, end; const std::string* name; };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(Status::Format, where + ": __metadata__ is not a JSON object");
      for (auto m2 = it->begin(); m2 != it->end(); ++m2) {
        if (!m2->is_string())
          fail(Status::Format, where + ": __metadata__ value of " + q(m2.key()) + " is not a string");
        f.metadata_[m2.key()] = m2->get<std::string>();
      }
      continue;
    }
    auto [pos, _] = f.infos_.emplace(it.key(), parse_entry(it.key(), *it, data_size, where));
    spans.push_back({pos->second.begin, pos->second.end, &pos->first});
  }

  // File order; then no two non-empty spans may share a byte (empty ones own no bytes).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : *a.name < *b.name;
  });
  const Span* furthest = nullptr;  // the non-empty span seen so far that ends last
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    if (furthest && s.begin < furthest->end)
      fail(Status::Format, where + ": tensors " + q(*furthest->name) + " and " + q(*s.name) +
                               " have overlapping data_offsets");
    if (!furthest || s.end > furthest->end) furthest = &s;
  }
  f.names_.reserve(spans.size());
  for (const Span& s : spans) f.names_.push_back(*s.name);
  // int8 tensors are Q8 values: each needs its block scales beside it
  for (const auto& [name, ti] : f.infos_) {
    if (ti.dtype != DType::Q8) continue;
    const std::string scale = q8_scale_name(name);
    auto it = f.infos_.find(scale);
    Shape want = ti.shape;
    const bool whole_blocks = !want.empty() && want.back() % 32 == 0;
    if (whole_blocks) want[want.size() - 1] /= 32;
    if (!whole_blocks || it == f.infos_.end() || it->second.dtype != DType::F16 || !(it->second.shape == want))
      fail(Status::Format, where + ": int8 tensor " + q(name) + " " + ti.shape.str() +
                               " needs its block scales " + q(scale) + " (F16, " +
                               (whole_blocks ? want.str() : "a last axis that is a multiple of 32") + ")");
  }
  return f;
}

std::string q8_scale_name(const std::string& name) { return name + "_scale"; }

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept { *this = std::move(o); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_start_ = std::exchange(o.data_start_, 0);
    names_ = std::move(o.names_);
    infos_ = std::move(o.infos_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

void SafetensorsFile::unmap() noexcept {
  if (map_) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) fail(Status::InvalidArg, "no tensor " + q(name) + " in " + path_);
  return it->second;
}

// A Q8 tensor of `rows` rows (from row `first`) out of int8 values and F16 scales (open()
// checked that both exist and fit).
static Tensor q8_from_file(const char* values, const char* scales, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::Q8);
  if (t.numel()) {
    std::memcpy(t.raw_data(), values, size_t(t.numel()));
    std::memcpy(t.storage()->q8_scales.data(), scales, size_t(t.numel() / 32) * sizeof(uint16_t));
  }
  return t;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& ti = info(name);
  // In bounds: open() checked begin <= end <= data size and the span's size against the shape.
  const char* data = static_cast<const char*>(map_) + data_start_;
  if (ti.dtype == DType::Q8) return q8_from_file(data + ti.begin, data + info(q8_scale_name(name)).begin, ti.shape);
  return Tensor::from_data(data + ti.begin, ti.shape, ti.dtype);
}

Tensor SafetensorsFile::tensor(const std::string& name, DType as) const {
  Tensor t = tensor(name);
  return t.dtype() == as ? t : t.to(as);  // the file-dtype copy is transient: one tensor at a time
}

Tensor SafetensorsFile::rows(const std::string& name, int64_t begin, int64_t end, DType as) const {
  const TensorInfo& ti = info(name);
  if (ti.shape.empty() || begin < 0 || end < begin || end > ti.shape[0])
    fail(Status::InvalidArg, "safetensors: rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + q(name) +
                                 " " + ti.shape.str() + " are out of range");
  Shape part = ti.shape;
  part[0] = end - begin;
  int64_t per_row = 1;
  for (int d = 1; d < ti.shape.size(); ++d) per_row *= ti.shape[d];
  const size_t row_bytes = size_t(per_row) * dtype_size(ti.dtype);
  const char* data = static_cast<const char*>(map_) + data_start_;
  Tensor t = ti.dtype == DType::Q8
                 ? q8_from_file(data + ti.begin + size_t(begin) * row_bytes,
                                data + info(q8_scale_name(name)).begin + size_t(begin) * row_bytes / 16, part)
                 : Tensor::from_data(data + ti.begin + size_t(begin) * row_bytes, part, ti.dtype);
  return t.dtype() == as ? t : t.to(as);
}

// ---------------------------------------------------------------------------------------
// save_safetensors
// ---------------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string where = "save_safetensors " + q(path);
  // A Q8 tensor is written as its int8 values and, beside them, its F16 block scales.
  std::vector<std::pair<std::string, Tensor>> expanded;
  bool any_q8 = false;
  for (const auto& [name, t] : tensors) any_q8 |= t.defined() && t.dtype() == DType::Q8;
  if (any_q8) {
    for (const auto& [name, t] : tensors) {
      expanded.emplace_back(name, t);
      if (!t.defined() || t.dtype() != DType::Q8) continue;
      Tensor c = t.clone();  // whole and contiguous (refused otherwise)
      Shape s = c.shape();
      s[s.size() - 1] /= 32;
      Tensor scales = Tensor::empty(s, DType::F16);
      std::memcpy(scales.raw_data(), c.q8_scales(), scales.nbytes());
      expanded.back().second = c;
      expanded.emplace_back(q8_scale_name(name), scales);
    }
  }
  const auto& entries = any_q8 ? expanded : tensors;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();  // keeps the caller's order
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : entries) {
    if (name.empty() || name == "__metadata__")
      fail(Status::InvalidArg, where + ": invalid tensor name " + q(name));
    if (!seen.insert(name).second) fail(Status::InvalidArg, where + ": tensor " + q(name) + " appears twice");
    if (!t.defined()) fail(Status::InvalidArg, where + ": tensor " + q(name) + " is undefined");
    std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    header[name] = {{"dtype", st_dtype_name(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name that is not valid UTF-8
    fail(Status::InvalidArg, where + ": cannot write the header: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + N is a multiple of 8: aligned data section
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(Status::IO, where + ": cannot create " + q(tmp) + ": " + errno_text());
  auto give_up = [&](const std::string& what) {
    std::string msg = where + ": " + what + ": " + errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(Status::IO, msg);
  };
  if (!write_all(fd, len, 8) || !write_all(fd, text.data(), text.size())) give_up("writing the header failed");
  for (const auto& [name, t] : entries) {
    if (t.numel() == 0) continue;
    Tensor c = t.contiguous();  // row-major bytes; a copy only for strided views
    if (!write_all(fd, c.raw_data(), c.nbytes())) give_up("writing tensor " + q(name) + " failed");
  }
  if (::fsync(fd) != 0) give_up("fsync failed");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) give_up("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("renaming " + q(tmp) + " failed");
  // Make the rename itself durable (best effort: some file systems refuse fsync on folders).
  sync_folder(fs::path(path).parent_path().string());
}

// ---------------------------------------------------------------------------------------
// Checkpoint
// ---------------------------------------------------------------------------------------

Checkpoint Checkpoint::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(Status::IO, "checkpoint folder " + q(dir) + (fs::exists(dir, ec) ? " is not a folder" : " does not exist"));
  Checkpoint c;
  c.dir_ = dir;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";

  if (!fs::exists(index, ec)) {
    if (!fs::exists(single, ec))
      fail(Status::IO, "no model.safetensors or model.safetensors.index.json in " + q(dir));
    c.shards_.push_back(SafetensorsFile::open(single.string()));
    for (const std::string& n : c.shards_[0].names()) c.where_[n] = 0;
    return c;
  }

  const std::string where = "checkpoint index " + q(index.string());
  const std::string text = read_text_file(index.string());
  json j = parse_object_strict(text.data(), text.data() + text.size(), where);
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    fail(Status::Format, where + " has no \"weight_map\" object");
  std::map<std::string, size_t> shard_index;  // shard file name -> index into shards_
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(Status::Format, where + ": weight_map entry " + q(it.key()) + " is not a string");
    const std::string shard = it->get<std::string>();
    auto found = shard_index.find(shard);
    if (found == shard_index.end()) {
      // Shards are files inside the folder: no absolute paths, no way out through "..".
      fs::path rel(shard);
      bool escapes = shard.empty() || rel.is_absolute() ||
                     std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; });
      if (escapes) fail(Status::Format, where + ": shard name " + q(shard) + " is not a file in the folder");
      // Links are followed, also out of the folder: the Hugging Face cache keeps each file of
      // a snapshot as a link into ../../blobs, and the name itself cannot leave the folder.
      const fs::path full = fs::path(dir) / rel;
      if (!fs::exists(full, ec))
        fail(Status::IO, where + " lists shard " + q(shard) + ", which is missing (" + full.string() + ")");
      c.shards_.push_back(SafetensorsFile::open(full.string()));
      found = shard_index.emplace(shard, c.shards_.size() - 1).first;
    }
    if (!c.shards_[found->second].contains(it.key()))
      fail(Status::Format, where + " maps " + q(it.key()) + " to shard " + q(shard) +
                               ", which does not contain it");
    c.where_[it.key()] = found->second;
  }
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

const SafetensorsFile& Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(Status::InvalidArg, "no tensor " + q(name) + " in checkpoint " + dir_);
  return shards_[it->second];
}

const TensorInfo& Checkpoint::info(const std::string& name) const { return file_of(name).info(name); }
Tensor Checkpoint::tensor(const std::string& name) const { return file_of(name).tensor(name); }
Tensor Checkpoint::tensor(const std::string& name, DType as) const { return file_of(name).tensor(name, as); }
Tensor Checkpoint::rows(const std::string& name, int64_t begin, int64_t end, DType as) const {
  return file_of(name).rows(name, begin, end, as);
}

}  // namespace xla::io
