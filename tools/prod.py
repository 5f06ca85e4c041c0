#!/usr/bin/env python3
"""The production layout on this machine (`make prod`), its backup and restore.

    tools/prod.py init -d DB [--demo]      create and initialise the database
    tools/prod.py run -d DB [--bind H:P]   run the processes, in the foreground
    tools/prod.py start -d DB / stop / status
    tools/prod.py backup -d DB -o FILE     pg_dump + the attachments' filestore
    tools/prod.py restore -i FILE -d DB    into a new database

`run` starts, on PostgreSQL (config/trytond-production.conf):
- `web`: gunicorn with trytond's WSGI application (config/gunicorn.conf.py:
  several gthread worker processes; its master re-spawns a dead worker);
- `worker`: trytond-worker, the queue (SMS, letters, imports);
- `cron`: trytond-cron, the schedules;
and restarts any of them that stops, after a pause that grows while it keeps
failing (as systemd's Restart=always does with the units of config/systemd/).
Each process writes to var/log/<name>.log; the pids are in var/prod/.
Kannel and the SMTP relay are services of the machine (Debian's kannel,
the relay named in [email] uri)."""
import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
CONFIG = pathlib.Path(os.environ.get('ASSISTANCE_CONFIG',
        ROOT / 'config' / 'trytond-production.conf'))
# The processes' state, logs and filestore (ASSISTANCE_VAR: elsewhere, as the
# tests do, so that they never touch a running `make prod`).
VAR = pathlib.Path(os.environ.get('ASSISTANCE_VAR', ROOT / 'var'))
LOGS = VAR / 'log'
RUN = VAR / 'prod'
FILESTORE = VAR / 'filestore'
PG_URI = os.environ.get('PG_URI', 'postgresql://postgres@127.0.0.1:5432/')


def environment(database, filestore=FILESTORE):
    return dict(os.environ,
        # The configuration file's [database] uri would win over a variable.
        TRYTOND_CONFIG=str(_config_for(PG_URI)),
        TRYTOND_DATABASE__PATH=str(filestore),
        TRYTOND_DATABASE_NAMES=database,
        # The web's warnings: trytond.application's basicConfig (a logging
        # file there would silence gunicorn's own loggers, fileConfig
        # disabling the existing ones); worker and cron take --logconf.
        TRYTOND_LOGGING_LEVEL=str(30),
        TRYTOND_WEB__ROOT=str(ROOT / 'var' / 'sao'))


def _config_for(uri):
    "Return the production configuration, with uri as its database"
    if uri == 'postgresql://postgres@127.0.0.1:5432/':
        return CONFIG
    RUN.mkdir(parents=True, exist_ok=True)
    path = RUN / 'trytond.conf'
    text = CONFIG.read_text().replace(
        'uri = postgresql://postgres@127.0.0.1:5432/', f'uri = {uri}', 1)
    path.write_text(text)
    return path


def commands(database, bind, web_workers, queue_workers):
    config = str(_config_for(PG_URI))
    logconf = str(ROOT / 'config' / 'logging.conf')
    return {
        'web': [str(BIN / 'gunicorn'), '-c',
            str(ROOT / 'config' / 'gunicorn.conf.py'), '--bind', bind,
            '--workers', str(web_workers),
            # gunicornc's socket, one per layout (not one per user)
            '--control-socket', str(RUN / 'gunicorn.ctl')],
        'worker': [str(BIN / 'trytond-worker'), '-c', config, '-d', database,
            '--logconf', logconf, '-n', str(queue_workers)],
        'cron': [str(BIN / 'trytond-cron'), '-c', config, '-d', database,
            '--logconf', logconf],
        }


def psql(*args, database='postgres', check=True):
    return subprocess.run(
        ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At',
            f'{PG_URI}{database}', *args],
        check=check, capture_output=True, text=True)


