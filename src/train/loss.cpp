// loss.cpp — the fused LM head + cross-entropy, a chunk of tokens at a time.
// Per chunk: logits = h·Wᵀ (one GEMM), then each row is turned in place into its loss and,
// when training, into dloss/dlogits, which two more GEMMs turn into the gradients of h
// (dlogits·W) and of W (dlogitsᵀ·h, accumulated over chunks without a temporary).
#include "xla/loss.hpp"

#include <bit>
#include <cmath>
#include <vector>

#include "blocked.hpp"         // src/tensor/kernels
#include "gemm.hpp"            // src/tensor/kernels
#include "into.hpp"            // src/tensor/kernels
#include "op_trace.hpp"        // src/tensor/kernels
#include "parallel.hpp"        // src/tensor/kernels
#include "row_transforms.hpp"  // src/tensor/kernels
#include "xla/autograd.hpp"
#include "xla/ops.hpp"

namespace xla::train {
namespace {

// Sum of n floats in 16 fixed lanes (by index, not address): the same bits on every call.
double lane_sum(const float* x, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  double s = 0;
  for (; i < n; ++i) s += x[i];
  for (float a : acc) s += a;
  return s;
}

float row_max(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// The inputs of one fused-head call, checked and flattened to rows.
struct HeadInputs {
  Tensor h;       // [N, C] f32 contiguous
  Tensor weight;  // [V, C]
  std::vector<int64_t> targets;
  int64_t N = 0, C = 0, V = 0, counted = 0, chunk = 1;
};

// What head_inputs checks of the shapes and dtypes, and the rows N, width C, vocabulary V
// and rows per chunk they give.
struct HeadShape {
  int64_t N = 0, C = 0, V = 0, chunk = 1;
};
HeadShape check_head(const char* op, const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                     int64_t chunk_bytes) {
  const std::string name = op;
  if (!hidden.defined() || !weight.defined() || !targets.defined()) fail(Status::InvalidArg, name + ": undefined tensor");
  if (hidden.ndim() < 1 || weight.ndim() != 2 || hidden.shape().back() != weight.shape()[1])
    fail(Status::Shape, name + ": hidden " + hidden.shape().str() + " and weight " + weight.shape().str() +
                            " do not fit ([..., C] and [V, C])");
  if (targets.dtype() != DType::I32 && targets.dtype() != DType::I64)
    fail(Status::DType, name + ": targets must be i32 or i64, got " + dtype_name(targets.dtype()));
  Shape lead;
  for (int i = 0; i + 1 < hidden.ndim(); ++i) lead.push_back(hidden.shape()[i]);
  if (!(targets.shape() == lead))
    fail(Status::Shape, name + ": targets " + targets.shape().str() + " should be " + lead.str() + " for hidden " +
                            hidden.shape().str());
  if (weight.dtype() != DType::F32 && weight.dtype() != DType::BF16 && weight.dtype() != DType::Q8)
    fail(Status::DType, name + ": weight must be f32, bf16 or q8, got " + dtype_name(weight.dtype()));
  if (chunk_bytes <= 0) fail(Status::InvalidArg, name + ": chunk_bytes must be positive");
  HeadShape s;
  s.C = weight.shape()[1];
  s.V = weight.shape()[0];
  s.N = lead.numel();
  s.chunk = std::clamp<int64_t>(chunk_bytes / (4 * std::max<int64_t>(s.V, 1)), 1, std::max<int64_t>(s.N, 1));
  return s;
}

HeadInputs head_inputs(const char* op, const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                       int64_t ignore_index, int64_t chunk_bytes) {
  const HeadShape shape = check_head(op, hidden, weight, targets, chunk_bytes);
  HeadInputs in;
  in.C = shape.C;
  in.V = shape.V;
  in.N = shape.N;
  in.chunk = shape.chunk;
  // read in place when already f32 and contiguous: a replayed step then makes no tensor here
  Tensor h = detach(hidden);
  in.h = (h.dtype() == DType::F32 && h.is_contiguous() ? h : h.to(DType::F32).contiguous()).reshape({in.N, in.C});
  in.weight = detach(weight).contiguous();
  in.targets.resize(size_t(in.N));
  detail::copy_as_i64(targets, in.targets.data());
  for (int64_t t : in.targets) {
    if (t == ignore_index) continue;
    if (t < 0 || t >= in.V)
      fail(Status::InvalidArg,
           std::string(op) + ": target " + std::to_string(t) + " is out of range [0, " + std::to_string(in.V) + ")");
    ++in.counted;
  }
  return in;
}

// Rows of logits are padded to V + 16 floats: with V a power of two (262,144), rows 1 MiB
// apart would all fall into the same cache sets and the GEMM writing them would thrash.
int64_t padded_ld(int64_t V) { return V + 16; }

// Logits of rows [r0, r1) into buf ([chunk, padded_ld(V)]): a [rows, V] view, soft-capped,
// then divided by the temperature (sampling's distribution, which GRPO scores).
Tensor chunk_logits(const HeadInputs& in, int64_t r0, int64_t r1, float softcap, Tensor& buf,
                    float temperature = 1.f) {
  const int64_t V = in.V, C = in.C, ld = padded_ld(V), rows = r1 - r0;
  if (!buf.defined()) buf = Tensor::empty({in.chunk, ld}, DType::F32);
  float* x = buf.data<float>();
  detail::MatRef A, B;
  A.ptr = in.h.data<float>() + r0 * C;
  A.ld = C;
  B.col_major = true;  // Wᵀ: element (k, j) is W[j, k]
  B.ld = C;
  if (in.weight.dtype() == DType::BF16) B.bf16 = in.weight.data<uint16_t>();
  else if (in.weight.dtype() == DType::Q8) {
    B.q8 = static_cast<const int8_t*>(in.weight.raw_data());
    B.q8_scales = in.weight.q8_scales();
  } else B.ptr = in.weight.data<float>();
  detail::gemm(rows, V, C, A, B, x, ld, detail::gemm_threads(rows, V, C));
  if (softcap > 0) {
    detail::parallel_for(rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) detail::soft_cap(x + r * ld, V, softcap);
    });
  }
  if (temperature != 1.f) {
    const float inv = 1.f / temperature;
    detail::parallel_for(rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) detail::apply_blocked(x + r * ld, x + r * ld, V, [inv](auto a, auto o) { o = a * inv; });
    });
  }
  buf.bump_version();
  return buf.slice(0, 0, rows).slice(1, 0, V);
}

