#pragma once
// Human units, converted once at the edge. Accepted forms (case-sensitive SI prefixes,
// whitespace between number and unit optional):
//   bytes        "80 GiB", "16 GB", "4 MiB", "512 B", "1.5 KB"; a bare number means bytes
//   bandwidth    "400 Gbps" / "400 Gb/s" (bits), "50 GB/s", "64 GiB/s", "1.6 Tbps", "900 B/s"
//   time         "1.5 us", "2 ms", "300 ns", "1 s", "500 ps" (a unit is required)
//   flop rate    "989 TFLOPS", "2.25 PFLOP/s", "312e12 FLOP/s", "275 TOPS"; a bare number = FLOP/s
// Decimal prefixes k/K, M, G, T, P, E are powers of 1000; Ki, Mi, Gi, Ti, Pi are powers of 1024.
// Results are doubles in base units (bytes, bytes per second, seconds, FLOP per second); the
// caller converts seconds to the integer clock once. Parsing throws std::invalid_argument with
// a message listing the accepted units; the loader adds the location.
#include <string>
#include <string_view>

namespace moesim::io {

enum class dimension { bytes, bytes_per_s, seconds, flops_per_s };

/// Parses `text` as a quantity of `dim`. NaN, infinities and negative values are refused.
double parse_quantity(std::string_view text, dimension dim);

/// "bytes", "bandwidth", ... and an example, for messages and the JSON Schema.
std::string_view dimension_name(dimension dim);
std::string_view dimension_example(dimension dim);

/// Parses a plain decimal number (no unit): the whole string must be consumed, and it must be
/// finite. Throws std::invalid_argument.
double parse_number(std::string_view text);

/// Sizes on the nccl-tests convention: K, M, G, T are powers of 1024 ("8G" = 8 GiB), optional
/// trailing "B"; a bare number is bytes. Used by the benchmark verbs' --bytes.
double parse_binary_size(std::string_view text);

/// Formats for humans: "80 GiB", "450 GB/s", "1.25 ms", "989 TFLOP/s" (3 significant digits).
std::string format_bytes(double bytes);
std::string format_bandwidth(double bytes_per_s);
std::string format_seconds(double seconds);
std::string format_flops(double flops_per_s);

}  // namespace moesim::io
