/*
 * xla.h — the libxla C API: the product's one stable surface.
 *
 * Plain C99. Every fallible call returns an xla_status (0 = XLA_OK, errors negative);
 * results go to trailing `out` pointers, which are left untouched on failure, and
 * xla_last_error() then explains what went wrong. No C++ exception, abort or exit ever
 * crosses this boundary. Handles returned by *_create / ops belong to the caller and are
 * released once with their *_free, which accepts NULL.
 *
 * Threads: tensors are immutable through this API (but for memory the caller reaches with
 * xla_tensor_data or lends with xla_tensor_from_buffer), so one tensor may be read by many
 * threads at once; the error message and the grad mode are per thread. libxla splits its
 * work over worker threads of its own (not OpenMP: the host's OpenMP settings stay its own).
 *
 * The rules are in docs/capi.md (and the contract it extends).
 */
#ifndef XLA_XLA_H
#define XLA_XLA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define XLA_API
#elif defined(__GNUC__)
#define XLA_API __attribute__((visibility("default")))
#else
#define XLA_API
#endif

/* ---------------------------------------------------------------- versions */
#define XLA_VERSION_MAJOR 0
#define XLA_VERSION_MINOR 1
#define XLA_VERSION_PATCH 0
#define XLA_ABI_VERSION 0 /* the N of the SONAME libxla.so.N */

/* ---------------------------------------------------------------- statuses */
typedef int32_t xla_status;
#define XLA_OK 0
#define XLA_ERR_INVALID_ARG (-1)     /* NULL pointer, value out of range, undefined axis */
#define XLA_ERR_SHAPE (-2)           /* shapes that do not fit the operation */
#define XLA_ERR_DTYPE (-3)           /* a dtype the operation does not take */
#define XLA_ERR_IO (-4)              /* a file could not be read or written */
#define XLA_ERR_FORMAT (-5)          /* a corrupt or unsupported file */
#define XLA_ERR_OOM (-6)             /* out of memory */
#define XLA_ERR_BUFFER_TOO_SMALL (-7) /* a caller buffer is too small; the size needed is reported */
#define XLA_ERR_UNSUPPORTED (-8)
#define XLA_ERR_ABORTED (-9)         /* a callback asked to stop */
#define XLA_ERR_INTERNAL (-10)       /* a bug in libxla: please report it */
#define XLA_ERR_BUSY (-11)           /* a full queue: try again later */

/* ---------------------------------------------------------------- data types */
#define XLA_F32 0  /* the compute type */
#define XLA_BF16 1 /* storage: converted to/from f32 exactly, round to nearest even */
#define XLA_F16 2  /* storage, as bf16 */
#define XLA_I32 3  /* token ids, indices */
#define XLA_I64 4  /* indices (argmax results) */
#define XLA_U8 5   /* masks (comparison results) */
/* Weights only (xla_model_options.weight_dtype), never a tensor's type: int8 in blocks of 32
   with an f16 scale each (about 1.06 bytes a weight); norms stay f32. */
#define XLA_Q8 6
#define XLA_MAX_DIMS 8

/* ================================================================ library */

/* "MAJOR.MINOR.PATCH"; a static string. */
XLA_API const char* xla_version_string(void);
/* XLA_ABI_VERSION of the loaded library (compare with the header's to detect a mismatch). */
XLA_API uint32_t xla_abi_version(void);
/* The SIMD kernels this process runs, chosen once from the CPU: "baseline" (x86-64), "avx2",
   "avx512" or "avx512bf16" (bf16 weights then meet activations rounded to bf16 on the bf16
   unit). The environment variable XLA_CPU, read at the first call into the kernels, forces a
   lower one (never a higher one than the CPU has). A static string. */
XLA_API const char* xla_cpu_path(void);
/* The calling thread's message for its last failed call: never NULL, "" if none failed yet.
   Valid until the thread's next failing call. */
XLA_API const char* xla_last_error(void);
/* Threads libxla's own parallel loops use. n <= 0 restores the default: XLA_NUM_THREADS or
   else OMP_NUM_THREADS from the environment when set, else all cores. Affects only libxla. */
XLA_API xla_status xla_set_num_threads(int32_t n);
/* The thread count libxla's loops use now. */
XLA_API int32_t xla_get_num_threads(void);

/* ================================================================ tensors
 * N-d arrays, row-major when read or written through this API. A tensor returned by an op
 * may be a view sharing memory with its input (reshape, permute, slice, ...): tensors are
 * immutable here, so this is never visible, only cheaper (memory shared on purpose, below,
 * is the exception). Each handle is freed on its own.
 */
typedef struct xla_tensor xla_tensor;

/* A new tensor of `dtype` and `shape` (ndim in [0, XLA_MAX_DIMS], extents >= 0), filled from
   `data` (numel * element size bytes, row-major) or with zeros when data is NULL. */
XLA_API xla_status xla_tensor_create(int32_t dtype, int32_t ndim, const int64_t* shape,
                                     const void* data /* NULL = zeros */, xla_tensor** out);
/* Releases the handle (NULL is fine). Views made from it stay valid. */
XLA_API void xla_tensor_free(xla_tensor* t);
/* dtype, ndim and shape (shape_out has room for XLA_MAX_DIMS entries); any out may be NULL. */
XLA_API xla_status xla_tensor_shape(const xla_tensor* t, int32_t* dtype_out, int32_t* ndim_out,
                                    int64_t* shape_out /* XLA_MAX_DIMS entries */);
/* Copies the elements, row-major, into dst; nbytes must equal numel * element size exactly
   (XLA_ERR_INVALID_ARG otherwise, naming both sizes). */
XLA_API xla_status xla_tensor_read(const xla_tensor* t, void* dst, size_t nbytes);
/* Number of elements and bytes (numel * element size) of t; either out may be NULL. */
XLA_API xla_status xla_tensor_numel(const xla_tensor* t, int64_t* numel_out, size_t* nbytes_out);
/* A packed copy with its own memory. */
XLA_API xla_status xla_tensor_clone(const xla_tensor* t, xla_tensor** out);

/* ---------------------------------------------------------------- sharing memory
 * Zero-copy exchange with other array libraries (NumPy's __array_interface__, DLPack).
 * Memory reached this way may be written by the caller: the write is seen by every tensor
 * sharing that memory (views included), autograd does not record it, and it must not race
 * with a libxla call that reads the memory. Everywhere else tensors stay immutable.
 */
/* The address of t's element [0, ..., 0] and its strides in elements (strides_out has room
   for XLA_MAX_DIMS entries; either out may be NULL). The memory lives as long as any tensor
   sharing it: t, its views, or the tensor t is a view of. */
XLA_API xla_status xla_tensor_data(const xla_tensor* t, void** data_out, int64_t* strides_out);
/* Called once when the last tensor over a borrowed buffer is freed, on that thread. */
typedef void (*xla_release_fn)(void* user_data);
/* A tensor over the caller's memory, not copied: `data` holds numel * element size bytes,
   row-major, aligned to the element size. libxla never frees it; when the last tensor sharing
   it (views included) is freed, release(user_data) is called once (release may be NULL: the
   caller then keeps the memory alive for as long as any of them lives). On failure release is
   not called and nothing is kept. */
XLA_API xla_status xla_tensor_from_buffer(int32_t dtype, int32_t ndim, const int64_t* shape, void* data,
                                          xla_release_fn release, void* user_data, xla_tensor** out);

/* ---------------------------------------------------------------- factories */
/* [start, stop) in steps of step (nonzero, may be negative), as `dtype`. */
XLA_API xla_status xla_arange(double start, double stop, double step, int32_t dtype, xla_tensor** out);
/* A tensor of `shape` with every element `value` (converted to dtype). */
XLA_API xla_status xla_full(int32_t dtype, int32_t ndim, const int64_t* shape, double value, xla_tensor** out);
/* f32 samples from N(mean, stddev²) / U[low, high): the same for a seed whatever the thread count. */
XLA_API xla_status xla_randn(int32_t ndim, const int64_t* shape, uint64_t seed, float mean, float stddev,
                             xla_tensor** out);
XLA_API xla_status xla_rand(int32_t ndim, const int64_t* shape, uint64_t seed, float low, float high,
                            xla_tensor** out);
/* Converts to dtype (floats to integers truncate toward zero and saturate; NaN gives 0). */
XLA_API xla_status xla_cast(const xla_tensor* t, int32_t dtype, xla_tensor** out);

/* ---------------------------------------------------------------- elementwise
 * Floating ops compute in f32: inputs of other dtypes are converted and the result is f32.
 * Binary ops and xla_where broadcast as NumPy does (XLA_ERR_SHAPE when they cannot).
 */
