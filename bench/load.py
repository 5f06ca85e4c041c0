#!/usr/bin/env python3
"""A working day under load on the production layout (issue 16).

1. Sets up (or reuses, --reuse) a PostgreSQL database with the demo
   (`tools/prod.py init --demo`) and starts the production layout
   (`tools/prod.py run`: gunicorn, trytond-worker, trytond-cron) on a free
   loopback port, with ASSISTANCE_VAR in a temporary folder and a fake
   Kannel on loopback for the SMS; stops it at the end.
2. Runs N simulated operators (threads, one keep-alive HTTP connection and
   one session each, logged in as the demo's operator), each repeating the
   call of a working day over JSON-RPC as the web client makes it:
   identify (party.party.identify) → incoming call, continue the insured's
   open case or create one (assistance.case.incoming_call / create) → check
   the coverage (assistance.policy.coverage_check) → select a provider (the
   wizard assistance.provider.select, its search state) → create the order
   with the line of the service, priced by the server from the provider's
   price list, and confirm it (button confirm: the expense lines declared
   through the engine's locked path, the SMS queued) → log an event
   (assistance.case.event) → create its task and close it (button do).
   A call that fails for want of the server (a killed worker, PostgreSQL
   restarting) is sent again, as an operator presses the button again; a
   confirm sent again is a no-op on a confirmed order (Workflow).
3. Faults (--faults web,queue,postgresql,kannel,smtp), fired one after the
   other as the calls progress: a gunicorn worker SIGKILLed, the queue
   worker SIGKILLed (the supervisor restarts it), PostgreSQL restarted, the
   fake Kannel stopped and started again, the SMTP server on loopback
   refusing every letter (421 to MAIL FROM, 451 after DATA, in turn) for a
   while, then accepting.  With smtp (or --letters) the guarantee letter
   leaves on confirmation (the case configuration's setting; every provider
   gets an e-mail address) through the queue, which sends a refused letter
   again later ([assistance_order] letter_retry_*).
4. Checks afterwards, in SQL on the database: no limit consumed beyond its
   value (every limit on each used policy's path, summed from the ledger by
   the engine's own query: Policy.coverage_overview_lines), every order the
   operators saw confirmed is confirmed with one declared expense line per
   order line, one SMS per confirmed order (never two) and each message
   taken by the gateway at most once; with letters, every confirmed
   order's letter taken by the SMTP server exactly once (counted by the
   order's number in the subject) and no «send the letter again» task.

Prints p50 / p95 per step, the throughput, errors and overruns (both must
be 0); the last line is one JSON object.

Usage: .venv/bin/python bench/load.py [--operators 50] [--calls 20]
    [--duration 600] [--faults web,queue,postgresql,kannel,smtp]
    [--letters] [--reuse]
"""
import argparse
import base64
import configparser
import contextlib
import datetime as dt
import http.client
import http.server
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROD = ROOT / 'tools' / 'prod.py'
PG_URI = os.environ.get('PG_URI', 'postgresql://postgres@127.0.0.1:5432/')
DATABASE = 'bench_load'
STEPS = ['identify', 'case', 'coverage', 'select', 'order', 'confirm',
    'event', 'task']
FAULTS = ['web', 'queue', 'postgresql', 'kannel', 'smtp']
# How long the SMTP server refuses the letters (fault smtp).
SMTP_REFUSE_FOR = 30
# The demo's operator and administrator (tools/demo.py).
OPERATOR = ('operator', 'operator-2026')
ADMIN = ('admin', 'admin')
# The services an operator orders: a massage (10 a policy year: the limit
# is reached during the load) and a therapist's visit (100 000 ₽ a case).
SERVICES = ["Сеанс массажа", "Приём терапевта"]
MOSCOW = (55.7500, 37.6100)
# How long an operator keeps pressing again while the server is away.
RETRY_FOR = 90


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# JSON-RPC as sao speaks it ------------------------------------------------

def encode(value):
    if isinstance(value, Decimal):
        return {'__class__': 'Decimal', 'decimal': str(value)}
    if isinstance(value, dt.datetime):
        return {'__class__': 'datetime', 'year': value.year,
            'month': value.month, 'day': value.day, 'hour': value.hour,
            'minute': value.minute, 'second': value.second,
            'microsecond': value.microsecond}
    if isinstance(value, dt.date):
        return {'__class__': 'date', 'year': value.year,
            'month': value.month, 'day': value.day}
    raise TypeError(repr(value))


def decode(value):
    kind = value.get('__class__')
    if kind == 'Decimal':
        return Decimal(value['decimal'])
    if kind == 'date':
        return dt.date(value['year'], value['month'], value['day'])
    if kind == 'datetime':
        return dt.datetime(value['year'], value['month'], value['day'],
            value['hour'], value['minute'], value['second'],
            value.get('microsecond', 0))
    if kind == 'bytes':
        return base64.b64decode(value['base64'])
    return value


class ServerAway(Exception):
    "The call did not reach a working server (to be sent again)"


class RPCError(Exception):
    "The server answered with an error"

    def __init__(self, error):
        super().__init__(error)
        self.error = error

    @property
    def user_error(self):
        return (isinstance(self.error, list) and self.error
            and self.error[0] in {'UserError', 'UserWarning'})

    @property
    def message(self):
        if isinstance(self.error, list) and len(self.error) > 1:
            args = self.error[1]
            return args[0] if isinstance(args, list) and args else str(args)
        return str(self.error)


