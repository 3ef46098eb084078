// fused_loop.cpp — the interpreter of fused_loop.hpp: a switch per block and instruction,
// a plain loop (vectorised by the compiler) per element.
#include "fused_loop.hpp"

#include <cstring>
#include <limits>
#include <memory>

#include "elementwise_fns.hpp"
#include "parallel.hpp"
#include "rows.hpp"

namespace xla::compiler {
namespace {

constexpr int64_t kBlock = 512;  // elements per register
constexpr int64_t kPacket = 16;  // Eigen's widest packet: unary blocks are padded to it

// One input seen through broadcasting onto the loop's shape.
struct Source {
  const char* base = nullptr;
  DType dtype = DType::F32;
  Dims strides;  // per loop axis, in elements; 0 where broadcast
  bool packed = false;  // strides are the loop shape's own: element i is at base + i
  bool scalar = false;  // every stride 0
};

Source bind(const Tensor& t, const Shape& shape) {
  Source s;
  s.base = static_cast<const char*>(t.raw_data());
  s.dtype = t.dtype();
  s.strides = Dims::filled(shape.size(), 0);
  const int lead = shape.size() - t.ndim();
  for (int i = 0; i < t.ndim(); ++i)
    if (t.shape()[i] != 1) s.strides[i + lead] = t.strides()[i];
  s.packed = t.shape() == shape && t.is_contiguous();
  s.scalar = true;
  for (int i = 0; i < shape.size(); ++i) s.scalar = s.scalar && s.strides[i] == 0;
  return s;
}

float load_one(const char* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::F32: return reinterpret_cast<const float*>(p)[i];
    case DType::BF16: return bf16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::I32: return float(reinterpret_cast<const int32_t*>(p)[i]);
    case DType::I64: return float(reinterpret_cast<const int64_t*>(p)[i]);
    case DType::U8: return float(reinterpret_cast<const uint8_t*>(p)[i]);
    default: fail(Status::DType, "compiled loop", std::string("cannot read ") + dtype_name(dt));
  }
}

// r[0, n) = the source's elements at flat loop positions [begin, begin + n).
void load(const Source& s, const Shape& shape, int64_t begin, int64_t n, float* r) {
  if (s.scalar) {
    const float v = load_one(s.base, s.dtype, 0);
    std::fill(r, r + n, v);
    return;
  }
  if (s.packed) {
    if (s.dtype == DType::F32) {
      std::memcpy(r, reinterpret_cast<const float*>(s.base) + begin, size_t(n) * sizeof(float));
    } else {
      for (int64_t i = 0; i < n; ++i) r[i] = load_one(s.base, s.dtype, begin + i);
    }
    return;
  }
  // walk the multi-index from `begin`, a run along the last axis at a time
  const int nd = shape.size();
  int64_t idx[kMaxDims];
  int64_t rest = begin, off = 0;
  for (int d = nd - 1; d >= 0; --d) {
    idx[d] = rest % shape[d];
    rest /= shape[d];
    off += idx[d] * s.strides[d];
  }
  const int64_t last = shape[nd - 1], step = s.strides[nd - 1];
  int64_t k = 0;
  while (k < n) {
    const int64_t run = std::min(n - k, last - idx[nd - 1]);
    if (s.dtype == DType::F32) {
      const float* p = reinterpret_cast<const float*>(s.base) + off;
      for (int64_t i = 0; i < run; ++i) r[k + i] = p[i * step];
    } else {
      for (int64_t i = 0; i < run; ++i) r[k + i] = load_one(s.base, s.dtype, off + i * step);
    }
    k += run;
    off += run * step;
    idx[nd - 1] += run;
    for (int d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {  // carry
      off -= idx[d] * s.strides[d];
      idx[d] = 0;
      ++idx[d - 1];
      off += s.strides[d - 1];
    }
  }
}

// Registers of one thread: 64-byte aligned blocks, zeroed once (the padding of a block is
// read by the vector code of unary ops and must hold numbers).
float* registers(size_t count) {
  thread_local std::unique_ptr<float[], void (*)(float*)> regs(nullptr, [](float* p) { ::operator delete[](p, std::align_val_t(64)); });
  thread_local size_t have = 0;
  if (count > have) {
    size_t n = count * size_t(kBlock);
    float* p = static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(64)));
    std::fill(p, p + n, 0.f);
    regs.reset(p);
    have = count;
  }
  return regs.get();
}

