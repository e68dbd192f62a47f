#pragma once
// Where the instances of a disaggregated serving run sit and what each one runs: prefill
// instances take the cluster's first devices, decode instances the rest, each instance a
// contiguous range of tp x ep devices (workload.serve.disaggregation). Each instance is checked
// and simulated as a scenario of its own: the run's scenario with the role's layout, the role's
// scheduler and a cluster of just the instance's devices (whole NVSwitch nodes, or a part of
// one node), so check_feasible, the memory plan and the KV pool apply to it unchanged.
#include <string>
#include <vector>

#include "sim/run/scenario.hpp"
#include "topologies/topology.hpp"

namespace moesim::sim::run {

enum class serve_role_kind { prefill, decode };

[[nodiscard]] const char* to_string(serve_role_kind r) noexcept;

struct instance_placement {
  serve_role_kind role = serve_role_kind::prefill;
  int index = 0;                           ///< among the role's instances
  topo::device_id first_device = 0;        ///< cluster id of its layout's device 0
  int devices = 0;                         ///< tp x ep
  [[nodiscard]] std::string name() const;  ///< "prefill 0", "decode 1", ...
};

/// Prefill instances first, then decode, in device order. Throws std::invalid_argument
/// ("workload: serve.disaggregation...") unless s has a disaggregation, the cluster is made of
/// NVSwitch nodes, each instance is whole nodes or divides a node, and the instances use
/// exactly the cluster's devices (saying how many they use and how many there are). O(instances).
[[nodiscard]] std::vector<instance_placement> place_instances(const scenario& s);

/// The scenario instance `p` runs: s with the role's parallelism (dp 1, pp 1, order
/// tp-ep-dp-pp), the role's scheduler, a cluster of the instance's devices, no disaggregation,
/// and a seed of its own (so instances draw different routings). O(size of s).
[[nodiscard]] scenario instance_scenario(const scenario& s, const instance_placement& p);

/// A disaggregated run's scenario as the shared fabric and the trace plan see it: s with one
/// layout (ep) over every device of the cluster, so cluster device ids are its devices.
[[nodiscard]] scenario whole_cluster(const scenario& s);

/// The checks of a disaggregated serving scenario: place_instances, the top-level parallelism
/// left at its default (each role has its own), and check_feasible of every role's instance
/// scenario (errors prefixed with "workload: serve.disaggregation.<role>: ").
void check_disaggregation(const scenario& s);

}  // namespace moesim::sim::run
