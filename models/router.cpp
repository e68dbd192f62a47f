#include "models/router.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

#include "models/eigen_setup.hpp"

namespace moesim::models {
namespace {

/// Running top-k of (value, id) pairs, best first; ties go to the lower id. Candidates that do
/// not beat the current k-th are rejected with one comparison, so a row costs O(n) plus O(k) per
/// accepted candidate (few after the first k for unordered data).
class top_k_set {
 public:
  top_k_set(int k, float* values, std::int32_t* ids) : k_(k), values_(values), ids_(ids) {}

  void offer(float v, std::int32_t id) noexcept {
    if (n_ == k_) {
      if (!better(v, id, values_[k_ - 1], ids_[k_ - 1])) return;
      --n_;
    }
    int i = n_++;
    while (i > 0 && better(v, id, values_[i - 1], ids_[i - 1])) {
      values_[i] = values_[i - 1];
      ids_[i] = ids_[i - 1];
      --i;
    }
    values_[i] = v;
    ids_[i] = id;
  }
  [[nodiscard]] int size() const noexcept { return n_; }
  [[nodiscard]] bool full() const noexcept { return n_ == k_; }

 private:
  static bool better(float v, std::int32_t id, float w, std::int32_t wid) noexcept {
    return v > w || (v == w && id < wid);
  }
  int k_;
  int n_ = 0;
  float* values_;
  std::int32_t* ids_;
};

void check_config(const router_config& cfg) {
  validate(cfg);
}

/// Scores one row in place (logits -> softmax or sigmoid) and returns its log-sum-exp (for
/// sigmoid scoring only when `logsumexp`; 0 otherwise).
// Eigen's vectorised exp (deterministic on the build's fixed ISA; within 1e-6 of libm's): the
// sigmoid of 256 experts per token is a large share of sampled routing.
void sigmoid_in_place(float* row, int n) noexcept {
  Eigen::Map<Eigen::ArrayXf> r(row, n);
  r = (1.0f + (-r).exp()).inverse();
}

float score_row(float* row, int n, router_scoring scoring, bool logsumexp = true) noexcept {
  if (scoring == router_scoring::sigmoid && !logsumexp) {
    sigmoid_in_place(row, n);
    return 0.0f;
  }
  float m = -std::numeric_limits<float>::infinity();
  for (int e = 0; e < n; ++e) m = std::max(m, row[e]);
  double sum = 0.0;
  if (scoring == router_scoring::softmax) {
    for (int e = 0; e < n; ++e) {
      row[e] = std::exp(row[e] - m);
      sum += row[e];
    }
    const auto inv = static_cast<float>(1.0 / sum);
    for (int e = 0; e < n; ++e) row[e] *= inv;
  } else {
    for (int e = 0; e < n; ++e) sum += std::exp(static_cast<double>(row[e] - m));
    sigmoid_in_place(row, n);
  }
  return m + static_cast<float>(std::log(sum));
}

// Eight float lanes: Eigen maps these onto one AVX register on the build's fixed ISA.
constexpr int lanes = 8;
using lane_array = Eigen::Array<float, lanes, 1>;
lane_array load_lanes(const float* p) {
  return Eigen::Map<const lane_array>(p);
}

/// The two largest of v[0, n) (n >= 2; the second may equal the first): per-lane top two,
/// merged pairwise, all branch-free. The same two values a scalar scan finds.
std::pair<float, float> top_two(const float* v, int n) noexcept {
  constexpr float lowest = -std::numeric_limits<float>::infinity();
  lane_array a = lane_array::Constant(lowest);
  lane_array b = a;
  int j = 0;
  for (; j + lanes <= n; j += lanes) {
    const lane_array x = load_lanes(v + j);
    b = b.max(a.min(x));
    a = a.max(x);
  }
  // Two sorted pairs (a1 >= b1), (a2 >= b2) merge to (max(a1, a2), max(min(a1, a2), b1, b2)).
  const auto merge = [](const auto& a1, const auto& b1, const auto& a2, const auto& b2) {
    return std::make_pair(a1.max(a2).eval(), a1.min(a2).max(b1.max(b2)).eval());
  };
  const auto [a4, b4] = merge(a.head<4>(), b.head<4>(), a.tail<4>(), b.tail<4>());
  const auto [a2, b2] = merge(a4.head<2>(), b4.head<2>(), a4.tail<2>(), b4.tail<2>());
  float first = std::max(a2[0], a2[1]);
  float second = std::max(std::min(a2[0], a2[1]), std::max(b2[0], b2[1]));
  for (; j < n; ++j) {
    second = std::max(second, std::min(first, v[j]));
    first = std::max(first, v[j]);
  }
  return {first, second};
}

/// Experts v[first, last) of one candidate range (a kept group, or all experts).
struct id_range {
  int first;
  int last;
};

/// A lower bound on the k-th largest of the ranges' values: the k-th largest of their blocks'
/// maxima (k distinct values, so the k-th overall is at least that); -inf with fewer than k
/// blocks. Every value of the top k is >= it, so smaller values need no look.
float top_k_floor(const float* v, std::span<const id_range> ranges, int k, float* scratch_vals,
                  std::int32_t* scratch_ids) noexcept {
  top_k_set maxima(k, scratch_vals, scratch_ids);
  std::int32_t block = 0;
  for (const id_range r : ranges) {
    for (int e = r.first; e + lanes <= r.last; e += lanes) {
      maxima.offer(load_lanes(v + e).maxCoeff(), block++);
    }
  }
  return maxima.full() ? scratch_vals[k - 1] : -std::numeric_limits<float>::infinity();
}

/// Offers the values of `ranges` (in increasing id order) that can enter `best` to it. Whole
/// blocks of eight below the bar are skipped with one vectorised test: below `floor` while
/// `best` fills, not above its k-th once full (a later id never wins a tie).
void offer_ranges(top_k_set& best, const float* v, std::span<const id_range> ranges, float floor,
                  const float* kth) noexcept {
  const auto offer = [&](int e) {
    if (best.full() || v[e] >= floor) best.offer(v[e], e);
  };
  for (const id_range r : ranges) {
    int e = r.first;
    for (; e + lanes <= r.last; e += lanes) {
      // One vectorised reduction: any lane over the bar <=> the block's maximum is over it.
      const float top = load_lanes(v + e).maxCoeff();
      if (best.full() ? !(top > *kth) : !(top >= floor)) continue;
      for (int l = 0; l < lanes; ++l) offer(e + l);
    }
    for (; e < r.last; ++e) offer(e);
  }
}

/// The two best of v[0, n) (n >= 2) into ids[0..1], best first, ties to the lower id.
void top_two_ids(const float* v, int n, std::int32_t* ids) noexcept {
  float first = v[0];
  float second = v[1];
  std::int32_t a = 0;
  std::int32_t b = 1;
  if (second > first) {
    std::swap(first, second);
    std::swap(a, b);
  }
  for (int e = 2; e < n; ++e) {
    const float x = v[e];
    if (x > first) {
      second = first;
      b = a;
      first = x;
      a = e;
    } else if (x > second) {
      second = x;
      b = e;
    }
  }
  ids[0] = a;
  ids[1] = b;
}

/// Rows of at most this many experts (ungrouped) are offered whole to the top-k set.
constexpr int small_row = 16;

/// Routes the rows [begin, end) of `scores` (already scored) into `out`.
struct row_router {
  const router_config& cfg;
  std::span<const float> bias;

