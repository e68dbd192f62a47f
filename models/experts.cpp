#include "models/experts.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "models/eigen_setup.hpp"

namespace moesim::models {
namespace {

row_matrix random_matrix(int rows, int cols, double sd, rng& gen) {
  row_matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(gen.normal() * sd);
  return m;
}

template <class T>
T activate(T z, ffn_activation a) noexcept {
  switch (a) {
    case ffn_activation::swiglu:
      return z / (T{1} + std::exp(-z));
    case ffn_activation::geglu:
    case ffn_activation::gelu:
      return T{0.5} * z * (T{1} + std::erf(z * static_cast<T>(std::numbers::sqrt2 / 2)));
    case ffn_activation::relu:
      return z > T{0} ? z : T{0};
  }
  return z;
}

/// y = FFN(x) on a block of rows; x and y may be views into larger buffers.
template <class XBlock, class YBlock>
void ffn_block(const ffn_weights& w, const XBlock& x, YBlock&& y) {
  row_matrix up(x.rows(), w.w_up.cols());
  up.noalias() = x * w.w_up;
  if (is_gated(w.activation)) {
    row_matrix g(x.rows(), w.w_gate.cols());
    g.noalias() = x * w.w_gate;
    for (Eigen::Index i = 0; i < up.size(); ++i) {
      up.data()[i] *= activate(g.data()[i], w.activation);
    }
  } else {
    for (Eigen::Index i = 0; i < up.size(); ++i)
      up.data()[i] = activate(up.data()[i], w.activation);
  }
  y.noalias() = up * w.w_down;
}

void check_ffn(const ffn_weights& w, Eigen::Index hidden) {
  const bool gated = is_gated(w.activation);
  if (w.w_up.rows() != hidden || w.w_down.cols() != hidden || w.w_down.rows() != w.w_up.cols() ||
      (gated && (w.w_gate.rows() != hidden || w.w_gate.cols() != w.w_up.cols()))) {
    throw std::invalid_argument(
        "ffn: weights " + std::to_string(w.w_up.rows()) + "x" + std::to_string(w.w_up.cols()) +
        " / " + std::to_string(w.w_down.rows()) + "x" + std::to_string(w.w_down.cols()) +
        " do not fit hidden " + std::to_string(hidden));
  }
}

void check_moe(const row_matrix& x, const routing& r, const moe_weights& w) {
  if (x.rows() != r.tokens || static_cast<std::size_t>(r.experts) != w.experts.size()) {
    throw std::invalid_argument("moe: " + std::to_string(x.rows()) + " token rows, routing of " +
                                std::to_string(r.tokens) + " tokens over " +
                                std::to_string(r.experts) + " experts, weights for " +
                                std::to_string(w.experts.size()) + " experts");
  }
  for (const auto& e : w.experts) check_ffn(e, x.cols());
  for (const auto& e : w.shared) check_ffn(e, x.cols());
}

}  // namespace

ffn_weights make_ffn_weights(int hidden, int ffn_hidden, ffn_activation activation, rng& gen) {
  if (hidden <= 0 || ffn_hidden <= 0) {
    throw std::invalid_argument("ffn: hidden " + std::to_string(hidden) + " and ffn_hidden " +
                                std::to_string(ffn_hidden) + " must be > 0");
  }
  ffn_weights w;
  w.activation = activation;
  const double sd_in = 1.0 / std::sqrt(static_cast<double>(hidden));
  w.w_up = random_matrix(hidden, ffn_hidden, sd_in, gen);
  if (is_gated(activation)) w.w_gate = random_matrix(hidden, ffn_hidden, sd_in, gen);
  w.w_down =
      random_matrix(ffn_hidden, hidden, 1.0 / std::sqrt(static_cast<double>(ffn_hidden)), gen);
  return w;
}

row_matrix ffn_forward(const ffn_weights& w, const row_matrix& x) {
  fix_eigen_blocking();
  check_ffn(w, x.cols());
  row_matrix y(x.rows(), x.cols());
  ffn_block(w, x, y);
  return y;
}

moe_weights make_moe_weights(int hidden, int experts, int expert_ffn_hidden, int shared_experts,
                             ffn_activation activation, rng& gen) {
  if (experts <= 0 || shared_experts < 0) {
    throw std::invalid_argument("moe weights: experts " + std::to_string(experts) +
                                " must be > 0 and shared_experts " +
                                std::to_string(shared_experts) + " >= 0");
  }
  moe_weights w;
  w.gate = random_matrix(hidden, experts, 1.0 / std::sqrt(static_cast<double>(hidden)), gen);
  w.experts.reserve(static_cast<std::size_t>(experts));
  for (int e = 0; e < experts; ++e) {
    w.experts.push_back(make_ffn_weights(hidden, expert_ffn_hidden, activation, gen));
  }
  for (int e = 0; e < shared_experts; ++e) {
    w.shared.push_back(make_ffn_weights(hidden, expert_ffn_hidden, activation, gen));
  }
  return w;
}

dispatch_plan make_dispatch_plan(const routing& r) {
  dispatch_plan p;
  p.expert_offsets.assign(static_cast<std::size_t>(r.experts) + 1, 0);
  for (expert_index e : r.expert_ids) ++p.expert_offsets[static_cast<std::size_t>(e) + 1];
  for (int e = 0; e < r.experts; ++e) {
    p.expert_offsets[static_cast<std::size_t>(e) + 1] +=
        p.expert_offsets[static_cast<std::size_t>(e)];
  }
  std::vector<std::int32_t> fill(p.expert_offsets.begin(), p.expert_offsets.end() - 1);
  p.token_of_slot.resize(r.expert_ids.size());
  p.slot_of_assignment.resize(r.expert_ids.size());
  for (int t = 0; t < r.tokens; ++t) {
    for (auto a = r.offsets[static_cast<std::size_t>(t)];
         a < r.offsets[static_cast<std::size_t>(t) + 1]; ++a) {
      const auto e = static_cast<std::size_t>(r.expert_ids[static_cast<std::size_t>(a)]);
      const std::int32_t slot = fill[e]++;
      p.token_of_slot[static_cast<std::size_t>(slot)] = t;
      p.slot_of_assignment[static_cast<std::size_t>(a)] = slot;
    }
  }
  return p;
}

row_matrix moe_forward(const row_matrix& x, const routing& r, const moe_weights& w) {
  fix_eigen_blocking();
  check_moe(x, r, w);
  const dispatch_plan plan = make_dispatch_plan(r);
  const Eigen::Index hidden = x.cols();
  const auto slots = static_cast<Eigen::Index>(plan.token_of_slot.size());

  row_matrix gathered(slots, hidden);  // permute: rows grouped by expert
  for (Eigen::Index s = 0; s < slots; ++s) {
    gathered.row(s) = x.row(plan.token_of_slot[static_cast<std::size_t>(s)]);
  }
  row_matrix expert_out(slots, hidden);
  for (int e = 0; e < r.experts; ++e) {
    const Eigen::Index b = plan.expert_offsets[static_cast<std::size_t>(e)];
    const Eigen::Index n = plan.expert_offsets[static_cast<std::size_t>(e) + 1] - b;
    if (n == 0) continue;
    ffn_block(w.experts[static_cast<std::size_t>(e)], gathered.middleRows(b, n),
              expert_out.middleRows(b, n));
  }

  row_matrix y = row_matrix::Zero(x.rows(), hidden);  // un-permute and weight
  for (int t = 0; t < r.tokens; ++t) {
    for (auto a = r.offsets[static_cast<std::size_t>(t)];
         a < r.offsets[static_cast<std::size_t>(t) + 1]; ++a) {
      const auto slot = plan.slot_of_assignment[static_cast<std::size_t>(a)];
      y.row(t) += r.weights[static_cast<std::size_t>(a)] * expert_out.row(slot);
    }
  }
  if (!w.shared.empty()) {
    row_matrix shared_out(x.rows(), hidden);
    for (const auto& s : w.shared) {
      ffn_block(s, x, shared_out);
      y += shared_out;
    }
  }
  return y;
}

row_matrix_d moe_forward_reference(const row_matrix& x, const routing& r, const moe_weights& w) {
  check_moe(x, r, w);
  const Eigen::Index tokens = x.rows();
  const Eigen::Index hidden = x.cols();
  const row_matrix_d xd = x.cast<double>();
  // mask(t, e) = the token's combine weight for expert e, 0 where it was not routed.
  row_matrix_d mask = row_matrix_d::Zero(tokens, r.experts);
  for (int t = 0; t < r.tokens; ++t) {
    for (auto a = r.offsets[static_cast<std::size_t>(t)];
         a < r.offsets[static_cast<std::size_t>(t) + 1]; ++a) {
      mask(t, r.expert_ids[static_cast<std::size_t>(a)]) = r.weights[static_cast<std::size_t>(a)];
    }
  }
  auto dense_ffn = [&](const ffn_weights& f) {
    row_matrix_d up = xd * f.w_up.cast<double>();
    if (is_gated(f.activation)) {
      const row_matrix_d g = xd * f.w_gate.cast<double>();
      for (Eigen::Index i = 0; i < up.size(); ++i)
        up.data()[i] *= activate(g.data()[i], f.activation);
    } else {
      for (Eigen::Index i = 0; i < up.size(); ++i)
        up.data()[i] = activate(up.data()[i], f.activation);
    }
    return row_matrix_d(up * f.w_down.cast<double>());
  };
  row_matrix_d y = row_matrix_d::Zero(tokens, hidden);
  for (int e = 0; e < r.experts; ++e) {
    y += mask.col(e).asDiagonal() * dense_ffn(w.experts[static_cast<std::size_t>(e)]);
  }
  for (const auto& s : w.shared) y += dense_ffn(s);
  return y;
}

double moe_forward_flops(const routing& r, const moe_weights& w) noexcept {
  auto ffn_flops = [](const ffn_weights& f) {
    const double mats = is_gated(f.activation) ? 3.0 : 2.0;
    return 2.0 * mats * static_cast<double>(f.w_up.rows()) * static_cast<double>(f.w_up.cols());
  };
  double flops = 0.0;
  for (expert_index e : r.expert_ids) flops += ffn_flops(w.experts[static_cast<std::size_t>(e)]);
  for (const auto& s : w.shared) flops += static_cast<double>(r.tokens) * ffn_flops(s);
  return flops;
}

int math_ffn_hidden(const model_spec& spec, int math_hidden) {
  if (!spec.moe || math_hidden <= 0 || spec.hidden <= 0) {
    throw std::invalid_argument("math_ffn_hidden: model '" + spec.name +
                                "' needs an moe part and math_hidden > 0, got " +
                                std::to_string(math_hidden));
  }
  const double scaled =
      static_cast<double>(spec.moe->expert_ffn_hidden) * math_hidden / spec.hidden;
  return std::max(1, static_cast<int>(std::lround(scaled)));
}

}  // namespace moesim::models
