#include "topologies/cluster_spec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace moesim::topo {

std::string_view to_string(fabric_kind kind) noexcept {
  return kind == fabric_kind::torus ? "torus" : "nvswitch";
}

fabric_kind parse_fabric_kind(std::string_view text) {
  if (text == "torus") return fabric_kind::torus;
  if (text == "nvswitch") return fabric_kind::nvswitch;
  throw std::invalid_argument("fabric: expected torus or nvswitch, got '" + std::string(text) +
                              "'");
}

std::string_view to_string(wrap_rule_kind kind) noexcept {
  switch (kind) {
    case wrap_rule_kind::never:
      return "never";
    case wrap_rule_kind::always:
      return "always";
    case wrap_rule_kind::multiple_of:
      return "multiple_of";
    case wrap_rule_kind::full_axis:
      return "full_axis";
  }
  return "never";
}

wrap_rule_kind parse_wrap_rule_kind(std::string_view text) {
  for (auto kind : {wrap_rule_kind::never, wrap_rule_kind::always, wrap_rule_kind::multiple_of,
                    wrap_rule_kind::full_axis})
    if (text == to_string(kind)) return kind;
  throw std::invalid_argument(
      "wraparound.rule: expected never, always, multiple_of or full_axis, got '" +
      std::string(text) + "'");
}

bool wrap_rule::wraps(int axis_size) const noexcept {
  if (axis_size < 2) return false;
  switch (rule) {
    case wrap_rule_kind::never:
      return false;
    case wrap_rule_kind::always:
      return true;
    case wrap_rule_kind::multiple_of:
      return size > 0 && axis_size % size == 0;
    case wrap_rule_kind::full_axis:
      return axis_size == size;
  }
  return false;
}

std::vector<int> parse_shape(std::string_view text) {
  std::vector<int> shape;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find('x', begin);
    const std::string_view part =
        text.substr(begin, end == std::string_view::npos ? end : end - begin);
    int value = 0;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc{} || ptr != part.data() + part.size() || value < 1)
      throw std::invalid_argument(
          "shape: expected positive integers joined by 'x' (e.g. 8x16x16), got '" +
          std::string(text) + "'");
    shape.push_back(value);
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return shape;
}

std::string format_shape(const std::vector<int>& shape) {
  std::string text;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += 'x';
    text += std::to_string(shape[i]);
  }
  return text;
}

namespace {

[[noreturn]] void fail(const cluster_spec& c, const std::string& message) {
  throw std::invalid_argument("cluster '" + c.name + "': " + message);
}

void validate_torus(const cluster_spec& c) {
  if (c.shape.empty()) fail(c, "shape must have at least one axis");
  for (int size : c.shape)
    if (size < 1) fail(c, "shape " + format_shape(c.shape) + " has an axis < 1");
  if (c.host_shape.size() != c.shape.size())
    fail(c, "host_shape " + format_shape(c.host_shape) + " must have as many axes as shape " +
                format_shape(c.shape));
  for (std::size_t a = 0; a < c.shape.size(); ++a) {
    if (c.host_shape[a] < 1) fail(c, "host_shape has an axis < 1");
    // Slices smaller than a host (e.g. a 1x1 v5e) use part of one host.
    const int block = std::min(c.host_shape[a], c.shape[a]);
    if (c.shape[a] % block != 0)
      fail(c, "axis " + std::to_string(a) + " of shape " + format_shape(c.shape) +
                  " is not a multiple of host_shape " + format_shape(c.host_shape));
  }
  if ((c.wraparound.rule == wrap_rule_kind::multiple_of ||
       c.wraparound.rule == wrap_rule_kind::full_axis) &&
      c.wraparound.size < 1)
    fail(c, "wraparound.size must be >= 1 for rule " + std::string(to_string(c.wraparound.rule)));
  if (c.slices < 1) fail(c, "slices must be >= 1, got " + std::to_string(c.slices));
  if (c.dcn_latency_ps < 0) fail(c, "dcn_latency_ps must be >= 0");
}

void validate_nvswitch(const cluster_spec& c) {
  if (c.nodes < 1) fail(c, "nodes must be >= 1, got " + std::to_string(c.nodes));
  if (c.gpus_per_node < 1) fail(c, "gpus_per_node must be >= 1");
  if (c.gpus_per_host < 1 || c.gpus_per_node % c.gpus_per_host != 0)
    fail(c, "gpus_per_host " + std::to_string(c.gpus_per_host) + " must divide gpus_per_node " +
                std::to_string(c.gpus_per_node));
  if (c.nodes == 1) return;  // no scale-out network to check
  const fat_tree_spec& f = c.scale_out;
  if (f.tiers != 0 && f.tiers != 2 && f.tiers != 3)
    fail(c, "scale_out.tiers must be 0 (auto), 2 or 3, got " + std::to_string(f.tiers));
  if (f.nodes_per_unit < 1) fail(c, "scale_out.nodes_per_unit must be >= 1");
  if (f.switch_radix < 2) fail(c, "scale_out.switch_radix must be >= 2");
  if (f.rails < 1 || c.gpus_per_node % f.rails != 0)
    fail(c, "scale_out.rails " + std::to_string(f.rails) + " must divide gpus_per_node " +
                std::to_string(c.gpus_per_node));
  if (!(f.oversubscription >= 1)) fail(c, "scale_out.oversubscription must be >= 1");
  if (!(f.link_bytes_per_s > 0)) fail(c, "scale_out.link_bytes_per_s must be > 0");
  if (f.switch_latency_ps < 0) fail(c, "scale_out.switch_latency_ps must be >= 0");
}

}  // namespace

void validate(const cluster_spec& c) {
  if (c.name.empty()) throw std::invalid_argument("cluster: name must not be empty");
  if (c.chip.empty()) fail(c, "chip must name a chip preset");
  if (c.fabric == fabric_kind::torus)
    validate_torus(c);
  else
    validate_nvswitch(c);
}

}  // namespace moesim::topo