XLA_API xla_status xla_neg(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_abs(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_exp(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_log(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_sqrt(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_rsqrt(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_tanh(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_sigmoid(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_relu(const xla_tensor* t, xla_tensor** out);
XLA_API xla_status xla_gelu(const xla_tensor* t, xla_tensor** out);      /* exact (erf) */
XLA_API xla_status xla_gelu_tanh(const xla_tensor* t, xla_tensor** out); /* tanh approximation */
XLA_API xla_status xla_silu(const xla_tensor* t, xla_tensor** out);

XLA_API xla_status xla_add(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_sub(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_mul(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_div(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_maximum(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_minimum(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_pow(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
/* Comparisons give XLA_U8 masks (1 where true); two integer inputs compare exactly. */
XLA_API xla_status xla_eq(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_ne(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_lt(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_le(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_gt(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
XLA_API xla_status xla_ge(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);
/* cond ? a : b elementwise (cond nonzero = true), all three broadcast. */
XLA_API xla_status xla_where(const xla_tensor* cond, const xla_tensor* a, const xla_tensor* b, xla_tensor** out);

/* ---------------------------------------------------------------- reductions
 * Over the n_axes axes listed in `axes` (negative counts from the end; n_axes = 0: all
 * axes); keepdims nonzero keeps them with size 1. Results are f32.
 */
XLA_API xla_status xla_sum(const xla_tensor* t, const int32_t* axes, int32_t n_axes /* 0 = all */,
                           int32_t keepdims, xla_tensor** out);
XLA_API xla_status xla_mean(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims,
                            xla_tensor** out);
XLA_API xla_status xla_max(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims,
                           xla_tensor** out);
XLA_API xla_status xla_min(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims,
                           xla_tensor** out);
XLA_API xla_status xla_logsumexp(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims,
                                 xla_tensor** out);
/* Variance with `correction` subtracted from the count (1 = unbiased, as torch.var; 0 = NumPy). */
XLA_API xla_status xla_var(const xla_tensor* t, const int32_t* axes, int32_t n_axes, int32_t keepdims,
                           int32_t correction, xla_tensor** out);
/* XLA_I64 index of the first maximum along `axis`. */
XLA_API xla_status xla_argmax(const xla_tensor* t, int32_t axis, int32_t keepdims, xla_tensor** out);
/* Numerically stable softmax / log-softmax along `axis`. */
XLA_API xla_status xla_softmax(const xla_tensor* t, int32_t axis, xla_tensor** out);
XLA_API xla_status xla_log_softmax(const xla_tensor* t, int32_t axis, xla_tensor** out);

/* ---------------------------------------------------------------- linear algebra */
/* NumPy matmul: 1-D operands are promoted (and the added axis removed), batch dims broadcast. */
XLA_API xla_status xla_matmul(const xla_tensor* a, const xla_tensor* b, xla_tensor** out);

/* ---------------------------------------------------------------- shape and views
 * These return views (no copy) except xla_reshape of a tensor whose strides forbid it,
 * and xla_contiguous of a non-packed tensor.
 */
/* New shape with the same numel; one entry may be -1 (inferred). */
XLA_API xla_status xla_reshape(const xla_tensor* t, int32_t ndim, const int64_t* shape, xla_tensor** out);
/* Reorders axes: order is a permutation of 0..ndim-1 (n must equal ndim). */
XLA_API xla_status xla_permute(const xla_tensor* t, const int32_t* order, int32_t n, xla_tensor** out);
XLA_API xla_status xla_transpose(const xla_tensor* t, int32_t axis0, int32_t axis1, xla_tensor** out);
/* Elements start, start+step, ... < stop along axis (Python slice rules; step > 0). */
XLA_API xla_status xla_slice(const xla_tensor* t, int32_t axis, int64_t start, int64_t stop, int64_t step,
                             xla_tensor** out);
/* Broadcasts to `shape` (size-1 axes stretch; -1 keeps a size; new axes go in front). */
XLA_API xla_status xla_expand(const xla_tensor* t, int32_t ndim, const int64_t* shape, xla_tensor** out);
/* Removes axis `axis` (which must have size 1). */
XLA_API xla_status xla_squeeze(const xla_tensor* t, int32_t axis, xla_tensor** out);
/* Inserts a size-1 axis at position `axis` (in [-(ndim+1), ndim]). */
XLA_API xla_status xla_unsqueeze(const xla_tensor* t, int32_t axis, xla_tensor** out);
/* t itself (a new handle) when packed, else a packed copy. */
XLA_API xla_status xla_contiguous(const xla_tensor* t, xla_tensor** out);

/* ---------------------------------------------------------------- indexing and joining */
/* Picks entries of `axis` listed by the 1-D XLA_I32/XLA_I64 `index` (each in range). */
XLA_API xla_status xla_index_select(const xla_tensor* t, int32_t axis, const xla_tensor* index, xla_tensor** out);
/* torch.gather: out[i][j] = t[index[i][j]][j] for axis 0, and so on; out has index's shape. */
XLA_API xla_status xla_gather(const xla_tensor* t, int32_t axis, const xla_tensor* index, xla_tensor** out);
/* Rows of weight [vocab, dim] for every id in `ids` (any shape) -> [..., dim]. */
XLA_API xla_status xla_embedding(const xla_tensor* weight, const xla_tensor* ids, xla_tensor** out);
/* Joins n tensors (same dtype, same shape outside `axis`) along an existing axis. */
XLA_API xla_status xla_concat(const xla_tensor* const* ts, int32_t n, int32_t axis, xla_tensor** out);
/* Joins n tensors of one shape along a new axis. */
XLA_API xla_status xla_stack(const xla_tensor* const* ts, int32_t n, int32_t axis, xla_tensor** out);
/* Cuts t along axis into pieces of sizes[0..n_sizes) (summing to the axis' extent), or, when
   n_sizes is 1, into pieces of sizes[0] (the last may be smaller). The pieces (views) go to
   outs[0..*n_out); if cap is too small nothing is written but *n_out, and the status is
   XLA_ERR_BUFFER_TOO_SMALL. */
XLA_API xla_status xla_split(const xla_tensor* t, const int64_t* sizes, int32_t n_sizes, int32_t axis,
                             xla_tensor** outs, size_t cap, size_t* n_out);
/* Zeroes elements above (tril: col - row > k) or below (triu: col - row < k) diagonal k of
   the last two axes. */
XLA_API xla_status xla_tril(const xla_tensor* t, int64_t k, xla_tensor** out);
XLA_API xla_status xla_triu(const xla_tensor* t, int64_t k, xla_tensor** out);

/* ---------------------------------------------------------------- losses */
/* Mean cross-entropy of logits [..., C] against integer targets [...] (XLA_I32/XLA_I64):
   rows whose target equals ignore_index (PyTorch uses -100) are left out of the sum and the
   count; label_smoothing in [0, 1] mixes the one-hot target with the uniform distribution.
   Returns a 0-d f32 tensor (NaN when every row is ignored). Differentiable w.r.t. logits. */
XLA_API xla_status xla_cross_entropy(const xla_tensor* logits, const xla_tensor* targets, int64_t ignore_index,
                                     float label_smoothing, xla_tensor** out);

/* ================================================================ the compiler
 * xla_compile calls fn once with copies of the example inputs and records every op of
 * this header it runs (backward included) as a graph; it then removes dead code, folds
 * constants, merges repeated expressions, fuses elementwise chains (and a reduction over
 * trailing axes at their end) into single loops and plans one memory arena for the
 * graph's buffers. xla_graph_run replays it on new inputs without allocating a tensor
 * for the fused loops, products and softmax rows, with the eager ops' exact bits. Tensors
 * fn reads that it did not get as inputs (weights) are read live at every run. Values that
 * steer control flow inside fn are frozen as they were during the capture. A graph is used
 * by one thread at a time.
 */
typedef struct xla_graph xla_graph;

/* Computes outputs[0..n_outputs) from inputs[0..n_inputs) (borrowed for the call) with
   the ops of this header; each output is a handle the callback made, which the library
   takes over (an input handle may be returned as it is). Nonzero: abort the capture. */
typedef int32_t (*xla_graph_fn)(xla_tensor* const* inputs, int32_t n_inputs, xla_tensor** outputs, int32_t n_outputs,
                                void* user_data);

#define XLA_COMPILE_NO_FOLD 1u /* keep constant expressions as ops */
#define XLA_COMPILE_NO_CSE 2u  /* keep repeated expressions */
#define XLA_COMPILE_NO_FUSE 4u /* every op its own step, as eagerly */

/* Captures and optimises fn for inputs of the example inputs' shapes and dtypes.
   XLA_ERR_UNSUPPORTED when fn writes in place into a tensor the graph reads, or uses a
   tensor made by code the capture cannot see (a random draw); XLA_ERR_ABORTED when fn
   returns nonzero. */
XLA_API xla_status xla_compile(xla_graph_fn fn, void* user_data, const xla_tensor* const* example_inputs,
                               int32_t n_inputs, int32_t n_outputs, uint32_t flags, xla_graph** out);
/* Runs the graph on inputs of the captured shapes and dtypes (XLA_ERR_SHAPE / XLA_ERR_DTYPE
   otherwise). outputs[k] are new handles (free each) over the graph's buffers: the next
   run of the graph overwrites their values (xla_tensor_clone to keep one). */
XLA_API xla_status xla_graph_run(xla_graph* g, const xla_tensor* const* inputs, int32_t n_inputs,
                                 xla_tensor** outputs, int32_t n_outputs);
#define XLA_GRAPH_CAPTURED 0  /* as recorded */
#define XLA_GRAPH_OPTIMIZED 1 /* after the passes, with the arena offsets */
#define XLA_GRAPH_TEXT 0      /* one line per node */
#define XLA_GRAPH_DOT 1       /* Graphviz: dot -Tsvg */
/* The graph as text, NUL-terminated into buf (cap >= length + 1); *len_out = the length
   without the NUL, also on XLA_ERR_BUFFER_TOO_SMALL. */
XLA_API xla_status xla_graph_dump(const xla_graph* g, int32_t stage, int32_t format, char* buf, size_t cap,
                                  size_t* len_out);
/* Runs the graph `runs` (>= 1) times on inputs as xla_graph_run does (keeping no results),
   timing every step, and writes where the time went as tab-separated text, NUL-terminated
   into buf (cap >= length + 1; *len_out = the length without the NUL, also on
   XLA_ERR_BUFFER_TOO_SMALL, after the runs): a first line "runs\t<runs>\t<seconds of all
   runs>", then one line per kind of step, most time first: "<kind>\t<steps>\t<seconds>", a
   kind being an op's name ("matmul"), "fused loop" or "view", its steps and seconds summed
   over the runs. */
XLA_API xla_status xla_graph_profile(xla_graph* g, const xla_tensor* const* inputs, int32_t n_inputs, int32_t runs,
                                     char* buf, size_t cap, size_t* len_out);
XLA_API void xla_graph_free(xla_graph* g);

/* ================================================================ autograd
 * Every op above records what backward needs when grad mode is on (the default, per
 * thread) and one of its inputs requires grad. Gradients accumulate into the leaves'
 * .grad across backward calls until xla_tensor_zero_grad.
 */
/* Marks a leaf (a tensor made by xla_tensor_create or a factory, not by an op) as wanting
   gradients (on = 1) or not. Only floating tensors (XLA_F32, XLA_BF16, XLA_F16); changing the
   flag of an op's output is XLA_ERR_INVALID_ARG (detach it first). */
XLA_API xla_status xla_tensor_set_requires_grad(xla_tensor* t, int32_t on);
/* *out = 1 when t requires grad (a marked leaf, or computed from one with grad mode on). */
XLA_API xla_status xla_tensor_requires_grad(const xla_tensor* t, int32_t* out);
/* Backpropagates from root, which must hold one element and require grad. The graph's saved
   tensors are freed afterwards: a second backward through it is XLA_ERR_INVALID_ARG. A tensor
   that backward needs and that was modified in place since gives XLA_ERR_INVALID_ARG too. */
XLA_API xla_status xla_backward(xla_tensor* root);
/* As xla_backward, with d(loss)/d(root) given as `seed` (root's shape; NULL = 1 for a
   one-element root) and retain_graph nonzero to allow another backward through the graph. */
XLA_API xla_status xla_backward_seeded(xla_tensor* root, const xla_tensor* seed, int32_t retain_graph);
/* The accumulated gradient of t as a new handle (f32, t's shape), or *out = NULL if none. */
XLA_API xla_status xla_tensor_grad(const xla_tensor* t, xla_tensor** out);
/* Forgets t's accumulated gradient. */
XLA_API xla_status xla_tensor_zero_grad(xla_tensor* t);
/* The same values without history: never requires grad, gradients stop there. */
XLA_API xla_status xla_tensor_detach(const xla_tensor* t, xla_tensor** out);
/* Turns recording on or off for the calling thread; returns the previous setting (1 or 0). */
XLA_API int32_t xla_set_grad_enabled(int32_t on);
XLA_API int32_t xla_is_grad_enabled(void);

/* ================================================================ multi-process
 * What libxla asks of a transport between processes (ranks), as a struct of callbacks: the
 * data-parallel trainers all-reduce their gradients through it (xla_trainer_params.collective,
 * xla_dpo_trainer_params.collective) and a pipeline of model stages passes activations through
 * it (xla_model_load_pipeline). libxla links no transport itself: libxla_mpi fills one from
 * MPI_COMM_WORLD (xla/xla_mpi.h); an embedder with gloo or its own transport fills the same
 * fields. Every rank makes the same calls in the same order. A callback returns XLA_OK, or an
 * error status that the libxla call then returns. See docs/distributed.md.
 */
#define XLA_REDUCE_SUM 0
#define XLA_REDUCE_MAX 1
typedef struct xla_collective {
  uint32_t struct_size;  /* sizeof(xla_collective) */
  int32_t rank;          /* 0 .. world_size - 1 */
  int32_t world_size;    /* >= 1 */
  void* user_data;       /* passed to every callback; must outlive what uses the struct */
  /* In place: every rank ends with the element-wise XLA_REDUCE_* over all ranks' arrays,
     the same bits on every rank. */
  xla_status (*all_reduce_f32)(float* data, size_t count, int32_t op, void* user_data);
  xla_status (*all_reduce_f64)(double* data, size_t count, int32_t op, void* user_data);
  /* root's bytes into every other rank's buffer (the same size everywhere) */
  xla_status (*broadcast)(void* data, size_t bytes, int32_t root, void* user_data);
  xla_status (*send)(const void* data, size_t bytes, int32_t to, void* user_data);
  xla_status (*recv)(void* data, size_t bytes, int32_t from, void* user_data);
} xla_collective;

/* ================================================================ models
 * Gemma 1, 2 and 3 text models and Mamba (v1) models from Hugging Face folders (config.json
 * + *.safetensors, sharded through model.safetensors.index.json or not), chosen by
 * config.json's model_type. A loaded model is immutable for
 * inference and may be shared by threads (each with its own session).
 */
typedef struct xla_model xla_model;

typedef struct xla_model_options {
  uint32_t struct_size;  /* sizeof(xla_model_options) */
  int32_t weight_dtype;  /* XLA_F32 (default), XLA_BF16 (half the memory; f32 compute, or bf16 dot
                            products on "avx512bf16") or XLA_Q8 (int8 blocks: about a quarter;
                            f32 compute; Gemma only) */
} xla_model_options;
XLA_API void xla_model_options_init(xla_model_options* o);

/* Loads the model in folder `dir`. Errors: XLA_ERR_IO (missing files), XLA_ERR_FORMAT (corrupt
   files, unknown model_type or config key, a tensor missing or of the wrong shape; the message
   names it). */
XLA_API xla_status xla_model_load(const char* dir, xla_model** out);
XLA_API xla_status xla_model_load_ex(const char* dir, const xla_model_options* opts /* NULL = defaults */,
                                     xla_model** out);
/* Pipeline-parallel inference: every rank of `c` calls this with the same folder and options;
   rank r loads only its contiguous share of the layers and 1/world_size of the embedding (and
   head) rows, so each holds about 1/world_size of the weights. The handle is used as any model
   for inference (xla_model_forward, xla_generate, sessions), by every rank with the same
   arguments: hidden states pass stage to stage and every rank receives the full logits, so
   greedy and seeded generation agree on all ranks. Gemma only (XLA_ERR_UNSUPPORTED for other
   families); not trainable, not savable. *c is copied; its user_data must outlive the model. */
XLA_API xla_status xla_model_load_pipeline(const char* dir, const xla_model_options* opts /* NULL = defaults */,
                                           const xla_collective* c, xla_model** out);
/* A model with random weights (N(0, 0.02²) matrices, unit norms) from config.json text. */
XLA_API xla_status xla_model_create(const char* config_json /* text */, uint64_t seed, xla_model** out);
XLA_API xla_status xla_model_create_ex(const char* config_json, uint64_t seed, const xla_model_options* opts,
                                       xla_model** out);
/* Writes config.json and model.safetensors into `dir` (created if needed), loadable by
   xla_model_load; the weights file is written to a temporary name and renamed into place. */
XLA_API xla_status xla_model_save(const xla_model* m, const char* dir);
XLA_API void xla_model_free(xla_model* m);
/* The vocabulary size, or -1 when m is NULL. */
XLA_API int64_t xla_model_vocab_size(const xla_model* m);
/* The model's family, "gemma" (Gemma 1, 2, 3: attention with a KV cache) or "mamba" (a
   selective state-space model with a fixed-size recurrent state): a static string, NULL when
   m is NULL. Every call below works the same for both. */
XLA_API const char* xla_model_architecture(const xla_model* m);
/* Logits for every position: tokens row-major [batch, seq_len] (every row the same length)
   -> logits_out row-major [batch, seq_len, vocab], float32. An id outside the vocabulary is
   XLA_ERR_INVALID_ARG; logits_cap (in floats) below batch*seq_len*vocab is
   XLA_ERR_BUFFER_TOO_SMALL. */
XLA_API xla_status xla_model_forward(xla_model* m, const int32_t* tokens, int64_t batch, int64_t seq_len,
                                     float* logits_out, size_t logits_cap /* elements */);
/* Sum of log p(tokens[i] | tokens[<i]) over i in [start, n), 1 <= start <= n: what DPO and
   evaluation need. The DPO trainer's own path (the LM head fused with the log-softmax, a chunk
   of tokens at a time, the final soft-cap applied): per-token values in f32, summed in double. */
XLA_API xla_status xla_model_logprob(xla_model* m, const int32_t* tokens, int64_t n, int64_t start,
                                     double* logprob_out);

/* ================================================================ generation */
/* Two groups in one struct (one struct for the ABI's sake): the sampler's settings, seed ..
   repetition_penalty, which xla_generate, xla_session_generate and xla_sampler_create read;
   and the generation options, max_new_tokens .. stop_ids, which only xla_generate and
   xla_session_generate read (xla_sampler_create ignores them, whatever their values). */
typedef struct xla_sampler_params {
  uint32_t struct_size;
  /* the sampler */
  uint64_t seed;
  float temperature;        /* 0 = greedy */
  int32_t top_k;            /* 0 = off */
  float top_p;              /* 1 = off */
  float min_p;              /* 0 = off */
  float repetition_penalty; /* 1 = off */
  /* generation only (not read by xla_sampler_create) */
  int32_t max_new_tokens;
  int32_t n_stop_ids;
  const int32_t* stop_ids;  /* generation ends after emitting one of these */
} xla_sampler_params;
/* Defaults: greedy, no filters, max_new_tokens 256, no stop ids. */
XLA_API void xla_sampler_params_init(xla_sampler_params* p);
/* Called synchronously with each new token; a nonzero return stops generation. */
typedef int32_t (*xla_token_fn)(int32_t token, void* user_data);
/* Generates up to p->max_new_tokens after `prompt` (greedy when p is NULL). out receives the
   new tokens only and must hold max_new_tokens of them (else XLA_ERR_BUFFER_TOO_SMALL with
   *n_out = max_new_tokens, before any work). If on_token asks to stop, the status is
   XLA_ERR_ABORTED and out / *n_out still hold the tokens produced, the refused one last. */
XLA_API xla_status xla_generate(xla_model* m, const int32_t* prompt, size_t n_prompt, const xla_sampler_params* p,
                                xla_token_fn on_token /* nullable */, void* user_data, int32_t* out, size_t cap,
                                size_t* n_out);

/* A sampler on its own, for logits you computed yourself (xla_model_forward,
   xla_session_feed): xla_generate's rules exactly — the repetition penalty, then greedy
   (temperature 0) or temperature -> top_k -> top_p -> min_p -> one draw from its RNG,
   seeded with p->seed (max_new_tokens and the stop ids are ignored, unchecked). One sampler
   per stream of tokens: it is not thread-safe. p NULL = greedy. XLA_ERR_INVALID_ARG names a
   bad field. */
typedef struct xla_sampler xla_sampler;
XLA_API xla_status xla_sampler_create(const xla_sampler_params* p /* NULL = greedy */, xla_sampler** out);
XLA_API void xla_sampler_free(xla_sampler* s);
/* The next token from logits[0..vocab) (not modified). history: the context so far
   (n_history ids, NULL when 0), for the repetition penalty. */
XLA_API xla_status xla_sampler_sample(xla_sampler* s, const float* logits, int64_t vocab, const int32_t* history,
                                      size_t n_history, int32_t* token_out);

/* A session: a model plus its own KV cache, for multi-turn use (chat). One thread at a time;
   the model must outlive it. */
typedef struct xla_session xla_session;
XLA_API xla_status xla_session_create(xla_model* m, xla_session** out);
XLA_API void xla_session_free(xla_session* s);
/* Tokens of context held (fed and generated). */
XLA_API int64_t xla_session_length(const xla_session* s);
XLA_API xla_status xla_session_reset(xla_session* s);
/* on = 1: each one-token feed (every generated token) replays a graph compiled from the
   model's step (see "The compiler"): no allocation per token, logits equal the eager ones
   to float rounding; prompts still run eagerly. on = 0: eager again. Kept across resets.
   XLA_ERR_UNSUPPORTED for a model whose step cannot be compiled (Mamba). */
XLA_API xla_status xla_session_compile(xla_session* s, int on);
/* Appends n tokens to the context; logits_out (nullable, cap >= vocab floats) receives the
   logits that predict the next token. On error the session is unchanged. */
XLA_API xla_status xla_session_feed(xla_session* s, const int32_t* ids, size_t n, float* logits_out, size_t cap);
/* As xla_generate, continuing the session's context (prompt may be empty when the session
   already has context); the generated tokens stay in the context for the next turn. */
XLA_API xla_status xla_session_generate(xla_session* s, const int32_t* prompt, size_t n_prompt,
                                        const xla_sampler_params* p, xla_token_fn on_token, void* user_data,
                                        int32_t* out, size_t cap, size_t* n_out);

/* ================================================================ serving engine
 * Continuous batching: many generation requests over one model. Requests are submitted from
 * any thread; one thread drives the engine with xla_engine_step, each call one batched
 * forward over every running sequence (plus prefill chunks of waiting ones), reporting each
 * token produced as an event. The KV cache is paged (blocks of 16 tokens) and identical
 * prompt prefixes share their blocks. A request's greedy tokens are what xla_generate gives
 * for it alone, whatever else shares its steps, up to the end of the context; its logits
 * equal xla_generate's to float noise. Seeded sampling gives the same tokens where the logits
 * are bit-identical (always with the C++ engine's batch_invariant option); otherwise that
 * noise can move a draw.
 */
typedef struct xla_engine xla_engine;

typedef struct xla_engine_options {
  uint32_t struct_size;      /* sizeof(xla_engine_options) */
  int32_t max_seqs;          /* sequences running at once; default 8, >= 1 */
  int32_t max_batch_tokens;  /* tokens in one step's forward, prefill chunks included; default 512, >= 1 */
  int64_t kv_tokens;         /* KV cache capacity in tokens, all sequences together;
                                0 = enough for max_seqs full contexts (the default) */
  int32_t prefix_cache;      /* 1 = reuse the KV of identical prompt prefixes; 0 = off; default 1 */
  int32_t max_queue;         /* waiting requests beyond which submit fails; default 256, >= 1 */
} xla_engine_options;
/* Defaults: 8 sequences, 512 tokens a step, kv_tokens 0, prefix cache on, a queue of 256. */
XLA_API void xla_engine_options_init(xla_engine_options* o);

/* An engine over m, which must outlive it. A bad option is XLA_ERR_INVALID_ARG naming the
   field. The context of each sequence (prompt and output) is the model's
   max_position_embeddings, never more than kv_tokens. */
XLA_API xla_status xla_engine_create(xla_model* m, const xla_engine_options* o /* NULL = defaults */,
                                     xla_engine** out);
/* Cancels whatever is left and frees the engine (NULL is fine). */
XLA_API void xla_engine_free(xla_engine* e);

/* Queues a request (prompt and params are copied) and gives its id (*id_out; ids start at 1
   and are never reused). Thread-safe. p NULL = greedy with max_new_tokens 256; otherwise the
   sampler, max_new_tokens (>= 1), the stop ids and the seed are the request's own, with
   xla_generate's meaning. Errors: XLA_ERR_BUSY when max_queue requests are already waiting
   (try again after a step); XLA_ERR_INVALID_ARG for an empty prompt, one that does not fit
   the context (n_prompt >= max_position_embeddings, or less with a small kv_tokens), an id
   outside the vocabulary, a bad sampler field or max_new_tokens < 1 (the message names it). */
XLA_API xla_status xla_engine_submit(xla_engine* e, const int32_t* prompt, size_t n_prompt,
                                     const xla_sampler_params* p /* NULL = greedy */, uint64_t* id_out);
/* Ends a request: it gets an XLA_FINISH_CANCELLED event at the next step, which frees its
   KV blocks. Thread-safe. An id that is unknown or already finished is XLA_ERR_INVALID_ARG.
   A request that finishes in the step under way while it is cancelled keeps that ending
   (STOP or LENGTH): every request gets exactly one finishing event. */
XLA_API xla_status xla_engine_cancel(xla_engine* e, uint64_t id);

#define XLA_FINISH_NONE 0      /* more tokens will come */
#define XLA_FINISH_STOP 1      /* the token is a stop id: the request is done */
#define XLA_FINISH_LENGTH 2    /* max_new_tokens reached, or the context is full: done */
#define XLA_FINISH_CANCELLED 3 /* cancelled (xla_engine_cancel); token is -1 */
typedef struct xla_engine_event { /* frozen: never grows */
  uint64_t id;                    /* the request's */
  int32_t token;                  /* the token produced, or -1 with XLA_FINISH_CANCELLED */
  int32_t finish;                 /* XLA_FINISH_*: the last event of a request is the only one
                                     with finish != XLA_FINISH_NONE */
} xla_engine_event;
/* One scheduling step: writes up to cap events into events[] in the order the tokens were
   produced, *n_out = how many. Events that do not fit are held back and returned first by the
   next calls, which run no step until all of them are handed out (nothing is lost). cap may
   be 0 (events may then be NULL): a step runs if no event is held back, and its events wait.
   With nothing to do it returns XLA_OK and *n_out = 0 — but a step that only prefills
   prompts gives no event either: xla_engine_stats_get tells whether requests are still
   running or waiting. Call from one thread at a time. */
XLA_API xla_status xla_engine_step(xla_engine* e, xla_engine_event* events, size_t cap, size_t* n_out);

/* A result struct: set struct_size to sizeof(xla_engine_stats) before the call; the library
   writes only the fields that fit in it. */
typedef struct xla_engine_stats {
  uint32_t struct_size;
  int64_t running, waiting;          /* requests now: admitted (prefilling or decoding), queued */
  int64_t kv_tokens_used;            /* KV blocks held by sequences, in tokens */
  int64_t kv_tokens_capacity;        /* the cache's size in tokens */
  int64_t prefix_tokens_reused;      /* prompt tokens served from the prefix cache, in total */
  int64_t steps, tokens_generated;   /* forwards run and tokens produced, in total */
} xla_engine_stats;
/* The engine's counters now. Thread-safe. */
XLA_API xla_status xla_engine_stats_get(const xla_engine* e, xla_engine_stats* out);

/* ================================================================ tokenizer
 * Hugging Face tokenizer.json of the Gemma family (BPE with byte fallback), reproduced
 * exactly. A loaded tokenizer is immutable and may be shared by threads.
 */
typedef struct xla_tokenizer xla_tokenizer;
/* XLA_ERR_IO for a file that cannot be read, XLA_ERR_FORMAT for one that is not a valid
   tokenizer.json, XLA_ERR_UNSUPPORTED for a valid one using features Gemma's never does. */
XLA_API xla_status xla_tokenizer_load(const char* path, xla_tokenizer** out);
XLA_API void xla_tokenizer_free(xla_tokenizer* tok);
/* Token ids of text[0..len) (UTF-8; special tokens written in the text are recognised),
   with <bos> first when add_bos. ids has room for cap ids; *n_out = the count (also when
   the status is XLA_ERR_BUFFER_TOO_SMALL). */
XLA_API xla_status xla_tokenizer_encode(const xla_tokenizer* tok, const char* text, size_t len, int32_t add_bos,
                                        int32_t* ids, size_t cap, size_t* n_out);
/* UTF-8 text of ids (invalid byte sequences become U+FFFD, one per byte), without special
   tokens when skip_special. Written NUL-terminated: cap must be at least the length + 1;
   *len_out = the length without the NUL (also on XLA_ERR_BUFFER_TOO_SMALL). An id outside
   the vocabulary is XLA_ERR_INVALID_ARG. */
XLA_API xla_status xla_tokenizer_decode(const xla_tokenizer* tok, const int32_t* ids, size_t n, int32_t skip_special,
                                        char* buf, size_t cap, size_t* len_out);
/* Number of token ids (added tokens included), or -1 when tok is NULL. */
XLA_API int32_t xla_tokenizer_vocab_size(const xla_tokenizer* tok);
/* The id of a token string ("<start_of_turn>", "▁world"); XLA_ERR_INVALID_ARG if none. */
XLA_API xla_status xla_tokenizer_token_id(const xla_tokenizer* tok, const char* piece, int32_t* id_out);
/* The special ids the file defines; any out may be NULL. */
XLA_API xla_status xla_tokenizer_special_ids(const xla_tokenizer* tok, int32_t* bos, int32_t* eos, int32_t* pad,
                                             int32_t* start_of_turn, int32_t* end_of_turn);

/* Gemma's chat format: messages with role "system", "user" or "assistant" (or "model"),
   rendered as Gemma's chat template does — "<bos>", then "<start_of_turn>user\n…<end_of_turn>\n"
   per turn (a system message is folded into the first user turn; assistant becomes "model"),
   and "<start_of_turn>model\n" when add_generation_prompt — ready to encode without add_bos.
   Written NUL-terminated as xla_tokenizer_decode writes. */
typedef struct xla_chat_message {
  const char* role;
  const char* content;
} xla_chat_message;
XLA_API xla_status xla_chat_render(const xla_chat_message* messages, size_t n, int32_t add_generation_prompt,
                                   char* buf, size_t cap, size_t* len_out);

/* ================================================================ training
 * Train a model in place: an optimizer over its weights, a loss whose backward fills their
 * gradients, or a trainer that runs the whole loop (docs/training.md). Training changes the
 * model: do not share it with other threads while it trains. Weights must be XLA_F32. */

#define XLA_OPT_SGD 0
#define XLA_OPT_ADAM 1
#define XLA_OPT_ADAMW 2
typedef struct xla_optimizer_params {
  uint32_t struct_size;
  int32_t kind;                 /* XLA_OPT_ADAMW (default), XLA_OPT_ADAM, XLA_OPT_SGD */
  double lr;                    /* 1e-3 */
  double beta1, beta2, eps;     /* Adam(W): 0.9, 0.999, 1e-8 */
  double weight_decay;          /* 0.01 for AdamW, 0 otherwise (PyTorch's defaults); Adam and
                                   SGD add it to the gradient (L2), AdamW decays the weights */
  double momentum, dampening;   /* SGD: 0, 0 */
  int32_t nesterov;             /* SGD: 0 */
  int32_t decay_all;            /* 0 (default): no weight decay on norms and embeddings */
} xla_optimizer_params;
/* Defaults of kind XLA_OPT_ADAMW; set kind and call xla_optimizer_params_defaults for another. */
XLA_API void xla_optimizer_params_init(xla_optimizer_params* p);
/* PyTorch's defaults for `kind` (weight_decay included) with learning rate lr. */
XLA_API xla_status xla_optimizer_params_defaults(xla_optimizer_params* p, int32_t kind, double lr);

typedef struct xla_optimizer xla_optimizer;
/* An optimizer over every weight of m (marked as requiring grad). m must outlive it. */
XLA_API xla_status xla_optimizer_create(xla_model* m, const xla_optimizer_params* p /* NULL = defaults */,
                                        xla_optimizer** out);
XLA_API void xla_optimizer_free(xla_optimizer* o);
/* One update from the accumulated gradients (weights without one are skipped). */
XLA_API xla_status xla_optimizer_step(xla_optimizer* o);
/* Forgets every gradient (call before the next backward). */
XLA_API xla_status xla_optimizer_zero_grad(xla_optimizer* o);
XLA_API xla_status xla_optimizer_set_lr(xla_optimizer* o, double lr);
XLA_API xla_status xla_optimizer_get_lr(const xla_optimizer* o, double* lr_out);
/* Scales the gradients so that their global L2 norm is at most max_norm (max_norm <= 0:
   measure only); *norm_out (nullable) = the norm before. */
XLA_API xla_status xla_optimizer_clip_grad_norm(xla_optimizer* o, double max_norm, double* norm_out);

typedef struct xla_loss_params {
  uint32_t struct_size;
  int32_t ignore_index;         /* -100: targets equal to it count nowhere */
  float label_smoothing;        /* 0 */
  float z_loss;                 /* 0: coefficient of mean(logsumexp^2) */
} xla_loss_params;
XLA_API void xla_loss_params_init(xla_loss_params* p);
/* The mean cross-entropy of m on a batch, as a 0-d tensor for xla_backward: inputs and
   targets row-major [batch, seq_len], targets[t] = the token position t should predict (or
   ignore_index). The LM head and the loss are computed a chunk of tokens at a time, so the
   [tokens, vocab] logits are never held. */
XLA_API xla_status xla_model_loss(xla_model* m, const int32_t* inputs, const int32_t* targets, int64_t batch,
                                  int64_t seq_len, const xla_loss_params* p /* NULL = defaults */,
                                  xla_tensor** loss_out);

/* Datasets: rows of seq_len token ids. Text through a tokenizer, or byte-level when tok is
   NULL (ids = byte + 3, after <pad> 0, <eos> 1, <bos> 2: a 259-word model). */
typedef struct xla_dataset xla_dataset;
/* Documents separated by blank lines, each <bos> text <eos>, packed into rows. */
XLA_API xla_status xla_dataset_from_text(const char* text, size_t len, const xla_tokenizer* tok /* nullable */,
                                         int64_t seq_len, xla_dataset** out);
XLA_API xla_status xla_dataset_from_text_file(const char* path, const xla_tokenizer* tok, int64_t seq_len,
                                              xla_dataset** out);
/* Prompt/response pairs, loss on the response only: from arrays, or from JSONL lines
   {"prompt": ..., "response": ...} (chat != 0: through Gemma's chat template). */
XLA_API xla_status xla_dataset_from_pairs(const char* const* prompts, const char* const* responses, size_t n,
                                          const xla_tokenizer* tok, int64_t seq_len, xla_dataset** out);
XLA_API xla_status xla_dataset_from_jsonl(const char* path, const xla_tokenizer* tok, int64_t seq_len, int32_t chat,
                                          xla_dataset** out);
/* A seeded random val_fraction of the rows into *val_out, the rest into *train_out. */
XLA_API xla_status xla_dataset_split(const xla_dataset* d, double val_fraction, uint64_t seed,
                                     xla_dataset** train_out, xla_dataset** val_out);
/* Rows, or -1 when d is NULL. */
XLA_API int64_t xla_dataset_size(const xla_dataset* d);
XLA_API void xla_dataset_free(xla_dataset* d);

#define XLA_SCHEDULE_CONSTANT 0
#define XLA_SCHEDULE_LINEAR 1
#define XLA_SCHEDULE_COSINE 2
typedef struct xla_trainer_params {
  uint32_t struct_size;
  int64_t batch_size;           /* 8 */
  int64_t grad_accum;           /* 1: micro-batches per step, weighted by their counted targets (= one big batch) */
  int64_t steps;                /* 100 */
  int32_t schedule;             /* XLA_SCHEDULE_CONSTANT; LINEAR and COSINE decay to min_lr_ratio */
  int64_t warmup_steps;         /* 0: linear warm-up length */
  double min_lr_ratio;          /* 0: the floor, as a fraction of the optimizer's lr */
  double max_grad_norm;         /* 1.0; 0 = no clipping */
  xla_loss_params loss;         /* defaults of xla_loss_params_init */
  uint64_t seed;                /* 0: batch order */
  int64_t eval_every;           /* 0 = never: validation loss every N steps */
  int64_t eval_batches;         /* 0 = the whole validation set */
  const char* metrics_path;     /* NULL: JSONL, one line per step */
  const char* checkpoint_dir;   /* NULL: no checkpoints */
  int64_t checkpoint_every;     /* 0: only at the end (when checkpoint_dir is set) */
  int32_t keep_checkpoints;     /* 2 */
  int32_t progress;             /* -1: a bar on a terminal (stderr), plain lines otherwise; 0 off */
  /* NULL: one process. Data parallel: every rank creates the same trainer; each takes its
     batch_size rows of every global batch of world_size × batch_size, gradients, loss and
     counts are all-reduced after backward (replicas stay bit-identical), rank 0 alone writes
     metrics, progress and checkpoints. *collective is copied; its user_data must outlive the
     trainer. */
  const xla_collective* collective;
  /* 0; 1: each micro-batch's forward, loss and backward replayed from a graph captured once
     per batch shape (the compiler, xla_compile): the same gradients, bit for bit with
     grad_accum 1. XLA_ERR_UNSUPPORTED at the first step for a model whose layers cannot be
     captured (Mamba). */
  int32_t compile;
} xla_trainer_params;
XLA_API void xla_trainer_params_init(xla_trainer_params* p);

typedef struct xla_train_metrics {
  uint32_t struct_size;         /* set by the caller: fields beyond it are not written */
  int64_t step;                 /* optimizer steps done */
  double loss, lr, grad_norm;   /* grad_norm before clipping */
  double tokens_per_s, elapsed_s;
  int64_t tokens;               /* input tokens consumed */
  double mem_mb;                /* resident memory */
  double val_loss, val_ppl;     /* NaN when the step ran no validation */
  int32_t skipped;              /* 1: non-finite loss or gradient, no update applied */
} xla_train_metrics;
/* Called after every step on the caller's thread; nonzero stops the run (XLA_ERR_ABORTED). */
typedef int32_t (*xla_train_fn)(const xla_train_metrics* m, void* user_data);

typedef struct xla_trainer xla_trainer;
/* m, o and the datasets must outlive the trainer; val may be NULL. */
XLA_API xla_status xla_trainer_create(xla_model* m, xla_optimizer* o, const xla_dataset* train,
                                      const xla_dataset* val, const xla_trainer_params* p, xla_trainer** out);
XLA_API void xla_trainer_free(xla_trainer* t);
/* Continues from checkpoint_dir's latest checkpoint when there is one (*resumed_out = 1). */
XLA_API xla_status xla_trainer_resume(xla_trainer* t, int32_t* resumed_out /* nullable */);
XLA_API xla_status xla_trainer_step(xla_trainer* t, xla_train_metrics* out /* nullable */);
/* Steps until p->steps are done; *steps_out (nullable) = steps run by this call. */
XLA_API xla_status xla_trainer_run(xla_trainer* t, xla_train_fn on_step /* nullable */, void* user_data,
                                   int64_t* steps_out);
/* Mean validation loss (token-weighted) into *loss_out. XLA_ERR_INVALID_ARG when the trainer has
   no validation set (val NULL or empty), as xla_dpo_trainer_evaluate. */
XLA_API xla_status xla_trainer_evaluate(xla_trainer* t, double* loss_out);
XLA_API xla_status xla_trainer_save(xla_trainer* t);

/* Checkpoints: root/step-N/ (weights, optimizer state, step, data position) and root/latest,
   replaced atomically — a process killed mid-save leaves the previous checkpoint loadable.
   Load reads a checkpoint folder or a root's latest into an existing model (and optimizer)
   in place; names, shapes and kinds are checked (XLA_ERR_FORMAT naming the mismatch). */
XLA_API xla_status xla_checkpoint_save(const char* root, const xla_model* m, const xla_optimizer* o /* nullable */,
                                       int64_t step);
XLA_API xla_status xla_checkpoint_load(const char* path, xla_model* m, xla_optimizer* o /* nullable */,
                                       int64_t* step_out /* nullable */);

/* ================================================================ DPO
 * The DPO loss (Rafailov et al. 2023) and its metrics from the log-probs of a policy and a
 * frozen reference, with Hugging Face TRL 0.x semantics, in double. Per pair,
 * m = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected), and
 *   XLA_DPO_SIGMOID  -(1 - ls) log sigmoid(beta m) - ls log sigmoid(-beta m)   (ls = label_smoothing)
 *   XLA_DPO_IPO      (m - 1 / (2 beta))^2
 *   XLA_DPO_HINGE    max(0, 1 - beta m)
 * averaged over the batch. Stable for any finite beta m. See docs/dpo.md.
 */
#define XLA_DPO_SIGMOID 0
#define XLA_DPO_IPO 1
#define XLA_DPO_HINGE 2

typedef struct xla_dpo_params {
  uint32_t struct_size;  /* sizeof(xla_dpo_params) */
  float beta;            /* default 0.1; > 0 and finite */
  float label_smoothing; /* default 0 (cDPO / robust when > 0); in [0, 0.5), sigmoid only */
  int32_t loss_type;     /* default XLA_DPO_SIGMOID */
} xla_dpo_params;
/* Defaults: beta 0.1, label_smoothing 0, XLA_DPO_SIGMOID. */
XLA_API void xla_dpo_params_init(xla_dpo_params* p);

/* A result struct: set struct_size to sizeof(xla_dpo_metrics) before the call; the library
   writes only the fields that fit in it. Each value is a mean over the batch (TRL's metric in
   brackets). */
typedef struct xla_dpo_metrics {
  uint32_t struct_size;
  double loss;
  double reward_chosen;   /* [rewards/chosen]     beta (policy_chosen - ref_chosen) */
  double reward_rejected; /* [rewards/rejected]   beta (policy_rejected - ref_rejected) */
  double reward_accuracy; /* [rewards/accuracies] fraction of pairs with reward_chosen > reward_rejected */
  double reward_margin;   /* [rewards/margins]    reward_chosen - reward_rejected */
  double logp_chosen, logp_rejected; /* [logps/chosen], [logps/rejected]: policy, mean over the batch */
} xla_dpo_metrics;

/* The loss and metrics of a batch of n >= 1 pairs: four arrays of length n holding the summed
   completion log-probs of the policy and the reference (xla_model_logprob gives them). For
   XLA_DPO_IPO pass per-token averages (each sum divided by its completion length) as TRL 0.x
   does; the rewards are then per token too. p = NULL means the defaults. Errors
   (XLA_ERR_INVALID_ARG, *out untouched): a NULL array or out, n < 1, a struct_size out of
   range, beta not > 0, label_smoothing outside [0, 0.5) or nonzero for ipo / hinge, an
   unknown loss_type, a NaN or infinite log-prob (the message names the array and index). */
XLA_API xla_status xla_dpo_loss(const xla_dpo_params* p /* NULL = defaults */, const double* policy_chosen,
                                const double* policy_rejected, const double* ref_chosen, const double* ref_rejected,
                                int64_t n, xla_dpo_metrics* out);

/* ---------------------------------------------------------------- LoRA
 * Low-rank adapters inside a model: each targeted projection W of every layer computes
 * x Wᵀ + (alpha / rank) · x Aᵀ Bᵀ, with A [rank, in] random and B [out, rank] zeros (so the
 * model starts unchanged). Once a model has adapters, xla_optimizer_create trains only them.
 * Training checkpoints save them; xla_model_save writes the base weights only. */
/* Adds adapters to every projection of every layer: q/k/v/o and gate/up/down in a Gemma,
   in_proj/x_proj/dt_proj/out_proj in a Mamba. XLA_ERR_INVALID_ARG for rank < 1, alpha <= 0,
   or a model that has adapters already. */
XLA_API xla_status xla_model_add_lora(xla_model* m, int64_t rank, float alpha, uint64_t seed);
/* Switches the adapters on (1) or off (0: exactly the base model). XLA_ERR_INVALID_ARG when m
   has no adapters. Not thread-safe: the flag belongs to the model. */
XLA_API xla_status xla_model_set_lora_enabled(xla_model* m, int32_t on);

/* ---------------------------------------------------------------- the DPO trainer
 * Hugging Face TRL 0.x's DPOTrainer: preference pairs, a policy trained against a reference
 * (four kinds, below), the loss above, TRL's metric names in the metrics JSONL
 * ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
 * "logps/chosen", "logps/rejected", "grad_norm", "learning_rate", "step", "epoch").
 * A pair's log-probs are summed over its completion tokens only (averaged per token for ipo). */
typedef struct xla_preference_dataset xla_preference_dataset;
/* JSONL, one pair per line: {"prompt", "chosen", "rejected"} as text (through tok, or bytes
   when tok is NULL; the prompt gets <bos>, each completion <eos>; chat != 0 renders the prompt
   as a user turn of Gemma's chat template), or {"prompt_ids", "chosen_ids", "rejected_ids"}
   as token ids. max_len > 0: a pair longer than that (prompt + completion) is an error naming
   its line (never silently truncated). Errors: XLA_ERR_IO, XLA_ERR_FORMAT with file:line. */
XLA_API xla_status xla_preference_dataset_from_jsonl(const char* path, const xla_tokenizer* tok /* nullable */,
                                                     int64_t max_len, int32_t chat, xla_preference_dataset** out);
/* n pairs from C strings, as the JSONL text form (without chat). */
XLA_API xla_status xla_preference_dataset_from_text(const char* const* prompts, const char* const* chosen,
                                                    const char* const* rejected, size_t n,
                                                    const xla_tokenizer* tok /* nullable */, int64_t max_len,
                                                    xla_preference_dataset** out);
/* A seeded random val_fraction of the pairs into *val_out, the rest into *train_out. */
XLA_API xla_status xla_preference_dataset_split(const xla_preference_dataset* d, double val_fraction, uint64_t seed,
                                                xla_preference_dataset** train_out, xla_preference_dataset** val_out);
/* Pairs, or -1 when d is NULL. */
XLA_API int64_t xla_preference_dataset_size(const xla_preference_dataset* d);
XLA_API void xla_preference_dataset_free(xla_preference_dataset* d);

#define XLA_DPO_REF_FROZEN_COPY 0   /* a copy of the policy made at creation (TRL's default) */
#define XLA_DPO_REF_MODEL 1         /* another model: reference_model */
#define XLA_DPO_REF_PRECOMPUTED 2   /* reference log-probs computed once at creation, cached */
#define XLA_DPO_REF_LORA_DISABLED 3 /* the policy with its adapters off: no second model */
typedef struct xla_dpo_trainer_params {
  uint32_t struct_size;
  xla_dpo_params dpo;              /* beta, loss type, label smoothing (xla_dpo_params_init) */
  int32_t reference;               /* XLA_DPO_REF_FROZEN_COPY */
  const xla_model* reference_model; /* XLA_DPO_REF_MODEL: required, must outlive the trainer;
                                       XLA_DPO_REF_PRECOMPUTED: the scorer (NULL = the policy) */
  const char* cache_dir;           /* XLA_DPO_REF_PRECOMPUTED: NULL = no cache on disk; a file
                                      keyed by the data and the reference's weights */
  int64_t batch_size;              /* 8 pairs (2 × 8 rows through the model) */
  int64_t grad_accum;              /* 1 */
  int64_t steps;                   /* 100 */
  int32_t schedule;                /* XLA_SCHEDULE_CONSTANT */
  int64_t warmup_steps;            /* 0 */
  double min_lr_ratio;             /* 0 */
  double max_grad_norm;            /* 1.0; 0 = no clipping */
  uint64_t seed;                   /* 0: pair order */
  int64_t eval_every;              /* 0 = never */
  const char* metrics_path;        /* NULL: none */
  const char* checkpoint_dir;      /* NULL: none */
  int64_t checkpoint_every;        /* 0: only at the end when checkpoint_dir is set */
  int32_t keep_checkpoints;        /* 2 */
  int32_t progress;                /* -1: a bar on a terminal, plain lines otherwise; 0 off */
  const xla_collective* collective; /* NULL: one process; data parallel as xla_trainer_params */
} xla_dpo_trainer_params;
XLA_API void xla_dpo_trainer_params_init(xla_dpo_trainer_params* p);

typedef struct xla_dpo_trainer xla_dpo_trainer;
/* The policy, the optimizer (made from the policy: its adapters when it has them), the
   datasets and a reference model must outlive the trainer; eval may be NULL. Creating it
   makes the reference (copies the policy, or scores the data for PRECOMPUTED). */
XLA_API xla_status xla_dpo_trainer_create(xla_model* policy, xla_optimizer* o, const xla_preference_dataset* train,
                                          const xla_preference_dataset* eval, const xla_dpo_trainer_params* p,
                                          xla_dpo_trainer** out);
XLA_API void xla_dpo_trainer_free(xla_dpo_trainer* t);
/* One optimizer step on the next batch of pairs; *out (nullable; set its struct_size) gets the
   step's loss and metrics. */
XLA_API xla_status xla_dpo_trainer_step(xla_dpo_trainer* t, xla_dpo_metrics* out);
/* Called after every step on the caller's thread with the step index and its metrics;
   nonzero stops the run (XLA_ERR_ABORTED). */
typedef int32_t (*xla_dpo_fn)(int64_t step, const xla_dpo_metrics* m, void* user_data);
/* Steps until p->steps are done; *steps_out (nullable) = steps run by this call. */
XLA_API xla_status xla_dpo_trainer_run(xla_dpo_trainer* t, xla_dpo_fn on_step /* nullable */, void* user_data,
                                       int64_t* steps_out);
/* The loss and metrics over every eval pair (no update). XLA_ERR_INVALID_ARG when the trainer has
   no eval set (eval NULL or empty), as xla_trainer_evaluate. */
XLA_API xla_status xla_dpo_trainer_evaluate(xla_dpo_trainer* t, xla_dpo_metrics* out);
/* Continues from checkpoint_dir's latest checkpoint when there is one (*resumed_out = 1). */
XLA_API xla_status xla_dpo_trainer_resume(xla_dpo_trainer* t, int32_t* resumed_out /* nullable */);
XLA_API xla_status xla_dpo_trainer_save(xla_dpo_trainer* t);

/* ================================================================ GRPO
 * The GRPO loss (DeepSeekMath; Hugging Face TRL's GRPOTrainer) from per-token log-probs, in
 * double. Completions come in groups of group_size consecutive rows, one group per prompt.
 * Per row i: A_i = r_i - mean_group(r), divided by std_group(r) + 1e-4 (unbiased std) when
 * scale_rewards. Per completion token t (the first lengths[i] tokens of row i):
 *   ratio = exp(logp - old),  l = -min(ratio A, clamp(ratio, 1 - epsilon, 1 + epsilon_high) A)
 *                                 + beta (exp(ref - logp) - (ref - logp) - 1)
 *   XLA_GRPO_LOSS_GRPO     mean over rows of each row's mean of l
 *   XLA_GRPO_LOSS_BNPO     sum of l / count of tokens
 *   XLA_GRPO_LOSS_DR_GRPO  sum of l / (rows * max_completion_length)
 * See the book's chapter "Learning from its own samples".
 */
#define XLA_GRPO_LOSS_GRPO 0    /* mean over sequences of each sequence's masked token mean */
#define XLA_GRPO_LOSS_BNPO 1    /* masked sum / masked token count */
#define XLA_GRPO_LOSS_DR_GRPO 2 /* masked sum / (sequences * max_completion_length) */
typedef struct xla_grpo_params {
  uint32_t struct_size;          /* sizeof(xla_grpo_params) */
  int32_t group_size;            /* completions per prompt, consecutive; no default (0 = error); >= 2 */
  float beta;                    /* KL coefficient; default 0 */
  float epsilon;                 /* lower clip; default 0.2; in [0, 1) */
  float epsilon_high;            /* upper clip; default 0.2 */
  int32_t loss_type;             /* default XLA_GRPO_LOSS_GRPO */
  int32_t scale_rewards;         /* 1 = divide advantages by the group's std + 1e-4; default 1 */
  int32_t max_completion_length; /* dr_grpo's divisor; 0 = n_tok (the default) */
} xla_grpo_params;
/* Defaults: group_size 0 (the caller must set it), beta 0, epsilon 0.2, epsilon_high 0.2,
   XLA_GRPO_LOSS_GRPO, scale_rewards 1, max_completion_length 0. */
XLA_API void xla_grpo_params_init(xla_grpo_params* p);

/* A result struct: set struct_size to sizeof(xla_grpo_metrics) before the call. The clip
   ratios are means over every completion token (TRL's names in brackets). */
typedef struct xla_grpo_metrics {
  uint32_t struct_size;
  double loss;
  double kl;               /* [kl] exp(ref - logp) - (ref - logp) - 1, averaged per row, then over rows; 0 when beta == 0 */
  double clip_ratio_low;   /* [clip_ratio/low_mean]    ratio < 1 - epsilon with A < 0 */
  double clip_ratio_high;  /* [clip_ratio/high_mean]   ratio > 1 + epsilon_high with A > 0 */
  double clip_ratio_region; /* [clip_ratio/region_mean] either */
} xla_grpo_metrics;

/* logps, old_logps, ref_logps: row-major [n_seq, n_tok] per-token log-probs of the policy, of
   the policy that sampled (NULL = on-policy: old = logps) and of the reference (NULL allowed
   only when beta == 0); lengths[n_seq]: completion tokens of each row (the mask); rewards[n_seq].
   advantages_out[n_seq] and grad_out[n_seq * n_tok] (d loss / d logps) may be NULL. Values
   outside the mask are never read. Errors (XLA_ERR_INVALID_ARG or XLA_ERR_SHAPE, nothing
   written): a NULL array or out, group_size < 2 or not dividing n_seq, a length outside
   [0, n_tok] (or over max_completion_length), every length 0, a NaN or infinite reward or
   masked log-prob (named with its index), a bad option. */
XLA_API xla_status xla_grpo_loss(const xla_grpo_params* p, const double* logps, const double* old_logps,
                                 const double* ref_logps, const int32_t* lengths, const double* rewards,
                                 int64_t n_seq, int64_t n_tok, double* advantages_out, double* grad_out,
                                 xla_grpo_metrics* out);

/* ---------------------------------------------------------------- the GRPO trainer
 * Group Relative Policy Optimization with TRL's GRPOTrainer semantics: for each prompt the
 * policy samples group_size completions (through the serving engine, one batched run per
 * round, or one session each), reward functions score them, and xla_grpo_loss's clipped
 * loss takes num_iterations optimizer steps on them. See the book's chapter "Learning from
 * its own samples". */
typedef struct xla_prompt_dataset xla_prompt_dataset;
/* n prompt texts, each encoded as <bos> + its tokens (tok NULL = bytes, as the other datasets);
   chat != 0 renders each as a user turn followed by the model's turn opener. answers (NULL, or
   n strings, an entry NULL = none) are what XLA_REWARD_EXACT_MATCH compares with. */
XLA_API xla_status xla_prompt_dataset_from_text(const char* const* prompts, const char* const* answers, size_t n,
                                                const xla_tokenizer* tok /* nullable */, int32_t chat,
                                                xla_prompt_dataset** out);
/* JSONL: {"prompt": "...", "answer": "..."} or {"prompt_ids": [...], "answer": "..."} per line;
   errors name the file and line. */
XLA_API xla_status xla_prompt_dataset_load_jsonl(const char* path, const xla_tokenizer* tok /* nullable */,
                                                 int32_t chat, xla_prompt_dataset** out);
/* Prompts, or -1 when d is NULL. */
XLA_API int64_t xla_prompt_dataset_size(const xla_prompt_dataset* d);
XLA_API void xla_prompt_dataset_free(xla_prompt_dataset* d);

#define XLA_GRPO_SAMPLER_ENGINE 0   /* the serving engine: a round's completions in one batched run */
#define XLA_GRPO_SAMPLER_SESSIONS 1 /* one session per completion, one after another */
typedef struct xla_grpo_trainer_params {
  uint32_t struct_size;
  xla_grpo_params grpo;            /* group_size 4 here (completions per prompt), beta 0, clip 0.2 / 0.2,
                                      XLA_GRPO_LOSS_GRPO, scale_rewards 1 */
  int32_t num_iterations;          /* 1: optimizer steps per round of samples (mu) */
  int32_t max_completion_length;   /* 64 tokens sampled at most */
  xla_sampler_params sampling;     /* temperature 1 (> 0), top_k, top_p, min_p, repetition_penalty;
                                      stop_ids (none = <eos>); seed and max_new_tokens unused */
  int32_t sampler;                 /* XLA_GRPO_SAMPLER_ENGINE */
  int32_t engine_max_seqs;         /* 8: sequences the engine runs at once */
  int32_t reference;               /* when beta != 0: XLA_DPO_REF_FROZEN_COPY (default),
                                      XLA_DPO_REF_MODEL or XLA_DPO_REF_LORA_DISABLED */
  const xla_model* reference_model; /* XLA_DPO_REF_MODEL: required, must outlive the trainer */
  int64_t batch_size;              /* 8 completions per micro-batch: a multiple of grpo.group_size */
  int64_t grad_accum;              /* 1 */
  int64_t steps;                   /* 100 */
  int32_t schedule;                /* XLA_SCHEDULE_CONSTANT */
  int64_t warmup_steps;            /* 0 */
  double min_lr_ratio;             /* 0 */
  double max_grad_norm;            /* 1.0; 0 = no clipping */
  uint64_t seed;                   /* 0: prompt order and every completion's sampler seed */
  const char* metrics_path;        /* NULL: none (JSONL with TRL's names) */
  const char* checkpoint_dir;      /* NULL: none */
  int64_t checkpoint_every;        /* 0: only at the end when checkpoint_dir is set */
  int32_t keep_checkpoints;        /* 2 */
  int32_t progress;                /* -1: a bar on a terminal, plain lines otherwise; 0 off */
} xla_grpo_trainer_params;
XLA_API void xla_grpo_trainer_params_init(xla_grpo_trainer_params* p);

/* A result struct: set struct_size before the call. One optimizer step (TRL's names in
   brackets); the reward and completion figures describe the round's samples. */
typedef struct xla_grpo_step_metrics {
  uint32_t struct_size;
  int64_t step;
  double loss, kl;                 /* [loss], [kl] (0 when beta == 0) */
  double clip_ratio_low, clip_ratio_high, clip_ratio_region; /* [clip_ratio/low_mean] ... */
  double reward, reward_std;       /* [reward] mean total reward, [reward_std] mean of the groups' std */
  double frac_reward_zero_std;     /* [frac_reward_zero_std] groups without any signal */
  double completion_mean_length;   /* [completions/mean_length] */
  double clipped_ratio;            /* [completions/clipped_ratio] cut at max_completion_length */
  double grad_norm, learning_rate;
  double samples_per_s, sampled_tokens_per_s; /* of the round's sampling */
  int32_t sampled;                 /* 1 when this step drew a new round */
} xla_grpo_step_metrics;

/* A reward callback: one completion (its ids and, decoded, its text; the prompt's ids, text
   and answer, "" when there are none). Write the reward to *reward_out and return 0; a
   nonzero return fails the step (XLA_ERR_ABORTED, naming the reward). A reward left unwritten
   is NaN, which fails the step as any non-finite reward does (XLA_ERR_INVALID_ARG, naming the
   reward and the prompt). The texts are C strings: a NUL byte the model drew ends the text. */
typedef int32_t (*xla_reward_fn)(const int32_t* prompt, size_t n_prompt, const int32_t* completion,
                                 size_t n_completion, const char* prompt_text, const char* completion_text,
                                 const char* answer, double* reward_out, void* user_data);

typedef struct xla_grpo_trainer xla_grpo_trainer;
/* The policy, the optimizer (made from the policy), the prompts, the tokenizer and a reference
   model must outlive the trainer. tok NULL = bytes (decoding for the rewards). Rewards are
   added next, at least one before the first step. */
XLA_API xla_status xla_grpo_trainer_create(xla_model* policy, xla_optimizer* o, const xla_prompt_dataset* prompts,
                                           const xla_tokenizer* tok /* nullable */,
                                           const xla_grpo_trainer_params* p, xla_grpo_trainer** out);
XLA_API void xla_grpo_trainer_free(xla_grpo_trainer* t);
/* A reward function with its name (metrics rewards/<name>/mean) and weight; called on the
   thread that steps. */
XLA_API xla_status xla_grpo_trainer_add_reward(xla_grpo_trainer* t, const char* name, xla_reward_fn fn,
                                               void* user_data, double weight);
/* Built in: 1 when the completion's text, trimmed, equals the prompt's answer. */
XLA_API xla_status xla_grpo_trainer_add_exact_match_reward(xla_grpo_trainer* t, double weight);
/* Built in: 1 when the whole completion text matches an ECMAScript regex. */
XLA_API xla_status xla_grpo_trainer_add_format_reward(xla_grpo_trainer* t, const char* pattern, double weight);
/* One optimizer step (drawing a round of samples first when one is due); *out is nullable. */
XLA_API xla_status xla_grpo_trainer_step(xla_grpo_trainer* t, xla_grpo_step_metrics* out);
/* Called after every step; nonzero stops the run (XLA_ERR_ABORTED). */
typedef int32_t (*xla_grpo_fn)(int64_t step, const xla_grpo_step_metrics* m, void* user_data);
XLA_API xla_status xla_grpo_trainer_run(xla_grpo_trainer* t, xla_grpo_fn on_step /* nullable */, void* user_data,
                                        int64_t* steps_out);
/* Continues from checkpoint_dir's latest checkpoint when there is one (*resumed_out = 1),
   the samples of an unfinished round and the sampler's seeds included. */
XLA_API xla_status xla_grpo_trainer_resume(xla_grpo_trainer* t, int32_t* resumed_out /* nullable */);
XLA_API xla_status xla_grpo_trainer_save(xla_grpo_trainer* t);

#ifdef __cplusplus
}
#endif
#endif /* XLA_XLA_H */
