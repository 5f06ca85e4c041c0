"""The short variant of bench/load.py for CI (PostgreSQL only): a few
operators on the production layout over JSON-RPC, one gunicorn worker and
the queue worker killed during the calls; no error, no limit overrun,
nothing lost (every confirmed order confirmed, its expense lines declared,
one SMS each, none taken twice by the gateway)."""
import os
import pathlib
import sys

import pytest

from trytond import backend

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'bench'))

ADMIN = ('admin', 'load-short-2026')

pytestmark = pytest.mark.skipif(
    backend.name != 'postgresql',
    reason="the production layout runs on PostgreSQL")


@pytest.fixture
def demo_database():
    "The test database (from DB_CACHE) with a small demo"
    sys.path.insert(0, str(ROOT / 'tools'))
    import demo
    from proteus import Model
    from trytond.modules.company.tests.tools import create_company  # noqa
    from trytond.tests.test_tryton import DB_NAME, drop_db
    from trytond.tests.tools import activate_modules
    config = activate_modules(demo.addons())
    # The demo's users speak Russian (trytond-admin -l ru for the demo).
    Lang = Model.get('ir.lang', config=config)
    russian, = Lang.find([('code', '=', 'ru')])
    russian.click('load_translations')
    demo.DemoData(config, 40).run()
    User = Model.get('res.user', config=config)
    admin, = User.find([('login', '=', 'admin')])
    admin.password = ADMIN[1]
    admin.save()
    yield DB_NAME
    drop_db()


def test_load_short(demo_database):
    import load
    load.PG_URI = os.environ['TRYTOND_DATABASE__URI']
    load.ADMIN = ADMIN
    figures = load.run(operators=8, calls=3, duration=150,
        faults=['web', 'queue'], database=demo_database, reuse=True,
        web_workers=2, queue_workers=1, sms_timeout=90)
    load.report(figures)
    assert figures['calls'] == 8 * 3, figures
    assert figures['errors'] == 0, figures['error_samples']
    assert figures['overruns'] == 0, figures['overrun_samples']
    assert figures['lost'] == 0, figures['lost_samples']
    assert figures['confirmed'] > 0, figures
    assert len(figures['faults']) == 2, figures['faults']
    assert not any('FAILED' in f for f in figures['faults']), figures
    assert figures['sms_states'], figures
    # Taken by the gateway; or, when the worker was killed while Kannel
    # answered, set aside for the operator (never sent twice by itself).
    assert set(figures['sms_states']) <= {
        'sent', 'delivered', 'unconfirmed'}, figures
    for step in load.STEPS:
        assert figures['steps'][step]['count'] > 0, (step, figures)
