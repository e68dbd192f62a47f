// Draft trees (sim/serve/draft_tree.hpp): SGLang's shape (capacity, frontier pruning, best-reach
// selection), Sequoia's positional acceptance sampled against its expectation, and refusals.
#include "sim/serve/draft_tree.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "sim/serve/acceptance.hpp"

using namespace moesim::serve;
using moesim::rng;

TEST_CASE("tree capacity is top_k + (steps - 1) top_k^2, SGLang's candidate count") {
  CHECK(tree_capacity(3, 1) == 3);
  CHECK(tree_capacity(1, 4) == 4);
  CHECK(tree_capacity(5, 4) == 4 + 4 * 16);
  CHECK(tree_capacity(0, 4) == 0);
  CHECK(tree_capacity(3, 0) == 0);
}

TEST_CASE("top_k 1 is the chain: one node per depth, reach the product of the rates") {
  const std::vector<double> c{0.8, 0.5, 0.4};
  const draft_tree t(3, 1, 3, c, {});
  REQUIRE(t.size() == 3);
  double reach = 1;
  for (int i = 0; i < 3; ++i) {
    const auto& n = t.nodes()[static_cast<std::size_t>(i)];
    CHECK(n.depth == i + 1);
    CHECK(n.parent == i - 1);
    CHECK(n.rank == 0);
    reach *= c[static_cast<std::size_t>(i)];
    CHECK(n.reach == Approx(reach));
  }
  CHECK(t.depth(2) == 2);
  CHECK(t.expected_accepted(3) == Approx(0.8 + 0.4 + 0.16));
}

TEST_CASE("the tree keeps the best-reached of SGLang's candidates, parents first") {
  // Depth 1: A (rank 0) 0.6, B (rank 1) 0.4 x 0.5 = 0.2. Depth 2 from A: 0.36, 0.12; from B:
  // 0.12, 0.04. Three drafts: A, AA, B.
  const std::vector<double> c{0.6, 0.6};
  const std::vector<double> q{0.5};
  const draft_tree t(2, 2, 3, c, q);
  REQUIRE(t.size() == 3);
  CHECK(t.nodes()[0].reach == Approx(0.6));
  CHECK(t.nodes()[1].reach == Approx(0.36));
  CHECK(t.nodes()[1].parent == 0);
  CHECK(t.nodes()[2].reach == Approx(0.2));
  CHECK(t.nodes()[2].rank == 1);
  CHECK(t.depth(3) == 2);
  CHECK(t.expected_accepted(3) == Approx(1.16));
  // The whole pool: 2 + 4 candidates.
  const draft_tree full(2, 2, 6, c, q);
  CHECK(full.expected_accepted(6) == Approx(0.6 + 0.2 + 0.36 + 0.12 + 0.12 + 0.04));
}

TEST_CASE("only the top_k best candidates of a pass are expanded") {
  // top_k 2, steps 3: depth 2 holds 4 candidates, only the best 2 (AA 0.36 and one of 0.12)
  // grow depth 3, so depth 3 has 4 nodes of the 8 a full expansion would have.
  const std::vector<double> c{0.6, 0.6, 0.6};
  const std::vector<double> q{0.5};
  const draft_tree t(3, 2, static_cast<int>(tree_capacity(3, 2)), c, q);
  REQUIRE(t.size() == 10);
  int depth3 = 0;
  for (const auto& n : t.nodes()) {
    if (n.depth != 3) continue;
    ++depth3;
    const auto& parent = t.nodes()[static_cast<std::size_t>(n.parent)];
    CHECK(parent.depth == 2);
    CHECK(parent.reach >= 0.12 - 1e-12);
  }
  CHECK(depth3 == 4);
  // Every prefix of the order is a tree: parents come first.
  for (int i = 0; i < t.size(); ++i) CHECK(t.nodes()[static_cast<std::size_t>(i)].parent < i);
}

TEST_CASE("sampled accepted length matches the sum of reaches (Sequoia's positional model)") {
  const std::vector<double> c{0.75, 0.55, 0.5, 0.45};
  const std::vector<double> q{0.3, 0.2};
  const draft_tree t(4, 3, 12, c, q);
  for (const int n : {1, 5, 12}) {
    rng gen = rng::stream(11, "tree-test").fork(static_cast<std::uint64_t>(n));
    const int draws = 200000;
    double sum = 0;
    int most = 0;
    for (int i = 0; i < draws; ++i) {
      const int a = t.accepted(n, c, gen);
      sum += a;
      most = std::max(most, a);
    }
    CHECK(sum / draws == Approx(t.expected_accepted(n)).margin(0.01));
    CHECK(most <= t.depth(n));
  }
}

TEST_CASE("a tree accepts more than the chain of its depth, and per request it is deterministic") {
  const std::vector<double> c{0.7, 0.5, 0.5};
  const draft_tree chain(3, 1, 3, c, {});
  const draft_tree tree(3, 4, 15, c, std::vector<double>{0.3, 0.2, 0.1});
  CHECK(tree.expected_accepted(15) > chain.expected_accepted(3));
  const acceptance_model a(c, 0.5, 3);
  for (std::uint64_t r = 0; r < 20; ++r) {
    CHECK(tree.accepted(a, 3, r, 100, 15) == tree.accepted(a, 3, r, 100, 15));
  }
}

TEST_CASE("bad trees are refused") {
  const std::vector<double> c{0.7, 0.5};
  CHECK_THROWS_AS(draft_tree(2, 0, 1, c, {}), std::invalid_argument);
  CHECK_THROWS_AS(draft_tree(0, 2, 1, c, std::vector<double>{0.2}), std::invalid_argument);
  CHECK_THROWS_AS(draft_tree(2, 2, 7, c, std::vector<double>{0.2}), std::invalid_argument);
  CHECK_THROWS_AS(draft_tree(2, 3, 4, c, std::vector<double>{0.2}), std::invalid_argument);
  CHECK_THROWS_AS(draft_tree(3, 1, 3, c, {}), std::invalid_argument);  // rates for 2 depths
  CHECK_THROWS_AS(draft_tree(2, 2, 3, c, std::vector<double>{1.2}), std::invalid_argument);
}
