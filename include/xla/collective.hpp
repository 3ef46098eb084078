// collective.hpp — what libxla asks of a multi-process transport, and nothing more: the ranks'
// count and this one's index, an all-reduce of f32 and f64 arrays, a broadcast and point-to-
// point messages of bytes. The trainers all-reduce their gradients through it (data parallel,
// LoopOptions::collective) and a pipeline of model stages passes activations through it
// (pipeline.hpp). libxla itself links no transport: libxla_mpi implements this interface on
// MPI (xla/mpi.hpp, xla/xla_mpi.h); an embedder with gloo or a transport of its own
// implements the same five calls. Every rank makes the same calls in the same order, as MPI's
// collectives require. A failed call throws xla::Error.
#pragma once
#include <cstddef>
#include <span>

namespace xla {

enum class ReduceOp { Sum, Max };

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;        // 0 … world_size() - 1
  virtual int world_size() const = 0;  // >= 1
  // In place: every rank ends with the element-wise op over every rank's array, the same bits
  // on every rank (what keeps data-parallel replicas identical).
  virtual void all_reduce(std::span<float> data, ReduceOp op) = 0;
  virtual void all_reduce(std::span<double> data, ReduceOp op) = 0;
  // root's bytes into every other rank's `data` (the same size on every rank).
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  virtual void send(std::span<const std::byte> data, int to) = 0;
  virtual void recv(std::span<std::byte> data, int from) = 0;  // exactly data.size() bytes
};

}  // namespace xla
