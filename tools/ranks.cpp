// ranks.cpp — starting, ending and aborting the tool's ranks (ranks.hpp).
#include "ranks.hpp"

#include <cstdio>
#include <cstdlib>

#ifdef XLA_HAVE_MPI
#include "xla/mpi.hpp"
#endif

namespace xla::cli {
namespace {
std::shared_ptr<Collective> world;
}

std::shared_ptr<Collective> start_ranks([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
#ifdef XLA_HAVE_MPI
  if (mpi::launched()) {
    mpi::init(argc, argv);
    world = std::make_shared<mpi::WorldCollective>();
  }
#endif
  return world;
}

std::shared_ptr<Collective> ranks() { return world; }
bool is_first_rank() { return !world || world->rank() == 0; }

void stop_ranks() {
  world.reset();
#ifdef XLA_HAVE_MPI
  mpi::finalize();
#endif
}

void abort_ranks(const std::string& message) {
#ifdef XLA_HAVE_MPI
  if (world && world->world_size() > 1) mpi::abort(message);  // "rank R: message", every rank ends
#endif
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(1);
}

}  // namespace xla::cli
