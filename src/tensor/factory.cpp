// factory.cpp — arange, full, cast and the seeded random draws.
// Random numbers are counter-based (a hash of (seed, position)), so a draw is the same
// whether one thread or many fill it, and a generator's state is just (seed, offset).
#include <cmath>

#include "copy.hpp"
#include "parallel.hpp"
#include "xla/ops.hpp"

namespace xla {
namespace {

// SplitMix64's finaliser over (seed, counter): a well-mixed 64-bit value per position.
inline uint64_t mix(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;  // a second round: counters differ by 1
  return z ^ (z >> 27);
}

template <typename F>
Tensor draw(const Shape& shape, Generator& gen, F value) {
  Tensor out = Tensor::empty(shape, DType::F32);
  const uint64_t seed = gen.seed(), base = gen.advance(uint64_t(out.numel()));
  float* p = out.data<float>();
  detail::parallel_for(out.numel(), detail::kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = value(mix(seed, base + uint64_t(i)));
  });
  return out;
}

}  // namespace

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(stop))
    fail(Status::InvalidArg, "arange", "start, stop and step must be finite and step nonzero");
  double count = std::ceil((stop - start) / step);
  int64_t n = count > 0 ? int64_t(count) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i) * step;
  if (dtype == DType::I32 || dtype == DType::I64 || dtype == DType::U8) {
    std::vector<int64_t> iv(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) iv[size_t(i)] = int64_t(std::llround(v[size_t(i)]));
    return Tensor::from_data(iv.data(), {n}, DType::I64).to(dtype);
  }
  std::vector<float> fv(v.begin(), v.end());
  return Tensor::from_data(fv.data(), {n}, DType::F32).to(dtype);
}

Tensor full(const Shape& shape, double value, DType dtype) {
  if (!std::isfinite(value) && !is_floating(dtype))
    fail(Status::InvalidArg, "full", "a non-finite value does not fit an integer dtype");
  int64_t as_int = is_floating(dtype) ? 0 : int64_t(std::llround(value));
  Tensor one = is_floating(dtype) ? Tensor::scalar(float(value)).to(dtype)
                                  : Tensor::from_data(&as_int, {}, DType::I64).to(dtype);
  return one.expand(shape).clone();
}

Tensor cast(const Tensor& x, DType dtype) {
  if (!x.defined()) fail(Status::InvalidArg, "cast", "undefined tensor");
  return x.to(dtype);
}

Tensor rand(const Shape& shape, Generator& gen, float low, float high) {
  if (!(low <= high)) fail(Status::InvalidArg, "rand", "low must not exceed high");
  return draw(shape, gen, [=](uint64_t h) {
    float u = float(h >> 40) * 0x1p-24f;  // 24 random bits: [0, 1)
    return low + (high - low) * u;
  });
}

Tensor randn(const Shape& shape, Generator& gen, float mean, float stddev) {
  return draw(shape, gen, [=](uint64_t h) {
    // Box–Muller from the two 32-bit halves; u1 in (0, 1) so the log is finite
    double u1 = (double(h >> 32) + 0.5) * 0x1p-32, u2 = double(h & 0xffffffffu) * 0x1p-32;
    double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
    return float(mean + stddev * z);
  });
}

}  // namespace xla