// Row statistics of a logits row x: logsumexp, and e = exp(x - max) into `e`.
struct RowStats {
  float lse = 0, max = 0;
  double sum_e = 0;
};
RowStats row_stats(const float* x, float* e, int64_t V) {
  RowStats s;
  s.max = row_max(x, V);
  const float m = s.max;
  detail::exp_shifted(x, m, e, V);
  s.sum_e = lane_sum(e, V);
  s.lse = m + float(std::log(s.sum_e));
  return s;
}

// The gradients were formed in the forward (saved: dloss/dh [N, C], dloss/dW [V, C]);
// backward scales them by the seed. With the usual seed 1 the precomputed gradient is
// handed over as it is (moved out, so the engine can keep it as .grad without a copy); a
// second backward then has nothing.
struct LinearCrossEntropyNode final : autograd::Node {
  Shape hidden_shape;  // [..., C]
  Shape weight_shape;  // [V, C]
  bool has_grad[2] = {false, false};     // formed in forward: hidden's, weight's
  bool handed_over[2] = {false, false};  // moved out by a backward with seed 1

  void backward(const Tensor& g, Tensor* gi) override {
    // Under a capture the seed is a value of the graph, not a number to branch on: always
    // the product (x · 1 is x, bit for bit).
    const bool capturing = xla::detail::current_tracer() != nullptr;
    const float s = capturing ? 0.f : g.item();
    for (int i = 0; i < 2; ++i) {
      if (!needs(i) || !has_grad[i]) continue;
      if (handed_over[i])
        fail(Status::InvalidArg, "linear_cross_entropy: backward through this loss twice is not supported");
      if (capturing) {
        gi[i] = mul(saved(size_t(i)), g);
      } else if (s == 1.f) {
        gi[i] = take_saved(size_t(i));
        handed_over[i] = true;
      } else {
        gi[i] = mul(saved(size_t(i)), Tensor::scalar(s));
      }
      gi[i] = gi[i].reshape(i == 0 ? hidden_shape : weight_shape);
    }
  }
};

}  // namespace

