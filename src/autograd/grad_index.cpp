// grad_index.cpp — differentiable indexing (index_select, gather, embedding), joining
// (concat, stack, split), triangles, and the fused cross-entropy loss.
#include <cmath>

#include "into.hpp"  // src/tensor/kernels
#include "map.hpp"
#include "node.hpp"
#include "op_trace.hpp"  // src/tensor/kernels

namespace xla::ag {

using autograd::InputShape;
using autograd::record_op;

namespace {
struct IndexAxis {
  Shape x;   // the indexed input's shape
  int axis;  // normalised
};
}  // namespace

Tensor index_select(const Tensor& x, int axis, const Tensor& index) {
  Tensor y = xla::index_select(x, axis, index);
  if (auto* n = record_op<IndexAxis>(y, "index_select", [](auto& n, const Tensor& g, Tensor* gi) {
        gi[0] = index_add(n.p.x, n.p.axis, n.saved(0), g);
      }, {&x})) {
    n->p = IndexAxis{x.shape(), normalize_axis(axis, x.ndim(), "index_select")};
    n->save(index);
  }
  return y;
}

Tensor gather(const Tensor& x, int axis, const Tensor& index) {
  Tensor y = xla::gather(x, axis, index);
  if (auto* n = record_op<IndexAxis>(y, "gather", [](auto& n, const Tensor& g, Tensor* gi) {
        gi[0] = scatter_add(n.p.x, n.p.axis, n.saved(0), g);
      }, {&x})) {
    n->p = IndexAxis{x.shape(), normalize_axis(axis, x.ndim(), "gather")};
    n->save(index);
  }
  return y;
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  Tensor y = xla::embedding(weight, ids);
  if (auto* n = record_op<InputShape>(y, "embedding", [](auto& n, const Tensor& g, Tensor* gi) {
        // rows of g land on the rows their ids picked; unused rows stay zero
        const Tensor& ids = n.saved(0);
        const Shape& w = n.p.x;  // [vocab, dim]
        const Tensor rows = g.reshape({ids.numel(), w[1]}), flat = ids.reshape({ids.numel()});
        // A leaf weight whose .grad already exists and is ours alone (a tied LM head sent its
        // gradient first) takes the rows in place: no second [vocab, dim] buffer. Not under a
        // capture (xla/compile.hpp), whose graph holds values.
        if (const auto& leaf = autograd::Engine::state(n).next[0].leaf; leaf && !detail::current_tracer()) {
          Tensor& acc = leaf->grad;
          if (acc.defined() && acc.storage().use_count() == 1 && acc.is_contiguous() && acc.dtype() == DType::F32 &&
              acc.shape() == w) {
            index_add_(acc, 0, flat, rows);
            return;
          }
        }
        gi[0] = index_add(w, 0, flat, rows);
      }, {&weight})) {
    n->p.x = weight.shape();
    n->save(ids);
  }
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int axis) {
  Tensor y = xla::concat(xs, axis);
  struct Concat {
    int axis;                      // normalised
    std::vector<int64_t> extents;  // each input's extent along the axis
  };
  if (auto* n = record_op<Concat>(y, "concat", [](auto& n, const Tensor& g, Tensor* gi) {
        // each input gets its stretch of g along the axis
        int64_t start = 0;
        for (size_t i = 0; i < n.p.extents.size(); ++i) {
          if (n.needs(int(i))) gi[i] = g.slice(n.p.axis, start, start + n.p.extents[i]);
          start += n.p.extents[i];
        }
      }, xs)) {
    n->p.axis = normalize_axis(axis, xs[0].ndim(), "concat");
    for (const Tensor& t : xs) n->p.extents.push_back(t.shape()[n->p.axis]);
  }
  return y;
}

Tensor stack(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) fail(Status::InvalidArg, "stack", "no tensors");
  for (const Tensor& t : xs)
    if (!t.defined()) fail(Status::InvalidArg, "stack", "undefined tensor");
  int a = normalize_axis(axis, xs[0].ndim() + 1, "stack");
  for (const Tensor& t : xs)
    if (!(t.shape() == xs[0].shape()))
      fail(Status::Shape, "stack", "shapes " + xs[0].shape().str() + " and " + t.shape().str() + " differ");
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (const Tensor& t : xs) us.push_back(ag::unsqueeze(t, a));
  return ag::concat(us, a);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int axis) {
  std::vector<Tensor> views = xla::split(x, sizes, axis);  // validates and gives the extents
  int a = normalize_axis(axis, x.ndim(), "split");
  std::vector<Tensor> out;
  out.reserve(views.size());
  int64_t start = 0;
  for (const Tensor& v : views) {
    out.push_back(ag::slice(x, a, start, start + v.shape()[a]));
    start += v.shape()[a];
  }
  return out;
}

