// fused_loop.cpp — the interpreter of fused_loop.hpp: a switch per block and instruction,
// a plain loop (vectorised by the compiler) per element.
#include "fused_loop.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>

#include "cpu_kernels.hpp"
#include "elementwise_fns.hpp"
#include "parallel.hpp"
#include "rows.hpp"

namespace xla::compiler {
namespace {

constexpr int64_t kBlock = 2048;  // elements per register
// Registers lie kStride floats apart, not kBlock: at a multiple of 4 KiB apart, every
// register would share its address's low 12 bits with the others, and the CPU can stall a
// load behind a store it takes for the same address (4K aliasing).
constexpr int64_t kStride = kBlock + 16;
constexpr int64_t kPacket = 16;  // Eigen's widest packet: unary blocks are padded to it
// A loop whose results take at least this many bytes writes them with non-temporal stores
// where an arithmetic step computes them and no later step reads them back: results larger
// than the caches are found in memory by their next reader anyway, and an ordinary store
// first reads every line it writes. (GeGLU over 2048 rows of the 270M shape: bench_compile.)
constexpr int64_t kStreamedBytes = int64_t(8) << 20;

// One input seen through broadcasting onto the loop's shape.
struct Source {
  const char* base = nullptr;
  DType dtype = DType::F32;
  Dims strides;         // per loop axis, in elements; 0 where broadcast
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
    case DType::F32:
      return reinterpret_cast<const float*>(p)[i];
    case DType::BF16:
      return bf16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::F16:
      return f16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::I32:
      return float(reinterpret_cast<const int32_t*>(p)[i]);
    case DType::I64:
      return float(reinterpret_cast<const int64_t*>(p)[i]);
    case DType::U8:
      return float(reinterpret_cast<const uint8_t*>(p)[i]);
    default:
      fail(Status::DType, "compiled loop", std::string("cannot read ") + dtype_name(dt));
  }
}

// r[i] = the source's element at off + i·step, i < n, widened to f32: one switch per run.
template <typename T>
void widen_run(const char* base, int64_t off, int64_t step, int64_t n, float* r) {
  const T* p = reinterpret_cast<const T*>(base) + off;
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, uint16_t>)
      r[i] = bf16_to_f32(p[i * step]);
    else
      r[i] = float(p[i * step]);
  }
}
void load_run(const Source& s, int64_t off, int64_t step, int64_t n, float* r) {
  switch (s.dtype) {
    case DType::F32:
      return widen_run<float>(s.base, off, step, n, r);
    case DType::BF16:
      return widen_run<uint16_t>(s.base, off, step, n, r);
    case DType::I32:
      return widen_run<int32_t>(s.base, off, step, n, r);
    case DType::U8:
      return widen_run<uint8_t>(s.base, off, step, n, r);
    default:  // (f16, i64: rare here)
      for (int64_t i = 0; i < n; ++i) r[i] = load_one(s.base, s.dtype, off + i * step);
  }
}

// Where element `begin` of the loop lies in the source, and its position along the last axis.
int64_t offset_of(const Source& s, const Shape& shape, int64_t begin, int64_t* last_index) {
  int64_t rest = begin, off = 0;
  for (int d = shape.size() - 1; d >= 0; --d) {
    const int64_t i = rest % shape[d];
    rest /= shape[d];
    off += i * s.strides[d];
    if (d == shape.size() - 1) *last_index = i;
  }
  return off;
}

// A block's values: n floats at ptr, or one value everywhere (uniform).
struct Value {
  const float* ptr = nullptr;
  bool uniform = false;
  float v = 0;
};

// The source's block [begin, begin + n) without copying when it can be had so: packed f32
// in place, a value broadcast along the block; else Value{} (it must be loaded).
Value peek(const Source& s, const Shape& shape, int64_t begin, int64_t n) {
  if (s.scalar) return {nullptr, true, load_one(s.base, s.dtype, 0)};
  if (s.packed) return s.dtype == DType::F32 ? Value{reinterpret_cast<const float*>(s.base) + begin} : Value{};
  int64_t i = 0;
  const int64_t off = offset_of(s, shape, begin, &i);
  if (i + n > shape.back()) return {};  // the block spans rows
  const int64_t step = s.strides[shape.size() - 1];
  if (step == 0) return {nullptr, true, load_one(s.base, s.dtype, off)};
  if (step == 1 && s.dtype == DType::F32) return {reinterpret_cast<const float*>(s.base) + off};
  return {};
}