class Client:
    "One operator's session: one keep-alive connection, as a browser tab"

    # sao sets no timeout on its calls (the operator waits for the answer):
    # this one only ends a bench whose server hangs.
    def __init__(self, host, port, database, timeout=600):
        self.host, self.port, self.timeout = host, port, timeout
        self.path = f'/{database}/rpc/'
        self.session = None
        self.context = {}
        self.connection = None
        self.retries = 0
        self.reasons = []

    def _connect(self):
        self.connection = http.client.HTTPConnection(
            self.host, self.port, timeout=self.timeout)

    def call_once(self, method, *params):
        headers = {'Content-Type': 'application/json'}
        if self.session:
            headers['Authorization'] = f'Session {self.session}'
        body = json.dumps({'id': 1, 'method': method,
                'params': list(params)}, default=encode).encode()
        if self.connection is None:
            self._connect()
        try:
            self.connection.request('POST', self.path, body, headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exception:
            self.connection.close()
            self.connection = None
            raise ServerAway(repr(exception)) from exception
        if response.status >= 500 or response.status in {429}:
            raise ServerAway(f'HTTP {response.status}')
        if response.status != 200:
            raise RPCError(['HTTP', [f'{response.status} {data[:200]!r}']])
        answer = json.loads(data, object_hook=decode)
        if answer.get('error'):
            error = answer['error']
            if isinstance(error, list) and error and error[0] in {
                    'UserError', 'UserWarning', 'AccessError',
                    'ConcurrencyException'}:
                raise RPCError(error)
            # A trace: the database went away under the request
            # (PostgreSQL restarting); the operator presses again.
            raise ServerAway(str(error)[:300])
        return answer['result']

    def call(self, method, *params, retry_for=RETRY_FOR):
        "Call; send again while the server is away, as an operator would"
        deadline = time.monotonic() + retry_for
        while True:
            try:
                return self.call_once(method, *params)
            except ServerAway as exception:
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                if len(self.reasons) < 3:
                    self.reasons.append(f'{method}: {exception}'[:200])
                time.sleep(0.5 + random.random())

    def model(self, model, method, *args):
        return self.call(f'model.{model}.{method}', *args, self.context)

    def login(self, login, password):
        user_id, session, *_ = self.call(
            'common.db.login', login, {'password': password}, 'ru')
        self.user_id = user_id
        self.session = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.context = self.call(
            'model.res.user.get_preferences', True, {})
        return user_id


# The layout ----------------------------------------------------------------

class FakeKannel:
    """Kannel's sendsms on loopback: accepts every message while started,
    refuses connections while stopped; counts what it accepted per
    gateway id (the id of the message's dlr-url)"""

    def __init__(self):
        self.port = free_port()
        self.accepted = Counter()
        self.server = None
        self.lock = threading.Lock()

    def start(self):
        kannel = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(
                    urllib.parse.urlsplit(self.path).query)
                dlr = urllib.parse.parse_qs(urllib.parse.urlsplit(
                        query.get('dlr-url', [''])[0]).query)
                with kannel.lock:
                    kannel.accepted[dlr.get('id', ['?'])[0]] += 1
                body = b'0: Accepted for delivery'
                self.send_response(202)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(
            ('127.0.0.1', self.port), Handler)
        threading.Thread(target=self.server.serve_forever,
            daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}/cgi-bin/sendsms'


class FakeSMTP:
    """An SMTP server on loopback (aiosmtpd) that keeps the letters it
    accepted; while refusing, it answers 421 to MAIL FROM and 451 after DATA
    in turn (the sender must try again later) and keeps nothing"""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.port = free_port()
        self.accepted = []
        self.refused = 0
        self.refusing = False
        self.lock = threading.Lock()
        self.controller = Controller(
            self, hostname='127.0.0.1', port=self.port)

    async def handle_MAIL(self, server, session, envelope, address,
            mail_options):
        with self.lock:
            if self.refusing and self.refused % 2 == 0:
                self.refused += 1
                return '421 4.3.2 Service not available, try again later'
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default)
        with self.lock:
            if self.refusing:
                self.refused += 1
                return '451 4.3.0 Mailbox busy, try again later'
            self.accepted.append(str(message['Subject']))
        return '250 Message accepted for delivery'

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def refuse_for(self, seconds, at_least=2, longest=180):
        """Refuse for seconds, and until at least that many refusals were
        answered (at most longest seconds), then accept again"""
        start = time.monotonic()
        before = self.refused
        self.refusing = True
        while time.monotonic() - start < longest and (
                time.monotonic() - start < seconds
                or self.refused - before < at_least):
            time.sleep(0.2)
        self.refusing = False
        return (f"SMTP server refused every letter for "
            f"{time.monotonic() - start:.0f} s ({self.refused - before} "
            f"refusals: 421 to MAIL FROM and 451 after DATA), then accepted")

    @property
    def uri(self):
        return f'smtp://127.0.0.1:{self.port}?timeout=10'