template <bool Lower>
static Tensor triangle(const Tensor& x, int64_t k) {
  Tensor y = Lower ? xla::tril(x, k) : xla::triu(x, k);
  struct Diagonal {
    int64_t k;  // which diagonal bounds the triangle
  };
  if (auto* n = record_op<Diagonal>(y, Lower ? "tril" : "triu", [](auto& n, const Tensor& g, Tensor* gi) {
        gi[0] = Lower ? xla::tril(g, n.p.k) : xla::triu(g, n.p.k);
      }, {&x}))
    n->p.k = k;
  return y;
}
Tensor tril(const Tensor& x, int64_t k) { return triangle<true>(x, k); }
Tensor triu(const Tensor& x, int64_t k) { return triangle<false>(x, k); }

// ---- cross-entropy ----
// Row i with target t and log-partition lse = logsumexp(x_i):
//   loss_i = (1 - ε)(lse - x_it) + ε (lse - mean_c x_ic)
//   dloss_i/dx_ic = softmax(x_i)_c - (1 - ε)[c = t] - ε / C
// and the mean divides by the number of rows whose target is not ignore_index.
namespace {

struct CrossEntropyRows {
  Tensor logits;                 // f32, packed [N, C]
  std::vector<int64_t> targets;  // N
  int64_t rows = 0, classes = 0, counted = 0;
};

CrossEntropyRows ce_rows(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  if (!logits.defined() || !targets.defined()) fail(Status::InvalidArg, "cross_entropy", "undefined tensor");
  if (logits.ndim() < 1) fail(Status::Shape, "cross_entropy", "logits must be [..., classes], got 0-d");
  if (targets.dtype() != DType::I32 && targets.dtype() != DType::I64)
    fail(Status::DType, "cross_entropy", std::string("targets must be i32 or i64, got ") + dtype_name(targets.dtype()));
  Shape lead;
  for (int i = 0; i + 1 < logits.ndim(); ++i) lead.push_back(logits.shape()[i]);
  if (!(targets.shape() == lead))
    fail(Status::Shape, "cross_entropy", "targets " + targets.shape().str() + " should be " + lead.str() + " for logits " +
                            logits.shape().str());
  CrossEntropyRows r;
  r.classes = logits.shape().back();
  r.rows = lead.numel();
  r.logits = autograd::packed_f32(logits);
  r.targets.resize(size_t(r.rows));
  detail::copy_as_i64(targets, r.targets.data());
  for (int64_t t : r.targets) {
    if (t == ignore_index) continue;
    if (t < 0 || t >= r.classes)
      fail(Status::InvalidArg, "cross_entropy", "target " + std::to_string(t) + " is out of range [0, " +
                                   std::to_string(r.classes) + ")");
    ++r.counted;
  }
  return r;
}

float row_lse(const float* x, int64_t C) {
  float m = -INFINITY;
  for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
  if (std::isinf(m)) return m;
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(double(x[c] - m));
  return m + float(std::log(s));
}

// The mean loss (0-d) and each counted row's log-partition [rows] of {logits, targets}, into
// the results it is given (either may be undefined: not wanted).
void cross_entropy_into(const std::vector<Tensor>& v, int64_t ignore_index, float eps, std::vector<Tensor>& out) {
  CrossEntropyRows r = ce_rows(v[0], v[1], ignore_index);
  const float* x = r.logits.data<float>();
  Tensor* lse_out = detail::wanted(out, 1);
  float* lse = lse_out ? lse_out->data<float>() : nullptr;
  std::vector<double> losses(size_t(r.rows), 0.0);  // summed in row order: the same bits on any thread count
  const int64_t rows_per_thread = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(r.classes, 1));
  detail::parallel_for(r.rows, rows_per_thread, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = r.targets[size_t(i)];
      if (lse) lse[i] = 0.f;  // an ignored row's (never read)
      if (t == ignore_index) continue;
      const float* row = x + i * r.classes;
      const float l = row_lse(row, r.classes);
      if (lse) lse[i] = l;
      double loss = (1.0 - eps) * (double(l) - row[t]);
      if (eps > 0) {
        double mean = 0;
        for (int64_t c = 0; c < r.classes; ++c) mean += row[c];
        loss += eps * (double(l) - mean / double(r.classes));
      }
      losses[size_t(i)] = loss;
    }
  });
  double total = 0;
  for (double loss : losses) total += loss;
  if (Tensor* y = detail::wanted(out, 0))
    y->data<float>()[0] = float(total / double(r.counted));  // 0/0 = NaN when all ignored
}

