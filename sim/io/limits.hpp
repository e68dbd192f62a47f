#pragma once
// Work limits: estimates of what a command would cost, checked before anything is allocated.
// The numbers and their reasons are in sim/engine/limits.hpp; `--allow-large` (the same flag on
// every verb) lifts them. A refusal is an input_error (exit 2) with the estimate and the limit:
//   topo: 1000000000 devices, more than the limit of 262144 (the topology graph takes ~2.2 KB
//   a device: ~2.0 TiB); pass --allow-large to go ahead
#include <cstdint>
#include <string>
#include <string_view>

#include "sim/engine/limits.hpp"
#include "sim/run/scenario.hpp"

namespace moesim::io {

/// Throws input_error "WHAT: ESTIMATE UNIT, more than the limit of LIMIT (WHY); pass
/// --allow-large to go ahead" when estimate > limit and `allow_large` is false. Estimates are
/// doubles so that products of large counts cannot overflow.
void enforce_limit(std::string_view what, double estimate, double limit, std::string_view unit,
                   std::string_view why, bool allow_large);

/// Devices of a cluster: the torus shape's product times its slices, or nodes x GPUs a node.
[[nodiscard]] double cluster_devices(const topo::cluster_spec& c) noexcept;
/// Flows of an all-to-all over `ranks` ranks: ranks x (ranks - 1).
[[nodiscard]] double all_to_all_flows(double ranks) noexcept;
/// Requests a serving run will see: the trace's rows, else rate x duration_s (capped by count);
/// a closed loop without count has no estimate up front (0).
[[nodiscard]] double serve_request_estimate(const serve::request_spec& r) noexcept;
/// Tokens (prompt + output) of those requests, from the length distributions' means.
[[nodiscard]] double serve_token_estimate(const serve::request_spec& r) noexcept;

/// Checks a cluster's devices against limits::devices, naming the cluster (and its shape).
void check_cluster_limits(const topo::cluster_spec& c, bool allow_large);

/// Checks a loaded scenario against the limits: its expert exchange's flows (an all-to-all
/// over the EP ranks), a serving run's requests and tokens. `origin` names it in the message
/// (the file, with the strategy). Its cluster's devices were checked by the loader
/// (load_options::allow_large), before the cluster was built.
void check_scenario_limits(const sim::run::scenario& s, const std::string& origin,
                           bool allow_large);

/// The whole of the input file `path` (limits::read_input_text: regular files only, at most
/// limits::input_file_bytes, UTF-8). Throws input_error: `cannot_open` when it cannot be
/// opened, the refusal naming the path otherwise.
[[nodiscard]] std::string read_input_file(const std::string& path, const std::string& cannot_open);

}  // namespace moesim::io
