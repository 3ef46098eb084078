// mpi_collective.cpp — MPI_COMM_WORLD behind xla::Collective (xla/mpi.hpp), and starting and
// ending MPI. All-reduces and messages go in pieces: MPI counts are ints, and a bounded piece
// keeps MPI's temporary buffers bounded too (16M elements, 64 MiB of f32).
#include "xla/mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "xla/error.hpp"

namespace xla::mpi {
namespace {

constexpr size_t kBucket = size_t(1) << 24;  // elements (or bytes, for messages) per MPI call
bool started_here = false;

bool running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, text, &n);
  fail(Status::IO, std::string(call) + " failed: " + std::string(text, size_t(n)));
}

template <typename T>
void reduce_in_buckets(std::span<T> data, ReduceOp op, MPI_Datatype type) {
  const MPI_Op mpi_op = op == ReduceOp::Max ? MPI_MAX : MPI_SUM;
  for (size_t at = 0; at < data.size(); at += kBucket) {
    const int n = int(std::min(kBucket, data.size() - at));
    check(MPI_Allreduce(MPI_IN_PLACE, data.data() + at, n, type, mpi_op, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

}  // namespace

bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

void init(int* argc, char*** argv) {
  if (running()) return;
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  started_here = true;
}

void finalize() {
  if (started_here && running()) MPI_Finalize();
  started_here = false;
}

void abort(const std::string& message) {
  int rank = 0;
  if (running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "rank %d: %s\n", rank, message.c_str());
  std::fflush(stderr);
  if (running()) MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

WorldCollective::WorldCollective() {
  if (!running()) fail(Status::InvalidArg, "MPI is not running: call xla::mpi::init first");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void WorldCollective::all_reduce(std::span<float> data, ReduceOp op) { reduce_in_buckets(data, op, MPI_FLOAT); }
void WorldCollective::all_reduce(std::span<double> data, ReduceOp op) { reduce_in_buckets(data, op, MPI_DOUBLE); }

void WorldCollective::broadcast(std::span<std::byte> data, int root) {
  for (size_t at = 0; at < data.size(); at += kBucket)
    check(MPI_Bcast(data.data() + at, int(std::min(kBucket, data.size() - at)), MPI_BYTE, root, MPI_COMM_WORLD),
          "MPI_Bcast");
}

void WorldCollective::send(std::span<const std::byte> data, int to) {
  for (size_t at = 0; at < data.size(); at += kBucket)
    check(MPI_Send(data.data() + at, int(std::min(kBucket, data.size() - at)), MPI_BYTE, to, 0, MPI_COMM_WORLD),
          "MPI_Send");
}

void WorldCollective::recv(std::span<std::byte> data, int from) {
  for (size_t at = 0; at < data.size(); at += kBucket) {
    const int n = int(std::min(kBucket, data.size() - at));
    MPI_Status status;
    check(MPI_Recv(data.data() + at, n, MPI_BYTE, from, 0, MPI_COMM_WORLD, &status), "MPI_Recv");
    int got = 0;
    MPI_Get_count(&status, MPI_BYTE, &got);
    if (got != n)
      fail(Status::IO, "MPI_Recv: rank " + std::to_string(from) + " sent " + std::to_string(got) + " bytes, " +
                           std::to_string(n) + " were expected");
  }
}

}  // namespace xla::mpi
