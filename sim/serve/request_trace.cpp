#include "sim/serve/request_trace.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "sim/engine/csv_text.hpp"
#include "sim/engine/limits.hpp"

namespace moesim::serve {

namespace {

enum column : std::size_t { arrival_s, prompt_tokens, output_tokens, cached_prompt_tokens };
constexpr std::array<std::string_view, 4> column_names{"arrival_s", "prompt_tokens",
                                                       "output_tokens", "cached_prompt_tokens"};
constexpr std::size_t required_columns = 3;  // the first three; cached_prompt_tokens may be absent
constexpr std::string_view expected_columns =
    "arrival_s, prompt_tokens, output_tokens and optionally cached_prompt_tokens";
// Token counts as the scenario loader bounds them (sim/io: workload lengths up to 2^30).
constexpr std::int64_t max_tokens = std::int64_t{1} << 30;
// The clock's range (sim::ps_from_seconds refuses 9.2e6 s and beyond).
constexpr double max_arrival_s = 9.2e6;

std::optional<std::size_t> column_of(std::string_view name) {
  for (std::size_t i = 0; i < column_names.size(); ++i) {
    if (column_names[i] == name) return i;
  }
  return std::nullopt;
}

// Fields of one row and where each one's values will be reported.
class row_reader {
 public:
  row_reader(const std::string& origin, int line) : origin_(origin), line_(line) {}

  [[noreturn]] void fail(int column, const std::string& what) const {
    throw std::invalid_argument(fmt::format("{}:{}:{}: {}", origin_, line_, column, what));
  }
  [[noreturn]] void fail_value(std::size_t col, int column, const std::string& expected,
                               std::string_view got) const {
    fail(column, fmt::format("{}: expected {}, got '{}'", column_names[col], expected, got));
  }

  /// Records the text of column `col` found at `column` of the line.
  void set(std::size_t col, std::string_view text, int column) {
    text_[col] = text;
    where_[col] = column;
    present_[col] = true;
  }
  [[nodiscard]] bool has(std::size_t col) const { return present_[col]; }

  /// The request of this row; `previous` is the last row's arrival and line (0 for none).
  request finish(sim::time_ps previous_ps, double previous_s, int previous_line) const {
    request r;
    double arrival = 0;
    const std::string_view a = text_[arrival_s];
    const auto [end, ec] = std::from_chars(a.data(), a.data() + a.size(), arrival);
    if (ec != std::errc{} || end != a.data() + a.size() || !std::isfinite(arrival) || arrival < 0 ||
        arrival >= max_arrival_s) {
      fail_value(arrival_s, where_[arrival_s], "seconds as a number from 0 to below 9.2e6", a);
    }
    r.arrival = sim::ps_from_seconds(arrival);
    if (previous_line > 0 && r.arrival < previous_ps) {
      fail_value(arrival_s, where_[arrival_s],
                 fmt::format("arrivals in non-decreasing order (at least {}, the arrival at line "
                             "{})",
                             previous_s, previous_line),
                 a);
    }
    r.prompt_tokens = count(prompt_tokens, 1);
    r.output_tokens = count(output_tokens, 1);
    if (present_[cached_prompt_tokens]) {
      r.cached_prompt_tokens = count(cached_prompt_tokens, 0);
      if (r.cached_prompt_tokens >= r.prompt_tokens) {
        fail_value(cached_prompt_tokens, where_[cached_prompt_tokens],
                   fmt::format("fewer than prompt_tokens ({}): prefill computes at least one "
                               "token",
                               r.prompt_tokens),
                   text_[cached_prompt_tokens]);
      }
    }
    return r;
  }

  [[nodiscard]] double arrival_seconds() const {
    double v = 0;
    std::from_chars(text_[arrival_s].data(), text_[arrival_s].data() + text_[arrival_s].size(), v);
    return v;
  }

 private:
  std::int64_t count(std::size_t col, std::int64_t min) const {
    const std::string_view t = text_[col];
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc{} || end != t.data() + t.size() || v < min || v > max_tokens) {
      fail_value(col, where_[col], fmt::format("an integer from {} to {}", min, max_tokens), t);
    }
    return v;
  }

  const std::string& origin_;
  int line_;
  std::array<std::string_view, column_names.size()> text_{};
  std::array<int, column_names.size()> where_{};
  std::array<bool, column_names.size()> present_{};
};

std::string unknown_name(std::string_view kind, std::string_view name) {
  return fmt::format("unknown {} '{}' (expected {})", kind, name, expected_columns);
}

// Appends the row's request, checking its order against the previous row.
struct row_sink {
  std::vector<request> rows;
  double previous_s = 0;
  int previous_line = 0;

