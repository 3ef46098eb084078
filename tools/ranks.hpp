// ranks.hpp — the `xla` tool under an MPI launcher (mpirun, mpiexec, srun): `xla generate`
// then splits the model into a pipeline over the ranks, rank 0 alone prints, and an error on
// any rank ends every rank with that rank named. Alone (or built with XLA_MPI=OFF), nothing
// changes.
#pragma once
#include <memory>
#include <string>

#include "xla/collective.hpp"

namespace xla::cli {

// Starts MPI when a launcher started this process; returns its world, or null alone.
std::shared_ptr<Collective> start_ranks(int* argc, char*** argv);
std::shared_ptr<Collective> ranks();  // what start_ranks returned
bool is_first_rank();                 // rank 0, or alone: the one that prints
void stop_ranks();
// "xla CMD: rank R: message" on stderr, then every rank ends (exit status 1).
[[noreturn]] void abort_ranks(const std::string& message);

}  // namespace xla::cli
