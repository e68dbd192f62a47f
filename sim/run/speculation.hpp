#pragma once
// Speculative decoding in the serving loop (workload.serve.speculative), plugged into a
// serving_instance's loop at four points (before_next and plan let a mitigation policy set K
// and withdraw drafts before the target's pass is shaped: speculation_policies.hpp):
//  - the scheduler (serve::scheduler_limits::draft_tokens) gives each decoding sequence 1 + d
//    new tokens, so the pass executor runs the target over the verification tokens with their
//    own computed routing: the experts the K + 1 tokens touch, their weight bytes and the
//    exchange volume follow from the router, never from a formula;
//  - before that pass, draft() runs the drafter on the same devices through a pass executor of
//    its own model (draft_model: K decode steps of the draft model; mtp: K passes of one MTP
//    module, an MoE block routed by the target's MTP gate; eagle: K passes of the one-layer
//    head; ngram: nothing), each step over the sequences still drafting, timed by the same
//    roofline and op costs;
//  - after it, accept() draws each sequence's accepted prefix (serve::acceptance_model) for
//    scheduler::complete, which advances the sequence and its KV by accepted + 1.
// It also taps the target's routing (tap()) to count the unique experts each verification
// layer touches against what the same iteration's plain decode batch (one token per decoding
// sequence, routed by the same router) would touch.
//
// Ownership: keeps the scenario, machine and exchange by reference (the serving instance
// holds them); owns the drafter's scenario, executor and routing, and its statistics.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "models/model_spec.hpp"
#include "sim/engine/task.hpp"
#include "sim/run/executor.hpp"
#include "sim/run/feasibility.hpp"
#include "sim/run/model_chunks.hpp"
#include "sim/run/result.hpp"
#include "sim/run/speculation_policies.hpp"
#include "sim/serve/acceptance.hpp"
#include "sim/serve/scheduler.hpp"

namespace moesim::serve {
class draft_tree;
}

namespace moesim::sim::run {

/// The EAGLE draft head of `target` as a one-layer dense model: the target's hidden size,
/// attention and vocabulary (the head shares the target's embedding and output head), and an
/// FFN of the target's intermediate_size (EAGLE builds its draft layer from the target's
/// config: SafeAILab/EAGLE, eagle/model/cnets.py), i.e. dense_ffn_hidden, or the expert FFN
/// width of a model without dense layers. O(1).
[[nodiscard]] models::model_spec eagle_head_model(const models::model_spec& target);
/// One multi-token-prediction module of `target` as a one-layer MoE model (its block is an
/// MoE layer, DeepSeek-V3 s2.2; embedding and head shared). Requires target.mtp_modules >= 1.
[[nodiscard]] models::model_spec mtp_module_model(const models::model_spec& target);

/// HBM the drafter's weights take on one serving device of `s` (0 without speculation or
/// for ngram; blockwise: its proposal heads instead, proposal_heads_weight_bytes): a draft
/// model's every parameter, split by TP; the EAGLE head's layer and its
/// feature-fusing FC (2 h x h, Li et al. 2024 s3); one MTP module's own weights (its experts
/// sharded over EP x TP, the rest over TP). O(layers of the drafter).
[[nodiscard]] double draft_weight_bytes(const scenario& s);
/// KV-cache bytes one token of a sequence adds for the drafter on a device (draft model: its
/// layers' KV; eagle and mtp: one layer of the target's; ngram and blockwise: 0). The paged pool
/// holds the target's and the drafter's KV of each token together. O(1).
[[nodiscard]] double draft_kv_bytes_per_token(const scenario& s);

class speculation {
 public:
  /// `target` is the routing the target's passes use; `nodes` as the exchange's; `placement`
  /// (kept by reference) the target's experts, whose per-rank load of each verifying pass is
  /// reported beside the contiguous split's.
  speculation(const scenario& s, machine& m, expert_exchange& x, routing_source& target,
              const ep_nodes& nodes, const expert_placement& placement);
  ~speculation();
  speculation(const speculation&) = delete;
  speculation& operator=(const speculation&) = delete;