  void add(const row_reader& row, int line) {
    rows.push_back(row.finish(rows.empty() ? 0 : rows.back().arrival, previous_s, previous_line));
    rows.back().id = rows.size() - 1;
    previous_s = row.arrival_seconds();
    previous_line = line;
  }
};

std::vector<request> parse_csv(std::string_view text, const std::string& origin) {
  std::vector<std::size_t> header;  // column index of each field
  row_sink sink;
  const int last_line =
      sim::csv::for_each_content_line(text, [&](std::string_view line, int number) {
        const auto fields = sim::csv::split_fields(line);
        const row_reader at(origin, number);
        if (header.empty()) {
          std::array<bool, column_names.size()> seen{};
          for (const sim::csv::field& f : fields) {
            const auto col = column_of(f.text);
            if (!col) at.fail(f.column, unknown_name("column", f.text));
            if (seen[*col]) at.fail(f.column, fmt::format("column '{}' named twice", f.text));
            seen[*col] = true;
            header.push_back(*col);
          }
          for (std::size_t c = 0; c < required_columns; ++c) {
            if (!seen[c]) {
              at.fail(static_cast<int>(line.size()) + 1,
                      fmt::format("missing column '{}' (the header names {})", column_names[c],
                                  expected_columns));
            }
          }
          return;
        }
        if (fields.size() != header.size()) {
          const int column = fields.size() < header.size() ? static_cast<int>(line.size()) + 1
                                                           : fields[header.size()].column;
          at.fail(column, fmt::format("expected {} fields as the header names, got {}",
                                      header.size(), fields.size()));
        }
        row_reader row(origin, number);
        for (std::size_t i = 0; i < fields.size(); ++i)
          row.set(header[i], fields[i].text, fields[i].column);
        sink.add(row, number);
      });
  if (header.empty()) {
    throw std::invalid_argument(fmt::format("{}:{}:1: expected a header naming {}, got end of file",
                                            origin, last_line + 1, expected_columns));
  }
  if (sink.rows.empty()) {
    throw std::invalid_argument(
        fmt::format("{}:{}:1: expected at least one request row after the header, got end of file",
                    origin, last_line + 1));
  }
  return std::move(sink.rows);
}

std::vector<request> parse_jsonl(std::string_view text, const std::string& origin) {
  using json = nlohmann::json;
  row_sink sink;
  const int last_line = sim::csv::for_each_content_line(text, [&](std::string_view line,
                                                                  int number) {
    row_reader row(origin, number);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      // nlohmann's message: "[json.exception.parse_error.101] parse error at ...: <detail>".
      const std::string what = e.what();
      const auto colon = what.rfind(": ");
      row.fail(static_cast<int>(e.byte == 0 ? 1 : e.byte),
               "expected one JSON object per line: " +
                   (colon == std::string::npos ? what : what.substr(colon + 2)));
    } catch (const json::out_of_range& e) {
      // A number beyond a double's range: "... number overflow parsing '1e999'".
      const std::string what = e.what();
      const auto open = what.find('\'');
      const auto close = what.rfind('\'');
      const std::string literal =
          open != std::string::npos && close > open ? what.substr(open + 1, close - open - 1) : "";
      const auto at = literal.empty() ? std::string_view::npos : line.find(literal);
      row.fail(at == std::string_view::npos ? 1 : static_cast<int>(at + 1),
               "expected a finite number, got " + (literal.empty() ? what : "'" + literal + "'"));
    }
    if (!j.is_object()) {
      row.fail(
          static_cast<int>(line.find_first_not_of(" \t") + 1),
          fmt::format("expected a JSON object with {}, got {}", expected_columns, j.type_name()));
    }
    // Keys and values are located by searching the line for the key's quoted name: the
    // parser does not keep positions, and a key appears once in a valid object.
    std::vector<std::string> values;
    values.reserve(j.size());
    for (const auto& [key, value] : j.items()) values.push_back(value.dump());
    std::size_t i = 0;
    for (const auto& [key, value] : j.items()) {
      const auto key_at = line.find('"' + key + '"');
      const int key_column = key_at == std::string_view::npos ? 1 : static_cast<int>(key_at) + 1;
      const auto col = column_of(key);
      if (!col) row.fail(key_column, unknown_name("key", key));
      int value_column = key_column;
      if (key_at != std::string_view::npos) {
        const auto colon = line.find(':', key_at + key.size() + 2);
        const auto start = line.find_first_not_of(" \t", colon + 1);
        if (start != std::string_view::npos) value_column = static_cast<int>(start) + 1;
      }
      row.set(*col, values[i++], value_column);
    }
    for (std::size_t c = 0; c < required_columns; ++c) {
      if (!row.has(c)) {
        row.fail(1, fmt::format("missing key '{}' (each line has {})", column_names[c],
                                expected_columns));
      }
    }
    sink.add(row, number);
  });
  if (sink.rows.empty()) {
    throw std::invalid_argument(fmt::format(
        "{}:{}:1: expected at least one request line, got end of file", origin, last_line + 1));
  }
  return std::move(sink.rows);
}

}  // namespace

request_trace_format request_trace_format_of(const std::string& path) {
  if (path.ends_with(".csv")) return request_trace_format::csv;
  if (path.ends_with(".jsonl")) return request_trace_format::jsonl;
  throw std::invalid_argument("request trace " + path + ": expected a .csv or .jsonl file");
}

std::vector<request> parse_request_trace(std::string_view text, request_trace_format format,
                                         const std::string& origin) {
  return format == request_trace_format::csv ? parse_csv(text, origin) : parse_jsonl(text, origin);
}

std::vector<request> read_request_trace(const std::string& path) {
  const request_trace_format format = request_trace_format_of(path);
  const std::optional<std::string> text = limits::read_input_text(path);
  if (!text) throw std::invalid_argument("cannot open " + path);
  return parse_request_trace(*text, format, path);
}

std::string format_request_trace_csv(const std::vector<request>& rows, std::string_view comment) {
  std::string out;
  while (!comment.empty()) {
    const auto newline = std::min(comment.find('\n'), comment.size());
    out += fmt::format("# {}\n", sim::csv::trim(comment.substr(0, newline)));
    comment.remove_prefix(std::min(newline + 1, comment.size()));
  }
  out += "arrival_s,prompt_tokens,output_tokens,cached_prompt_tokens\n";
  for (const request& r : rows) {
    const sim::time_ps us = (r.arrival + sim::ps_per_us / 2) / sim::ps_per_us;
    out += fmt::format("{}.{:06},{},{},{}\n", us / 1'000'000, us % 1'000'000, r.prompt_tokens,
                       r.output_tokens, r.cached_prompt_tokens);
  }
  return out;
}

}  // namespace moesim::serve
