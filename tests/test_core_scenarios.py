"""Tryton's own invoice and payment scenarios still pass with
assistance_billing installed (issue #13).

The scenario files are read from the installed packages and run as they are,
but their `activate_modules` activates assistance_billing as well: its
extensions of account.move, account.invoice.line, the «Create Chart» wizard
and the accounting menus are then loaded while Tryton's own stories run.
All of them share one cached database: assistance_billing depends on every
module they ask for.  PostgreSQL runs them only with CORE_SCENARIOS_PG=1 (they
double the time of the PostgreSQL run and the backend is not what they test).
"""
import os
import pathlib

import pytest

import trytond.tests.tools
from trytond import backend

from test_scenarios import run_doctest

MODULE = 'assistance_billing'
MODULES = pathlib.Path(trytond.tests.tools.__file__).parent.parent / 'modules'
# A representative subset: posting customer and supplier invoices, an
# alternative payee, paying a supplier's credit note and invoices, the
# clearing of a partial payment.  Not the payment scenarios without
# account_invoice: with it (a dependency of ours) their fiscal years need
# invoice sequences.  The whole file stays under about three minutes on
# SQLite when the machine is not shared.
SCENARIOS = [
    'account_invoice/tests/scenario_invoice.rst',
    'account_invoice/tests/scenario_invoice_supplier.rst',
    'account_invoice/tests/scenario_invoice_alternative_payee.rst',
    'account_payment/tests/scenario_account_payment_credit_note_in.rst',
    'account_payment/tests/scenario_account_payment_invoice.rst',
    'account_payment_clearing/tests/'
    'scenario_account_payment_clearing_invoice_amount_to_pay.rst',
    ]


def with_our_module(activate_modules):
    "Wrap activate_modules to activate assistance_billing in its place"
    def wrapper(modules, *setup):
        if isinstance(modules, str):
            modules = [modules]
        missing = set(modules) - dependencies()
        assert not missing, f"{MODULE} does not depend on {missing}"
        return activate_modules([MODULE], *setup)
    return wrapper


def dependencies():
    "Return the modules assistance_billing needs, itself included"
    from trytond.modules import get_module_info
    seen, todo = set(), [MODULE]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(get_module_info(name).get('depends', []))
    return seen


@pytest.mark.skipif(
    backend.name != 'sqlite' and not os.environ.get('CORE_SCENARIOS_PG'),
    reason="Tryton's own scenarios run on SQLite (CORE_SCENARIOS_PG=1)")
@pytest.mark.parametrize('name', SCENARIOS,
    ids=[pathlib.Path(n).stem for n in SCENARIOS])
def test_core_scenario(name, monkeypatch):
    path = MODULES / name
    assert path.exists(), f"{name} is not installed"
    monkeypatch.setattr(trytond.tests.tools, 'activate_modules',
        with_our_module(trytond.tests.tools.activate_modules))
    run_doctest(path)
