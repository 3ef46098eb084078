// fuzz_capi_tensor.cpp — the C API's tensor calls with hostile arguments: a little stack
// machine reads the input as a program (create, full, reshape, expand, slice, permute, matmul,
// add, sum, softmax, concat, read), with extents drawn from small sizes and from the values
// that break size arithmetic (2^31, 2^62, -1). Every call must return a status — XLA_OK with a
// tensor whose element count matches its shape, or an error with a message — and never crash.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "xla/xla.h"

namespace {

struct Program {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  int64_t extent() {
    static const int64_t kSpecial[] = {int64_t(1) << 31, int64_t(1) << 62, -1, INT64_MAX, int64_t(1) << 32};
    const uint8_t b = byte();
    return b < 240 ? b % 9 : kSpecial[b % 5];
  }
  int32_t ndim() { return int32_t(byte() % 11) - 1; }  // -1 .. 9: both ends out of range
};

// A status with no message, or XLA_OK with no tensor, breaks the C API's contract.
void check(xla_status s, xla_tensor* out) {
  if (s == XLA_OK) {
    xla::fuzz::require(out != nullptr, "XLA_OK comes with a tensor");
    int64_t numel = -1, shape[XLA_MAX_DIMS];
    int32_t ndim = -1;
    size_t nbytes = 0;
    xla::fuzz::require(xla_tensor_numel(out, &numel, &nbytes) == XLA_OK && numel >= 0, "a result has a size");
    xla::fuzz::require(xla_tensor_shape(out, nullptr, &ndim, shape) == XLA_OK, "a result has a shape");
    int64_t product = 1;
    for (int32_t i = 0; i < ndim; ++i) product *= shape[i];  // fits: the library checked it
    xla::fuzz::require(product == numel, "numel is the product of the extents");
  } else {
    const char* message = xla_last_error();
    xla::fuzz::require(message && *message, "an error comes with a message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Program prog{data, size};
  std::vector<xla_tensor*> stack;
  auto top = [&](size_t k) -> xla_tensor* { return stack.size() > k ? stack[stack.size() - 1 - k] : nullptr; };
  for (int steps = 0; prog.n > 0 && steps < 64; ++steps) {
    const uint8_t op = prog.byte() % 12;
    int64_t shape[XLA_MAX_DIMS + 2] = {};
    int32_t ndim = 0;
    if (op <= 3) {
      ndim = prog.ndim();
      for (int32_t i = 0; i < (ndim > 0 ? ndim : 0) && i < XLA_MAX_DIMS + 2; ++i) shape[i] = prog.extent();
    }
    xla_tensor* out = nullptr;
    xla_status s = XLA_OK;
    switch (op) {
      case 0: s = xla_tensor_create(int32_t(prog.byte() % 7), ndim, shape, nullptr, &out); break;
      case 1: s = xla_full(int32_t(prog.byte() % 7), ndim, shape, 1.5, &out); break;
      case 2: s = xla_reshape(top(0), ndim, shape, &out); break;
      case 3: s = xla_expand(top(0), ndim, shape, &out); break;
      case 4: {
        const int32_t axis = int32_t(prog.byte() % 6) - 1;
        s = xla_slice(top(0), axis, prog.extent(), prog.extent(), int64_t(prog.byte() % 4) - 1, &out);
        break;
      }
      case 5: s = xla_transpose(top(0), int32_t(prog.byte() % 5) - 1, int32_t(prog.byte() % 5) - 1, &out); break;
      case 6: s = xla_matmul(top(0), top(1), &out); break;
      case 7: s = xla_add(top(0), top(1), &out); break;
      case 8: s = xla_sum(top(0), nullptr, 0, prog.byte() & 1, &out); break;
      case 9: s = xla_softmax(top(0), int32_t(prog.byte() % 5) - 2, &out); break;
      case 10: {
        const xla_tensor* pair[2] = {top(0), top(1)};
        s = xla_concat(pair, 2, int32_t(prog.byte() % 4) - 1, &out);
        break;
      }
      case 11: {  // read the top tensor into a buffer of exactly its size, or a wrong size
        int64_t numel = 0;
        size_t nbytes = 0;
        if (top(0) && xla_tensor_numel(top(0), &numel, &nbytes) == XLA_OK && nbytes <= (1u << 20)) {
          std::vector<uint8_t> buffer(nbytes + 8);
          const size_t asked = nbytes + (prog.byte() % 3 == 0 ? 4 : 0);
          const xla_status r = xla_tensor_read(top(0), buffer.data(), asked);
          xla::fuzz::require((r == XLA_OK) == (asked == nbytes), "a read succeeds exactly at the right size");
        }
        continue;
      }
    }
    check(s, out);
    if (out) stack.push_back(out);
    if (stack.size() > 8) {  // keep memory bounded: drop the oldest
      xla_tensor_free(stack.front());
      stack.erase(stack.begin());
    }
  }
  for (xla_tensor* t : stack) xla_tensor_free(t);
  return 0;
}