  /// Draft tokens per chain (the scheduler's draft_tokens), a tree's draft nodes: 0 with policy
  /// none, which drafts nothing and only measures plain decoding's full batches.
  [[nodiscard]] int k() const noexcept;
  /// The routing source the target's executor is given: `target`, counting unique experts.
  [[nodiscard]] routing_source& tap() noexcept;

  /// Proposal heads the target's pass runs at each emitting position (blockwise: k; else 0).
  [[nodiscard]] int proposal_heads() const noexcept;
  /// Before the ranks (index = EP rank) form the next iteration: the policy's K (grouped).
  void before_next(std::span<serve::scheduler> ranks);
  /// After they formed `its`, before drafting and before the target's pass is shaped: the
  /// policy withdraws the drafts it will not verify (deferral). See speculation_policies.hpp.
  void plan(std::span<serve::iteration> its, std::span<serve::scheduler> ranks);

  /// Runs the drafter for iteration `iteration`, whose ranks form `its` (index = EP rank):
  /// draft step j over the sequences whose policy runs more than j draft steps (their drafts;
  /// deferral: up to the step that stopped the chain; blockwise: none). `*last` is the
  /// critical-path op before and after. Also tells the tap what this iteration's plain decode batch
  /// is.
  task draft(std::span<const serve::iteration> its, int iteration, op_id* last);
  /// Accepted drafts of each sequence of `it` (0 for those without drafts), recorded in the
  /// statistics. O(sequences + drafts).
  [[nodiscard]] std::vector<int> accept(const serve::iteration& it);
  /// The iteration that started at `start` ended at `end`, its drafting at `drafted` (after
  /// accept() for each of its ranks); with offloading, `offload` is its lookups, hits and
  /// fetched bytes (the difference of the running totals across it).
  void iterated(time_ps start, time_ps drafted, time_ps end,
                const expert_offload::totals* offload = nullptr);

  [[nodiscard]] speculative_report report() const;

 private:
  class routing_tapper;
  class draft_routing;

  const scenario& s_;
  const moesim::serve::speculative_spec& spec_;
  moesim::serve::acceptance_model acceptance_;
  std::unique_ptr<moesim::serve::draft_tree> tree_;  ///< a tree's shape, else null
  std::unique_ptr<routing_tapper> tap_;
  speculation_mechanism mechanism_;
  std::unique_ptr<scenario> draft_s_;  ///< the scenario with the drafter's model (not ngram)
  std::unique_ptr<model_chunks> draft_chunks_;
  std::unique_ptr<draft_routing> draft_routing_;
  std::unique_ptr<pass_executor> draft_executor_;
  // Statistics.
  time_ps draft_ps_ = 0;    ///< drafting, over the run
  time_ps verify_ps_ = 0;   ///< the target's passes of iterations that verified drafts
  bool verifying_ = false;  ///< this iteration verifies drafts
  std::int64_t verify_iterations_ = 0;
  std::int64_t verifications_ = 0;  ///< (sequence, iteration) pairs with drafts
  std::int64_t drafted_ = 0;        ///< draft tokens verified
  // The iteration in flight: sequences decoding and tokens they emit (accept()).
  std::int64_t iteration_decoding_ = 0;
  std::int64_t iteration_emitted_ = 0;
  bool iteration_prefill_ = false;  ///< a prefill chunk ran beside them
  // Iterations in which every running slot decoded (max_running on every rank, no prefill):
  // the steady state of a full decode batch, free of a closed loop's prefills and of its tail
  // of finishing requests.
  std::int64_t full_slots_ = 0;
  std::int64_t full_iterations_ = 0;
  std::int64_t full_emitted_ = 0;
  time_ps full_ps_ = 0;
  time_ps full_verify_ps_ = 0;
  expert_offload::totals full_offload_;  ///< offloading's figures over those iterations
  std::int64_t accepted_ = 0;
  std::vector<std::int64_t> reached_;      ///< verifications that drafted position i
  std::vector<std::int64_t> accepted_at_;  ///< ... and accepted it
};

}  // namespace moesim::sim::run
