"""Start a trytond server on a small demo database and drive the web client."""
import base64
import contextlib
import json
import os
import pathlib
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

from run_suite import code_hash

ROOT = pathlib.Path(__file__).resolve().parent.parent
BROWSER = ROOT / 'tests' / 'browser'
SAO = ROOT / 'var' / 'sao'
# Demo databases already built in this checkout, by the hash of their code.
DEMO_CACHE = ROOT / '.cache' / 'demo'
BIN = pathlib.Path(sys.executable).parent


def missing():
    "Return why the browser tests cannot run here, or None"
    if not shutil.which('chromium') and not os.environ.get('CHROMIUM'):
        return "Debian's chromium is not installed (make browser)"
    if not (BROWSER / 'node_modules' / 'playwright-core').exists():
        return "playwright-core is not installed (make browser)"
    if not (SAO / 'index.html').exists():
        return "the web client is not installed (make sao)"


# Upper-case abbreviations of 2–6 letters are codes and pass (ID, SMS, NPS,
# PDF, XLSX, CSV, URL, RUB, ISO, VIES, and the foreign registries' SIRET,
# PESEL…), and so does any word with a digit (МКБ-10 «F00-F99», «M49»).
CODE = re.compile(r'^(?:[A-Z][A-Z-]{1,5}|.*[0-9].*)$')
WORD = re.compile(r"[A-Za-z][A-Za-z0-9'.-]*[A-Za-z0-9]|[A-Za-z]")


def latin_words(text, allowed):
    "Return the Latin-script words of text that are neither codes nor allowed"
    return [w for w in WORD.findall(text)
        if w not in allowed and not CODE.match(w)]


def serve_demo(tmp_path_factory, name):
    "Yield a DemoServer on a new demo database, serving (a module fixture)"
    server = DemoServer(tmp_path_factory.mktemp(name))
    server.create()
    with server.serving():
        yield server


def once_per_suite():
    """Return why a test on its own SQLite demo server is skipped here: in
    the suite's PostgreSQL pass it would only run a second time"""
    if os.environ.get('TRYTOND_DATABASE__URI', '').startswith('postgresql'):
        return ("runs on its own SQLite demo database, whatever the "
            "database of the suite: once, in the SQLite pass")


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class DemoServer:
    "A demo database in a folder of its own, served on a free port"
    database = 'demo'
    password = 'admin'

    def __init__(self, folder, persons=20):
        self.folder = pathlib.Path(folder)
        self.persons = persons
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}/'
        self.config = self.folder / 'trytond.conf'
        self.config.write_text(
            '[database]\nuri = sqlite://\n'
            f'path = {self.folder}\n'
            f'[web]\nlisten = 127.0.0.1:{self.port}\nroot = {SAO}\n')
        self.env = {k: v for k, v in os.environ.items()
            if not k.startswith(('TRYTOND_', 'DB_'))}

    def create(self):
        """Build the demo database, or copy the one an earlier test of this
        run built from the same code (each test changes its own copy)"""
        version = code_hash(ROOT / 'tools' / 'demo.py')
        built = DEMO_CACHE / f'{version}-{self.persons}'
        if not built.exists():
            subprocess.run(
                [sys.executable, str(ROOT / 'tools' / 'demo.py'),
                    '-c', str(self.config), '-d', self.database,
                    '--persons', str(self.persons),
                    '--password', self.password],
                env=self.env, check=True, capture_output=True)
            partial = built.with_name(built.name + f'.{os.getpid()}')
            shutil.copytree(self.folder, partial,
                ignore=shutil.ignore_patterns('trytond.conf', '*.log'))
            partial.rename(built)
        else:
            shutil.copytree(built, self.folder, dirs_exist_ok=True)

    def query(self, sql, *args):
        path = self.folder / f'{self.database}.sqlite'
        with contextlib.closing(sqlite3.connect(path)) as connection:
            return connection.execute(sql, args).fetchall()

    @contextlib.contextmanager
    def serving(self):
        log = open(self.folder / 'trytond.log', 'w')
        process = subprocess.Popen(
            [str(BIN / 'trytond'), '-c', str(self.config),
                '-d', self.database],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(self.url, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            yield self
        finally:
            process.terminate()
            process.wait(10)
            log.close()

    def open_record(self, model, record_id, screenshot, login='admin',
            password=None):
        out = subprocess.run(
            ['node', str(BROWSER / 'open_record.mjs'), self.url,
                self.database, login, password or self.password, model,
                str(record_id), str(screenshot)],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    def rpc(self, login, password, method, *params, context=None):
        "Call the server's JSON-RPC as a user, as the web client does"
        def call(method, params, headers=None):
            request = urllib.request.Request(
                f'{self.url}{self.database}/rpc/',
                data=json.dumps({'id': 1, 'method': method,
                        'params': params}).encode(),
                headers={'Content-Type': 'application/json',
                    **(headers or {})})
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
            assert 'error' not in answer or not answer['error'], answer
            return answer['result']
        user_id, session, *_ = call(
            'common.db.login', [login, {'password': password}, 'en'])
        token = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        return call(method, [*params, context or {}],
            {'Authorization': f'Session {token}'})
