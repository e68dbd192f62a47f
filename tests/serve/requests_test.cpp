#include "sim/serve/requests.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

using namespace moesim;
using namespace moesim::serve;

namespace {

struct moments {
  double mean = 0;
  double cv = 0;
};

moments moments_of(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  const double mean = sum / static_cast<double>(xs.size());
  double sq = 0;
  for (double x : xs) sq += (x - mean) * (x - mean);
  const double sd = std::sqrt(sq / static_cast<double>(xs.size() - 1));
  return {mean, sd / mean};
}

length_dist fixed(double tokens) {
  length_dist d;
  d.value = tokens;
  return d;
}

request_spec open_spec(arrival_kind kind, double rate, std::uint64_t count) {
  request_spec s;
  s.arrivals = kind;
  s.rate_per_s = rate;
  s.count = count;
  s.prompt = fixed(100);
  s.output = fixed(10);
  return s;
}

std::vector<request> drain(request_source& src) {
  std::vector<request> out;
  while (auto r = src.next_open()) out.push_back(*r);
  return out;
}

// Inter-arrival gaps in seconds.
std::vector<double> gaps_of(const std::vector<request>& rs) {
  std::vector<double> gaps;
  sim::time_ps last = 0;
  for (const request& r : rs) {
    gaps.push_back(sim::seconds(r.arrival - last));
    last = r.arrival;
  }
  return gaps;
}

}  // namespace

TEST_CASE("poisson arrivals: exponential gaps with mean 1/rate and CV 1", "[serve][requests]") {
  request_source src(open_spec(arrival_kind::poisson, 8, 20000), 1);
  const auto rs = drain(src);
  REQUIRE(rs.size() == 20000);
  const moments m = moments_of(gaps_of(rs));
  // Standard errors over 20k gaps: mean 0.7%, CV about 1%.
  CHECK(m.mean == Approx(1.0 / 8).epsilon(0.03));
  CHECK(m.cv == Approx(1.0).epsilon(0.04));
}

TEST_CASE("gamma arrivals: mean 1/rate and the asked CV", "[serve][requests]") {
  for (double cv : {0.5, 2.0}) {
    request_spec s = open_spec(arrival_kind::gamma, 20, 50000);
    s.cv = cv;
    request_source src(s, 7);
    const moments m = moments_of(gaps_of(drain(src)));
    CAPTURE(cv);
    CHECK(m.mean == Approx(1.0 / 20).epsilon(0.03));
    // cv 2 is heavy-tailed (kurtosis 27): the sample CV's standard error is about 2%.
    CHECK(m.cv == Approx(cv).epsilon(0.07));
  }
}

TEST_CASE("the same seed gives the same stream, another seed another", "[serve][requests]") {
  request_spec s = open_spec(arrival_kind::gamma, 5, 200);
  s.cv = 1.5;
  s.prompt.shape = length_dist::kind::lognormal;
  s.prompt.mean = 500;
  s.prompt.cv = 1;
  s.prefix_hit_rate = 0.5;
  s.prefix_tokens = 64;
  request_source a(s, 42);
  request_source b(s, 42);
  request_source c(s, 43);
  const auto ra = drain(a);
  const auto rb = drain(b);
  const auto rc = drain(c);
  REQUIRE(ra.size() == rb.size());
  bool differs = false;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    CHECK(ra[i].arrival == rb[i].arrival);
    CHECK(ra[i].prompt_tokens == rb[i].prompt_tokens);
    CHECK(ra[i].cached_prompt_tokens == rb[i].cached_prompt_tokens);
    differs =
        differs || ra[i].arrival != rc[i].arrival || ra[i].prompt_tokens != rc[i].prompt_tokens;
  }
  CHECK(differs);
}

TEST_CASE("lengths do not move arrivals (separate streams)", "[serve][requests]") {
  request_spec s = open_spec(arrival_kind::poisson, 3, 100);
  request_spec t = s;
  t.prompt.shape = length_dist::kind::uniform;
  t.prompt.min = 1;
  t.prompt.max = 4096;
  request_source a(s, 9);
  request_source b(t, 9);
  for (int i = 0; i < 100; ++i) CHECK(a.next_open()->arrival == b.next_open()->arrival);
}

