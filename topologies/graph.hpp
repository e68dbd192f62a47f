#pragma once
// The Boost.Graph view of a topology, for the few files that run Boost.Graph algorithms on it
// (topologies/metrics.cpp: BFS, max-flow, Graphviz). Vertex ids are the topology's vertex ids
// (vecS), each directed edge carries its link id; a topology keeps it in step with its
// vertices and links as they are added.
#include <boost/graph/adjacency_list.hpp>

#include "topologies/topology.hpp"

namespace moesim::topo {

struct edge_bundle {
  link_id id = none;
};
using graph_type =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, vertex_info, edge_bundle>;

struct graph_store {
  graph_type g;
};

}  // namespace moesim::topo
