#!/usr/bin/env python3
"""Benchmark of the identification of the insured person (issue #4, REQ-2).

1. Creates a fresh PostgreSQL database (tools/demo.py's helpers) with a
   company, an insurer, a contract and a package.
2. Fills it by bulk SQL (COPY) with --persons insured persons (default
   1,000,000): Russian full names (Faker ru_RU's name lists), birth dates,
   identity documents, one mobile phone and one policy each — with the same
   normalised keys the module writes on create — then the dictionary of name
   words, the index of the name words (built after the rows, as a bulk load
   does) and VACUUM ANALYZE (what autovacuum does after a load: statistics,
   and the GIN indexes' pending lists merged).
3. Runs --queries realistic operator queries (default 1,000) through
   Party.identify, each in its own read-only transaction with access
   checking (the administrator's groups and rules) as an RPC call is:
   surnames with a typo (letter replaced, missing or doubled) with or without
   the first name, exact names, name fragments, policy numbers with and
   without the dash, phones in three formats, birth dates alone and with the
   surname.  Reports p50 / p95, how many found somebody and how many
   found the person meant among the 20 shown (a surname alone or a birth
   date alone names hundreds or dozens of persons: not all can be shown).
4. Runs a sample of the same queries (--scan-queries, default 200: a plain
   scan costs a third of a second a query) as a plain ILIKE scan of the
   names, phones and policy numbers (index scans disabled: what a search
   without the identification keys costs) and reports its p95.

Requires Faker: `make bench-install` (the `bench` extra).
Usage: .venv/bin/python bench/identify.py [--persons N] [--queries N]
    [--scan-queries N] [--reuse]
--reuse skips 1-2 (the database of a previous run is kept).
The last line is one JSON object: {"p50_ms", "p95_ms", "scan_p95_ms",
"ratio", "found", "found_meant", "load_avg_1m", ...}.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import random
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
DATABASE = 'bench_identify'
TODAY = dt.date(2025, 6, 15)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def names():
    "Faker ru_RU's lists of surnames, first names and patronymics"
    from faker.providers.person.ru_RU import Provider
    return [
        (list(Provider.last_names_male), list(Provider.first_names_male),
            list(Provider.middle_names_male)),
        (list(Provider.last_names_female), list(Provider.first_names_female),
            list(Provider.middle_names_female)),
        ]


def setup():
    "Create the contract the persons are insured by; return the ids"
    from proteus import Model
    from proteus import config as pconfig
    from trytond.modules.company.tests.tools import create_company
    pconfig.set_trytond(DATABASE, config_file=str(CONFIG))
    create_company()
    Party = Model.get('party.party')
    Contract = Model.get('assistance.contract')
    Package = Model.get('assistance.package')
    Program = Model.get('assistance.program')
    insurer = Party(name="АО «Бенч Страхование»")
    insurer.save()
    contract = Contract(number="BENCH-ID", insurer=insurer,
        policyholder=insurer, start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 12, 31))
    contract.programs.new(code="AMB", name="Амбулаторная помощь")
    contract.save()
    package = Package(contract=contract, code="Б1", name="Базовый")
    package.programs.append(Program(contract.programs[0].id))
    package.save()
    contract.click('activate')
    return contract.id, package.id


def people(count, seed=20261125):
    "Yield (name, birth date, document, phone, policy number)"
    rnd = random.Random(seed)
    lists = names()
    for i in range(count):
        last, first, middle = lists[rnd.random() < 0.5]
        name = f"{rnd.choice(last)} {rnd.choice(first)} {rnd.choice(middle)}"
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rnd.randrange(30000))
        yield (name, birth, f"{4500 + i % 500} {i:06d}",
            f"79{i:09d}", f"{rnd.randrange(100, 999)}-{i:07d}")


def fill(count, contract_id, package_id):
    "Insert the persons, their phones and policies by COPY"
    from trytond.modules.assistance_policy import policy_import_rules as rules
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(DATABASE)
    with Transaction().start(DATABASE, 0) as transaction:
        pool.init()
        cursor = transaction.connection.cursor()
        # A bulk load: the index of the name words is built after the rows.
        cursor.execute('DROP INDEX IF EXISTS party_identification_words')
        cursor.execute("SELECT last_value FROM party_party_id_seq")
        start, = cursor.fetchone()
        cursor.execute(
            "SELECT setval('party_party_id_seq', %s)", (start + count + 1,))
        now = dt.datetime.now()
        with cursor.copy(
                'COPY party_party (id, name, code, code_alnum, code_digit, '
                'active, birth_date, id_document, id_document_key, '
                'identification_name, create_uid, create_date) '
                'FROM STDIN') as copy:
            for i, (name, birth, document, _, _) in enumerate(people(count)):
                copy.write_row((start + 1 + i, name, f"B{i}", f"B{i}", i,
                        True, birth, document, rules.document_key(document),
                        rules.name_key(name), 0, now))
        log("  persons copied")
        with cursor.copy(
                'COPY party_contact_mechanism (party, type, value, '
                'value_compact, phone_key, active, create_uid, create_date) '
                'FROM STDIN') as copy:
            for i, (_, _, _, phone, _) in enumerate(people(count)):
                copy.write_row((start + 1 + i, 'mobile', '+' + phone,
                        '+' + phone, phone, True, 0, now))
        log("  phones copied")
        with cursor.copy(
                'COPY assistance_policy (number, number_key, contract, '
                'insured, package, start_date, end_date, state, create_uid, '
                'create_date) FROM STDIN') as copy:
            for i, (_, _, _, _, number) in enumerate(people(count)):
                # one person in ten is no longer insured
                end = (dt.date(2025, 12, 31) if i % 10
                    else dt.date(2025, 3, 31))
                copy.write_row((number, rules.number_key(number),
                        contract_id, start + 1 + i, package_id,
                        dt.date(2025, 1, 1), end, 'active', 0, now))
        log("  policies copied")
        cursor.execute(
            'INSERT INTO assistance_party_name_word (word, create_uid, '
            'create_date) SELECT DISTINCT unnest(string_to_array('
            '"identification_name", \' \')), 0, now() FROM party_party '
            'WHERE "identification_name" IS NOT NULL '
            'ON CONFLICT DO NOTHING')
        pool.get('party.party')._create_identification_index()
        transaction.commit()
    vacuum(['party_party', 'party_contact_mechanism', 'assistance_policy',
            'assistance_party_name_word'])


def vacuum(tables):
    """VACUUM ANALYZE after the bulk load, as autovacuum would do on a live
    server: statistics, visibility map, and the GIN indexes' pending lists
    merged (a search reads all of a pending list)"""
    import psycopg
    from trytond.config import config
    uri = config.get('database', 'uri')
    with psycopg.connect(f'{uri.rstrip("/")}/{DATABASE}',
            autocommit=True) as connection:
        for table in tables:
            connection.execute(f'VACUUM ANALYZE "{table}"')


def typo(word, rnd):
    "The word with one letter replaced, missing or doubled"
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.randrange(3)
    if kind == 0:
        return word[:i] + rnd.choice('аеиоу') + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def queries(count, persons, seed=7):
    """Realistic operator queries about persons of the database: [(text,
    code of the person meant)]"""
    rnd = random.Random(seed)
    sample = sorted(rnd.sample(range(persons), count))
    wanted = {i: None for i in sample}
    for i, person in enumerate(people(persons)):
        if i in wanted:
            wanted[i] = person
    result = []
    for n, (i, (name, birth, _, phone, number)) in enumerate(
            wanted.items()):
        last, first, middle = name.split()
        kind = n % 10
        if kind in (0, 1):
            text = f"{typo(last, rnd)} {first}"
        elif kind == 2:
            text = typo(last, rnd)
        elif kind == 3:
            text = f"{last} {first} {typo(middle, rnd)}"
        elif kind == 4:
            text = f"{last[:-1]} {first[:4]}"
        elif kind == 5:
            text = number if n % 20 < 10 else number.replace('-', ' ')
        elif kind == 6:
            text = {0: f"+7 ({phone[1:4]}) {phone[4:7]}-{phone[7:9]}-"
                f"{phone[9:]}", 1: '8' + phone[1:], 2: phone[1:]}[n % 3]
        elif kind == 7:
            text = birth.strftime('%d.%m.%Y')
        elif kind == 8:
            text = f"{last} {birth.strftime('%d.%m.%Y')}"
        else:
            text = f"{typo(last, rnd)} {first} {middle}"
        result.append((text, f"B{i}"))
    return result


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_identify(texts):
    """Return the times of the queries, how many found somebody and how
    many found the person meant among the 20 shown"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(DATABASE)
    with Transaction().start(DATABASE, 0, readonly=True) as transaction:
        pool.init()
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT code, id FROM party_party '
            'WHERE code = ANY(%s)', ([c for _, c in texts],))
        meant = dict(cursor)
    Party = pool.get('party.party')
    times, found, target = [], 0, 0
    for text, code in texts:
        started = time.perf_counter()
        # With access checking, as the RPC dispatcher calls it.
        with Transaction().start(DATABASE, 1, readonly=True,
                context={'_check_access': True}):
            result = Party.identify(text, TODAY, 20)
        times.append((time.perf_counter() - started) * 1000)
        found += bool(result)
        target += any(r['party'] == meant.get(code) for r in result)
    return times, found, target


