#pragma once
// Dense float matrices of the maths layer. Tokens are rows (row-major), so one token's hidden
// state, logits or expert output is contiguous: per-token work (scoring, top-k, gathers for
// dispatch) walks memory in order, and a range of tokens is a contiguous block of rows.
#include <Eigen/Core>

namespace moesim::models {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_matrix_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace moesim::models