// r[0, n) = the source's elements at flat loop positions [begin, begin + n).
void load(const Source& s, const Shape& shape, int64_t begin, int64_t n, float* r) {
  if (s.packed) return load_run(s, begin, 1, n, r);  // (an f32 one is read in place: see peek)
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
      if (step == 1)
        std::memcpy(r + k, p, size_t(run) * sizeof(float));  // a row of a broadcast operand
      else if (step == 0)
        std::fill(r + k, r + k + run, *p);  // a value along the row
      else
        for (int64_t i = 0; i < run; ++i) r[k + i] = p[i * step];
    } else {
      load_run(s, off, step, run, r + k);
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
// read by the vector code of unary ops and must hold numbers), and each instruction's value.
// The values sit on cache lines of their own: written at every block, they would otherwise
// stall the other thread's reads of whatever shared their line (the loop's sources).
struct Registers {
  float* data = nullptr;
  Value* value = nullptr;
  size_t count = 0;
  bool holds(const float* p) const { return p >= data && p < data + (count + 1) * size_t(kStride); }
};
Registers& registers(size_t count) {
  thread_local std::unique_ptr<char[], void (*)(char*)> block(
      nullptr, [](char* p) { ::operator delete[](p, std::align_val_t(64)); });
  thread_local Registers regs;
  if (count > regs.count) {
    const size_t head = (count * sizeof(Value) + 63) / 64 * 64;
    const size_t floats = (count + 1) * size_t(kStride);  // one more: a scratch block
    char* p = static_cast<char*>(::operator new[](head + floats * sizeof(float), std::align_val_t(64)));
    block.reset(p);
    regs.value = new (p) Value[count];
    regs.data = reinterpret_cast<float*>(p + head);
    std::fill(regs.data, regs.data + floats, 0.f);
    regs.count = count;
  }
  return regs;
}

// Which instructions give the same block in every row, when each block is one whole row:
// those reading only immediates and sources broadcast along the rows (a norm's weight, its
// `1 + w`). A thread computes them at its first row and keeps them in their registers.
// A stored one is not kept: its store is written at every row.
void row_invariant(const FusedLoop& loop, const std::vector<Source>& src, int lead_axes, std::vector<char>& same) {
  same.assign(loop.code.size(), 0);
  for (size_t i = 0; i < loop.code.size(); ++i) {
    const FusedLoop::Instr& in = loop.code[i];
    switch (in.step) {
      case FusedLoop::Step::Load: {
        const Source& s = src[size_t(in.a)];
        same[i] = 1;
        for (int d = 0; d < lead_axes; ++d) same[i] = same[i] && s.strides[d] == 0;
        break;
      }
      case FusedLoop::Step::Imm:
        same[i] = 1;
        break;
      case FusedLoop::Step::Unary:
      case FusedLoop::Step::Copy:
        same[i] = same[size_t(in.a)];
        break;
      case FusedLoop::Step::Binary:
        same[i] = same[size_t(in.a)] && same[size_t(in.b)];
        break;
      case FusedLoop::Step::Where:
        same[i] = same[size_t(in.a)] && same[size_t(in.b)] && same[size_t(in.c)];
        break;
    }
  }
  for (size_t i = 0; i < same.size(); ++i) same[i] = same[i] && loop.store_of[i] < 0;
}

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

// v's n values at `to` (a fill for a uniform value).
void write(const Value& v, float* to, int64_t n) {
  if (v.uniform)
    std::fill(to, to + n, v.v);
  else if (v.ptr != to)
    std::memcpy(to, v.ptr, size_t(n) * sizeof(float));
}

// f of one value through the vector code of the eager op (an aligned packet of copies),
// so that a uniform block gets the bits each of its elements would.
float unary_one(detail::UnaryCode code, float x) {
  alignas(64) float in[kPacket], out[kPacket];
  std::fill(in, in + kPacket, x);
  detail::AlignedIn a(in, kPacket);
  detail::AlignedOut o(out, kPacket);
  detail::unary_block(code, a, o);
  return out[0];
}

// Runs the program over flat positions [begin, begin + n), n <= kBlock. Inputs are read
// where they lie when packed (or broadcast whole along the block), a stored f32 value is
// computed straight into its output, and a value that is the same across the block stays
// one number: a chain moves each block between memory and the registers once. Unary ops
// (Eigen's aligned vector code, which reads and writes whole packets) go through
// registers when a block is short or unaligned. Instructions marked in `kept` still hold
// their value from the previous block and are skipped; those marked in `streamed` write
// their output with non-temporal stores.
void run_block(const FusedLoop& loop, const std::vector<Source>& src, void* const* outputs, int64_t begin, int64_t n,
               Registers& regs, const char* kept, const char* streamed) {
  const int64_t padded = (n + kPacket - 1) / kPacket * kPacket;
  const bool whole = padded == n;
  float* scratch = regs.data + loop.code.size() * kStride;
  for (size_t i = 0; i < loop.code.size(); ++i) {
    if (kept && kept[i]) continue;
    const FusedLoop::Instr& in = loop.code[i];
    float* own = regs.data + i * kStride;
    const int st = loop.store_of[i];
    float* direct = st >= 0 ? static_cast<float*>(outputs[st]) + begin : nullptr;
    float* out = direct ? direct : own;
    Value& result = regs.value[i];
    const bool reads = in.step != FusedLoop::Step::Load && in.step != FusedLoop::Step::Imm;
    const Value a = reads && in.a >= 0 ? regs.value[size_t(in.a)] : Value{};
    const Value b = in.b >= 0 ? regs.value[size_t(in.b)] : Value{};
    switch (in.step) {
      case FusedLoop::Step::Load: {
        const Source& from = src[size_t(in.a)];
        const Value v = peek(from, loop.shape, begin, n);
        if (v.ptr || v.uniform) {
          if (!direct) {
            result = v;
            continue;
          }
          write(v, out, n);
        } else {
          load(from, loop.shape, begin, n, out);
        }
        break;
      }
      case FusedLoop::Step::Imm:
        if (!direct) {
          result = {nullptr, true, in.imm};
          continue;
        }
        std::fill(out, out + n, in.imm);
        break;
      case FusedLoop::Step::Copy:
        if (!direct) {
          result = a;
          continue;
        }
        write(a, out, n);
        break;
      case FusedLoop::Step::Unary: {
        const auto code = detail::UnaryCode(in.code);
        if (a.uniform) {
          const float y = unary_one(code, a.v);
          if (!direct) {
            result = {nullptr, true, y};
            continue;
          }
          std::fill(out, out + n, y);
          break;
        }
        const float* x = a.ptr;
        if (!whole || !aligned(x)) {  // Eigen reads whole aligned packets
          std::memcpy(scratch, x, size_t(n) * sizeof(float));
          x = scratch;
        }
        float* o = whole && aligned(out) ? out : own;
        detail::AlignedIn xm(x, padded);
        detail::AlignedOut om(o, padded);
        detail::unary_block(code, xm, om);
        if (o != out) std::memcpy(out, o, size_t(n) * sizeof(float));
        break;
      }
      case FusedLoop::Step::Binary:
        // + − × ÷ through the path's vector loops (exactly rounded: the eager bits)
        if (const auto arith = detail::arith_of(detail::BinaryCode(in.code)); arith && !(a.uniform && b.uniform)) {
          const detail::CpuKernels& cpu = detail::cpu_kernels();
          (streamed && streamed[i] && direct ? cpu.arith_f32_streaming : cpu.arith_f32)(
              *arith, a.uniform ? &a.v : a.ptr, a.uniform, b.uniform ? &b.v : b.ptr, b.uniform, out, n);
          result = {out};
          continue;
        }
        detail::with_binary_code(detail::BinaryCode(in.code), [&](auto c) {
          constexpr detail::BinaryCode C = decltype(c)::value;
          if (a.uniform && b.uniform) {
            result = {nullptr, true, float(detail::binary_fn<C>(a.v, b.v))};
            if (direct) std::fill(out, out + n, result.v);
            return;
          }
          if (a.uniform) {
            for (int64_t k = 0; k < n; ++k) out[k] = float(detail::binary_fn<C>(a.v, b.ptr[k]));
          } else if (b.uniform) {
            for (int64_t k = 0; k < n; ++k) out[k] = float(detail::binary_fn<C>(a.ptr[k], b.v));
          } else {
            for (int64_t k = 0; k < n; ++k) out[k] = float(detail::binary_fn<C>(a.ptr[k], b.ptr[k]));
          }
          result = {out};
        });
        continue;
      case FusedLoop::Step::Where: {
        const Value c = regs.value[size_t(in.c)];
        auto at = [](const Value& v, int64_t k) { return v.uniform ? v.v : v.ptr[k]; };
        for (int64_t k = 0; k < n; ++k) out[k] = at(c, k) != 0.f ? at(a, k) : at(b, k);
        break;
      }
    }
    result = {out};
  }
}

// The stores not computed in place: u8 masks, and values that stayed in an input or a register.
void store(const FusedLoop& loop, const Registers& regs, void* const* outputs, int64_t begin, int64_t n) {
  for (size_t s = 0; s < loop.stores.size(); ++s) {
    const int reg = loop.stores[s].reg;
    const Value& v = regs.value[size_t(reg)];
    if (loop.store_of[size_t(reg)] == int(s) && !v.uniform && v.ptr == static_cast<float*>(outputs[s]) + begin)
      continue;
    if (loop.stores[s].dtype == DType::U8) {
      uint8_t* o = static_cast<uint8_t*>(outputs[s]) + begin;
      for (int64_t k = 0; k < n; ++k) o[k] = uint8_t((v.uniform ? v.v : v.ptr[k]) != 0.f);
    } else {
      write(v, static_cast<float*>(outputs[s]) + begin, n);
    }
  }
}

float reduce_row(detail::ReduceCode code, const float* row, int64_t n) {
  switch (code) {
    case detail::ReduceCode::Sum:
      return detail::lane_sum(row, n);
    case detail::ReduceCode::Mean:
      return n ? detail::lane_sum(row, n) * (1.f / float(n)) : std::numeric_limits<float>::quiet_NaN();
    case detail::ReduceCode::Max:
      return detail::row_max(detail::ConstRow(row, n));
    case detail::ReduceCode::Min:
      return detail::row_min(detail::ConstRow(row, n));
  }
  return 0.f;
}

}  // namespace