def run_scan(texts):
    "The same queries as a plain ILIKE scan of names, phones and numbers"
    from trytond.transaction import Transaction
    times = []
    with Transaction().start(DATABASE, 0, readonly=True) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute('SET enable_indexscan = off')
        cursor.execute('SET enable_bitmapscan = off')
        for text in texts:
            pattern = f'%{text}%'
            started = time.perf_counter()
            cursor.execute(
                'SELECT id FROM party_party WHERE name ILIKE %s LIMIT 20',
                (pattern,))
            cursor.fetchall()
            cursor.execute(
                'SELECT party FROM party_contact_mechanism '
                'WHERE value ILIKE %s LIMIT 20', (pattern,))
            cursor.fetchall()
            cursor.execute(
                'SELECT insured FROM assistance_policy '
                'WHERE number ILIKE %s LIMIT 20', (pattern,))
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--persons', type=int, default=1_000_000)
    parser.add_argument('--queries', type=int, default=1_000)
    parser.add_argument('--scan-queries', type=int, default=200)
    parser.add_argument('--reuse', action='store_true',
        help="keep the filled database of a previous run")
    args = parser.parse_args()

    import demo
    demo.default_paths()
    if not args.reuse:
        log(f"creating the PostgreSQL database {DATABASE}")
        demo.drop_database(CONFIG, DATABASE)
        demo.create_database(CONFIG, DATABASE, 'admin')
        contract_id, package_id = setup()
        log(f"filling {args.persons} persons, phones and policies")
        started = time.monotonic()
        fill(args.persons, contract_id, package_id)
        log(f"  {time.monotonic() - started:.0f} s")
    from trytond.pool import Pool
    Pool.start()
    texts = queries(args.queries, args.persons)
    # Warm-up, as a running server is.
    run_identify(texts[:20])
    log(f"{len(texts)} queries through Party.identify")
    load = os.getloadavg()
    times, found, target = run_identify(texts)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    log(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms, "
        f"{found} with a result, {target} with the person meant")
    step = max(1, len(texts) // args.scan_queries)
    sample = [t for t, _ in texts[::step][:args.scan_queries]]
    log(f"{len(sample)} of the same queries as a plain ILIKE scan")
    scan = run_scan(sample)
    scan_p95 = percentile(scan, 95)
    log(f"  p50 {percentile(scan, 50):.1f} ms, p95 {scan_p95:.1f} ms")
    print(json.dumps({
                'p50_ms': round(p50, 2),
                'p95_ms': round(p95, 2),
                'scan_p95_ms': round(scan_p95, 2),
                'ratio': round(scan_p95 / p95, 1),
                'persons': args.persons,
                'queries': len(texts),
                'found': found,
                'found_meant': target,
                'load_avg_1m': round(load[0], 2),
                'scan_queries': len(sample),
                'mean_ms': round(statistics.mean(times), 2),
                }))


if __name__ == '__main__':
    main()
