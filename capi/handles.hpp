// handles.hpp — what the C handles are, and the guard every C entry point runs in.
// The guard turns any exception into an xla_status plus a thread-local message, so no
// C++ exception ever crosses the C boundary (capi.md rule 4).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "xla/dpo.hpp"
#include "xla/error.hpp"
#include "xla/model.hpp"
#include "xla/generate.hpp"
#include "xla/grpo.hpp"
#include "xla/optim.hpp"
#include "xla/sampler.hpp"
#include "xla/tokenizer.hpp"
#include "xla/tensor.hpp"
#include "xla/xla.h"

struct xla_tensor {
  xla::Tensor t;
};
struct xla_model {
  std::unique_ptr<xla::Model> m;
};
struct xla_tokenizer {
  xla::Tokenizer t;
};
struct xla_optimizer {
  std::unique_ptr<xla::train::Optimizer> o;
};

namespace xla::capi {

void set_last_error(std::string message);

// "fn: message" for an error thrown under entry point fn. Its where (error.hpp) is dropped
// when it is only the C++ side of fn itself: the op of the same name ("add" under xla_add)
// or the function fn declares it wraps ("GemmaModel::load" under xla_model_load); a where
// from deeper down stays ("xla_model_forward: embedding: index 512 is out of range [0, 512)").
inline std::string error_message(const char* fn, const char* wraps, const Error& e) {
  const std::string& where = e.where();
  const bool own =
      !where.empty() && ((std::strncmp(fn, "xla_", 4) == 0 && where == fn + 4) || (wraps && where == wraps));
  return std::string(fn) + ": " + (own ? e.message() : std::string(e.what()));
}

// Thrown for bad arguments detected in capi itself.
[[noreturn]] inline void invalid(const std::string& msg) { fail(Status::InvalidArg, msg); }

// A C struct with a struct_size field, as its _init functions hand it out: all zeros, then
// the size this library was built with.
template <typename T>
void clear_struct(T* p) {
  std::memset(p, 0, sizeof(*p));
  p->struct_size = sizeof(*p);
}

template <typename T>
inline void require_ptr(const T* p, const char* name) {
  if (!p) invalid(std::string(name) + " is NULL");
}

// Copies text NUL-terminated into buf (cap >= size + 1) and reports its size without the
// NUL in *len_out, also when buf is too small.
inline void write_text(const std::string& text, char* buf, size_t cap, size_t* len_out) {
  require_ptr(len_out, "len_out");
  *len_out = text.size();
  if (cap < text.size() + 1)
    fail(Status::BufferTooSmall,
         "the text needs " + std::to_string(text.size() + 1) + " bytes with its NUL, buf holds " + std::to_string(cap));
  require_ptr(buf, "buf");
  std::memcpy(buf, text.data(), text.size() + 1);
}

// Unwraps a handle, checking for NULL (`name` is the argument's name in the message).
inline const Tensor& tensor_of(const xla_tensor* h, const char* name) {
  require_ptr(h, name);
  return h->t;
}

inline DType dtype_arg(int32_t dt) {
  if (!dtype_valid(dt)) invalid("dtype " + std::to_string(dt) + " is not one of XLA_F32 .. XLA_U8");
  return DType(dt);
}

inline Shape shape_arg(int32_t ndim, const int64_t* shape) {
  if (ndim < 0 || ndim > kMaxDims) invalid("ndim " + std::to_string(ndim) + " is outside [0, 8]");
  if (ndim > 0) require_ptr(shape, "shape");
  return Shape(std::span<const int64_t>(shape, size_t(ndim)));
}

// A shape for a new tensor: as shape_arg, and every extent >= 0 (Status::Shape otherwise).
inline Shape new_shape_arg(int32_t ndim, const int64_t* shape) {
  Shape s = shape_arg(ndim, shape);
  for (int32_t i = 0; i < ndim; ++i)
    if (shape[i] < 0) fail(Status::Shape, "negative extent in shape " + s.str());
  return s;
}

inline xla_tensor* wrap(Tensor t) { return new xla_tensor{std::move(t)}; }

// Options structs may come from an older header: copy the fields the caller's size covers
// over the defaults (capi.md rule 7). NULL means the defaults.
template <typename T>
T read_options(const T* user, void (*init)(T*), const char* name) {
  T opts;
  init(&opts);
  if (!user) return opts;
  if (user->struct_size < sizeof(uint32_t) || user->struct_size > sizeof(T))
    invalid(std::string(name) + ".struct_size is " + std::to_string(user->struct_size) + "; set it to sizeof(" + name +
            ") or call its _init function");
  std::memcpy(&opts, user, user->struct_size);
  opts.struct_size = sizeof(T);
  return opts;
}

// Fills the fields of *out its struct_size covers (dpo_api.cpp): xla_dpo_loss and the DPO
// trainer's results and callback.
void write_dpo_metrics(const train::DpoMetrics& m, xla_dpo_metrics* out);

// xla_grpo_params over the defaults (struct_size rule), validated; and the metrics the caller's
// struct_size covers (grpo_api.cpp): xla_grpo_loss and the GRPO trainer share both.
train::GrpoOptions grpo_options_of(const xla_grpo_params* user);
void write_grpo_metrics(const train::GrpoMetrics& m, xla_grpo_metrics* out);

// The sampler settings of an xla_sampler_params already read with read_options, validated:
// shared by xla_generate, the sessions and xla_sampler_create (sampler_api.cpp).
SamplerParams sampler_params_of(const xla_sampler_params& p);

// The whole of an xla_sampler_params (NULL = greedy, max_new_tokens 256), read with
// read_options and validated: the sampler, max_new_tokens (>= 0 here; each caller adds its
// own floor) and the stop ids, copied. Shared by xla_generate, the sessions and
// xla_engine_submit (model_api.cpp).
GenerateOptions generate_options(const xla_sampler_params* user);

// n ids copied from `ids` (which may be NULL only when n is 0; `name` is the argument's name).
std::vector<int32_t> ids_arg(const int32_t* ids, size_t n, const char* name);

// A result struct's struct_size must cover at least its first result field and at most the
// struct this library knows (an unset size, most likely): checked before any work, so that
// *out stays untouched on failure.
template <typename S, typename F>
void check_result_size(const S* out, F S::*first, const char* name) {
  const size_t least =
      size_t(reinterpret_cast<const char*>(&(out->*first)) - reinterpret_cast<const char*>(out)) + sizeof(F);
  if (out->struct_size < least || out->struct_size > sizeof(S))
    invalid(std::string(name) + ".struct_size is " + std::to_string(out->struct_size) + "; set it to sizeof(" + name + ")");
}

// Zeroes the caller's result struct up to its struct_size (padding included), so that
// two results can be compared with memcmp; struct_size itself is kept.
template <typename S>
void clear_result(S* out) {
  const size_t n = std::min<size_t>(out->struct_size, sizeof(S));
  if (n > sizeof(uint32_t)) std::memset(reinterpret_cast<char*>(out) + sizeof(uint32_t), 0, n - sizeof(uint32_t));
}

// Result structs take the fields their struct_size covers (capi.md rule 7): writes one.
template <typename S, typename F>
void put(S* out, F S::*field, F value) {
  const size_t end = size_t(reinterpret_cast<const char*>(&(out->*field)) - reinterpret_cast<const char*>(out)) + sizeof(F);
  if (end <= out->struct_size) out->*field = value;
}

// Runs body(); on an exception records "fn: message" and returns its status. `wraps`: the
// C++ function fn stands for, when its name is not fn's without "xla_" (see error_message).
template <typename F>
xla_status guard(const char* fn, const char* wraps, F&& body) noexcept {
  try {
    body();
    return XLA_OK;
  } catch (const Error& e) {
    set_last_error(error_message(fn, wraps, e));
    return xla_status(e.status());
  } catch (const std::bad_alloc&) {
    set_last_error(std::string(fn) + ": out of memory");
    return XLA_ERR_OOM;
  } catch (const std::exception& e) {
    set_last_error(std::string(fn) + ": internal error: " + e.what());
    return XLA_ERR_INTERNAL;
  } catch (...) {
    set_last_error(std::string(fn) + ": internal error");
    return XLA_ERR_INTERNAL;
  }
}

template <typename F>
xla_status guard(const char* fn, F&& body) noexcept {
  return guard(fn, nullptr, std::forward<F>(body));
}

// The common shape of an op entry point: check `out`, compute, hand out a new handle.
template <typename F>
xla_status make(const char* fn, xla_tensor** out, F&& compute) noexcept {
  return guard(fn, [&] {
    require_ptr(out, "out");
    Tensor r = compute();
    *out = wrap(std::move(r));
  });
}

}  // namespace xla::capi