// Runs the program over flat positions [begin, begin + n), n <= kBlock.
void run_block(const FusedLoop& loop, const std::vector<Source>& src, int64_t begin, int64_t n, float* regs) {
  const int64_t padded = (n + kPacket - 1) / kPacket * kPacket;
  for (size_t i = 0; i < loop.code.size(); ++i) {
    const FusedLoop::Instr& in = loop.code[i];
    float* r = regs + i * kBlock;
    const float* a = in.a >= 0 ? regs + size_t(in.a) * kBlock : nullptr;
    const float* b = in.b >= 0 ? regs + size_t(in.b) * kBlock : nullptr;
    switch (in.step) {
      case FusedLoop::Step::Load: load(src[size_t(in.a)], loop.shape, begin, n, r); break;
      case FusedLoop::Step::Imm: std::fill(r, r + n, in.imm); break;
      case FusedLoop::Step::Copy: std::memcpy(r, a, size_t(n) * sizeof(float)); break;
      case FusedLoop::Step::Unary: {
        detail::AlignedIn x(a, padded);
        detail::AlignedOut o(r, padded);
        detail::unary_block(detail::UnaryCode(in.code), x, o);
        break;
      }
      case FusedLoop::Step::Binary:
        detail::with_binary_code(detail::BinaryCode(in.code), [&](auto c) {
          for (int64_t k = 0; k < n; ++k) r[k] = float(detail::binary_fn<decltype(c)::value>(a[k], b[k]));
        });
        break;
      case FusedLoop::Step::Where: {
        const float* c = regs + size_t(in.c) * kBlock;
        for (int64_t k = 0; k < n; ++k) r[k] = c[k] != 0.f ? a[k] : b[k];
        break;
      }
    }
  }
}

void store(const FusedLoop& loop, const float* regs, std::vector<Tensor>& outputs, int64_t begin, int64_t n) {
  for (size_t s = 0; s < loop.stores.size(); ++s) {
    const float* r = regs + size_t(loop.stores[s].reg) * kBlock;
    if (loop.stores[s].dtype == DType::U8) {
      uint8_t* o = outputs[s].data<uint8_t>() + begin;
      for (int64_t k = 0; k < n; ++k) o[k] = uint8_t(r[k] != 0.f);
    } else {
      std::memcpy(outputs[s].data<float>() + begin, r, size_t(n) * sizeof(float));
    }
  }
}

float reduce_row(detail::ReduceCode code, const float* row, int64_t n) {
  switch (code) {
    case detail::ReduceCode::Sum: return detail::lane_sum(row, n);
    case detail::ReduceCode::Mean:
      return n ? detail::lane_sum(row, n) * (1.f / float(n)) : std::numeric_limits<float>::quiet_NaN();
    case detail::ReduceCode::Max: return detail::row_max(detail::ConstRow(row, n));
    case detail::ReduceCode::Min: return detail::row_min(detail::ConstRow(row, n));
  }
  return 0.f;
}

}  // namespace

void run_fused_loop(const FusedLoop& loop, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) {
  std::vector<Source> src;
  src.reserve(inputs.size());
  for (const Tensor& t : inputs) src.push_back(bind(t, loop.shape));
  const int64_t total = loop.shape.numel();
  const size_t nregs = loop.code.size();
  if (!loop.reduces) {
    const int64_t blocks = (total + kBlock - 1) / kBlock;
    detail::parallel_for(blocks, detail::kElementwiseGrain / kBlock, [&](int64_t b0, int64_t b1) {
      float* regs = registers(nregs);
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t begin = blk * kBlock, n = std::min(kBlock, total - begin);
        run_block(loop, src, begin, n, regs);
        store(loop, regs, outputs, begin, n);
      }
    });
    return;
  }
  int64_t row = 1;
  for (int d = loop.shape.size() - loop.reduce_dims; d < loop.shape.size(); ++d) row *= loop.shape[d];
  float* reduced = outputs.back().data<float>();
  const int64_t rows = outputs.back().numel();
  detail::parallel_for(rows, std::max<int64_t>(1, detail::kElementwiseGrain / std::max<int64_t>(row, 1)),
                       [&](int64_t r0, int64_t r1) {
                         float* regs = registers(nregs);
                         thread_local std::vector<float> values;
                         values.resize(size_t(row));
                         for (int64_t r = r0; r < r1; ++r) {
                           for (int64_t j = 0; j < row; j += kBlock) {
                             const int64_t begin = r * row + j, n = std::min(kBlock, row - j);
                             run_block(loop, src, begin, n, regs);
                             store(loop, regs, outputs, begin, n);
                             std::memcpy(values.data() + j, regs + size_t(loop.reduce_reg) * kBlock, size_t(n) * sizeof(float));
                           }
                           reduced[r] = reduce_row(loop.reduce_code, values.data(), row);
                         }
                       });
}

}  // namespace xla::compiler
