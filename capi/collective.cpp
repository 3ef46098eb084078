// collective.cpp — the C collective's callbacks behind the C++ interface (collective.hpp).
#include "collective.hpp"

#include <string>

#include "handles.hpp"

namespace xla::capi {
namespace {

class CollectiveFromC final : public Collective {
 public:
  explicit CollectiveFromC(const xla_collective& c) : c_(c) {}
  int rank() const override { return c_.rank; }
  int world_size() const override { return c_.world_size; }
  void all_reduce(std::span<float> data, ReduceOp op) override {
    check(c_.all_reduce_f32(data.data(), data.size(), op_code(op), c_.user_data), "all_reduce_f32");
  }
  void all_reduce(std::span<double> data, ReduceOp op) override {
    check(c_.all_reduce_f64(data.data(), data.size(), op_code(op), c_.user_data), "all_reduce_f64");
  }
  void broadcast(std::span<std::byte> data, int root) override {
    check(c_.broadcast(data.data(), data.size(), root, c_.user_data), "broadcast");
  }
  void send(std::span<const std::byte> data, int to) override {
    check(c_.send(data.data(), data.size(), to, c_.user_data), "send");
  }
  void recv(std::span<std::byte> data, int from) override {
    check(c_.recv(data.data(), data.size(), from, c_.user_data), "recv");
  }

 private:
  static int32_t op_code(ReduceOp op) { return op == ReduceOp::Max ? XLA_REDUCE_MAX : XLA_REDUCE_SUM; }
  void check(xla_status s, const char* what) const {
    if (s == XLA_OK) return;
    const Status status = s >= XLA_ERR_BUSY && s < 0 ? Status(s) : Status::Internal;
    fail(status, "the collective's " + std::string(what) + " callback failed on rank " + std::to_string(c_.rank) +
                     " (status " + std::to_string(s) + ")");
  }
  xla_collective c_;
};

}  // namespace

std::unique_ptr<Collective> collective_from_c(const xla_collective* c, const char* needs) {
  if (!c) return nullptr;
  if (c->struct_size != sizeof(xla_collective))
    invalid("collective.struct_size is " + std::to_string(c->struct_size) + "; set it to sizeof(xla_collective)");
  if (c->world_size < 1 || c->rank < 0 || c->rank >= c->world_size)
    invalid("collective: rank " + std::to_string(c->rank) + " is outside a world of " + std::to_string(c->world_size));
  auto need = [&](const void* fn, const char* name) {
    if (!fn) invalid(std::string("collective: the ") + name + " callback is NULL");
  };
  need(reinterpret_cast<const void*>(c->all_reduce_f32), "all_reduce_f32");
  need(reinterpret_cast<const void*>(c->all_reduce_f64), "all_reduce_f64");
  if (std::string(needs) == "pipeline") {
    need(reinterpret_cast<const void*>(c->broadcast), "broadcast");
    need(reinterpret_cast<const void*>(c->send), "send");
    need(reinterpret_cast<const void*>(c->recv), "recv");
  }
  return std::make_unique<CollectiveFromC>(*c);
}

}  // namespace xla::capi