// LossParts as three i64, exactly: the first two the bits of the doubles.
void write_parts(const LossParts& p, int64_t* v) {
  v[0] = std::bit_cast<int64_t>(p.cross_entropy);
  v[1] = std::bit_cast<int64_t>(p.z_loss);
  v[2] = p.tokens;
}
Tensor parts_tensor(const LossParts& p) {
  int64_t v[3];
  write_parts(p, v);
  return Tensor::from_data(v, {3}, DType::I64);
}
LossParts parts_of(const Tensor& t) {
  const int64_t* v = t.data<int64_t>();
  return {std::bit_cast<double>(v[0]), std::bit_cast<double>(v[1]), v[2]};
}

// The results of linear_cross_entropy_into for inputs {hidden, weight, targets}: the loss
// (0-d), dloss/dh [N, C] and dloss/dW [V, C] when asked for (else undefined), the LossParts
// (parts_tensor's layout), and the workspace for a chunk's logits ([chunk, padded_ld(V)]).
std::vector<Tensor> head_results(const std::vector<Tensor>& v, const LossOptions& o, bool need_h, bool need_w) {
  const HeadShape s = check_head("linear_cross_entropy", v[0], v[1], v[2], o.chunk_bytes);
  return {Tensor::empty({}), need_h ? Tensor::empty({s.N, s.C}) : Tensor(),
          need_w ? Tensor::empty({s.V, s.C}) : Tensor(), Tensor::empty({3}, DType::I64),
          Tensor::empty({s.chunk, padded_ld(s.V)})};
}

// The loss and its gradients for in = {hidden, weight, targets} into head_results' tensors,
// those that are defined (a replay leaves undefined the ones its graph never reads).
void linear_cross_entropy_into(const std::vector<Tensor>& v, const LossOptions& o, std::vector<Tensor>& out) {
  HeadInputs in = head_inputs("linear_cross_entropy", v[0], v[1], v[2], o.ignore_index, o.chunk_bytes);
  const int64_t N = in.N, V = in.V;
  const float eps = o.label_smoothing, z = o.z_loss, cap = o.softcap;
  const float scale = in.counted ? 1.f / float(in.counted) : 0.f;
  Tensor* grad_h = detail::wanted(out, 1);
  Tensor* grad_w = detail::wanted(out, 2);
  const bool need_h = grad_h != nullptr, need_w = grad_w != nullptr;
  if (grad_h) grad_h->zero_();
  if (grad_w) grad_w->zero_();
  std::vector<double> ce(size_t(N), 0.0), zl(size_t(N), 0.0);
  Tensor buf = out.size() > 4 ? out[4] : Tensor();  // a chunk's logits (made by chunk_logits when undefined)
  for (int64_t r0 = 0; r0 < N; r0 += in.chunk) {
    const int64_t r1 = std::min(N, r0 + in.chunk), rows = r1 - r0;
    Tensor logits = chunk_logits(in, r0, r1, cap, buf);
    float* x = logits.data<float>();
    const int64_t ld = logits.strides()[0];
    detail::parallel_for(rows, 1, [&](int64_t b, int64_t e) {
      std::vector<float> ebuf(static_cast<size_t>(V));
      for (int64_t r = b; r < e; ++r) {
        float* row = x + r * ld;
        const int64_t t = in.targets[size_t(r0 + r)];
        if (t == o.ignore_index) {
          if (need_h || need_w) std::fill(row, row + V, 0.f);
          continue;
        }
        RowStats s = row_stats(row, ebuf.data(), V);
        double loss = (1.0 - eps) * (double(s.lse) - row[t]);
        if (eps > 0) loss += eps * (double(s.lse) - lane_sum(row, V) / double(V));
        ce[size_t(r0 + r)] = loss;
        zl[size_t(r0 + r)] = double(z) * double(s.lse) * double(s.lse);
        if (!(need_h || need_w)) continue;
        // dloss/dlogit_j = scale·(p_j·(1 + 2z·lse) − ε/V − (1−ε)[j = t]), through the cap
        const float pmul = scale * float((1.0 + 2.0 * double(z) * s.lse) / s.sum_e), off = scale * eps / float(V);
        const float xt = row[t];
        if (cap > 0) {
          const float inv = 1.f / cap;
          for (int64_t j = 0; j < V; ++j) {
            const float y = row[j] * inv;
            row[j] = (ebuf[size_t(j)] * pmul - off) * (1.f - y * y);
          }
          const float y = xt * inv;
          row[t] -= scale * (1.f - eps) * (1.f - y * y);
        } else {
          for (int64_t j = 0; j < V; ++j) row[j] = ebuf[size_t(j)] * pmul - off;
          row[t] -= scale * (1.f - eps);
        }
      }
    });
    if (need_h) {
      Tensor gh = grad_h->slice(0, r0, r1);
      addmm_(gh, logits, in.weight);
    }
    if (need_w) addmm_(*grad_w, logits.transpose(0, 1), in.h.slice(0, r0, r1));
  }
  double ce_sum = 0, z_sum = 0;
  for (int64_t i = 0; i < N; ++i) ce_sum += ce[size_t(i)], z_sum += zl[size_t(i)];
  const double denom = double(in.counted);  // 0 counted: 0/0 = NaN, as PyTorch's mean
  if (Tensor* loss = detail::wanted(out, 0)) loss->data<float>()[0] = float((ce_sum + z_sum) / denom);
  if (Tensor* parts = detail::wanted(out, 3))
    write_parts(LossParts{ce_sum / denom, z_sum / denom, in.counted}, parts->data<int64_t>());
}

Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                            const LossOptions& o, LossParts* parts) {
  const char* op = "linear_cross_entropy";
  if (!(o.label_smoothing >= 0.f && o.label_smoothing <= 1.f))
    fail(Status::InvalidArg, std::string(op) + ": label_smoothing must be in [0, 1]");
  if (!(o.z_loss >= 0.f && std::isfinite(o.z_loss))) fail(Status::InvalidArg, std::string(op) + ": z_loss must be >= 0");
  if (!(o.softcap >= 0.f && std::isfinite(o.softcap))) fail(Status::InvalidArg, std::string(op) + ": softcap must be >= 0");
  const bool need_h = is_grad_enabled() && requires_grad(hidden);
  const bool need_w = is_grad_enabled() && requires_grad(weight);
  // the kernel reports itself to a capture (op_trace.hpp), gradients and workspace included,
  // so that a replay writes them all into planned buffers
  std::vector<Tensor> out = detail::traced_into(
      "linear_cross_entropy", {hidden, weight, targets},
      [o](const std::vector<Tensor>& v, std::vector<Tensor>& r) { linear_cross_entropy_into(v, o, r); },
      [o, need_h, need_w](const std::vector<Tensor>& v) { return head_results(v, o, need_h, need_w); },
      /*workspace=*/1);
  if (parts) *parts = parts_of(out[3]);
  Tensor y = out[0];
  if (auto* n = autograd::record<LinearCrossEntropyNode>(y, "linear_cross_entropy", {&hidden, &weight})) {
    n->hidden_shape = hidden.shape();
    n->weight_shape = weight.shape();
    n->has_grad[0] = need_h;
    n->has_grad[1] = need_w;
    n->save(out[1]);
    n->save(out[2]);
  }
  return y;
}

