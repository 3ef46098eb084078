// library.cpp — versions, the per-thread error message and thread count.
#include "cpu_kernels.hpp"
#include "handles.hpp"

static_assert(int(xla::Status::InvalidArg) == XLA_ERR_INVALID_ARG && int(xla::Status::Internal) == XLA_ERR_INTERNAL &&
              int(xla::Status::BufferTooSmall) == XLA_ERR_BUFFER_TOO_SMALL &&
              int(xla::Status::Busy) == XLA_ERR_BUSY);
static_assert(int(xla::DType::U8) == XLA_U8 && int(xla::DType::BF16) == XLA_BF16 && int(xla::DType::Q8) == XLA_Q8 &&
              xla::kMaxDims == XLA_MAX_DIMS);

namespace xla::capi {
static thread_local std::string t_last_error;
void set_last_error(std::string message) { t_last_error = std::move(message); }
}  // namespace xla::capi

#define XLA_STR2(x) #x
#define XLA_STR(x) XLA_STR2(x)

extern "C" {

const char* xla_version_string(void) {
  return XLA_STR(XLA_VERSION_MAJOR) "." XLA_STR(XLA_VERSION_MINOR) "." XLA_STR(XLA_VERSION_PATCH);
}

uint32_t xla_abi_version(void) { return XLA_ABI_VERSION; }

const char* xla_cpu_path(void) { return xla::detail::cpu_kernels().name; }

const char* xla_last_error(void) { return xla::capi::t_last_error.c_str(); }

xla_status xla_set_num_threads(int32_t n) {
  return xla::capi::guard("xla_set_num_threads", [&] { xla::set_num_threads(n); });
}

int32_t xla_get_num_threads(void) { return xla::num_threads(); }

}  // extern "C"
