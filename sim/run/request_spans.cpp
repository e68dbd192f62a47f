#include "sim/run/request_spans.hpp"

#include <fmt/format.h>

namespace moesim::sim::run {

request_spans::request_spans(trace_recorder& trace, std::size_t max_lanes)
    : trace_(trace), max_lanes_(max_lanes) {}

void request_spans::started(std::uint64_t request, time_ps at) {
  started_.emplace(request, at);
}

void request_spans::finished(const moesim::serve::finished_request& f) {
  const auto it = started_.find(f.req.id);
  const time_ps start = it != started_.end() ? it->second : f.req.arrival;
  if (it != started_.end()) started_.erase(it);
  std::size_t lane = 0;
  while (lane < lane_end_.size() && lane_end_[lane] > f.req.arrival) ++lane;
  if (lane == lane_end_.size()) {
    if (lane_end_.size() == max_lanes_) {
      ++skipped_;
      return;
    }
    lane_end_.push_back(0);
    lane_track_.push_back(trace_.track("requests", fmt::format("lane {}", lane)));
  }
  lane_end_[lane] = f.finish;
  const std::uint32_t track = lane_track_[lane];
  const std::vector<trace_arg> args{
      {"prompt_tokens", std::to_string(f.req.prompt_tokens), true},
      {"output_tokens", std::to_string(f.req.output_tokens), true},
      {"cached_prompt_tokens", std::to_string(f.req.cached_prompt_tokens), true},
      {"preemptions", std::to_string(f.preemptions), true}};
  const std::string name = fmt::format("request {}", f.req.id);
  trace_.span(track, name + " queued", "queued", f.req.arrival, start - f.req.arrival, args);
  trace_.span(track, name + " prefill", "prefill", start, f.first_token - start, args);
  trace_.span(track, name + " decode", "decode", f.first_token, f.finish - f.first_token, args);
}

}  // namespace moesim::sim::run