namespace {

// log p(target) rows need the logits again in backward: recompute them chunk by chunk from
// the saved h [N, C] (f32), W [V, C] and targets [N] (i64).
struct TokenLogprobsNode final : autograd::Node {
  Shape hidden_shape;        // [..., C]
  int64_t ignore_index = 0;  // rows with this target get no gradient
  int64_t chunk_rows = 1;    // rows of logits formed at once (as in the forward)
  float softcap = 0;         // logits = cap·tanh(logits/cap) when > 0
  float temperature = 1;     // then divided by this

  void backward(const Tensor& g, Tensor* gi) override {
    const Tensor& h = saved(0);
    const Tensor& w = saved(1);
    const Tensor& tg = saved(2);
    HeadInputs in;
    in.h = h;
    in.weight = w;
    in.N = h.shape()[0];
    in.C = h.shape()[1];
    in.V = w.shape()[0];
    in.targets.resize(size_t(in.N));
    if (in.N) tg.copy_to(in.targets.data());
    in.chunk = chunk_rows;
    const int64_t ignore = ignore_index, V = in.V;
    const float cap = softcap, temp = temperature, inv_temp = 1.f / temperature;
    Tensor gc = g.to(DType::F32).contiguous().reshape({in.N});
    const float* gp = gc.data<float>();
    Tensor grad_h = needs(0) ? Tensor::zeros({in.N, in.C}, DType::F32) : Tensor();
    Tensor grad_w = needs(1) ? Tensor::zeros({V, in.C}, DType::F32) : Tensor();
    Tensor buf;
    for (int64_t r0 = 0; r0 < in.N; r0 += in.chunk) {
      const int64_t r1 = std::min(in.N, r0 + in.chunk), rows = r1 - r0;
      Tensor logits = chunk_logits(in, r0, r1, cap, buf, temp);
      float* x = logits.data<float>();
      const int64_t ld = logits.strides()[0];
      detail::parallel_for(rows, 1, [&](int64_t b, int64_t e) {
        std::vector<float> ebuf(static_cast<size_t>(V));
        for (int64_t r = b; r < e; ++r) {
          float* row = x + r * ld;
          const int64_t t = in.targets[size_t(r0 + r)];
          const float gr = gp[r0 + r];
          if (t == ignore || gr == 0.f) {
            std::fill(row, row + V, 0.f);
            continue;
          }
          RowStats s = row_stats(row, ebuf.data(), V);
          // d log p_t / d z_j = [j = t] − p_j for z = capped / T; dz / d capped = 1 / T
          const float g_t = gr * inv_temp;
          const float pmul = -g_t / float(s.sum_e), xt = row[t];
          for (int64_t j = 0; j < V; ++j) {
            const float y = cap > 0 ? row[j] * temp / cap : 0.f;
            row[j] = ebuf[size_t(j)] * pmul * (1.f - y * y);
          }
          const float y = cap > 0 ? xt * temp / cap : 0.f;
          row[t] += g_t * (1.f - y * y);
        }
      });
      if (grad_h.defined()) {
        Tensor gh = grad_h.slice(0, r0, r1);
        addmm_(gh, logits, in.weight);
      }
      if (grad_w.defined()) addmm_(grad_w, logits.transpose(0, 1), in.h.slice(0, r0, r1));
    }
    if (grad_h.defined()) gi[0] = grad_h.reshape(hidden_shape);
    if (grad_w.defined()) gi[1] = grad_w;
  }
};

}  // namespace

