#include "sim/engine/random.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

using moesim::rng;

// Golden values: these pin the generator and distributions. They must hold on every platform
// and standard library; a change here changes every golden file of the project.
TEST_CASE("xoshiro256** raw output is pinned") {
  rng r(42);
  const std::vector<std::uint64_t> got{r(), r(), r(), r()};
  const std::vector<std::uint64_t> expected{1546998764402558742ULL, 6990951692964543102ULL,
                                            12544586762248559009ULL, 17057574109182124193ULL};
  CHECK(got == expected);
}

TEST_CASE("named streams are reproducible and independent") {
  auto a1 = rng::stream(7, "router");
  auto a2 = rng::stream(7, "router");
  auto b = rng::stream(7, "tokens");
  auto c = rng::stream(8, "router");
  for (int i = 0; i < 100; ++i) {
    const auto x = a1();
    CHECK(x == a2());
    CHECK(x != b());
    CHECK(x != c());
  }
  CHECK(rng::stream(7, "router").fork(1)() != rng::stream(7, "router").fork(2)());
  CHECK(rng::stream(7, "router").fork(1)() == rng::stream(7, "router").fork(1)());
}

TEST_CASE("distributions are pinned bit for bit") {
  rng r(2024);
  CHECK(r.uniform01() == 0x1.c90e2b427aeep-5);
  CHECK(r.below(1000) == 782ULL);
  CHECK(r.normal() == -0x1.79270db86c458p+1);
  CHECK(r.exponential(2.0) == 0x1.d5988ab87e587p-1);
  CHECK(r.gamma(0.5) == 0x1.f5f851d80b54ap-2);
  CHECK(r.binomial(1000, 0.3) == 285ULL);
  CHECK(r.binomial(1000000, 0.5) == 499706ULL);
}

TEST_CASE("ziggurat normal matches the normal CDF, tails included") {
  // Empirical CDF at points across the layers and beyond the ziggurat's base r = 3.44 (the
  // tail path), against Phi(x) = erfc(-x / sqrt 2) / 2; 4M draws: standard error <= 2.5e-4.
  rng r(99);
  const int n = 4'000'000;
  const std::vector<double> at{-3.8, -3.0, -2.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.5, 3.5};
  std::vector<int> below(at.size(), 0);
  double m4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    m4 += x * x * x * x;
    for (std::size_t k = 0; k < at.size(); ++k) below[k] += x < at[k] ? 1 : 0;
  }
  for (std::size_t k = 0; k < at.size(); ++k) {
    const double phi = 0.5 * std::erfc(-at[k] / std::sqrt(2.0));
    const double se = std::sqrt(phi * (1 - phi) / n);
    INFO("x = " << at[k]);
    CHECK(std::abs(static_cast<double>(below[k]) / n - phi) < 5 * se + 1e-7);
  }
  CHECK(m4 / n == Approx(3.0).epsilon(0.01));  // kurtosis of the normal
}

TEST_CASE("distribution moments are right") {
  rng r(1);
  const int n = 200000;
  double s = 0, s2 = 0, e = 0, g = 0;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    s += x;
    s2 += x * x;
    e += r.exponential(4.0);
    g += r.gamma(2.5);
  }
  CHECK(s / n == Approx(0.0).margin(0.01));
  CHECK(s2 / n == Approx(1.0).epsilon(0.01));
  CHECK(e / n == Approx(0.25).epsilon(0.01));
  CHECK(g / n == Approx(2.5).epsilon(0.01));

  // below(n) is unbiased: each of 6 faces about 1/6.
  std::vector<int> faces(6, 0);
  for (int i = 0; i < 60000; ++i) ++faces[r.below(6)];
  for (int c : faces) CHECK(c == Approx(10000).epsilon(0.03));

  // binomial mean and variance, in both regimes.
  for (auto [trials, p] : {std::pair<std::uint64_t, double>{50, 0.2}, {100000, 0.4}, {80, 0.9}}) {
    double m = 0, v = 0;
    const int draws = 20000;
    std::vector<double> xs;
    for (int i = 0; i < draws; ++i) xs.push_back(static_cast<double>(r.binomial(trials, p)));
    for (double x : xs) m += x;
    m /= draws;
    for (double x : xs) v += (x - m) * (x - m);
    v /= draws - 1;
    const double nd = static_cast<double>(trials);
    CHECK(m == Approx(nd * p).epsilon(0.01));
    CHECK(v == Approx(nd * p * (1 - p)).epsilon(0.05));
  }

  std::vector<double> w{1.0, 0.0, 3.0};
  std::vector<int> picks(3, 0);
  for (int i = 0; i < 40000; ++i) ++picks[r.weighted_index(w)];
  CHECK(picks[1] == 0);
  CHECK(picks[2] == Approx(30000).epsilon(0.02));
}