void run_fused_loop(const FusedLoop& loop, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) {
  // The caller's thread keeps these between calls, so that a replay step allocates nothing.
  // (References, so that the worker threads below read the caller's, not their own.)
  thread_local std::vector<Source> kept_sources;
  thread_local std::vector<void*> kept_outputs;
  thread_local std::vector<char> kept_invariant, kept_streamed;
  std::vector<Source>& src = kept_sources;
  std::vector<void*>& out = kept_outputs;
  std::vector<char>& invariant = kept_invariant;
  std::vector<char>& streamed = kept_streamed;
  src.clear();
  for (const Tensor& t : inputs) src.push_back(bind(t, loop.shape));
  out.clear();
  for (size_t s = 0; s < loop.stores.size(); ++s)
    out.push_back(loop.stores[s].dtype == DType::U8 ? static_cast<void*>(outputs[s].data<uint8_t>())
                                                    : static_cast<void*>(outputs[s].data<float>()));
  const int64_t total = loop.shape.numel();
  if (total == 0) {
    if (loop.reduces)  // rows of nothing: what the eager op gives
      outputs.back().fill_(loop.reduce_code == detail::ReduceCode::Mean ? std::numeric_limits<double>::quiet_NaN()
                                                                        : 0.0);
    return;
  }
  const size_t nregs = loop.code.size();
  // Blocks never straddle rows of the reduction, nor, when rows are long, rows of the last
  // axis: a row-broadcast operand is then one value or one pointer per block.
  int64_t row = loop.shape.size() ? loop.shape.back() : 1;
  if (loop.reduces) {
    row = 1;
    for (int d = loop.shape.size() - loop.reduce_dims; d < loop.shape.size(); ++d) row *= loop.shape[d];
  } else if (row < 128) {
    row = std::min(total, kBlock);  // short rows: flat blocks, which the threads share out
  }
  const int64_t rows = (total + row - 1) / row;  // the last of flat blocks may be short
  float* reduced = loop.reduces ? outputs.back().data<float>() : nullptr;
  // a loop of many ops costs as many passes per element: the threads share it out sooner
  const int64_t grain = std::max(detail::kHeavyElementGrain, detail::kElementwiseGrain / int64_t(nregs + 1));
  // Short rows of a reduction (a softmax's gradient over 12 keys): whole rows, as many as a
  // block holds, then each row reduced where it lies. A block per row would pay the program's
  // dispatch for every few elements. Each element's value is the same either way.
  if (const int64_t group = reduced && row * 2 <= kBlock ? kBlock / row : 1; group > 1) {
    detail::parallel_for(rows, std::max<int64_t>(1, grain / row), [&](int64_t r0, int64_t r1) {
      Registers& regs = registers(nregs);
      thread_local std::vector<float> values;
      values.resize(size_t(kBlock));
      for (int64_t r = r0; r < r1; r += group) {
        const int64_t count = std::min(group, r1 - r), begin = r * row, n = count * row;
        run_block(loop, src, out.data(), begin, n, regs, nullptr, nullptr);
        store(loop, regs, out.data(), begin, n);
        const Value& v = regs.value[size_t(loop.reduce_reg)];
        const float* at = v.ptr;
        if (v.uniform) {
          write(v, values.data(), n);
          at = values.data();
        }
        for (int64_t j = 0; j < count; ++j) reduced[r + j] = reduce_row(loop.reduce_code, at + j * row, row);
      }
    });
    return;
  }
  const bool row_blocks = (loop.reduces || row == loop.shape.back()) && row <= kBlock;
  invariant.clear();
  if (row_blocks && rows > 1)
    row_invariant(loop, src, loop.shape.size() - (loop.reduces ? loop.reduce_dims : 1), invariant);
  const bool hoists = std::find(invariant.begin(), invariant.end(), 1) != invariant.end();
  int64_t stored_bytes = 0;
  for (const auto& st : loop.stores) stored_bytes += total * int64_t(dtype_size(st.dtype));
  const bool streams = !reduced && stored_bytes >= kStreamedBytes;
  if (streams) {
    streamed.assign(nregs, 1);
    for (const FusedLoop::Instr& in : loop.code) {
      if (in.step == FusedLoop::Step::Load || in.step == FusedLoop::Step::Imm) continue;  // (a: an input slot)
      for (const int r : {in.a, in.b, in.c})
        if (r >= 0) streamed[size_t(r)] = 0;  // read back by a later step: kept in the cache
    }
  }
  detail::parallel_for(rows, std::max<int64_t>(1, grain / row), [&](int64_t r0, int64_t r1) {
    Registers& regs = registers(nregs);
    thread_local std::vector<float> values;
    if (reduced) values.resize(size_t(row));
    for (int64_t r = r0; r < r1; ++r) {
      const float* in_place = nullptr;  // the row's values, where they lie contiguously
      const int64_t len = std::min(row, total - r * row), per_row = (len + kBlock - 1) / kBlock;
      for (int64_t blk = 0; blk < per_row; ++blk) {
        const int64_t j = blk * kBlock, begin = r * row + j, n = std::min(kBlock, len - j);
        run_block(loop, src, out.data(), begin, n, regs, hoists && r > r0 ? invariant.data() : nullptr,
                  streams ? streamed.data() : nullptr);
        store(loop, regs, out.data(), begin, n);
        if (!reduced) continue;
        const Value& v = regs.value[size_t(loop.reduce_reg)];
        // A register is overwritten by the row's next block: only a row of one block is
        // reduced where it lies in one.
        if (blk == 0 && !v.uniform && (per_row == 1 || !regs.holds(v.ptr))) in_place = v.ptr;
        if (in_place && (v.uniform || v.ptr != in_place + j)) {  // not contiguous after all: collect
          if (j) std::memcpy(values.data(), in_place, size_t(j) * sizeof(float));
          in_place = nullptr;
        }
        if (!in_place) write(v, values.data() + j, n);
      }
      if (reduced) reduced[r] = reduce_row(loop.reduce_code, in_place ? in_place : values.data(), row);
    }
    if (streams) detail::cpu_kernels().stream_fence();
  });
}

}  // namespace xla::compiler
