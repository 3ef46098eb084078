// fused_loop.hpp — a Fused node's program and the loop that runs it.
// The loop walks its shape in blocks of up to 2048 elements. Each instruction fills one register
// (a block) from earlier ones, with the same arithmetic as the eager ops
// (elementwise_fns.hpp), so a fused chain gives the eager chain's bits while reading its
// inputs once and writing only the values someone needs. A reduction at the end collects
// each row's values and reduces them as the eager op does (rows.hpp).
#pragma once
#include <string>
#include <vector>

#include "op_trace.hpp"
#include "xla/tensor.hpp"

namespace xla::compiler {

struct FusedLoop {
  enum class Step { Load, Imm, Unary, Binary, Where, Copy };
  struct Instr {
    Step step = Step::Load;
    int code = 0;                // Unary, Binary
    int a = -1, b = -1, c = -1;  // registers read (Load: the input slot)
    float imm = 0;               // Imm
    std::string name;            // the op, for dumps
  };
  struct Store {
    int reg = 0;
    DType dtype = DType::F32;  // f32, or u8 for comparisons
  };

  Shape shape;              // the iteration space
  std::vector<Instr> code;  // register i holds instruction i's result
  std::vector<Store> stores;
  std::vector<int> store_of;  // per register: the f32 store it is computed into, or -1
  // A reduction of register reduce_reg over the last reduce_dims axes of `shape`: the
  // output after the stores.
  bool reduces = false;
  detail::ReduceCode reduce_code = detail::ReduceCode::Sum;
  int reduce_reg = -1;
  int reduce_dims = 0;
  std::string reduce_name;
};

// Runs the loop over inputs (any strides and dtypes, broadcast to loop.shape) into outputs
// (contiguous: the stores' dtypes and loop.shape, then the reduced shape).
void run_fused_loop(const FusedLoop& loop, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs);

}  // namespace xla::compiler
