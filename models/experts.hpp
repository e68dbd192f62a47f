#pragma once
// Expert FFNs and the MoE block's dispatch/combine, on exactly the tokens routed to each expert.
//
// One FFN (rows are tokens, x is tokens x hidden):
//   swiglu: (silu(x Wg) * (x Wu)) Wd     geglu: (gelu(x Wg) * (x Wu)) Wd
//   gelu:   gelu(x Wu) Wd                relu:  max(x Wu, 0) Wd       (gelu: exact, with erf)
// MoE block: dispatch = a stable counting sort of the routing's assignments by expert (within an
// expert, tokens in increasing order); each expert's GEMMs run on its contiguous block of gathered
// rows; combine = for each token, sum over its kept assignments (in routing order) of
// weight * expert output, plus every shared expert's output with weight 1. The residual is not
// added: a token with no kept assignment and no shared expert gets zeros.
// Work: 2 * assignments * expert_params + 2 * tokens * shared params FLOPs; memory
// O(assignments * (hidden + ffn_hidden)).
//
// math_hidden: the maths may run at a reduced hidden size for speed (sampling.math_hidden);
// math_ffn_hidden() scales the expert width by the same ratio. Timing elsewhere always uses the
// model's full sizes.
#include <cstdint>
#include <vector>

#include "models/matrix.hpp"
#include "models/model_spec.hpp"
#include "models/routing.hpp"
#include "sim/engine/random.hpp"

namespace moesim::models {

struct ffn_weights {
  ffn_activation activation = ffn_activation::swiglu;
  row_matrix w_up;    ///< hidden x ffn_hidden
  row_matrix w_gate;  ///< hidden x ffn_hidden for swiglu/geglu, empty otherwise
  row_matrix w_down;  ///< ffn_hidden x hidden
};

/// Random weights, entries N(0, 1/fan_in). Draw order: w_up, w_gate, w_down, row by row.
[[nodiscard]] ffn_weights make_ffn_weights(int hidden, int ffn_hidden, ffn_activation activation,
                                           rng& gen);

/// y = FFN(x), x rows x hidden. Throws std::invalid_argument on a size mismatch.
[[nodiscard]] row_matrix ffn_forward(const ffn_weights& w, const row_matrix& x);

struct moe_weights {
  row_matrix gate;                   ///< hidden x experts (the router's)
  std::vector<ffn_weights> experts;  ///< routed experts
  std::vector<ffn_weights> shared;   ///< shared experts, applied to every token
};

/// Gate, routed experts, shared experts, drawn in that order from `gen`.
[[nodiscard]] moe_weights make_moe_weights(int hidden, int experts, int expert_ffn_hidden,
                                           int shared_experts, ffn_activation activation, rng& gen);

/// The expert-sorted order of a routing's assignments.
struct dispatch_plan {
  std::vector<std::int32_t> expert_offsets;  ///< experts + 1; expert e owns slots [o[e], o[e+1])
  std::vector<std::int32_t> token_of_slot;   ///< token whose row fills the slot
  std::vector<std::int32_t> slot_of_assignment;  ///< inverse map, per routing assignment
};
[[nodiscard]] dispatch_plan make_dispatch_plan(const routing& r);

/// The MoE block's output for `x` (tokens x hidden) under routing `r` (tokens and experts must
/// match the weights). Throws std::invalid_argument on a mismatch.
[[nodiscard]] row_matrix moe_forward(const row_matrix& x, const routing& r, const moe_weights& w);

/// The same block computed densely in double precision: every expert on every token, each
/// output multiplied by the token's weight for that expert (0 where not routed). The reference
/// moe_forward is tested against. O(tokens * experts * expert FLOPs).
[[nodiscard]] row_matrix_d moe_forward_reference(const row_matrix& x, const routing& r,
                                                 const moe_weights& w);

/// FLOPs moe_forward performs (expert and shared-expert GEMMs; the element-wise activation is
/// not counted).
[[nodiscard]] double moe_forward_flops(const routing& r, const moe_weights& w) noexcept;

/// Expert FFN width at a reduced hidden size: round(expert_ffn_hidden * math_hidden / hidden),
/// at least 1. Throws if math_hidden <= 0 or the spec has no MoE part.
[[nodiscard]] int math_ffn_hidden(const model_spec& spec, int math_hidden);

}  // namespace moesim::models