// cross_entropy_into's results: the loss (0-d) and the rows' log-partitions.
std::vector<Tensor> cross_entropy_results(const std::vector<Tensor>& v) {
  const Tensor& logits = v[0];
  int64_t rows = 1;
  for (int i = 0; i + 1 < logits.ndim(); ++i) rows *= logits.shape()[i];
  return {Tensor::empty({}), Tensor::empty({logits.ndim() >= 1 ? rows : 0})};
}

// d(loss)/d(logits) · g for {logits (packed f32), targets, lse, g} into out[0], f32 shaped like the logits.
void cross_entropy_grad_into(const std::vector<Tensor>& v, int64_t ignore, float eps, std::vector<Tensor>& out) {
  const Tensor &logits = v[0], &targets = v[1], &lse_t = v[2], &g = v[3];
  Tensor* result = detail::wanted(out, 0);
  if (!result) return;
  const int64_t C = logits.shape().back(), N = C ? logits.numel() / C : 0;
  std::vector<int64_t> t(static_cast<size_t>(N));
  detail::copy_as_i64(targets, t.data());
  int64_t counted = 0;
  for (int64_t id : t) counted += id != ignore;
  const float scale = g.item() / float(counted);
  const float* x = logits.data<float>();
  const float* l = lse_t.data<float>();
  float* d = result->data<float>();
  const int64_t rows_per_thread = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(C, 1));
  detail::parallel_for(N, rows_per_thread, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* di = d + i * C;
      if (t[size_t(i)] == ignore) {
        std::fill(di, di + C, 0.f);
        continue;
      }
      const float* xi = x + i * C;
      for (int64_t c = 0; c < C; ++c) di[c] = scale * (std::exp(xi[c] - l[i]) - eps / float(C));
      di[t[size_t(i)]] -= scale * (1.f - eps);
    }
  });
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index, float label_smoothing) {
  if (!(label_smoothing >= 0.f && label_smoothing <= 1.f))
    fail(Status::InvalidArg, "cross_entropy", "label_smoothing must be in [0, 1]");
  const float eps = label_smoothing;
  // the kernels report themselves to a capture (op_trace.hpp) with their `into` forms: a
  // replay writes the loss, the log-partitions and the gradient into planned buffers
  const Tensor packed = autograd::packed_f32(logits);  // what the backward reads
  std::vector<Tensor> out = detail::traced_into(
      "cross_entropy", {packed, targets},
      [ignore_index, eps](const std::vector<Tensor>& v, std::vector<Tensor>& r) {
        cross_entropy_into(v, ignore_index, eps, r);
      },
      cross_entropy_results);
  Tensor y = out[0];
  struct CrossEntropy {
    Shape logits;  // [..., C]
    int64_t ignore_index;
    float label_smoothing;
  };
  if (auto* n = record_op<CrossEntropy>(y, "cross_entropy", [](auto& n, const Tensor& g, Tensor* gi) {
        const CrossEntropy p = n.p;
        auto into = [p](const std::vector<Tensor>& v, std::vector<Tensor>& r) {
          cross_entropy_grad_into(v, p.ignore_index, p.label_smoothing, r);
        };
        gi[0] = detail::traced_into("cross_entropy_grad", {n.saved(0), n.saved(1), n.saved(2), g}, into,
                                    detail::one_like_first)[0]
                    .reshape(p.logits);
      }, {&logits})) {
    n->p = CrossEntropy{logits.shape(), ignore_index, eps};
    n->save(packed);
    n->save(targets);
    n->save(out[1]);
  }
  return y;
}

}  // namespace xla::ag
