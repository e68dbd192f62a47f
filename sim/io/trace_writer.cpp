#include "sim/io/trace_writer.hpp"

#include <fmt/format.h>

#include <iterator>

namespace moesim::io {

std::string json_quote(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\r':
        o += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          o += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          o += c;
        }
    }
  }
  o += '"';
  return o;
}

namespace {

// Microseconds from picoseconds, exactly: "12.345678".
std::string micros(sim::time_ps ps) {
  const char* sign = ps < 0 ? "-" : "";
  const auto a = static_cast<std::uint64_t>(ps < 0 ? -ps : ps);
  return fmt::format("{}{}.{:06}", sign, a / 1'000'000, a % 1'000'000);
}

void write_args(fmt::memory_buffer& b, const std::vector<sim::trace_arg>& args) {
  fmt::format_to(std::back_inserter(b), ",\"args\":{{");
  for (std::size_t i = 0; i < args.size(); ++i) {
    fmt::format_to(std::back_inserter(b), "{}{}:{}", i ? "," : "", json_quote(args[i].key),
                   args[i].numeric ? args[i].value : json_quote(args[i].value));
  }
  fmt::format_to(std::back_inserter(b), "}}");
}

}  // namespace

void write_chrome_trace(const sim::trace_recorder& trace, const trace_metadata& meta,
                        std::ostream& out) {
  fmt::memory_buffer b;
  auto it = std::back_inserter(b);
  // Metadata goes in "otherData", one of the top-level keys Perfetto's JSON importer reads
  // past (it stops at keys it does not know); chrome://tracing shows it as the trace's
  // metadata. The selection's notes are flat strings, so no importer meets nested arrays.
  fmt::format_to(it,
                 "{{\"displayTimeUnit\":\"ns\",\"otherData\":{{\"generator\":\"moesim\","
                 "\"scenario\":{},\"seed\":{}",
                 json_quote(meta.scenario), meta.seed);
  if (!trace.notes().empty()) {
    fmt::format_to(it, ",\"selection\":{{");
    for (std::size_t i = 0; i < trace.notes().size(); ++i) {
      const auto& n = trace.notes()[i];
      fmt::format_to(it, "{}{}:{}", i ? "," : "", json_quote(n.key),
                     n.numeric ? n.value : json_quote(n.value));
    }
    fmt::format_to(it, "}}");
  }
  fmt::format_to(it, "}},\"traceEvents\":[\n");
  bool first = true;
  auto sep = [&] {
    if (!first) fmt::format_to(it, ",\n");
    first = false;
  };
  const auto& procs = trace.process_names();
  for (std::size_t p = 0; p < procs.size(); ++p) {
    sep();
    fmt::format_to(it,
                   "{{\"ph\":\"M\",\"pid\":{},\"name\":\"process_name\",\"args\":{{\"name\":{}}}}}",
                   p, json_quote(procs[p]));
    sep();
    fmt::format_to(it,
                   "{{\"ph\":\"M\",\"pid\":{},\"name\":\"process_sort_index\",\"args\":{{\"sort_"
                   "index\":{}}}}}",
                   p, p);
  }
  for (const auto& t : trace.tracks()) {
    sep();
    fmt::format_to(
        it,
        "{{\"ph\":\"M\",\"pid\":{},\"tid\":{},\"name\":\"thread_name\",\"args\":{{\"name\":{}}}}}",
        t.process, t.thread, json_quote(t.thread_name));
  }
  const auto& tracks = trace.tracks();
  for (const auto& s : trace.spans()) {
    sep();
    const auto& t = tracks[s.track];
    fmt::format_to(it,
                   "{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"name\":{},\"cat\":{},\"ts\":{},"
                   "\"dur\":{}",
                   t.process, t.thread, json_quote(s.name), json_quote(s.category), micros(s.start),
                   micros(s.duration));
    write_args(b, s.args);
    fmt::format_to(it, "}}");
    if (b.size() > (1U << 20)) {
      out.write(b.data(), static_cast<std::streamsize>(b.size()));
      b.clear();
    }
  }
  for (const auto& c : trace.counters()) {
    sep();
    fmt::format_to(it,
                   "{{\"ph\":\"C\",\"pid\":{},\"name\":{},\"ts\":{},\"args\":{{\"value\":{}}}}}",
                   c.process, json_quote(c.name), micros(c.at), c.value);
  }
  fmt::format_to(it, "\n]}}\n");
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace moesim::io
