#pragma once
// Errors of a `strategies:` item. A strategy is read by merging its sections over the base
// scenario, so an error raised while reading the merged tree may sit at a node of the base (a
// cross-field check, a feasibility refusal of the merged layout) and its key path does not say
// which strategy it came from. These functions name the strategy and anchor the error at the
// strategy's own key:
//   scenarios/x.yaml:14:31: strategy 'ep6': parallelism: ep 6 does not divide the 8 experts ...
#include <string>

#include "sim/io/doc.hpp"
#include "sim/io/error.hpp"

namespace moesim::io::detail {

/// "strategy 'NAME'" for an item with a string `name`, else "strategies[INDEX]".
[[nodiscard]] std::string strategy_context(const doc::node& item, std::size_t index);

/// Re-raises `e`, raised while reading strategy item `item` (merged over the base), as an
/// input_error with `context` (strategy_context) and, as its location:
///   - e's own location if it lies inside the item (the strategy's own key or value);
///   - else the item's key on e's key path (for a feasibility refusal "section: key ...",
///     section.key) when the item sets that exact key;
///   - else the item's only key, when it changes one value (that change made it so);
///   - else the item's deepest key along e's key path (e.g. its `parallelism:` section);
///   - else the item itself.
/// An error without a location keeps its text, prefixed with the context. O(nodes of item).
[[noreturn]] void rethrow_for_strategy(const input_error& e, const doc::node& item,
                                       const std::string& context);

}  // namespace moesim::io::detail
