"""Learned service-allocation rules: doubly robust scores, exact policy-tree search with
capacities, honest evaluation on a held-out half of the persons, fairness tables and the targeting analysis."""

from impact.estimators.policy.evaluate import KEEP, PolicyResults, learn_policy
from impact.estimators.policy.scores import PolicyScores, dr_scores
from impact.estimators.policy.targeting import TargetingOptions, TargetingTables, service_targeting
from impact.estimators.policy.tree import (CodedFeatures, PairHistograms, PolicyTree, capacity_tree, code_features,
                                           tree_search)

__all__ = ["KEEP", "CodedFeatures", "PairHistograms", "PolicyResults", "PolicyScores", "PolicyTree",
           "TargetingOptions", "TargetingTables", "capacity_tree", "code_features", "dr_scores", "learn_policy",
           "service_targeting", "tree_search"]