TEST_CASE("ids count from 0, count and duration bound an open loop", "[serve][requests]") {
  SECTION("count") {
    request_source src(open_spec(arrival_kind::poisson, 1000, 3), 5);
    const auto rs = drain(src);
    REQUIRE(rs.size() == 3);
    for (std::size_t i = 0; i < rs.size(); ++i) {
      CHECK(rs[i].id == i);
      CHECK(rs[i].prompt_tokens == 100);
      CHECK(rs[i].output_tokens == 10);
      CHECK(rs[i].cached_prompt_tokens == 0);
    }
    CHECK(rs[0].arrival > 0);
    CHECK(rs[0].arrival <= rs[1].arrival);
    CHECK(rs[1].arrival <= rs[2].arrival);
    CHECK(src.exhausted());
    CHECK_FALSE(src.next_open());
  }
  SECTION("duration") {
    request_spec s = open_spec(arrival_kind::poisson, 100, 0);
    s.duration_s = 10;
    request_source src(s, 5);
    CHECK_FALSE(src.exhausted());
    const auto rs = drain(src);
    // 1000 expected; the Poisson count's standard deviation is about 32.
    CHECK(rs.size() > 850);
    CHECK(rs.size() < 1150);
    CHECK(rs.back().arrival < 10 * sim::ps_per_s);
    CHECK(rs.back().arrival > 9 * sim::ps_per_s);
    CHECK(src.exhausted());
  }
  SECTION("both: the tighter bound wins") {
    request_spec s = open_spec(arrival_kind::poisson, 100, 50);
    s.duration_s = 10;
    request_source src(s, 5);
    CHECK(drain(src).size() == 50);
  }
}

TEST_CASE("peek_arrival announces the next request without drawing it", "[serve][requests]") {
  request_source src(open_spec(arrival_kind::poisson, 10, 4), 3);
  for (int i = 0; i < 4; ++i) {
    const auto at = src.peek_arrival();
    REQUIRE(at);
    CHECK(src.peek_arrival() == at);
    CHECK(src.next_open()->arrival == *at);
  }
  CHECK_FALSE(src.peek_arrival());
}

TEST_CASE("closed loop: requests arrive when asked, bounded by count and duration",
          "[serve][requests]") {
  request_spec s;
  s.arrivals = arrival_kind::closed;
  s.concurrency = 2;
  s.count = 3;
  s.prompt = fixed(64);
  s.output = fixed(8);
  request_source src(s, 11);
  CHECK(src.can_issue(0));
  const request a = src.next_closed(0);
  const request b = src.next_closed(0);
  const request c = src.next_closed(5 * sim::ps_per_ms);
  CHECK(a.id == 0);
  CHECK(b.id == 1);
  CHECK(c.id == 2);
  CHECK(c.arrival == 5 * sim::ps_per_ms);
  CHECK(c.prompt_tokens == 64);
  CHECK(c.output_tokens == 8);
  CHECK(src.exhausted());
  CHECK_FALSE(src.can_issue(6 * sim::ps_per_ms));

  s.count = 0;
  s.duration_s = 1;
  request_source timed(s, 11);
  CHECK(timed.can_issue(sim::ps_per_s - 1));
  CHECK_FALSE(timed.can_issue(sim::ps_per_s));
  CHECK_FALSE(timed.exhausted());
}

TEST_CASE("trace arrivals replay the rows, renumbered and bounded", "[serve][requests]") {
  request_spec s;
  s.arrivals = arrival_kind::trace;
  s.trace = {{7, 0, 10, 5, 0}, {7, 2 * sim::ps_per_s, 20, 6, 4}, {7, 3 * sim::ps_per_s, 30, 7, 0}};
  request_source all(s, 1);
  const auto rs = drain(all);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].id == 0);
  CHECK(rs[2].id == 2);
  CHECK(rs[1].arrival == 2 * sim::ps_per_s);
  CHECK(rs[1].prompt_tokens == 20);
  CHECK(rs[1].cached_prompt_tokens == 4);
  s.duration_s = 3;  // [0, 3 s): the row at 3 s is out
  request_source timed(s, 1);
  CHECK(drain(timed).size() == 2);
  s.duration_s = 0;
  s.count = 1;
  request_source counted(s, 1);
  CHECK(drain(counted).size() == 1);
}