Tensor linear_token_logprobs(const Tensor& hidden, const Tensor& weight, const Tensor& targets, float softcap,
                             int64_t ignore_index, int64_t chunk_bytes, float temperature) {
  detail::UntracedScope untraced;  // raw kernels: a capture must not freeze their results
  const char* op = "linear_token_logprobs";
  if (!(softcap >= 0.f && std::isfinite(softcap))) fail(Status::InvalidArg, std::string(op) + ": softcap must be >= 0");
  if (!(temperature > 0.f && std::isfinite(temperature)))
    fail(Status::InvalidArg, std::string(op) + ": temperature must be > 0 and finite");
  HeadInputs in = head_inputs(op, hidden, weight, targets, ignore_index, chunk_bytes);
  const int64_t N = in.N, V = in.V;
  std::vector<float> lp(size_t(N), 0.f);
  Tensor buf;
  for (int64_t r0 = 0; r0 < N; r0 += in.chunk) {
    const int64_t r1 = std::min(N, r0 + in.chunk), rows = r1 - r0;
    Tensor logits = chunk_logits(in, r0, r1, softcap, buf, temperature);
    const float* x = logits.data<float>();
    const int64_t ld = logits.strides()[0];
    detail::parallel_for(rows, 1, [&](int64_t b, int64_t e) {
      std::vector<float> ebuf(static_cast<size_t>(V));
      for (int64_t r = b; r < e; ++r) {
        const int64_t t = in.targets[size_t(r0 + r)];
        if (t == ignore_index) continue;
        RowStats s = row_stats(x + r * ld, ebuf.data(), V);
        lp[size_t(r0 + r)] = x[r * ld + t] - s.lse;
      }
    });
  }
  Shape lead;
  for (int i = 0; i + 1 < hidden.ndim(); ++i) lead.push_back(hidden.shape()[i]);
  Tensor y = Tensor::from_vector(lp, lead);
  if (auto* n = autograd::record<TokenLogprobsNode>(y, "linear_token_logprobs", {&hidden, &weight})) {
    n->hidden_shape = hidden.shape();
    n->ignore_index = ignore_index;
    n->chunk_rows = in.chunk;
    n->softcap = softcap;
    n->temperature = temperature;
    n->save(in.h);
    n->save(in.weight);
    n->save(Tensor::from_data(in.targets.data(), {N}, DType::I64));
  }
  return y;
}

Tensor lm_loss(const Model& model, const Tensor& inputs, const Tensor& targets, LossOptions options,
               LossParts* parts) {
  if (model.final_softcap() > 0) options.softcap = model.final_softcap();
  return linear_cross_entropy(model.final_hidden(inputs), model.head_weight(), targets, options, parts);
}

}  // namespace xla::train
