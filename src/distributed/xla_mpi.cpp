// xla_mpi.cpp — the C ABI of libxla_mpi.so (xla/xla_mpi.h): the world collective behind the
// callbacks of an xla_collective. No exception leaves a callback: an error is its status.
#include "xla/xla_mpi.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "xla/error.hpp"
#include "xla/mpi.hpp"

namespace {

using xla::ReduceOp;
using xla::mpi::WorldCollective;

std::unique_ptr<WorldCollective> world;  // made by xla_mpi_collective, after init

template <typename F>
xla_status guarded(F&& f) {
  try {
    f();
    return XLA_OK;
  } catch (const xla::Error& e) {
    std::fprintf(stderr, "libxla_mpi: %s\n", e.what());
    return xla_status(e.status());
  } catch (...) {
    return XLA_ERR_INTERNAL;
  }
}

WorldCollective& of(void* user_data) { return *static_cast<WorldCollective*>(user_data); }
ReduceOp op_of(int32_t op) { return op == XLA_REDUCE_MAX ? ReduceOp::Max : ReduceOp::Sum; }

xla_status reduce_f32(float* data, size_t n, int32_t op, void* u) {
  return guarded([&] { of(u).all_reduce(std::span<float>(data, n), op_of(op)); });
}
xla_status reduce_f64(double* data, size_t n, int32_t op, void* u) {
  return guarded([&] { of(u).all_reduce(std::span<double>(data, n), op_of(op)); });
}
xla_status broadcast(void* data, size_t bytes, int32_t root, void* u) {
  return guarded([&] { of(u).broadcast({static_cast<std::byte*>(data), bytes}, root); });
}
xla_status send(const void* data, size_t bytes, int32_t to, void* u) {
  return guarded([&] { of(u).send({static_cast<const std::byte*>(data), bytes}, to); });
}
xla_status recv(void* data, size_t bytes, int32_t from, void* u) {
  return guarded([&] { of(u).recv({static_cast<std::byte*>(data), bytes}, from); });
}

}  // namespace

int32_t xla_mpi_launched(void) { return xla::mpi::launched() ? 1 : 0; }

xla_status xla_mpi_init(int* argc, char*** argv) {
  return guarded([&] { xla::mpi::init(argc, argv); });
}

xla_status xla_mpi_collective(xla_collective* out) {
  if (!out) return XLA_ERR_INVALID_ARG;
  return guarded([&] {
    if (!world) world = std::make_unique<WorldCollective>();
    *out = xla_collective{};
    out->struct_size = sizeof(xla_collective);
    out->rank = world->rank();
    out->world_size = world->world_size();
    out->user_data = world.get();
    out->all_reduce_f32 = reduce_f32;
    out->all_reduce_f64 = reduce_f64;
    out->broadcast = broadcast;
    out->send = send;
    out->recv = recv;
  });
}

void xla_mpi_abort(const char* message) { xla::mpi::abort(message ? message : "(no message)"); }

xla_status xla_mpi_finalize(void) {
  return guarded([] {
    world.reset();
    xla::mpi::finalize();
  });
}
