# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The gate's keys (coverage_gate): every declaration takes its advisory
locks in one global order, whatever the order it asks for them, so two
declarations never wait for each other in a cycle."""
import itertools
import unittest

from hypothesis import given
from hypothesis import strategies as st

from trytond.modules.assistance_policy.coverage_gate import (
    gate_keys, gate_keys_union)

TABLES = ['assistance_policy', 'assistance_limit']
items = st.lists(st.tuples(st.sampled_from(TABLES),
        st.integers(min_value=1, max_value=2 ** 31 - 1)), max_size=12)


class CoverageGateKeysTestCase(unittest.TestCase):

    @given(items, st.randoms())
    def test_one_order_whatever_the_request(self, requested, random):
        shuffled = list(requested) + list(requested)
        random.shuffle(shuffled)
        self.assertEqual(gate_keys(requested), gate_keys(shuffled))
        keys = gate_keys(requested)
        self.assertEqual(list(keys), sorted(set(keys)))

    @given(items, items)
    def test_union_keeps_the_order(self, first, second):
        union = gate_keys_union(gate_keys(first), gate_keys(second))
        self.assertEqual(union, gate_keys(first + second))

    def test_tables_apart(self):
        "A policy and a limit of the same id are two keys, int4 each"
        keys = gate_keys([('assistance_policy', 7), ('assistance_limit', 7)])
        self.assertEqual(len(keys), 2)
        for namespace, id_ in keys:
            self.assertTrue(0 <= namespace < 2 ** 31)
            self.assertEqual(id_, 7)

    def test_no_cycle_between_two_declarations(self):
        "Any two key sets are taken in orders that agree on shared keys"
        sets = [gate_keys([('assistance_limit', i) for i in s])
            for s in [(3, 1, 2), (2, 3), (1, 3)]]
        for a, b in itertools.combinations(sets, 2):
            shared = set(a) & set(b)
            self.assertEqual([k for k in a if k in shared],
                [k for k in b if k in shared])