  void operator()(const row_matrix& scores, int begin, int end, routing& out) const {
    const int e_count = cfg.experts;
    const int group_size = e_count / cfg.n_groups;
    std::vector<float> choice(static_cast<std::size_t>(e_count));
    std::vector<float> group_vals(static_cast<std::size_t>(cfg.topk_groups));
    std::vector<std::int32_t> group_ids(static_cast<std::size_t>(cfg.topk_groups));
    std::vector<float> top_vals(static_cast<std::size_t>(cfg.top_k));
    const float* kth = top_vals.data() + (cfg.top_k - 1);
    std::vector<float> floor_vals(static_cast<std::size_t>(cfg.top_k));
    std::vector<std::int32_t> floor_ids(static_cast<std::size_t>(cfg.top_k));
    std::vector<id_range> ranges;
    std::vector<float> group_second(static_cast<std::size_t>(cfg.n_groups));
    const bool grouped = cfg.n_groups > 1 && cfg.topk_groups < cfg.n_groups;
    for (int t = begin; t < end; ++t) {
      const float* s = scores.row(t).data();
      const float* v = s;
      if (!bias.empty()) {
        Eigen::Map<Eigen::ArrayXf>(choice.data(), e_count) =
            Eigen::Map<const Eigen::ArrayXf>(s, e_count) +
            Eigen::Map<const Eigen::ArrayXf>(bias.data(), e_count);
        v = choice.data();
      }
      const auto slot = static_cast<std::size_t>(out.offsets[static_cast<std::size_t>(t)]);
      std::int32_t* ids = out.expert_ids.data() + slot;
      ranges.clear();
      float floor = -std::numeric_limits<float>::infinity();
      if (grouped) {
        top_k_set groups(cfg.topk_groups, group_vals.data(), group_ids.data());
        for (int g = 0; g < cfg.n_groups; ++g) {
          const float* gv = v + static_cast<std::ptrdiff_t>(g) * group_size;
          if (group_size >= 2) {
            const auto [first, second] = top_two(gv, group_size);
            group_second[static_cast<std::size_t>(g)] = second;
            groups.offer(first + second, g);
          } else {
            groups.offer(gv[0], g);
          }
        }
        // Visit the kept groups in id order so that the scan, like the ungrouped one, offers
        // experts in increasing id order.
        std::sort(group_ids.begin(), group_ids.end());
        for (std::int32_t g : group_ids) ranges.push_back({g * group_size, (g + 1) * group_size});
        // The kept groups' top two are 2 x topk_groups distinct candidates: with at least k of
        // them, the least bounds the k-th largest from below.
        if (group_size >= 2 && 2 * cfg.topk_groups >= cfg.top_k) {
          floor = std::numeric_limits<float>::infinity();
          for (std::int32_t g : group_ids)
            floor = std::min(floor, group_second[static_cast<std::size_t>(g)]);
        }
      } else {
        ranges.push_back({0, e_count});
      }
      top_k_set best(cfg.top_k, top_vals.data(), ids);
      if (!grouped && cfg.top_k == 2) {
        // Top two (Mixtral, GShard) in one scan with no insertion loop: ids come in increasing
        // order, so a later id wins only by a larger value, as in top_k_set (the same choice,
        // NaN included: it never displaces, and fills a place only as the first two do).
        top_two_ids(v, e_count, ids);
      } else if (!grouped && e_count <= small_row) {
        // A row this short costs less offered whole than bounded first: the same offers in
        // the same order, so the same choice.
        for (int e = 0; e < e_count; ++e) best.offer(v[e], e);
      } else {
        if (floor == -std::numeric_limits<float>::infinity())
          floor = top_k_floor(v, ranges, cfg.top_k, floor_vals.data(), floor_ids.data());
        offer_ranges(best, v, ranges, floor, kth);
      }
      float* w = out.weights.data() + slot;
      float* sc = out.scores.data() + slot;
      float sum = 0.0f;
      for (int j = 0; j < cfg.top_k; ++j) {
        sc[j] = s[ids[j]];
        sum += sc[j];
      }
      const float scale = cfg.normalize_top_k ? cfg.routed_scaling_factor / (sum + 1e-20f)
                                              : cfg.routed_scaling_factor;
      for (int j = 0; j < cfg.top_k; ++j) w[j] = sc[j] * scale;
    }
  }
};

void check_bias(const router_config& cfg, std::span<const float> bias) {
  if (!bias.empty() && bias.size() != static_cast<std::size_t>(cfg.experts)) {
    throw std::invalid_argument("router: selection_bias has " + std::to_string(bias.size()) +
                                " values for " + std::to_string(cfg.experts) + " experts");
  }
}

/// Runs `work(chunk_begin, chunk_end)` over fixed chunks of route_chunk_tokens rows on
/// `threads` threads (chunk c on thread c % threads); each chunk writes only its own rows.
template <class Work>
void for_each_chunk(int tokens, int threads, const Work& work) {
  const int chunks = (tokens + route_chunk_tokens - 1) / route_chunk_tokens;
  const int workers = std::clamp(threads, 1, std::max(chunks, 1));
  auto run = [&](int first) {
    for (int c = first; c < chunks; c += workers) {
      const int b = c * route_chunk_tokens;
      work(b, std::min(tokens, b + route_chunk_tokens));
    }
  };
  if (workers == 1) {
    run(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  for (int i = 1; i < workers; ++i) pool.emplace_back(run, i);
  run(0);
  for (auto& th : pool) th.join();
}

router_output prepare_output(int tokens, const router_config& cfg) {
  router_output out;
  out.decisions = make_fixed_k_routing(tokens, cfg.experts, cfg.top_k);
  out.scores.resize(tokens, cfg.experts);
  out.logsumexp.assign(static_cast<std::size_t>(tokens), 0.0f);
  return out;
}

void score_and_select(router_output& out, const router_config& cfg, const route_options& opt,
                      int begin, int end) {
  for (int t = begin; t < end; ++t) {
    out.logsumexp[static_cast<std::size_t>(t)] =
        score_row(out.scores.row(t).data(), cfg.experts, cfg.scoring, opt.logsumexp);
  }
  row_router{cfg, opt.selection_bias}(out.scores, begin, end, out.decisions);
}

std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

router_config router_config_for(const moe_spec& moe) {
  router_config cfg;
  cfg.experts = moe.experts;
  cfg.top_k = moe.top_k;
  cfg.scoring = moe.router.scoring;
  cfg.normalize_top_k = moe.router.normalize_top_k;
  cfg.routed_scaling_factor = static_cast<float>(moe.router.routed_scaling_factor);
  cfg.n_groups = moe.router.n_groups;
  cfg.topk_groups = moe.router.topk_groups;
  validate(cfg);
  return cfg;
}

void validate(const router_config& cfg) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("router: " + what); };
  if (cfg.experts <= 0) fail("experts must be > 0, got " + std::to_string(cfg.experts));
  if (cfg.top_k <= 0 || cfg.top_k > cfg.experts) {
    fail("top_k " + std::to_string(cfg.top_k) + " must be in [1, experts " +
         std::to_string(cfg.experts) + "]");
  }
  if (!(cfg.routed_scaling_factor > 0.0f)) fail("routed_scaling_factor must be > 0");
  if (cfg.n_groups <= 0 || cfg.experts % cfg.n_groups != 0) {
    fail("n_groups " + std::to_string(cfg.n_groups) + " must divide experts " +
         std::to_string(cfg.experts));
  }
  if (cfg.topk_groups <= 0 || cfg.topk_groups > cfg.n_groups) {
    fail("topk_groups " + std::to_string(cfg.topk_groups) + " must be in [1, n_groups " +
         std::to_string(cfg.n_groups) + "]");
  }
  if (cfg.top_k > cfg.topk_groups * (cfg.experts / cfg.n_groups)) {
    fail("top_k " + std::to_string(cfg.top_k) + " exceeds the " +
         std::to_string(cfg.topk_groups * (cfg.experts / cfg.n_groups)) +
         " experts of topk_groups groups");
  }
}

row_matrix make_gate_weights(int hidden, int experts, rng& gen) {
  if (hidden <= 0 || experts <= 0) {
    throw std::invalid_argument("make_gate_weights: hidden " + std::to_string(hidden) +
                                " and experts " + std::to_string(experts) + " must be > 0");
  }
  Eigen::MatrixXd w(hidden, experts);
  for (Eigen::Index i = 0; i < hidden; ++i) {
    for (Eigen::Index e = 0; e < experts; ++e) w(i, e) = gen.normal();
  }
  // Unit-norm columns: with random norms (spread sqrt(2/hidden)) the longer columns would win
  // top-k more often, a skew that depends on the hidden size and that trained routers do not have.
  w.colwise().normalize();
  return w.cast<float>();
}

row_matrix gate_logits(const row_matrix& hidden, const row_matrix& gate) {
  fix_eigen_blocking();
  if (hidden.cols() != gate.rows()) {
    throw std::invalid_argument("router: hidden states have " + std::to_string(hidden.cols()) +
                                " columns but the gate has " + std::to_string(gate.rows()) +
                                " rows");
  }
  row_matrix logits(hidden.rows(), gate.cols());
  logits.noalias() = hidden * gate;
  return logits;
}

router_output route(const row_matrix& hidden, const row_matrix& gate, const router_config& cfg,
                    const route_options& opt) {
  fix_eigen_blocking();
  check_config(cfg);
  check_bias(cfg, opt.selection_bias);
  if (hidden.cols() != gate.rows() || gate.cols() != cfg.experts) {
    throw std::invalid_argument("router: hidden states are " + std::to_string(hidden.rows()) +
                                " x " + std::to_string(hidden.cols()) + ", gate " +
                                std::to_string(gate.rows()) + " x " + std::to_string(gate.cols()) +
                                ", experts " + std::to_string(cfg.experts));
  }
  const auto tokens = static_cast<int>(hidden.rows());
  router_output out = prepare_output(tokens, cfg);
  for_each_chunk(tokens, opt.threads, [&](int b, int e) {
    out.scores.middleRows(b, e - b).noalias() = hidden.middleRows(b, e - b) * gate;
    score_and_select(out, cfg, opt, b, e);
  });
  return out;
}

router_output route_logits(const row_matrix& logits, const router_config& cfg,
                           const route_options& opt) {
  check_config(cfg);
  check_bias(cfg, opt.selection_bias);
  if (logits.cols() != cfg.experts) {
    throw std::invalid_argument("router: logits have " + std::to_string(logits.cols()) +
                                " columns for " + std::to_string(cfg.experts) + " experts");
  }
  const auto tokens = static_cast<int>(logits.rows());
  router_output out = prepare_output(tokens, cfg);
  out.scores = logits;
  for_each_chunk(tokens, opt.threads, [&](int b, int e) { score_and_select(out, cfg, opt, b, e); });
  return out;
}

router_output route_noisy(const row_matrix& hidden, const row_matrix& gate,
                          const row_matrix& noise_gate, const router_config& cfg, rng& gen) {
  if (noise_gate.rows() != gate.rows() || noise_gate.cols() != gate.cols()) {
    throw std::invalid_argument("router: noise gate is " + std::to_string(noise_gate.rows()) +
                                " x " + std::to_string(noise_gate.cols()) + ", gate " +
                                std::to_string(gate.rows()) + " x " + std::to_string(gate.cols()));
  }
  row_matrix logits = gate_logits(hidden, gate);
  const row_matrix noise_scale = gate_logits(hidden, noise_gate);
  for (Eigen::Index i = 0; i < logits.size(); ++i) {
    const float x = noise_scale.data()[i];
    // softplus, written to stay finite for large |x|
    const float softplus = x > 20.0f ? x : std::log1p(std::exp(x));
    logits.data()[i] += static_cast<float>(gen.normal()) * softplus;
  }
  return route_logits(logits, cfg);
}

routing route_expert_choice(const row_matrix& logits, double capacity_factor) {
  if (!(capacity_factor > 0.0)) {
    throw std::invalid_argument("expert-choice routing: capacity_factor must be > 0, got " +
                                std::to_string(capacity_factor));
  }
  const auto tokens = static_cast<int>(logits.rows());
  const auto experts = static_cast<int>(logits.cols());
  if (experts <= 0) throw std::invalid_argument("expert-choice routing: no experts");
  row_matrix probs = logits;
  for (int t = 0; t < tokens; ++t) score_row(probs.row(t).data(), experts, router_scoring::softmax);
  const double exact = static_cast<double>(tokens) * capacity_factor / experts;
  const int capacity = std::min(tokens, static_cast<int>(std::ceil(exact * (1.0 - 1e-12))));

  // Each expert's chosen tokens, then regrouped by token.
  std::vector<std::int32_t> chosen(static_cast<std::size_t>(experts) * capacity);
  std::vector<std::int32_t> order(static_cast<std::size_t>(tokens));
  for (int e = 0; e < experts; ++e) {
    std::iota(order.begin(), order.end(), 0);
    auto better = [&](std::int32_t a, std::int32_t b) {
      const float pa = probs(a, e);
      const float pb = probs(b, e);
      return pa > pb || (pa == pb && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + capacity, order.end(), better);
    std::copy_n(order.begin(), capacity,
                chosen.begin() + static_cast<std::ptrdiff_t>(e) * capacity);
  }
  routing r;
  r.tokens = tokens;
  r.experts = experts;
  r.offsets.assign(static_cast<std::size_t>(tokens) + 1, 0);
  for (std::int32_t t : chosen) ++r.offsets[static_cast<std::size_t>(t) + 1];
  for (int t = 0; t < tokens; ++t)
    r.offsets[static_cast<std::size_t>(t) + 1] += r.offsets[static_cast<std::size_t>(t)];
  r.expert_ids.resize(chosen.size());
  r.weights.resize(chosen.size());
  r.scores.resize(chosen.size());
  std::vector<std::int32_t> fill(r.offsets.begin(), r.offsets.end() - 1);
  for (int e = 0; e < experts; ++e) {
    for (int j = 0; j < capacity; ++j) {
      const std::int32_t t =
          chosen[static_cast<std::size_t>(e) * capacity + static_cast<std::size_t>(j)];
      const auto slot = static_cast<std::size_t>(fill[static_cast<std::size_t>(t)]++);
      r.expert_ids[slot] = e;
      r.scores[slot] = probs(t, e);
    }
  }
  // Best first within each token, as the other routers list them.
  std::vector<std::pair<float, std::int32_t>> tmp;
  for (int t = 0; t < tokens; ++t) {
    const auto b = static_cast<std::size_t>(r.offsets[static_cast<std::size_t>(t)]);
    const auto n = static_cast<std::size_t>(r.count(t));
    tmp.clear();
    for (std::size_t j = 0; j < n; ++j) tmp.emplace_back(r.scores[b + j], r.expert_ids[b + j]);
    std::sort(tmp.begin(), tmp.end(), [](const auto& a, const auto& c) {
      return a.first > c.first || (a.first == c.first && a.second < c.second);
    });
    for (std::size_t j = 0; j < n; ++j) {
      r.scores[b + j] = tmp[j].first;
      r.weights[b + j] = tmp[j].first;
      r.expert_ids[b + j] = tmp[j].second;
    }
  }
  return r;
}

routing route_hash(std::span<const std::uint32_t> token_ids, int experts, int top_k,
                   std::uint64_t seed) {
  if (experts <= 0 || top_k <= 0 || top_k > experts) {
    throw std::invalid_argument("hash routing: top_k " + std::to_string(top_k) +
                                " must be in [1, experts " + std::to_string(experts) + "]");
  }
  const auto tokens = static_cast<int>(token_ids.size());
  routing r = make_fixed_k_routing(tokens, experts, top_k);
  const float w = 1.0f / static_cast<float>(top_k);
  for (int t = 0; t < tokens; ++t) {
    const auto b = static_cast<std::size_t>(t) * static_cast<std::size_t>(top_k);
    std::uint64_t draw = 0;
    for (int j = 0; j < top_k; ++j) {
      for (;;) {  // rehash until distinct from the token's earlier choices
        const std::uint64_t h =
            mix64(mix64(seed ^ token_ids[static_cast<std::size_t>(t)]) + draw++);
        const auto e = static_cast<expert_index>(h % static_cast<std::uint64_t>(experts));
        const auto begin = r.expert_ids.begin() + static_cast<std::ptrdiff_t>(b);
        if (std::find(begin, begin + j, e) == begin + j) {
          r.expert_ids[b + static_cast<std::size_t>(j)] = e;
          break;
        }
      }
      r.weights[b + static_cast<std::size_t>(j)] = w;
      r.scores[b + static_cast<std::size_t>(j)] = 1.0f;
    }
  }
  return r;
}

void update_balance_bias(std::span<float> bias, std::span<const std::int64_t> load, float rate) {
  if (bias.size() != load.size() || bias.empty()) {
    throw std::invalid_argument("update_balance_bias: " + std::to_string(bias.size()) +
                                " biases for " + std::to_string(load.size()) + " expert loads");
  }
  if (!(rate >= 0.0f)) throw std::invalid_argument("update_balance_bias: rate must be >= 0");
  const double mean =
      static_cast<double>(std::accumulate(load.begin(), load.end(), std::int64_t{0})) /
      static_cast<double>(load.size());
  for (std::size_t e = 0; e < bias.size(); ++e) {
    const double diff = mean - static_cast<double>(load[e]);
    bias[e] += rate * static_cast<float>((diff > 0) - (diff < 0));
  }
}

}  // namespace moesim::models