TEST_CASE("length distributions: fixed, uniform, lognormal", "[serve][requests]") {
  rng g(123);
  SECTION("fixed rounds to the nearest token") {
    CHECK(draw_length(fixed(511.6), g) == 512);
  }
  SECTION("uniform covers [min, max] evenly") {
    length_dist d;
    d.shape = length_dist::kind::uniform;
    d.min = 3;
    d.max = 6;
    std::vector<int> seen(8, 0);
    for (int i = 0; i < 20000; ++i) ++seen[static_cast<std::size_t>(draw_length(d, g))];
    CHECK(seen[2] == 0);
    CHECK(seen[7] == 0);
    // Each of the four values 5000 times; the binomial's standard deviation is 61.
    for (std::size_t v = 3; v <= 6; ++v) {
      CAPTURE(v);
      CHECK(seen[v] > 4700);
      CHECK(seen[v] < 5300);
    }
  }
  SECTION("uniform with min == max is that value") {
    length_dist d;
    d.shape = length_dist::kind::uniform;
    d.min = d.max = 77;
    CHECK(draw_length(d, g) == 77);
  }
  SECTION("lognormal has the asked mean and CV") {
    for (double cv : {0.5, 1.5}) {
      length_dist d;
      d.shape = length_dist::kind::lognormal;
      d.mean = 1024;
      d.cv = cv;
      std::vector<double> xs;
      for (int i = 0; i < 20000; ++i) xs.push_back(static_cast<double>(draw_length(d, g)));
      const moments m = moments_of(xs);
      CAPTURE(cv);
      CHECK(m.mean == Approx(1024).epsilon(0.04));
      CHECK(m.cv == Approx(cv).epsilon(0.1));
    }
  }
  SECTION("lognormal clamps to [min, max] and never below 1") {
    length_dist d;
    d.shape = length_dist::kind::lognormal;
    d.mean = 100;
    d.cv = 3;
    d.min = 20;
    d.max = 400;
    std::int64_t lo = 1'000'000;
    std::int64_t hi = 0;
    for (int i = 0; i < 5000; ++i) {
      const std::int64_t x = draw_length(d, g);
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    CHECK(lo == 20);
    CHECK(hi == 400);
    d.min = d.max = 0;
    d.mean = 1;
    for (int i = 0; i < 1000; ++i) CHECK(draw_length(d, g) >= 1);
  }
}

TEST_CASE("prefix hits cache min(prefix, prompt - 1) tokens at the hit rate", "[serve][requests]") {
  request_spec s = open_spec(arrival_kind::poisson, 10, 20000);
  s.prompt.shape = length_dist::kind::uniform;
  s.prompt.min = 1;
  s.prompt.max = 1000;
  s.prefix_hit_rate = 0.3;
  s.prefix_tokens = 512;
  request_source src(s, 2);
  int hits = 0;
  for (const request& r : drain(src)) {
    if (r.cached_prompt_tokens == 0) continue;
    ++hits;
    CHECK(r.cached_prompt_tokens == std::min<std::int64_t>(512, r.prompt_tokens - 1));
  }
  // Requests of prompt 1 hit with nothing to cache (0 tokens): one in a thousand.
  CHECK(hits == Approx(0.3 * 20000).epsilon(0.04));

  s.prefix_hit_rate = 1;
  s.prompt = fixed(300);
  s.count = 2;
  request_source every(s, 2);
  CHECK(every.next_open()->cached_prompt_tokens == 299);
}

TEST_CASE("specs that cannot be drawn from are refused", "[serve][requests]") {
  const auto refused = [](const request_spec& s) {
    CHECK_THROWS_AS(request_source(s, 0), std::invalid_argument);
  };
  request_spec s = open_spec(arrival_kind::poisson, 1, 10);
  CHECK_NOTHROW(request_source(s, 0));
  request_spec bad = s;
  bad.rate_per_s = 0;
  refused(bad);
  bad = s;
  bad.rate_per_s = std::nan("");
  refused(bad);
  bad = s;
  bad.count = 0;  // unbounded
  refused(bad);
  bad = s;
  bad.arrivals = arrival_kind::gamma;
  bad.cv = 0;
  refused(bad);
  bad = s;
  bad.arrivals = arrival_kind::closed;
  refused(bad);  // concurrency 0
  bad = s;
  bad.prompt.shape = length_dist::kind::uniform;
  bad.prompt.min = 10;
  bad.prompt.max = 5;
  refused(bad);
  bad = s;
  bad.output = fixed(0);
  refused(bad);
  bad = s;
  bad.prefix_hit_rate = 1.5;
  refused(bad);
  bad = s;
  bad.arrivals = arrival_kind::trace;  // no rows
  refused(bad);
  bad.trace = {{0, 5, 10, 1, 0}, {1, 4, 10, 1, 0}};  // out of order
  refused(bad);
  bad.trace = {{0, 5, 10, 1, 10}};  // the whole prompt cached
  refused(bad);
}
