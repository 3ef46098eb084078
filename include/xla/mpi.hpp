// mpi.hpp — the Collective of MPI_COMM_WORLD for C++ programs (the `xla` tool, tests); what
// libxla_mpi.so wraps for C. Link the xla_mpi_cxx archive and MPI.
#pragma once
#include <string>

#include "xla/collective.hpp"

namespace xla::mpi {

bool launched();  // started by mpirun / mpiexec / srun (see xla_mpi_launched)
void init(int* argc, char*** argv);  // MPI_Init_thread (funneled) unless MPI runs already
void finalize();                     // when init() started MPI
[[noreturn]] void abort(const std::string& message);  // "rank R: message" on stderr, MPI_Abort(1)

// MPI_COMM_WORLD; MPI must be running (init). MPI errors end the job (MPI_ERRORS_ARE_FATAL).
class WorldCollective final : public Collective {
 public:
  WorldCollective();
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  void all_reduce(std::span<float> data, ReduceOp op) override;
  void all_reduce(std::span<double> data, ReduceOp op) override;
  void broadcast(std::span<std::byte> data, int root) override;
  void send(std::span<const std::byte> data, int to) override;
  void recv(std::span<std::byte> data, int from) override;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace xla::mpi
