/* xla_mpi.h — libxla on MPI: libxla_mpi.so fills an xla_collective (xla.h) from MPI_COMM_WORLD,
 * so that the data-parallel trainers and pipeline inference run under mpirun, mpiexec or srun.
 * libxla.so links no MPI; a program links both. Plain C99, like xla.h.
 *
 *   if (xla_mpi_launched()) {             // started by an MPI launcher
 *     xla_mpi_init(&argc, &argv);
 *     xla_collective c;
 *     xla_mpi_collective(&c);
 *     params.collective = &c;             // xla_trainer_params, xla_dpo_trainer_params
 *   }
 *   ... on any error: xla_mpi_abort(xla_last_error());  // ends every rank, none left waiting
 *   xla_mpi_finalize();
 *
 * MPI's own errors end the job with MPI's message (MPI_ERRORS_ARE_FATAL). See docs/distributed.md.
 */
#ifndef XLA_MPI_H
#define XLA_MPI_H

#include "xla/xla.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this process was started by an MPI launcher (Open MPI's mpirun, MPICH's or Intel's
   mpiexec, Slurm's srun with PMI or PMIx), 0 otherwise: a program can then run alone without
   starting MPI at all. */
XLA_API int32_t xla_mpi_launched(void);
/* Starts MPI (MPI_Init_thread, funneled: libxla's worker threads never call MPI) unless it
   already runs; argc and argv may be NULL. XLA_ERR_INTERNAL when MPI cannot start. */
XLA_API xla_status xla_mpi_init(int* argc, char*** argv);
/* *out: MPI_COMM_WORLD as an xla_collective (rank, size, the five callbacks). All-reduces go
   in buckets of at most 16M elements (MPI counts are ints; bounded temporaries).
   XLA_ERR_INVALID_ARG before xla_mpi_init or for a NULL out. */
XLA_API xla_status xla_mpi_collective(xla_collective* out);
/* Prints "rank R: message" on stderr and ends every rank of the job (MPI_Abort, exit status
   1): what a rank that failed calls, so that the others are not left waiting in a collective.
   Without MPI running it prints and exits(1). Does not return. */
XLA_API void xla_mpi_abort(const char* message);
/* Ends MPI when xla_mpi_init started it; a no-op otherwise. */
XLA_API xla_status xla_mpi_finalize(void);

#ifdef __cplusplus
}
#endif
#endif /* XLA_MPI_H */
