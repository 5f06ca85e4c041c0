# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""CASE-1, P3: the department head's open lists follow another session's
changes without reloading (headless Chromium, PostgreSQL demo with the bus).

Runs only against PostgreSQL (SQLite has no bus), e.g.:
    TRYTOND_DATABASE__URI=postgresql://postgres@127.0.0.1:5432/ \\
        .venv/bin/python -m pytest -q \\
        addons/assistance_case/tests/test_browser_live.py
"""
import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOOLS = ROOT / 'tests' / 'browser_tools.py'
URI = os.environ.get('TRYTOND_DATABASE__URI', '')
if not URI.startswith('postgresql'):
    REASON = ("live monitoring needs the bus of PostgreSQL: run with "
        "TRYTOND_DATABASE__URI=postgresql://…/")
elif TOOLS.exists():
    sys.path.insert(0, str(TOOLS.parent))
    from browser_tools import SAO, DemoServer, missing
    REASON = missing()
else:
    REASON = "tests/browser_tools.py is not beside this module"

pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or '')


if not REASON:
    class PostgresqlDemoServer(DemoServer):
        "The demo on PostgreSQL with the bus open to the web client"

        def __init__(self, folder, uri):
            super().__init__(folder, persons=10)
            self.uri = uri
            self.database = f'assistance_live_{os.getpid()}'
            self.config.write_text(
                # Listing the server's databases may take a minute.
                f'[database]\nuri = {uri}\nlist = False\n'
                f'[web]\nlisten = 127.0.0.1:{self.port}\nroot = {SAO}\n'
                '[bus]\nallow_subscribe = True\n')

        def create(self):
            out = subprocess.run(
                [sys.executable, str(ROOT / 'tools' / 'demo.py'),
                    '-c', str(self.config), '-d', self.database, '--reset',
                    '--persons', str(self.persons),
                    '--password', self.password],
                env=self.env, capture_output=True, text=True)
            assert out.returncode == 0, out.stderr[-3000:]

        def query(self, sql, *args):
            import psycopg
            with psycopg.connect(self.uri + self.database) as connection:
                return connection.execute(sql, args).fetchall()

        def drop(self):
            subprocess.run(
                ['psql', self.uri + 'postgres', '-c',
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'],
                check=True, capture_output=True)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    server = PostgresqlDemoServer(
        tmp_path_factory.mktemp('demo_live'), URI)
    server.create()
    try:
        with server.serving():
            yield server
    finally:
        server.drop()


def rpc_datetime(value):
    "A datetime as Tryton's JSON-RPC encodes it"
    return {'__class__': 'datetime', 'year': value.year,
        'month': value.month, 'day': value.day, 'hour': value.hour,
        'minute': value.minute, 'second': 0, 'microsecond': 0}


class Browser:
    "The head's browser, told by the test what the other session changed"

    def __init__(self, demo, prefix):
        playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
            / 'playwright-core' / 'index.mjs').as_uri()
        self.stderr = open(f'{prefix}.log', 'w')
        self.process = subprocess.Popen(
            ['node', str(pathlib.Path(__file__).parent
                    / 'live_monitoring.mjs'),
                playwright, demo.url, demo.database, 'head', 'head-2026',
                prefix],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True)

    def ready(self, step):
        line = self.process.stdout.readline()
        assert line, f"the browser stopped before {step}: {self.log()}"
        answer = json.loads(line)
        assert answer['ready'] == step, answer
        return answer['text']

    def expect(self, **order):
        self.process.stdin.write(json.dumps(order) + '\n')
        self.process.stdin.flush()

    def result(self):
        out, _ = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, self.log()
        return json.loads(out.strip().splitlines()[-1])

    def log(self):
        self.stderr.flush()
        return pathlib.Path(self.stderr.name).read_text()

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def test_head_sees_changes_without_reload(demo, tmp_path):
    (insured,), = demo.query(
        "SELECT c.insured FROM assistance_case c ORDER BY c.id LIMIT 1")
    (medical,), = demo.query(
        "SELECT id FROM assistance_case_type WHERE code = 'MED'")
    operator = ('operator', 'operator-2026')
    # The server loads the database on its first login: not in the browser.
    demo.rpc('head', 'head-2026', 'model.res.user.get_preferences', True)
    browser = Browser(demo, tmp_path / 'live')
    try:
        # A new case taken by the operator appears in the monitoring.
        before = browser.ready('case')
        case_id, = demo.rpc(*operator, 'model.assistance.case.create',
            [{'insured': insured, 'type': medical,
                    'description': "Живой мониторинг"}])
        (number,), = demo.query(
            f"SELECT number FROM assistance_case WHERE id = {case_id}")
        assert number not in before
        browser.expect(appear=number)

        # A task of the department appears in the head's task list.
        before = browser.ready('task')
        name = "Перезвонить застрахованному"
        assert name not in before
        control = dt.datetime.now() + dt.timedelta(hours=2)
        task_id, = demo.rpc(*operator, 'model.assistance.task.create',
            [{'case': case_id, 'name': name,
                    'control_date': rpc_datetime(control)}])
        browser.expect(appear=name)

        # Done, it leaves the list of unfinished tasks.
        browser.ready('task_done')
        demo.rpc(*operator, 'model.assistance.task.do', [task_id])
        browser.expect(disappear=name)

        result = browser.result()
    finally:
        browser.close()

    steps = {s['step']: s for s in result['steps']}
    assert result['listening']
    assert number in steps['case']['text']
    assert name in steps['task']['text']
    assert name not in steps['task_done']['text']
    for step in steps.values():
        assert step['same_page'], step
        assert step['seconds'] < 30, step
