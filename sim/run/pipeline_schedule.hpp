#pragma once
// Pipeline schedules: the order in which one pipeline stage (a device position along pp) runs
// the forward and backward passes of the micro-batches through its model chunks. Pure data.
//
// Model chunks: with pp stages and vp virtual stages per device, the layers are cut into pp·vp
// consecutive chunks; chunk c of stage s is model chunk c·pp + s (Megatron's interleaving; with
// vp = 1 a stage holds one contiguous block).
//
// Schedules (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU
// Clusters Using Megatron-LM", and Megatron-Core's schedules.py):
//  - one_f_one_b: warm-up forwards, then alternating one forward / one backward, then cool-down
//    backwards. Warm-up is pp - s - 1 forwards with vp = 1; interleaved (vp > 1) it is
//    (pp - s - 1)·2 + (vp - 1)·pp virtual micro-batches, capped at M·vp; the k-th forward runs
//    micro-batch (k / (pp·vp))·pp + k % pp through chunk (k / pp) % vp, the k-th backward the
//    same micro-batch through chunk vp - 1 - (k / pp) % vp. Interleaving needs M % pp == 0.
//  - forward_only (inference): every micro-batch through every chunk, in the same order as the
//    forwards above.
// Each entry is a slot of one task, or two tasks that run concurrently when `overlap` pairs them
// (DualPipe-style: a forward and a backward of different micro-batches share the device, so
// one's all-to-all hides under the other's compute, with one more warm-up forward in flight;
// in inference, two micro-batches).
#include <vector>

namespace moesim::sim::run {

enum class pass_kind : unsigned char { forward, backward };

struct pipeline_task {
  pass_kind kind = pass_kind::forward;
  int micro_batch = 0;
  int chunk = 0;  ///< virtual stage on this device, 0 .. vp-1

  friend bool operator==(const pipeline_task&, const pipeline_task&) = default;
};

struct pipeline_slot {
  std::vector<pipeline_task> tasks;  ///< 1, or 2 running concurrently
  bool steady = false;               ///< in the 1F1B steady state (forward + backward pairs)
};

struct schedule_options {
  int pp = 1;
  int vp = 1;
  int micro_batches = 1;
  bool overlap = false;  ///< pair the steady state's forward and backward (training), or
                         ///< consecutive micro-batches (inference)
};

/// The slots of stage `stage` in execution order. Throws std::invalid_argument for
/// vp > 1 with micro_batches % pp != 0 (Megatron's requirement). O(M·vp).
[[nodiscard]] std::vector<pipeline_slot> one_f_one_b(const schedule_options& o, int stage);
[[nodiscard]] std::vector<pipeline_slot> forward_only(const schedule_options& o, int stage);

}  // namespace moesim::sim::run