def psql(sql, database):
    result = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
            '-At', '-F', '\t', f'{PG_URI}{database}', '-c', sql],
        check=True, capture_output=True, text=True)
    return [line.split('\t') for line in result.stdout.splitlines() if line]


class Layout:
    "tools/prod.py run on a free port, in a temporary ASSISTANCE_VAR"

    def __init__(self, database, web_workers, queue_workers, var=None,
            kannel=None, smtp=None):
        self.database = database
        self.port = free_port()
        self.var = pathlib.Path(var or tempfile.mkdtemp(prefix='load-'))
        self.kannel = kannel
        self.web_workers = web_workers
        self.queue_workers = queue_workers
        self.env = dict(os.environ, PG_URI=PG_URI,
            ASSISTANCE_VAR=str(self.var),
            ASSISTANCE_ACCESS_LOG=str(self.var / 'access.log'))
        if kannel:
            # The file's [assistance_sms] wins over the environment.
            config = configparser.ConfigParser(interpolation=None)
            config.read(ROOT / 'config' / 'trytond-production.conf',
                encoding='utf-8')
            config['assistance_sms']['url'] = kannel.url
            config['assistance_sms']['dlr_url'] = \
                f'http://127.0.0.1:{self.port}'
            config['assistance_sms']['retry_delay'] = '2'
            config['assistance_sms']['retry_factor'] = '1'
            config['assistance_sms']['timeout'] = '5'
            if smtp:
                config['email']['uri'] = smtp.uri
                if not config.has_section('assistance_order'):
                    config.add_section('assistance_order')
                section = config['assistance_order']
                section['letter_retry_delay'] = '3'
                section['letter_retry_factor'] = '1.5'
                section['letter_retry_max_delay'] = '15'
                section['letter_max_attempts'] = '30'
            self.var.mkdir(parents=True, exist_ok=True)
            path = self.var / 'trytond.conf'
            with path.open('w', encoding='utf-8') as output:
                config.write(output)
            self.env['ASSISTANCE_CONFIG'] = str(path)
        self.process = None

    def init(self, reuse, persons=None):
        exists = psql(f"SELECT 1 FROM pg_database WHERE datname = "
            f"'{self.database}'", 'postgres')
        if exists and not reuse:
            subprocess.run(['psql', '-X', '-q', f'{PG_URI}postgres', '-c',
                    f'DROP DATABASE "{self.database}" WITH (FORCE)'],
                check=True)
        if not exists or not reuse:
            log(f"creating {self.database} with the demo…")
            subprocess.run([sys.executable, str(PROD), 'init', '-d',
                    self.database, '--demo'], check=True, env=self.env,
                stdout=sys.stderr)

    def start(self):
        self.log = open(self.var / 'supervisor.log', 'a')
        self.process = subprocess.Popen([sys.executable, str(PROD), 'run',
                '-d', self.database, '--bind', f'127.0.0.1:{self.port}',
                '--web-workers', str(self.web_workers),
                '--queue-workers', str(self.queue_workers)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            try:
                Client('127.0.0.1', self.port, self.database).call_once(
                    'common.server.version')
                return
            except RPCError:
                # An answer, even an error, comes from a running server.
                return
            except ServerAway:
                if (time.monotonic() > deadline
                        or self.process.poll() is not None):
                    raise RuntimeError(
                        (self.var / 'supervisor.log').read_text())
                time.sleep(0.5)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def pid(self, name):
        return int((self.var / 'prod' / f'{name}.pid').read_text())

    def supervisor_log(self):
        return (self.var / 'supervisor.log').read_text()

    # The faults --------------------------------------------------------
    def kill_web_worker(self):
        master = self.pid('web')
        children = subprocess.run(['pgrep', '-P', str(master)],
            capture_output=True, text=True).stdout.split()
        os.kill(int(children[0]), signal.SIGKILL)
        return f"gunicorn worker {children[0]} SIGKILLed"

    def kill_queue_worker(self):
        worker = self.pid('worker')
        os.killpg(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while self.pid_or_none('worker') in {worker, None}:
            if time.monotonic() > deadline:
                raise RuntimeError("the queue worker was not restarted")
            time.sleep(0.2)
        return f"queue worker {worker} SIGKILLed, restarted as " \
            f"{self.pid('worker')}"

    def pid_or_none(self, name):
        try:
            return self.pid(name)
        except (OSError, ValueError):
            return None


class PrivatePostgreSQL:
    """A PostgreSQL cluster of the bench's own (initdb in a temporary
    folder, on a free loopback port): the machine's cluster serves others,
    restarting it is not the bench's to do"""
    BIN = pathlib.Path('/usr/lib/postgresql/15/bin')

    def __init__(self):
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix='load-pg-'))
        self.data = self.folder / 'data'
        self.port = free_port()
        self.uri = f'postgresql://postgres@127.0.0.1:{self.port}/'

    def _as_postgres(self, *command):
        prefix = ['runuser', '-u', 'postgres', '--'] if os.getuid() == 0 \
            else []
        return subprocess.run(prefix + [str(self.BIN / command[0]),
                *command[1:]], check=True, capture_output=True, text=True)

    def start(self):
        if os.getuid() == 0:
            shutil.chown(self.folder, 'postgres')
        self._as_postgres('initdb', '-D', str(self.data), '-U', 'postgres',
            '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8')
        self._pg_ctl('start')

    def _pg_ctl(self, action):
        self._as_postgres('pg_ctl', '-D', str(self.data), '-w', '-l',
            str(self.folder / 'postgresql.log'), '-o',
            f'-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1'
            ' -c max_connections=200 -c fsync=off', '-m', 'fast', action)

    def copy(self, source, database):
        "Copy the database at the URI source into the cluster"
        subprocess.run(['psql', '-X', '-q', f'{self.uri}postgres', '-c',
                f'CREATE DATABASE "{database}"'], check=True)
        dump = subprocess.Popen(['pg_dump', '--format=custom', '--no-owner',
                source], stdout=subprocess.PIPE)
        subprocess.run(['pg_restore', '--no-owner', '--exit-on-error',
                f'--dbname={self.uri}{database}'], stdin=dump.stdout,
            check=True)
        if dump.wait():
            raise RuntimeError(f"pg_dump of {source} failed")

    def restart(self):
        self._pg_ctl('restart')
        return f"PostgreSQL restarted (pg_ctl restart, port {self.port})"

    def stop(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl('stop')
        shutil.rmtree(self.folder, ignore_errors=True)


# The world of the load ----------------------------------------------------

def enable_letters(client):
    """Send the guarantee letter on confirmation, every provider with an
    e-mail address"""
    providers = client.model('party.party', 'search',
        [('is_provider', '=', True)], 0, None, None)
    with_email = {r['party'] for r in client.model(
            'party.contact_mechanism', 'search_read', [
                ('party', 'in', providers), ('type', '=', 'email')],
            0, None, None, ['party'])}
    missing = [p for p in providers if p not in with_email]
    if missing:
        client.model('party.contact_mechanism', 'create', [{
                    'party': p, 'type': 'email',
                    'value': f'provider-{p}@bench.example',
                    } for p in missing])
    client.model('assistance.case.configuration', 'write', [1], {
            'order_letter_on_confirm': True,
            })


def prepare(client, operators, share):
    """Return the insured persons of the load (one per `share` operators):
    dicts of party, policy, number, phone; and the services' ids"""
    today = client.model('ir.date', 'today')
    policies = client.model('assistance.policy', 'search_read', [
            ('state', '=', 'active'),
            ('start_date', '<=', today), ('end_date', '>=', today),
            ], 0, None, [('id', 'ASC')], ['insured', 'number'])
    needed = -(-operators // share)
    parties = {}
    for policy in policies:
        parties.setdefault(policy['insured'], policy)
    party_ids = list(parties)
    phones = {}
    for row in client.model('party.contact_mechanism', 'search_read', [
                ('party', 'in', party_ids), ('type', '=', 'mobile')],
            0, None, None, ['party', 'value']):
        phones.setdefault(row['party'], row['value'])
    services = {}
    for name in SERVICES:
        service, = client.model('product.product', 'search',
            [('name', '=', name)], 0, None, None)
        services[name] = service
    insured = []
    for party_id in party_ids:
        policy = parties[party_id]
        decisions = client.model('assistance.policy', 'coverage_check',
            [policy['id']], services[SERVICES[0]], today, Decimal(1),
            Decimal(1800))
        if decisions[0]['status'] == 'refused':
            continue
        insured.append({'party': party_id, 'policy': policy['id'],
                'number': policy['number'], 'phone': phones.get(party_id)})
        if len(insured) == needed:
            break
    if len(insured) < needed:
        raise RuntimeError(f"{needed} insured persons needed, "
            f"{len(insured)} in the demo: fewer operators or more --share")
    case_type, = client.model('assistance.case.type', 'search',
        [('code', '=', 'MED')], 0, 1, None)
    return insured, services, case_type, today


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = defaultdict(list)
        self.errors = []
        self.refused = Counter()
        self.confirmed = set()
        self.calls = 0
        self.retries = 0
        self.retry_reasons = []

    def time(self, step, seconds):
        with self.lock:
            self.times[step].append(seconds)

    def error(self, step, exception):
        with self.lock:
            self.errors.append((step, str(exception)[:300]))


class Operator(threading.Thread):
    "One simulated operator repeating the call of the working day"

    def __init__(self, index, layout, world, stats, calls, deadline,
            progress):
        super().__init__(name=f'operator-{index}', daemon=True)
        self.index = index
        self.layout = layout
        self.insured, self.services, self.case_type, self.today = world
        self.person = self.insured[index % len(self.insured)]
        self.stats = stats
        self.calls = calls
        self.deadline = deadline
        self.progress = progress
        self.random = random.Random(index)

    def run(self):
        client = Client('127.0.0.1', self.layout.port, self.layout.database)
        try:
            client.login(*OPERATOR)
        except Exception as exception:
            self.stats.error('login', exception)
            return
        for number in range(self.calls):
            if time.monotonic() > self.deadline:
                break
            try:
                self.one_call(client, number)
            except Exception as exception:
                self.stats.error(self.step, repr(exception))
            finally:
                with self.stats.lock:
                    self.stats.calls += 1
                self.progress()
        with self.stats.lock:
            self.stats.retries += client.retries
            self.stats.retry_reasons += client.reasons

    def timed(self, step, function, *args):
        self.step = step
        start = time.perf_counter()
        result = function(*args)
        self.stats.time(step, time.perf_counter() - start)
        return result

    def one_call(self, client, number):
        person = self.person
        service_name = SERVICES[self.random.random() < 0.5]
        service = self.services[service_name]
        # The operator types the policy number the insured dictates.
        found = self.timed('identify', client.model, 'party.party',
            'identify', person['number'], None, 20)
        if not any(f['party'] == person['party'] for f in found):
            raise RPCError(['identify', [f"{person['number']} not found"]])

        def case():
            open_case = None
            if person['phone']:
                # The phone system's incoming call: candidates, open case.
                for row in client.model('assistance.case', 'incoming_call',
                        person['phone'], None):
                    if row['party'] == person['party'] and row['open_case']:
                        open_case = row['open_case']
            if open_case is None:
                open_case = client.model('assistance.case', 'search', [
                        ('insured', '=', person['party']),
                        ('state', 'in', ['open', 'in_progress'])],
                    0, 1, None)
                open_case = open_case[0] if open_case else None
            if open_case is None:
                lat, lon = MOSCOW
                open_case, = client.model('assistance.case', 'create', [{
                            'insured': person['party'],
                            'type': self.case_type,
                            'event_date': self.today,
                            'request_time': dt.datetime.now().replace(
                                microsecond=0),
                            'operator': client.user_id,
                            'description': "Нужна помощь (нагрузочный тест)",
                            # The field's digits: (9, 6).
                            'latitude': round(lat + self.random.uniform(
                                    -0.02, 0.02), 6),
                            'longitude': round(lon + self.random.uniform(
                                    -0.02, 0.02), 6),
                            }])
            case, = client.model('assistance.case', 'read', [open_case],
                ['policy', 'event_date', 'latitude', 'longitude'])
            if case['latitude'] is None or case['longitude'] is None:
                # The operator asks where the insured is.
                case['latitude'], case['longitude'] = MOSCOW
                client.model('assistance.case', 'write', [open_case], {
                        'latitude': case['latitude'],
                        'longitude': case['longitude'],
                        })
            return open_case, case
        case_id, case = self.timed('case', case)
        policy = case['policy'] or person['policy']
        decision, = self.timed('coverage', client.model, 'assistance.policy',
            'coverage_check', [policy], service, self.today, Decimal(1),
            Decimal(2000), f'assistance.case,{case_id}', None)

        def select():
            wizard = 'wizard.assistance.provider.select'
            context = dict(client.context, active_model='assistance.case',
                active_id=case_id, active_ids=[case_id])
            session, _, _ = client.call(f'{wizard}.create', context)
            try:
                client.call(f'{wizard}.execute', session, {}, 'start',
                    context)
                answer = client.call(f'{wizard}.execute', session, {
                        'start': {
                            'case': case_id,
                            'date': case['event_date'],
                            'latitude': case['latitude'],
                            'longitude': case['longitude'],
                            'service': service,
                            'policy': policy,
                            }}, 'search', context)
            finally:
                client.call(f'{wizard}.delete', session, context)
            return answer['view']['defaults'].get('results', [])
        results = self.timed('select', select)
        rows = [r for r in results if r.get('price_list_line')
            and r.get('coverage_status') != 'refused']
        if decision['status'] != 'refused' and rows:
            row = min(rows, key=lambda r: r['distance_km'])
            order_id, = self.timed('order', client.model, 'assistance.order',
                'create', [{
                        'case': case_id,
                        'policy': policy,
                        'provider': row['provider'],
                        'provider_address': row['address'],
                        'date': self.today,
                        'lines': [['create', [{
                                        'service': service,
                                        'quantity': Decimal(1),
                                        }]]],
                        }])
            self.confirm(client, order_id, policy, service, case_id,
                row['price'])
        else:
            with self.stats.lock:
                self.stats.refused['coverage_check'] += 1
        event_id, = self.timed('event', client.model, 'assistance.case.event',
            'create', [{
                    'case': case_id,
                    'direction': 'incoming',
                    'kind': 'phone',
                    'counterpart': 'insured',
                    'date': dt.datetime.now().replace(microsecond=0),
                    'summary': f"Звонок {number + 1}: {service_name}",
                    }])

        def task():
            client.model('assistance.case.event', 'create_task', [event_id])
            tasks = client.model('assistance.task', 'search', [
                    ('event', '=', event_id), ('state', '=', 'open')],
                0, None, None)
            client.model('assistance.task', 'do', tasks)
            return tasks
        self.timed('task', task)

    def confirm(self, client, order_id, policy, service, case_id, price):
        self.step = 'confirm'
        start = time.perf_counter()
        try:
            # Sent again while the server is away: on a confirmed order the
            # button does nothing (Workflow.transition).
            client.model('assistance.order', 'confirm', [order_id])
        except RPCError as exception:
            if not exception.user_error:
                raise
            # The engine refused under its locks (a limit reached by
            # another operator since the check): the order stays a draft.
            # Any other refusal is an error.
            decision, = client.model('assistance.policy', 'coverage_check',
                [policy], service, self.today, Decimal(1), price,
                f'assistance.case,{case_id}', None)
            if decision['status'] != 'refused':
                raise
            with self.stats.lock:
                self.stats.refused['confirm'] += 1
            return
        finally:
            self.stats.time('confirm', time.perf_counter() - start)
        with self.stats.lock:
            self.stats.confirmed.add(order_id)


# The checks afterwards -----------------------------------------------------

def overruns(database, policies, date):
    """Return the limits consumed beyond their value on policies, summed
    from the ledger by the engine's own query (coverage_overview_lines:
    every limit on the policy's path, its window on date)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(database, 0, readonly=True):
        Policy = Pool().get('assistance.policy')
        found = []
        for policy in Policy.browse(sorted(policies)):
            for line in policy.coverage_overview_lines(date):
                if line['consumed'] is not None and (
                        line['consumed'] > line['value']):
                    found.append((policy.rec_name, line['rule'],
                            str(line['consumed']), str(line['value'])))
        return found


def case_overruns(database):
    """Return the per-case limits (100 000 ₽ a case) exceeded, in plain SQL:
    what the consuming lines of each case on the limit's node covered"""
    return psql("""
        SELECT l.case_key, lim.name,
            SUM(CASE lim.measure WHEN 'amount' THEN l.covered_amount
                ELSE l.covered_quantity END), lim.value
        FROM assistance_expense_line l
        JOIN assistance_policy p ON p.id = l.policy
        JOIN assistance_limit lim ON lim.contract = l.contract
            AND lim.period = 'case' AND lim.measure IN ('amount', 'quantity')
        LEFT JOIN assistance_option o ON o.id = l.option
        WHERE l.state IN ('declared', 'actual') AND l.case_key IS NOT NULL
            AND (lim.package IS NULL OR lim.package = p.package)
            AND (lim.program IS NULL OR lim.program = o.program)
            AND (lim.option IS NULL OR lim.option = l.option)
        GROUP BY l.case_key, lim.id, lim.name, lim.value
        HAVING SUM(CASE lim.measure WHEN 'amount' THEN l.covered_amount
                ELSE l.covered_quantity END) > lim.value""", database)


def lost(database, confirmed, kannel):
    "Return what the confirmed orders miss, and the SMS states"
    problems = []
    if not confirmed:
        return problems, {}
    ids = ','.join(map(str, sorted(confirmed)))
    for order, state in psql(f"SELECT id, state FROM assistance_order "
            f"WHERE id IN ({ids})", database):
        if state != 'confirmed':
            problems.append(f"order {order}: {state}, not confirmed")
    for order, lines, declared in psql(f"""
            SELECT o.id, COUNT(DISTINCT ol.id), COUNT(e.id)
            FROM assistance_order o
            JOIN assistance_order_line ol ON ol."order" = o.id
            LEFT JOIN assistance_expense_line e
                ON e.origin = 'assistance.order.line,' || ol.id
                AND e.state IN ('declared', 'actual')
            WHERE o.id IN ({ids}) GROUP BY o.id""", database):
        if lines != declared:
            problems.append(f"order {order}: {lines} lines, "
                f"{declared} declared expense lines")
    sms = dict(psql(f"""
            SELECT o.id, COUNT(s.id) FROM assistance_order o
            LEFT JOIN assistance_sms s
                ON s.origin = 'assistance.order,' || o.id
            WHERE o.id IN ({ids}) GROUP BY o.id""", database))
    for order in confirmed:
        if sms.get(str(order)) != '1':
            problems.append(
                f"order {order}: {sms.get(str(order), 0)} SMS, not one")
    states = dict(psql(f"""
            SELECT s.state, COUNT(*) FROM assistance_sms s
            WHERE s.origin IN ({','.join(
                f"'assistance.order,{i}'" for i in sorted(confirmed))})
            GROUP BY s.state""", database))
    if kannel:
        twice = [g for g, n in kannel.accepted.items() if n > 1]
        if twice:
            problems.append(f"SMS taken twice by the gateway: {twice}")
    return problems, states


def letters(database, confirmed, smtp):
    """Return what the letters of the confirmed orders miss (not taken by
    the SMTP server, taken twice, a «send again» task) and their count"""
    problems = []
    if not confirmed:
        return problems, 0
    ids = ','.join(map(str, sorted(confirmed)))
    numbers = dict(psql(f"SELECT number, id FROM assistance_order "
            f"WHERE id IN ({ids})", database))
    taken = Counter()
    for subject in list(smtp.accepted):
        for word in subject.split():
            if word in numbers:
                taken[word] += 1
    for number in numbers:
        if taken[number] != 1:
            problems.append(f"order {number}: letter taken "
                f"{taken[number]} times, not once")
    (tasks,), = psql(f"""
        SELECT COUNT(*) FROM assistance_task t
        JOIN assistance_order o ON o."case" = t."case"
        WHERE o.id IN ({ids})
            AND t.name LIKE '%гарантийное письмо по заказу%'""", database)
    if tasks != '0':
        problems.append(f"{tasks} tasks to send a letter again")
    return problems, sum(taken.values())


def wait_letters(database, confirmed, smtp, timeout):
    """Wait until the SMTP server took a letter for each confirmed order
    and no letter task is left in the queue"""
    if not confirmed:
        return
    ids = ','.join(map(str, sorted(confirmed)))
    numbers = {n for n, in psql(f"SELECT number FROM assistance_order "
            f"WHERE id IN ({ids})", database)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        words = {w for subject in list(smtp.accepted)
            for w in subject.split()}
        (pending,), = psql("SELECT COUNT(*) FROM ir_queue WHERE "
            "finished_at IS NULL AND CAST(data AS TEXT) LIKE "
            "'%send_letters_on_confirm%'", database)
        if numbers <= words and pending == '0':
            return
        time.sleep(1)


def wait_sms(database, confirmed, timeout):
    "Wait until no SMS of the confirmed orders is queued or sending"
    if not confirmed:
        return
    origins = ','.join(f"'assistance.order,{i}'" for i in sorted(confirmed))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (pending,), = psql(f"SELECT COUNT(*) FROM assistance_sms WHERE "
            f"origin IN ({origins}) AND state IN ('queued', 'sending')",
            database)
        if pending == '0':
            return
        time.sleep(1)


def percentile(values, q):
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method='inclusive')[q - 1]


# The run -------------------------------------------------------------------

def run(operators=50, calls=20, duration=600, faults=(), reuse=False,
        database=DATABASE, share=2, web_workers=None, queue_workers=2,
        keep=False, sms_timeout=180, letters=False,
        smtp_refuse_for=SMTP_REFUSE_FOR):
    """Run the load and return its figures (a dict); raise nothing for
    errors, overruns or losses: they are in the figures"""
    faults = list(faults)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults: {sorted(unknown)}")
    global PG_URI
    shared_uri, postgresql = PG_URI, None
    if 'postgresql' in faults:
        # Restarted during the load: a cluster of our own.
        postgresql = PrivatePostgreSQL()
        postgresql.start()
        if reuse and psql(f"SELECT 1 FROM pg_database WHERE datname = "
                f"'{database}'", 'postgres'):
            # A copy of the database of the machine's cluster.
            postgresql.copy(f'{PG_URI}{database}', database)
        PG_URI = postgresql.uri
        log(f"PostgreSQL of the bench on {PG_URI}")
    try:
        return _run(operators, calls, duration, faults, reuse, database,
            share, web_workers, queue_workers, keep, sms_timeout,
            postgresql, letters or 'smtp' in faults, smtp_refuse_for)
    finally:
        if postgresql:
            postgresql.stop()
            PG_URI = shared_uri


def _run(operators, calls, duration, faults, reuse, database, share,
        web_workers, queue_workers, keep, sms_timeout, postgresql,
        with_letters, smtp_refuse_for):
    kannel = FakeKannel()
    kannel.start()
    smtp = None
    if with_letters:
        smtp = FakeSMTP()
        smtp.start()
    if web_workers is None:
        web_workers = int(os.environ.get('ASSISTANCE_WEB_WORKERS', 4))
    layout = Layout(database, web_workers, queue_workers, kannel=kannel,
        smtp=smtp)
    layout.init(reuse)
    layout.start()
    fired = []
    letter_problems, letters_taken = [], None
    try:
        admin = Client('127.0.0.1', layout.port, database)
        admin.login(*ADMIN)
        if smtp:
            enable_letters(admin)
        world = prepare(admin, operators, share)
        stats = Stats()
        total = operators * calls
        # The faults fire one after the other as the calls progress.
        thresholds = [total * (i + 1) // (len(faults) + 1)
            for i in range(len(faults))]
        pending = list(zip(thresholds, faults))
        fault_lock = threading.Lock()
        fault_events = []

        def progress():
            "Fire the faults due, by the calls made or the time spent"
            share = (time.monotonic() - start) / duration
            with fault_lock:
                while pending and (stats.calls >= pending[0][0]
                        or share * total >= pending[0][0]):
                    _, fault = pending.pop(0)
                    fault_events.append(fault)
                    threading.Thread(target=fire, args=(fault,),
                        daemon=True).start()

        def fire(fault):
            try:
                if fault == 'web':
                    fired.append(layout.kill_web_worker())
                elif fault == 'queue':
                    fired.append(layout.kill_queue_worker())
                elif fault == 'postgresql':
                    fired.append(postgresql.restart())
                elif fault == 'kannel':
                    kannel.stop()
                    time.sleep(5)
                    kannel.start()
                    fired.append("Kannel stopped 5 s, then started")
                elif fault == 'smtp':
                    fired.append(smtp.refuse_for(smtp_refuse_for))
            except Exception as exception:
                fired.append(f"{fault}: FAILED {exception!r}")
            log(f"fault: {fired[-1]}")

        deadline = time.monotonic() + duration
        threads = [Operator(i, layout, world, stats, calls, deadline,
                progress) for i in range(operators)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
                progress()
        elapsed = time.monotonic() - start
        # A fault still firing (PostgreSQL restarting) ends first.
        while len(fired) < len(fault_events):
            time.sleep(0.5)
        if not kannel.server:
            kannel.start()
        wait_sms(database, stats.confirmed, sms_timeout)
        if smtp:
            wait_letters(database, stats.confirmed, smtp, sms_timeout)
            letter_problems, letters_taken = letters(
                database, stats.confirmed, smtp)
        insured = world[0]
        over = overruns_in_process(database,
            {p['policy'] for p in insured}, world[3])
        over += [tuple(r) for r in case_overruns(database)]
        problems, sms_states = lost(database, stats.confirmed, kannel)
    finally:
        layout.stop()
        kannel.stop()
        if smtp:
            smtp.stop()
    problems += letter_problems
    figures = {
        'bench': 'load',
        'operators': operators,
        'calls_per_operator': calls,
        'calls': stats.calls,
        'seconds': round(elapsed, 1),
        'calls_per_second': round(stats.calls / elapsed, 2),
        'steps': {step: {
                'count': len(stats.times[step]),
                'p50_ms': round(percentile(stats.times[step], 50) * 1000),
                'p95_ms': round(percentile(stats.times[step], 95) * 1000),
                } for step in STEPS if stats.times[step]},
        'confirmed': len(stats.confirmed),
        'refused': dict(stats.refused),
        'retries': stats.retries,
        'retry_samples': stats.retry_reasons[:5],
        'errors': len(stats.errors),
        'error_samples': stats.errors[:5],
        'overruns': len(over),
        'overrun_samples': over[:5],
        'lost': len(problems),
        'lost_samples': problems[:5],
        'sms_states': sms_states,
        'letters_taken': letters_taken,
        'smtp_refusals': smtp.refused if smtp else None,
        # Still waiting for the queue at the end (taken by no worker).
        'sms_unsent': sum(int(n) for state, n in sms_states.items()
            if state in {'queued', 'sending'}),
        'faults': fired,
        'load_average': os.getloadavg()[0],
        'web_workers': web_workers,
        }
    if not keep and not reuse:
        subprocess.run(['psql', '-X', '-q', f'{PG_URI}postgres', '-c',
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            capture_output=True)
    return figures


def overruns_in_process(database, policies, date):
    """overruns() in a process of its own with trytond configured for the
    database (a test's process keeps its own configuration)"""
    env = dict(os.environ,
        TRYTOND_CONFIG=str(ROOT / 'config' / 'trytond-production.conf'),
        TRYTOND_DATABASE__URI=PG_URI)
    result = subprocess.run([sys.executable, __file__, '--overruns-of',
            database, date.isoformat(), *map(str, sorted(policies))],
        env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


def print_overruns(database, date, policies):
    from trytond.pool import Pool
    Pool.start()
    Pool(database).init()
    found = overruns(database, [int(p) for p in policies],
        dt.date.fromisoformat(date))
    print(json.dumps(found, ensure_ascii=False))


def report(figures):
    out = sys.stdout
    print(f"{figures['operators']} operators × "
        f"{figures['calls_per_operator']} calls: {figures['calls']} calls "
        f"in {figures['seconds']} s, {figures['calls_per_second']} calls/s "
        f"(load average {figures['load_average']:.1f}, "
        f"{figures['web_workers']} web workers)", file=out)
    print(f"{'step':<10} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}", file=out)
    for step, row in figures['steps'].items():
        print(f"{step:<10} {row['count']:>6} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8}", file=out)
    print(f"confirmed orders {figures['confirmed']}, refused "
        f"{figures['refused']}, calls sent again {figures['retries']} "
        f"{figures['retry_samples']}", file=out)
    for fault in figures['faults']:
        print(f"fault: {fault}", file=out)
    print(f"errors {figures['errors']} {figures['error_samples']}", file=out)
    print(f"limit overruns {figures['overruns']} "
        f"{figures['overrun_samples']}", file=out)
    print(f"lost {figures['lost']} {figures['lost_samples']}; SMS "
        f"{figures['sms_states']}, not sent {figures['sms_unsent']}",
        file=out)
    if figures['letters_taken'] is not None:
        print(f"guarantee letters taken by the SMTP server "
            f"{figures['letters_taken']} (refused before "
            f"{figures['smtp_refusals']} times)", file=out)
    print(json.dumps(figures, ensure_ascii=False, default=str), file=out)


def main():
    if sys.argv[1:2] == ['--overruns-of']:
        return print_overruns(*sys.argv[2:4], sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--operators', type=int, default=50)
    parser.add_argument('--calls', type=int, default=20,
        help="calls per operator")
    parser.add_argument('--duration', type=float, default=600,
        help="seconds at most")
    parser.add_argument('--faults', default='',
        help=f"comma-separated, among {','.join(FAULTS)} (or all)")
    parser.add_argument('--letters', action='store_true',
        help="send the guarantee letters on confirmation (with smtp too)")
    parser.add_argument('--share', type=int, default=2,
        help="operators per insured person (they contend for its limits)")
    parser.add_argument('--web-workers', type=int)
    parser.add_argument('--database', default=DATABASE)
    parser.add_argument('--reuse', action='store_true',
        help="reuse the database if it exists (and keep it)")
    parser.add_argument('--keep', action='store_true',
        help="keep the database at the end")
    args = parser.parse_args()
    faults = FAULTS if args.faults == 'all' else [
        f for f in args.faults.split(',') if f]
    figures = run(operators=args.operators, calls=args.calls,
        duration=args.duration, faults=faults, reuse=args.reuse,
        database=args.database, share=args.share,
        web_workers=args.web_workers, keep=args.keep, letters=args.letters)
    report(figures)
    if (figures['errors'] or figures['overruns'] or figures['lost']
            or figures['sms_unsent']):
        sys.exit(1)


if __name__ == '__main__':
    main()
