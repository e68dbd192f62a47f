#pragma once
// A speculative scenario's grid (workload.serve.speculative: batch_sizes, draft_lengths,
// policies): every point is its own serving simulation of the scenario as a closed loop of
// `batch` requests per attention-DP (EP) rank decoding together (arrivals closed, concurrency
// and requests = batch x ep, max_running = batch on each rank, token_budget raised to batch x
// (k + 1) when below it, so that a whole batch verifies in one iteration), with the scenario's
// prompt and output lengths, its drafter and acceptance, and the point's policy and k. `none`
// runs once per batch (k 0) and is the baseline. With a draft tree the grid's points run the
// tree (k is its depth, and a point's k the drafts it verifies). Every point's figures come
// from its full batch's steady state, the iterations in which all batch x ep sequences decoded
// (no prefill chunk: the closed loop's prompts are computed first, chunked within the token
// budget, and mixed iterations would
// weigh prefill in; and a speculating point's requests finish apart, its tail running smaller
// batches): speedup is their tokens per second over the none point's, verify_over_decode_time
// their mean target pass (drafting excluded) over the none point's mean decode pass.
//
// Points are independent simulations: with threads > 1 they run side by side, each on one
// thread, and the results are the same as in sequence.
#include <functional>
#include <vector>

#include "sim/run/result.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::sim::run {

/// The scenario of one grid point (see above), its grid removed. O(1).
[[nodiscard]] scenario grid_point_scenario(const scenario& s, int batch, int k,
                                           moesim::serve::speculation_policy policy);

/// Runs every point of s's grid with `run` (one serving simulation, thread-safe for distinct
/// scenarios) on `threads` threads; points in order of batch, then none first and the other
/// policies by draft length. Empty without a grid.
[[nodiscard]] std::vector<speculative_point> speculative_grid(
    const scenario& s, int threads, const std::function<run_result(const scenario&)>& run);

}  // namespace moesim::sim::run
