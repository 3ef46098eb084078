// safetensors.hpp — reading and writing Hugging Face .safetensors files and checkpoint folders.
// A file is validated in full when it is opened (header, dtypes, shapes, byte spans), then
// read through a read-only memory map; every tensor handed out is a packed copy, so no
// tensor ever points into the map. This is not a lazy/zero-copy loader and not a pickle reader.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "xla/dtype.hpp"
#include "xla/error.hpp"
#include "xla/shape.hpp"
#include "xla/tensor.hpp"

namespace xla::io {

// Where one tensor lives: [begin, end) is a byte span inside the data section (the bytes after
// the 8-byte length and the JSON header), and end - begin == shape.numel() * dtype_size(dtype).
struct TensorInfo {
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Q8 tensors (quantize_q8) are stored as two: NAME, the int8 values (dtype "I8", NAME's
// shape), and q8_scale_name(NAME) = NAME + "_scale", the f16 scale of each block of 32
// values along the last axis (dtype "F16", NAME's shape with the last axis / 32). Reading
// NAME gives the Q8 tensor back; an I8 tensor without fitting scales is a Status::Format error.
std::string q8_scale_name(const std::string& name);

// One .safetensors file, memory-mapped read-only for the object's lifetime.
// Supported dtypes: F32, BF16, F16, I32, I64, U8, I8 (Q8 values); any other one (F64, BOOL, …) is a Status::Format
// error at open() naming the tensor. Open failures are Status::IO, corrupt content Status::Format.
// Moving is cheap (the map changes owner); copying is deleted (two owners would unmap twice).
// The map is MAP_PRIVATE: another process truncating the file while it is open can still SIGBUS
// a read — the usual mmap caveat; replacing it with save_safetensors (rename) is safe.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& o) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& o) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::vector<std::string>& names() const { return names_; }  // file order (by begin offset)
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // Status::InvalidArg when absent
  Tensor tensor(const std::string& name) const;            // packed copy, the file's dtype
  Tensor tensor(const std::string& name, DType as) const;  // converted (e.g. a BF16 file -> F32)
  // Rows [begin, end) of dim 0 only, converted to `as`: a part of a large matrix without
  // copying the rest (a pipeline stage's share of the embedding). Status::InvalidArg for a
  // range outside the rows or a tensor of no dimensions.
  Tensor rows(const std::string& name, int64_t begin, int64_t end, DType as) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  void unmap() noexcept;

  std::string path_;
  void* map_ = nullptr;       // the whole file, PROT_READ
  size_t map_size_ = 0;       // file size in bytes
  size_t data_start_ = 0;     // 8 + header length: where offset 0 of the data section is
  std::vector<std::string> names_;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any dtype, any strides: written row-major) in the given order, with
// `metadata` as "__metadata__". Atomic: the bytes go to path + ".tmp", which is fsync'ed and
// renamed over `path`, so a crash mid-write leaves the old file intact. Names must be unique,
// non-empty and not "__metadata__" (Status::InvalidArg); I/O failures are Status::IO.
// The header is padded with spaces so the data section starts 8-byte aligned.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A Hugging Face model folder: either model.safetensors, or the shards that
// model.safetensors.index.json lists in its "weight_map" {tensor name: shard file name}.
// The index is preferred when both exist. Every shard is opened (and validated) up front.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);
  Checkpoint(Checkpoint&&) noexcept = default;
  Checkpoint& operator=(Checkpoint&&) noexcept = default;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  std::vector<std::string> names() const;  // sorted by name
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // Status::InvalidArg when absent
  Tensor tensor(const std::string& name) const;
  Tensor tensor(const std::string& name, DType as) const;
  Tensor rows(const std::string& name, int64_t begin, int64_t end, DType as) const;  // as SafetensorsFile::rows
  const std::string& dir() const { return dir_; }

 private:
  Checkpoint() = default;
  const SafetensorsFile& file_of(const std::string& name) const;

  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> index into shards_
};

}  // namespace xla::io
