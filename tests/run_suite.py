#!/usr/bin/env python3
"""Run the whole suite on SQLite and on PostgreSQL, side by side (one pytest
process each: the machine has two cores and a pass is one Python process, so
together they take about the time of the longer one), and end with one line
"N passed, N failed, N skipped" counting both runs.  Each pass's output is
printed whole when it ends, and is kept in var/test-<database>.log.

The module and scenario tests run on both databases; the browser tests (which
start their own server on a SQLite demo database) run once, with SQLite.
PG_URI (default postgresql://postgres@127.0.0.1:5432/) names the server.
DB_CACHE folders (.cache/<backend>-<hash of the addons' files>) keep the
activated test databases between runs; a change to any addon file starts a
new cache, so a stale schema is never restored.
"""
import hashlib
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
ADDONS = sorted(p.parent.name for p in ROOT.glob('addons/*/tryton.cfg'))
CACHE = ROOT / '.cache'
LOGS = ROOT / 'var'
SUMMARY = re.compile(
    r'(\d+) (subtests )?(passed|failed|errors?|skipped)')


def pytest_targets(browser):
    targets = [f'trytond.modules.{name}.tests' for name in ADDONS]
    targets += [str(p) for p in sorted(ROOT.glob('tests/test_*.py'))
        if browser or not p.name.startswith('test_browser')]
    return targets


def start(label, env, browser, extra):
    "Start pytest for one database; return its process and its log"
    cmd = [sys.executable, '-m', 'pytest', '-q', '-rfEs', '--pyargs',
        *extra, *pytest_targets(browser)]
    LOGS.mkdir(exist_ok=True)
    log = LOGS / f'test-{label.lower()}.log'
    print(f'=== {label}: pytest {" ".join(cmd[4:])} > {log}', flush=True)
    with log.open('w') as output:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, text=True,
            stdout=output, stderr=subprocess.STDOUT)
    return process, log


def counts_of(code, output):
    "Return the counts of a finished pytest, read from its summary line"
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ''
    counts = dict.fromkeys(['passed', 'failed', 'skipped'], 0)
    for number, subtests, outcome in SUMMARY.findall(last):
        if not subtests:
            key = {'error': 'failed', 'errors': 'failed'}.get(
                outcome, outcome)
            counts[key] += int(number)
    if code not in (0, 1) and not counts['failed']:
        counts['failed'] += 1  # pytest itself broke (usage, collection…)
    return counts


def code_hash(*extra):
    """Hash every file of the addons and the extra paths, so that the caches
    follow the code"""
    digest = hashlib.sha1()
    for path in sorted(ROOT.glob('addons/**/*')) + list(extra):
        if path.is_file() and '__pycache__' not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main():
    extra = sys.argv[1:]
    base = {k: v for k, v in os.environ.items()
        if not k.startswith(('TRYTOND_', 'DB_'))}
    version = code_hash()
    sqlite = dict(base, TRYTOND_DATABASE__URI='sqlite://',
        DB_CACHE=str(CACHE / f'sqlite-{version}'))
    pg_uri = os.environ.get('PG_URI', 'postgresql://postgres@127.0.0.1:5432/')
    postgresql = dict(base, TRYTOND_DATABASE__URI=pg_uri,
        DB_CACHE=str(CACHE / f'postgresql-{version}'), DB_CACHE_JOBS='2')
    began = time.monotonic()
    running = {label: start(label, env, browser, extra)
        for label, env, browser in [
            ('SQLite', sqlite, True), ('PostgreSQL', postgresql, False)]}
    total = {'passed': 0, 'failed': 0, 'skipped': 0}
    while running:
        time.sleep(1)
        for label, (process, log) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            del running[label]
            output = log.read_text()
            print(output, end='', flush=True)
            counts = counts_of(code, output)
            minutes = (time.monotonic() - began) / 60
            print(f'=== {label}: {counts} (ended after {minutes:.1f} min)',
                flush=True)
            for key in total:
                total[key] += counts[key]
    print(f"{total['passed']} passed, {total['failed']} failed, "
        f"{total['skipped']} skipped")
    return 1 if total['failed'] or not total['passed'] else 0


if __name__ == '__main__':
    sys.exit(main())
