#include "sim/engine/trace.hpp"

namespace moesim::sim {

std::uint32_t trace_recorder::process_id(const std::string& process_name) {
  auto [it, inserted] =
      process_ids_.try_emplace(process_name, static_cast<std::uint32_t>(processes_.size()));
  if (inserted) processes_.push_back(process_name);
  return it->second;
}

std::uint32_t trace_recorder::track(const std::string& process_name,
                                    const std::string& thread_name) {
  const std::uint32_t pid = process_id(process_name);
  auto [it, inserted] =
      track_ids_.try_emplace({pid, thread_name}, static_cast<std::uint32_t>(tracks_.size()));
  if (inserted) {
    std::uint32_t thread = 0;
    for (const auto& t : tracks_) thread += t.process == pid ? 1 : 0;
    tracks_.push_back({pid, thread, process_name, thread_name});
  }
  return it->second;
}

void trace_recorder::counter(const std::string& process_name, std::string name, time_ps at,
                             double value) {
  if (!enabled_ || !overlaps(at, at)) return;
  counters_.push_back({process_id(process_name), std::move(name), at, value});
}

void trace_recorder::counter_interval(const std::string& process_name, const std::string& name,
                                      time_ps start, time_ps end, double value) {
  if (!enabled_ || !overlaps(start, end)) return;
  const std::uint32_t pid = process_id(process_name);
  counters_.push_back({pid, name, start, value});
  counters_.push_back({pid, name, end, 0});
}

}  // namespace moesim::sim
