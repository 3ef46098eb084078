// gradcheck.cpp — finite differences against backward. The function's output is reduced
// to a scalar with fixed pseudo-random weights (so every output element matters and no
// two can cancel by symmetry), then each input element that requires grad is nudged by
// ±eps and the central difference is compared with the analytic gradient.
#include <cmath>
#include <sstream>

#include "xla/autograd.hpp"

namespace xla {

std::string gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                      double eps, double atol, double rtol) {
  EnableGradGuard grad_on;
  // analytic: backward of Σ f(x) ⊙ w with fixed weights w, i.e. seed w
  std::vector<Tensor> xs = inputs;
  for (Tensor& x : xs) zero_grad(x);
  Tensor out = f(xs);
  if (!requires_grad(out)) return "gradcheck: the output does not require grad";
  Generator gen(1234);
  Tensor w = rand(out.shape(), gen, 0.5f, 1.5f);
  const std::vector<float> wv = w.to_vector();
  auto weighted = [&](const Tensor& y) {  // the same loss on the numeric side, in double
    std::vector<float> v = y.to_vector();
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(wv[i]);
    return s;
  };
  backward(out, w);

  std::ostringstream report;
  double worst = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    if (!requires_grad(xs[k])) continue;
    Tensor analytic = grad(xs[k]);
    std::vector<float> a = analytic.defined() ? analytic.to_vector() : std::vector<float>(size_t(xs[k].numel()), 0.f);
    if (analytic.defined() && !(analytic.shape() == xs[k].shape()))
      return "gradcheck: gradient of input " + std::to_string(k) + " has shape " + analytic.shape().str() +
             ", input has " + xs[k].shape().str();
    Tensor base = xs[k].contiguous().to(DType::F32);
    std::vector<float> x0 = base.to_vector();
    for (size_t i = 0; i < x0.size(); ++i) {
      auto eval_at = [&](float value) {
        std::vector<float> xv = x0;
        xv[i] = value;
        std::vector<Tensor> args = xs;
        args[k] = Tensor::from_vector(xv, xs[k].shape()).to(xs[k].dtype());
        NoGradGuard no_grad;
        return weighted(f(args));
      };
      const double numeric = (eval_at(float(x0[i] + eps)) - eval_at(float(x0[i] - eps))) / (2 * eps);
      const double err = std::fabs(double(a[i]) - numeric), allowed = atol + rtol * std::fabs(numeric);
      if (!(err <= allowed) && err - allowed > worst) {
        worst = err - allowed;
        report.str("");
        report << "gradcheck: input " << k << " element " << i << ": backward gives " << a[i]
               << ", finite differences give " << numeric << " (allowed error " << allowed << ")";
      }
    }
  }
  for (Tensor& x : xs) zero_grad(x);
  return report.str();
}

}  // namespace xla
