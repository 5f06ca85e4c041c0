"""P5: parallel operators never overspend one aggregate limit (PostgreSQL).

Twelve connections declare expenses at once against one limit shared by all
the insured persons of a contract; the ledger must end at the limit exactly,
every refused declaration must say which limit refused it, and no thread may
hang (no deadlock)."""
import datetime as dt
import threading
from decimal import Decimal

import pytest

from trytond import backend
from trytond.tests.test_tryton import DB_NAME, drop_db

from coverage_tools import build_contract, declare_once

pytestmark = pytest.mark.skipif(
    backend.name != 'postgresql', reason="row locks are PostgreSQL's")

CLIENTS = 12
ATTEMPTS = 4
LIMIT = Decimal(10000)
PRICE = Decimal(1000)


@pytest.fixture
def database():
    yield DB_NAME
    drop_db()


def test_aggregate_limit_under_concurrency(database):
    setup = build_contract(
        insured=CLIENTS, aggregate_limit=LIMIT, name=__name__)
    date = setup['start'] + dt.timedelta(days=10)
    outcomes, errors = [], []

    def client(policy_id):
        try:
            for _ in range(ATTEMPTS):
                outcomes.append(declare_once(
                        DB_NAME, policy_id, setup['service'], date, PRICE))
        except Exception as exception:  # reported below, with its thread
            errors.append(repr(exception))

    threads = [threading.Thread(target=client, args=(policy_id,))
        for policy_id in setup['policies']]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hangs"
    assert not errors, errors

    covered = sum(o['covered_amount'] for o in outcomes)
    assert covered == LIMIT, covered
    assert len(outcomes) == CLIENTS * ATTEMPTS
    refused = [o for o in outcomes if o['status'] == 'refused']
    assert len(refused) == CLIENTS * ATTEMPTS - LIMIT / PRICE
    for outcome in refused:
        assert 'Общий лимит' in outcome['message'], outcome
    assert all(o['status'] == 'covered'
        for o in outcomes if o['status'] != 'refused')
