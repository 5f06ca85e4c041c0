"""Run every scenario doctest (addons/*/tests/scenario_*.rst, tests/scenario_*.rst)
as one pytest item, the way trytond's load_doc_tests runs them."""
import doctest
import pathlib
import unittest

import pytest

from trytond.tests.test_tryton import (
    STRIP_DECIMAL, doctest_checker, doctest_setup, doctest_teardown)
from trytond import backend

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCENARIOS = sorted(
    list(ROOT.glob('addons/*/tests/scenario_*.rst'))
    + list(ROOT.glob('tests/scenario_*.rst')))


@pytest.mark.parametrize(
    'path', SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path):
    run_doctest(path)


def run_doctest(path):
    "Run the scenario file at path as trytond's load_doc_tests does"
    flags = (doctest.REPORT_ONLY_FIRST_FAILURE | doctest.ELLIPSIS
        | doctest.IGNORE_EXCEPTION_DETAIL)
    if backend.name == 'sqlite':
        flags |= STRIP_DECIMAL
    suite = doctest.DocFileSuite(
        str(path), module_relative=False, setUp=doctest_setup,
        tearDown=doctest_teardown, encoding='utf-8',
        checker=doctest_checker, optionflags=flags)
    result = unittest.TestResult()
    suite.run(result)
    problems = result.failures + result.errors
    assert not problems, '\n'.join(text for _, text in problems)