def database_exists(database):
    result = psql('-c',
        f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
    return result.stdout.strip() == '1'


def init(args):
    "Create the database with every module activated, Russian loaded"
    if database_exists(args.database):
        print(f"database {args.database} exists: left as it is")
        return
    env = environment(args.database)
    if args.demo:
        subprocess.run([sys.executable, str(ROOT / 'tools' / 'demo.py'),
                '-c', env['TRYTOND_CONFIG'], '-d', args.database],
            check=True, env=env)
        return
    psql('-c', f'CREATE DATABASE "{args.database}"')
    addons = sorted(p.parent.name for p in ROOT.glob('addons/*/tryton.cfg'))
    password = os.environ.get('ASSISTANCE_ADMIN_PASSWORD')
    if not password:
        sys.exit("ASSISTANCE_ADMIN_PASSWORD: the password of the new "
            "database's admin user")
    with tempfile.NamedTemporaryFile('w', delete=False) as passfile:
        passfile.write(password)
    try:
        subprocess.run([str(BIN / 'trytond-admin'), '-c',
                env['TRYTOND_CONFIG'], '-d', args.database, '--all',
                '--activate-dependencies', '-l', 'ru', '-u', *addons],
            check=True, env=dict(env, TRYTONPASSFILE=passfile.name))
    finally:
        os.unlink(passfile.name)


class Supervisor:
    "Run the processes; restart one that stops; stop them all on a signal"

    # trytond-worker keeps pulling from its connection once PostgreSQL has
    # restarted under it, and takes no task again: a worker that leaves a
    # due task untaken this long (seconds) is killed and restarted.
    STALLED = 60

    def __init__(self, commands, env, database=None):
        self.commands = commands
        self.env = env
        self.database = database
        self.checked = time.monotonic()
        self.processes = {}
        self.failures = dict.fromkeys(commands, 0)
        self.stopping = False

    def spawn(self, name):
        LOGS.mkdir(parents=True, exist_ok=True)
        log = (LOGS / f'{name}.log').open('a')
        process = subprocess.Popen(self.commands[name], env=self.env,
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.processes[name] = (process, time.monotonic())
        (RUN / f'{name}.pid').write_text(f'{process.pid}\n')
        print(f"{name}: started, pid {process.pid}", flush=True)

    def stop(self, *_):
        self.stopping = True

    def check_worker(self):
        "Kill the queue worker if a task has been due too long (restarted)"
        now = time.monotonic()
        if (not self.database or 'worker' not in self.processes
                or now - self.checked < self.STALLED / 4):
            return
        self.checked = now
        process, started = self.processes['worker']
        if process.poll() is not None or now - started < self.STALLED:
            return
        try:
            result = psql('-c', "SELECT COUNT(*) FROM ir_queue "
                "WHERE dequeued_at IS NULL "
                "AND COALESCE(scheduled_at, enqueued_at) "
                "< (NOW() AT TIME ZONE 'UTC') "
                f"- INTERVAL '{self.STALLED} seconds'",
                database=self.database, check=False)
            stalled = int(result.stdout.strip() or 0)
        except (OSError, ValueError):
            return
        if stalled:
            print(f"worker: {stalled} due tasks untaken for "
                f"{self.STALLED} s, killed", flush=True)
            _signal_group(process, signal.SIGKILL)

    def run(self):
        RUN.mkdir(parents=True, exist_ok=True)
        (RUN / 'supervisor.pid').write_text(f'{os.getpid()}\n')
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for name in self.commands:
            self.spawn(name)
        restart_at = {}
        while not self.stopping:
            time.sleep(0.2)
            self.check_worker()
            for name, (process, started) in list(self.processes.items()):
                if process.poll() is None:
                    continue
                now = time.monotonic()
                if name not in restart_at:
                    # A process that ran a minute had not been failing.
                    if now - started > 60:
                        self.failures[name] = 0
                    self.failures[name] += 1
                    delay = min(0.5 * 2 ** (self.failures[name] - 1), 30)
                    print(f"{name}: stopped with {process.returncode}, "
                        f"restarted in {delay:g} s", flush=True)
                    restart_at[name] = now + delay
                elif now >= restart_at[name]:
                    del restart_at[name]
                    self.spawn(name)
        # The whole group of each (its own session): trytond-worker's and
        # trytond-cron's children would live on, connected to the database.
        for process, _ in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 40
        for name, (process, _) in self.processes.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)
            (RUN / f'{name}.pid').unlink(missing_ok=True)
        (RUN / 'supervisor.pid').unlink(missing_ok=True)


def _signal_group(process, signum):
    "Send signum to the process group of process (started in a session)"
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run(args):
    if not database_exists(args.database):
        sys.exit(f"no database {args.database}: tools/prod.py init first")
    env = environment(args.database)
    Supervisor(commands(args.database, args.bind, args.web_workers,
            args.queue_workers), env, database=args.database).run()


def start(args):
    "Run in the background; return when the web answers"
    import urllib.request
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / 'supervisor.log').open('a') as log:
        subprocess.Popen([sys.executable, __file__, 'run', '-d',
                args.database, '--bind', args.bind,
                '--web-workers', str(args.web_workers),
                '--queue-workers', str(args.queue_workers)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://{args.bind}/'
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
        except OSError:
            time.sleep(0.5)
        else:
            print(f"Web client: {url}  (database {args.database}; "
                f"logs in {LOGS.relative_to(ROOT)}/)")
            return
    sys.exit(f"the web did not answer at {url}: see {LOGS}/web.log")


def stop(args):
    pidfile = RUN / 'supervisor.pid'
    if not pidfile.exists():
        print("not running")
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink()
        return
    for _ in range(500):
        if not pidfile.exists():
            print("stopped")
            return
        time.sleep(0.1)
    sys.exit("the supervisor did not stop")


def status(args):
    for name in ['supervisor', 'web', 'worker', 'cron']:
        pidfile = RUN / f'{name}.pid'
        state = 'stopped'
        if pidfile.exists():
            pid = int(pidfile.read_text())
            try:
                os.kill(pid, 0)
                state = f'running, pid {pid}'
            except ProcessLookupError:
                state = 'dead (stale pid file)'
        print(f"{name}: {state}")


def backup(args):
    """Write one archive: the database (pg_dump's custom format) and the
    filestore of its attachments ([database] path/<database>)"""
    output = pathlib.Path(args.output)
    with tempfile.TemporaryDirectory() as tmp:
        dump = pathlib.Path(tmp) / 'database.dump'
        subprocess.run(['pg_dump', '--format=custom', '--no-owner',
                f'--file={dump}', f'{PG_URI}{args.database}'], check=True)
        with tarfile.open(output, 'w') as archive:
            archive.add(dump, 'database.dump')
            store = pathlib.Path(args.filestore) / args.database
            if store.exists():
                archive.add(store, 'filestore')
    print(f"{output}: database {args.database} and its filestore")


def restore(args):
    "Restore an archive of backup into a new database"
    if database_exists(args.database):
        sys.exit(f"database {args.database} exists: restore into a new one")
    with tempfile.TemporaryDirectory() as tmp, \
            tarfile.open(args.input) as archive:
        archive.extractall(tmp, filter='data')
        psql('-c', f'CREATE DATABASE "{args.database}"')
        subprocess.run(['pg_restore', '--no-owner', '--exit-on-error',
                f'--dbname={PG_URI}{args.database}',
                str(pathlib.Path(tmp) / 'database.dump')], check=True)
        store = pathlib.Path(tmp) / 'filestore'
        if store.exists():
            target = pathlib.Path(args.filestore) / args.database
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(store, target)
    print(f"database {args.database} restored from {args.input}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    for name, function in [('init', init), ('run', run), ('start', start),
            ('stop', stop), ('status', status), ('backup', backup),
            ('restore', restore)]:
        sub = commands.add_parser(name)
        sub.set_defaults(function=function)
        if name in {'init', 'run', 'start', 'backup', 'restore'}:
            sub.add_argument('-d', '--database', required=True)
        if name in {'run', 'start'}:
            sub.add_argument('--bind', default='127.0.0.1:8000')
            sub.add_argument('--web-workers', type=int,
                default=int(os.environ.get('ASSISTANCE_WEB_WORKERS', 4)))
            sub.add_argument('--queue-workers', type=int, default=2)
        if name == 'init':
            sub.add_argument('--demo', action='store_true',
                help="load the demo data (tools/demo.py)")
        if name in {'backup', 'restore'}:
            sub.add_argument('--filestore', default=str(FILESTORE))
        if name == 'backup':
            sub.add_argument('-o', '--output', required=True)
        if name == 'restore':
            sub.add_argument('-i', '--input', required=True)
    args = parser.parse_args()
    args.function(args)


if __name__ == '__main__':
    main()
