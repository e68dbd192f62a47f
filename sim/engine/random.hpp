#pragma once
// Project-owned random numbers: the generator and every distribution are defined here, so a
// seed gives the same numbers with any standard library (std::*_distribution are
// implementation-defined). Header-only and dependent on nothing but <cmath>/<cstdint>, so the
// pure layers (models/) may use it too: it is the one deliberate exception to "models/ includes
// nothing from sim/".
//
// Generator: xoshiro256** 1.0 (Blackman & Vigna), seeded through splitmix64.
// Streams: `rng::stream(seed, "name")` derives an independent generator per purpose, so adding
// draws to one purpose never shifts the numbers of another.
//
// Floating-point draws use only +,-,*,/, sqrt (correctly rounded by IEEE 754) and log/cos/exp
// from the C library (the ziggurat's table too); with the fixed ISA of the build (-march=x86-64-v3,
// -ffp-contract=off) and the same libm they are bit-identical across machines (golden values in
// tests/engine/random_test.cpp).
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string_view>

namespace moesim {

namespace detail {
/// Layer edges x[0..128] and ratios x[i+1]/x[i] of the 128-layer normal ziggurat (Doornik 2005,
/// r = 3.442619855899, v = 9.91256303526217e-3). Immutable after its first use.
struct ziggurat_table {
  static constexpr double r = 3.442619855899;
  static constexpr double v = 9.91256303526217e-3;
  double x[129];
  double ratio[128];
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): the body fills x and ratio
  ziggurat_table() noexcept {
    const double f = std::exp(-0.5 * r * r);
    x[0] = v / f;
    x[1] = r;
    x[128] = 0.0;
    for (int i = 2; i < 128; ++i) {
      x[i] = std::sqrt(-2.0 * std::log(v / x[i - 1] + std::exp(-0.5 * x[i - 1] * x[i - 1])));
    }
    for (int i = 0; i < 128; ++i) ratio[i] = x[i + 1] / x[i];
  }
};
inline const ziggurat_table& ziggurat() noexcept {
  static const ziggurat_table table;
  return table;
}
}  // namespace detail

class rng {
 public:
  using result_type = std::uint64_t;

  /// Seeds the four state words from splitmix64(seed): any seed, zero included, is valid.
  explicit rng(std::uint64_t seed) noexcept {
    std::uint64_t x = seed;
    for (auto& word : s_) word = splitmix64(x);
  }

  /// An independent generator for the purpose `name` under `seed`: the FNV-1a hash of the name
  /// is mixed into the seed. Same (seed, name) => same stream on every platform.
  static rng stream(std::uint64_t seed, std::string_view name) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : name) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    std::uint64_t mixed = seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
    return rng(mixed);
  }

  /// A child stream numbered `index` (e.g. one per device or per layer).
  [[nodiscard]] rng fork(std::uint64_t index) const noexcept {
    std::uint64_t x = s_[0] ^ rotl(s_[3], 17) ^ (index * 0xd1b54a32d192ed03ULL);
    return rng(splitmix64(x));
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }

  /// Next 64 raw bits. O(1).
  result_type operator()() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform01() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform in (0, 1]: safe as the argument of log.
  double uniform01_open_low() noexcept {
    return static_cast<double>(((*this)() >> 11) + 1) * 0x1.0p-53;
  }

  double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform01(); }

  /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject). n must be > 0.
  std::uint64_t below(std::uint64_t n) noexcept {
    __uint128_t m = static_cast<__uint128_t>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<__uint128_t>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Standard normal by the ziggurat method (Marsaglia & Tsang 2000, in Doornik's 2005
  /// "ZIGNOR" form with 128 layers): one 64-bit draw gives the layer (7 bits) and a signed
  /// uniform (53 bits); 98.8% of draws return after one multiply, the rest use exp/log. About
  /// ten times faster than Box-Muller, which the sampled-token generator spends most of its
  /// time in.
  double normal() noexcept {
    const detail::ziggurat_table& z = detail::ziggurat();
    for (;;) {
      const std::uint64_t bits = (*this)();
      const auto i = static_cast<std::size_t>(bits & 0x7F);
      const double u = 2.0 * (static_cast<double>(bits >> 11) * 0x1.0p-53) - 1.0;
      if (std::fabs(u) < z.ratio[i]) return u * z.x[i];
      if (i == 0) return normal_tail(z.r, u < 0);
      const double x = u * z.x[i];
      const double f0 = std::exp(-0.5 * (z.x[i] * z.x[i] - x * x));
      const double f1 = std::exp(-0.5 * (z.x[i + 1] * z.x[i + 1] - x * x));
      if (f1 + uniform01() * (f0 - f1) < 1.0) return x;
    }
  }

  double normal(double mean, double stddev) noexcept { return mean + stddev * normal(); }

  /// The tail beyond `r` (Marsaglia 1964), negated when `negative`.
  double normal_tail(double r, bool negative) noexcept {
    double x = 0;
    double y = 0;
    do {
      x = std::log(uniform01_open_low()) / r;
      y = std::log(uniform01_open_low());
    } while (-2.0 * y < x * x);
    return negative ? x - r : r - x;
  }

  /// Exponential with rate `lambda` (> 0).
  double exponential(double lambda) noexcept { return -std::log(uniform01_open_low()) / lambda; }

  /// Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 uses the boost u^(1/shape).
  double gamma(double shape) noexcept {
    if (shape < 1.0) {
      const double u = uniform01_open_low();
      return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x = 0;
      double v = 0;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform01_open_low();
      if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

  /// Index drawn with probability proportional to `weights` (non-negative, not all zero),
  /// by a linear scan: O(n). For many draws from one distribution use `discrete_table`.
  std::size_t weighted_index(std::span<const double> weights) noexcept {
    double total = 0;
    for (double w : weights) total += w;
    double r = uniform01() * total;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    for (std::size_t i = weights.size(); i-- > 0;) {
      if (weights[i] > 0) return i;  // rounding left r just past the end
    }
    return 0;
  }

  /// Binomial(n, p) draw. Exact for n·p·(1-p) <= 1000 (geometric waiting times between
  /// successes: O(n·min(p, 1-p)) draws); above that a normal approximation with continuity
  /// correction, clamped to [0, n], whose error is below 1e-3 of a standard deviation.
  std::uint64_t binomial(std::uint64_t n, double p) noexcept {
    if (n == 0 || p <= 0.0) return 0;
    if (p >= 1.0) return n;
    const double nd = static_cast<double>(n);
    const double var = nd * p * (1.0 - p);
    if (var > 1000.0) {
      const double x = std::floor(nd * p + std::sqrt(var) * normal() + 0.5);
      return x < 0 ? 0 : (x > nd ? n : static_cast<std::uint64_t>(x));
    }
    const bool flip = p > 0.5;
    const double log_fail = std::log1p(-(flip ? 1.0 - p : p));
    std::uint64_t successes = 0;
    double position = 0;  // index of the last success, 1-based
    for (;;) {
      position += std::floor(std::log(uniform01_open_low()) / log_fail) + 1.0;
      if (position > nd) break;
      ++successes;
    }
    return flip ? n - successes : successes;
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  static constexpr std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t s_[4]{};
};

}  // namespace moesim
