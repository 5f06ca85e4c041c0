"""The production layout (PostgreSQL): back up a database, restore it into a
new one, run `tools/prod.py` on the restored database — gunicorn with several
trytond workers, trytond-worker, trytond-cron — and use it over JSON-RPC as
the web client does: the restored records are there, an insurer's list
applied by an operator is run by the queue worker (not in the request), a
gunicorn worker killed in the middle is replaced and the calls go on, the
queue worker killed is restarted and takes the next task."""
import base64
import datetime as dt
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from trytond import backend
from trytond.tests.test_tryton import DB_NAME, drop_db

from browser_tools import free_port
from coverage_tools import build_contract

pytestmark = pytest.mark.skipif(
    backend.name != 'postgresql',
    reason="the production layout runs on PostgreSQL")

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSWORD = 'prod-check-2026'
HEADER = ["№ полиса", "ФИО", "Дата рождения", "Программа", "Дата начала",
    "Дата окончания"]


class Client:
    "JSON-RPC as the web client speaks it, through the WSGI server"

    def __init__(self, url, database):
        self.url = f'{url}{database}/rpc/'
        self.session = None

    def call(self, method, *params, retry=0):
        headers = {'Content-Type': 'application/json'}
        if self.session:
            headers['Authorization'] = f'Session {self.session}'
        request = urllib.request.Request(self.url,
            data=json.dumps({'id': 1, 'method': method,
                    'params': list(params)}).encode(), headers=headers)
        for attempt in range(retry + 1):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError):
                if attempt == retry:
                    raise
                time.sleep(0.5)
        assert not answer.get('error'), answer
        return answer['result']

    def login(self, login, password):
        user_id, session, *_ = self.call(
            'common.db.login', login, {'password': password}, 'ru')
        self.session = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()


def insurer_list(package, start, end, first):
    import openpyxl
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for i in range(3):
        sheet.append([f"ПР-{first + i:05d}", f"Новикова Анна {first + i}",
                dt.date(1980 + i, 3, 1 + i), package,
                start.strftime('%d.%m.%Y'), end.strftime('%d.%m.%Y')])
    output = io.BytesIO()
    workbook.save(output)
    return base64.b64encode(output.getvalue()).decode()


@pytest.fixture
def restored(tmp_path):
    "The test database backed up and restored into a new one"
    from proteus import Model
    setup = build_contract(insured=4, name='prod')
    config = setup['config']
    User = Model.get('res.user', config=config)
    Group = Model.get('res.group', config=config)
    admin, = User.find([('login', '=', 'admin')])
    admin.password = PASSWORD
    admin.groups.extend(Group.find([('id', 'not in', admin.groups)]))
    admin.save()
    archive = tmp_path / 'backup.tar'
    restored = f'{DB_NAME}_restored'
    env = dict(os.environ,
        PG_URI=os.environ['TRYTOND_DATABASE__URI'],
        ASSISTANCE_VAR=str(tmp_path / 'var'))
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'prod.py'),
            'backup', '-d', DB_NAME, '-o', str(archive)],
        check=True, env=env)
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'prod.py'),
            'restore', '-i', str(archive), '-d', restored],
        check=True, env=env)
    yield setup, restored, env
    subprocess.run(['psql', '-X', '-q',
            f"{env['PG_URI']}postgres", '-c',
            f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'])
    drop_db()


def test_production_layout_on_a_restored_backup(restored, tmp_path):
    setup, database, env = restored
    port = free_port()
    var = pathlib.Path(env['ASSISTANCE_VAR'])
    supervisor = subprocess.Popen([sys.executable,
            str(ROOT / 'tools' / 'prod.py'), 'run', '-d', database,
            '--bind', f'127.0.0.1:{port}', '--web-workers', '2',
            '--queue-workers', '1'],
        env=env, stdout=open(tmp_path / 'supervisor.log', 'w'),
        stderr=subprocess.STDOUT)
    try:
        client = Client(f'http://127.0.0.1:{port}/', database)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.login('admin', PASSWORD)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, (
                    tmp_path / 'supervisor.log').read_text()
                time.sleep(0.5)

        # The records of the backup are in the restored database.
        policies = client.call('model.assistance.policy.search',
            [('contract', '=', setup['contract'])], 0, None, None, {})
        assert sorted(policies) == sorted(setup['policies'])

        start = setup['start']
        end = start.replace(year=start.year + 1) - dt.timedelta(1)

        def apply_list(first):
            "Apply a list; return the import once the queue has run it"
            import_id, = client.call('model.assistance.policy.import.create',
                [{'contract': setup['contract'],
                        'file': {'__class__': 'bytes', 'base64':
                            insurer_list("A", start, end, first)},
                        'file_name': 'spisok.xlsx'}], {})
            client.call('model.assistance.policy.import.preview',
                [import_id], {})
            client.call('model.assistance.policy.import.apply',
                [import_id], {})
            deadline = time.monotonic() + 120
            while True:
                (record,) = client.call('model.assistance.policy.import.read',
                    [import_id], ['state', 'new_count', 'processed_rows'], {},
                    retry=20)
                if record['state'] == 'done' or time.monotonic() > deadline:
                    return record
                time.sleep(0.3)

        # The request only queues the rows; trytond-worker applies them.
        record = apply_list(1)
        assert record['state'] == 'done', record
        assert record['processed_rows'] == 3, record

        # A WSGI worker killed: gunicorn's master forks another, the
        # operators' calls go on (one retried, as the client's would be).
        master = int((var / 'prod' / 'web.pid').read_text())
        children = subprocess.run(['pgrep', '-P', str(master)],
            capture_output=True, text=True).stdout.split()
        assert len(children) == 2, children
        os.kill(int(children[0]), signal.SIGKILL)
        for _ in range(10):
            found = client.call('model.assistance.policy.search_count',
                [('contract', '=', setup['contract'])], {}, retry=20)
            assert found == 7, found
        deadline = time.monotonic() + 60
        while len(subprocess.run(['pgrep', '-P', str(master)],
                    capture_output=True, text=True).stdout.split()) < 2:
            assert time.monotonic() < deadline, "no worker re-spawned"
            time.sleep(0.5)

        # The queue worker killed: the supervisor restarts it and it takes
        # the next list.
        worker = int((var / 'prod' / 'worker.pid').read_text())
        os.killpg(worker, signal.SIGKILL)
        record = apply_list(11)
        assert record['state'] == 'done', record
        assert int((var / 'prod' / 'worker.pid').read_text()) != worker
        assert client.call('model.assistance.policy.search_count',
            [('contract', '=', setup['contract'])], {}) == 10
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
    log = (tmp_path / 'supervisor.log').read_text()
    assert 'worker: stopped' in log, log
