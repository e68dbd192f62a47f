// moe.placement: which device holds which experts. The keys and their checks; the checks that
// need the model's experts and the EP degree (slots divisible by ep) are check_feasible's
// (sim/run/feasibility.cpp), which names moe.placement.redundant_experts.
#include "sim/io/placement_schema.hpp"

#include <fmt/format.h>

#include <string>

namespace moesim::io {

namespace {

using sim::run::placement_config;
using sim::run::rebalance_config;

enum_spec<place::strategy> strategy_spec() {
  enum_spec<place::strategy> e;
  for (const std::string_view name : place::strategy_names()) {
    e.choices.emplace_back(std::string(name), place::parse_strategy(name));
  }
  return e;
}

const object_type<rebalance_config>& rebalance_type() {
  static const auto t = [] {
    object_type<rebalance_config> o(
        "rebalance", "Recompute the placement as the loads drift and move the experts' weights");
    o.required("every", &rebalance_config::every, integer_spec<std::uint32_t>{1, 1'000'000},
               "steps (decode, prefill, training) or serving iterations between rebalances")
        .optional("window", &rebalance_config::window, integer_spec<std::uint32_t>{1, 1'000'000},
                  "passes of measured loads (the latest) the new placement is computed from")
        .optional("mode", &rebalance_config::mode,
                  enum_spec<sim::run::rebalance_mode>{
                      {{"stop_the_world", sim::run::rebalance_mode::stop_the_world},
                       {"background", sim::run::rebalance_mode::background}}},
                  "stop_the_world: the next pass waits for every move; background: passes go "
                  "on with the old placement, each layer switching when its weights have "
                  "arrived (vLLM's and SGLang's EPLB)")
        .optional("min_gain", &rebalance_config::min_gain,
                  optional_spec<double, number_spec>{number_spec{0, 1}},
                  "trade balance for moves: keep the placement and make only the moves (swap "
                  "two experts, or turn a spare copy into another expert's) that lower the "
                  "layer's device load max/mean by at least this per expert copy transferred; "
                  "absent: place afresh with the strategy");
    return o;
  }();
  return t;
}

}  // namespace

const object_type<placement_config>& placement_type() {
  static const auto t = [] {
    object_type<placement_config> o(
        "placement", "Which device holds which experts, with redundant copies of hot ones");
    o.required("strategy", &placement_config::strategy, strategy_spec(),
               "contiguous, round_robin, random (seeded), load_aware, eplb (DeepSeek's) or "
               "topology_aware (co-activation graph cut onto nodes)")
        .optional("redundant_experts", &placement_config::redundant_experts,
                  integer_spec<std::uint32_t>{0, 1'000'000},
                  "extra slots per MoE layer for copies of hot experts (load_aware, eplb, "
                  "topology_aware); experts + redundant_experts must split over ep")
        .optional(
            "replica_choice", &placement_config::choice,
            enum_spec<sim::run::replica_choice>{{{"balanced", sim::run::replica_choice::balanced},
                                                 {"nearest", sim::run::replica_choice::nearest}}},
            "a token's copy when its own device has none: the least-loaded (balanced) or "
            "the nearest (same node, then fewest hops)")
        .optional("warmup", &placement_config::warmup, integer_spec<std::uint32_t>{1, 1024},
                  "passes routed before the run whose loads place load_aware, eplb and "
                  "topology_aware")
        .optional("rebalance", &placement_config::rebalance,
                  optional_spec<rebalance_config, object_spec<rebalance_config>>{
                      nested(rebalance_type())},
                  "recompute the placement every N steps from a window of loads")
        .check([](const placement_config& x, const doc::node& n, const std::string& path) {
          if (x.redundant_experts > 0 && !place::has_replicas(x.strategy)) {
            detail::fail(*n.find("redundant_experts"), detail::join_path(path, "redundant_experts"),
                         fmt::format("strategy {} places no replicas, so {} redundant experts "
                                     "would stay empty (use load_aware, eplb or topology_aware)",
                                     place::to_string(x.strategy), x.redundant_experts));
          }
          if (x.rebalance && !place::has_replicas(x.strategy)) {
            detail::fail(*n.find("rebalance"), detail::join_path(path, "rebalance"),
                         fmt::format("strategy {} does not follow the loads, so rebalancing "
                                     "would recompute the same placement (use load_aware, eplb "
                                     "or topology_aware)",
                                     place::to_string(x.strategy)));
          }
        });
    return o;
  }();
  return t;
}

}  // namespace moesim::io
