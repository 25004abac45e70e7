// Driver for R policytree's exact tree search (C++ core, policytree 1.2.5), used only to produce the
// reference numbers in policytree_golden.json. It is compiled against a policytree checkout by
// policytree_golden.py; no policytree code is part of this project.
//
// stdin: n p d depth min_node_size, then X (n x p, column-major) and Y (n x d, column-major).
// stdout: the tree in breadth-first order, one node per line: "split <feature> <value>" or "leaf <action>".
#include <functional>
#include <iostream>
#include <memory>
#include <queue>
#include <vector>

#include "tree_search.h"

int main() {
  size_t n, p, d;
  int depth, min_node_size;
  std::cin >> n >> p >> d >> depth >> min_node_size;
  std::vector<double> x(n * p), y(n * d);
  for (auto& v : x) std::cin >> v;
  for (auto& v : y) std::cin >> v;
  Data data(x.data(), y.data(), n, p, d);
  std::unique_ptr<Node> root = tree_search(depth, 1, min_node_size, &data, []() {}, nullptr);
  std::queue<Node*> frontier;
  frontier.push(root.get());
  std::cout.precision(17);
  while (!frontier.empty()) {
    Node* node = frontier.front();
    frontier.pop();
    if (node->is_leaf()) {
      std::cout << "leaf " << node->action_id << "\n";
    } else {
      std::cout << "split " << node->index << " " << node->value << "\n";
      frontier.push(node->left_child.get());
      frontier.push(node->right_child.get());
    }
  }
  return 0;
}
