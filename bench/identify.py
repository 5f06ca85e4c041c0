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
    [--scan-queries N] [--mix operators|v1] [--database NAME] [--reuse]
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


def transpose(word, rnd):
    "The word with two neighbouring letters swapped (not the first one)"
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


# Names written with ё by some, with е by others (Faker writes them with е).
_YO = {
    'Федоров': 'Фёдоров', 'Семенов': 'Семёнов', 'Королев': 'Королёв',
    'Ковалев': 'Ковалёв', 'Соловьев': 'Соловьёв', 'Воробьев': 'Воробьёв',
    'Журавлев': 'Журавлёв', 'Горбачев': 'Горбачёв',
    'Артем': 'Артём', 'Семен': 'Семён', 'Федор': 'Фёдор', 'Петр': 'Пётр',
    'Алена': 'Алёна', 'Федорович': 'Фёдорович', 'Семенович': 'Семёнович',
    'Артемович': 'Артёмович',
    }
_YO.update({k + 'а': v + 'а' for k, v in list(_YO.items())
        if k.endswith('ов') or k.endswith('ев')})
_YO.update({k[:-2] + 'на': v[:-2] + 'на' for k, v in list(_YO.items())
        if k.endswith('вич')})


def yo(word, rnd):
    "The word with ё written as е, or е written as ё where names have it"
    if 'ё' in word:
        return word.replace('ё', 'е')
    return _YO.get(word, word)


# Latin letters typed for the Cyrillic ones they look like.
_LOOK = {'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y',
    'х': 'x', 'В': 'B', 'Н': 'H', 'К': 'K', 'М': 'M', 'Т': 'T', 'А': 'A',
    'Е': 'E', 'О': 'O', 'Р': 'P', 'С': 'C', 'Х': 'X'}


def lookalike(word, rnd):
    "The word with one or two letters typed as their Latin look-alikes"
    places = [i for i, c in enumerate(word) if c in _LOOK]
    for i in rnd.sample(places, min(len(places), rnd.choice((1, 2)))):
        word = word[:i] + _LOOK[word[i]] + word[i + 1:]
    return word


_LAYOUT = dict(zip('йцукенгшщзхъфывапролджэячсмитьбюё',
        "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"))


def layout(text):
    "The text typed with the Latin keyboard layout on (a forgotten switch)"
    return ''.join(_LAYOUT.get(c.lower(), c).upper()
        if c.isupper() else _LAYOUT.get(c, c) for c in text)


_MONTHS = ('января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля',
    'августа', 'сентября', 'октября', 'ноября', 'декабря')


def date_text(date, n):
    "A birth date as operators type it"
    return [
        f'{date.day}.{date.month}.{date.year}',
        date.strftime('%d.%m.%y'),
        date.strftime('%d%m%Y'),
        date.isoformat(),
        date.strftime('%d/%m/%Y'),
        f'{date.day} {_MONTHS[date.month - 1]} {date.year}',
        date.strftime('%d %m %Y'),
        date.strftime('%d-%m-%Y'),
        ][n % 8]


def phone_text(phone, n):
    "A mobile phone (79161234567) as operators type it"
    a, b, c, d = phone[1:4], phone[4:7], phone[7:9], phone[9:]
    return [
        f'+7 ({a}) {b}-{c}-{d}', f'8{a}{b}{c}{d}', f'{a}{b}{c}{d}',
        f'8 {a} {b} {c} {d}', f'8({a}){b}{c}{d}', f'+7-{a}-{b}-{c}-{d}',
        f'+{phone}', f'{a} {b}-{c}-{d}',
        ][n % 8]


def number_text(number, n):
    "A policy number (123-0000001) as operators type it"
    return [
        number, number.replace('-', ' '), number.replace('-', ''),
        f'№ {number}', f'№{number}', f'полис {number}',
        ][n % 6]


def query_v1(n, last, first, middle, birth, phone, number, rnd):
    """The mix of the first version of this bench: (kind, text, what the
    text tells of the person)"""
    kind = n % 10
    if kind in (0, 1):
        return 'typo_surname_first', f"{typo(last, rnd)} {first}", 'lf'
    if kind == 2:
        return 'typo_surname_alone', typo(last, rnd), 'l'
    if kind == 3:
        return ('typo_patronymic', f"{last} {first} {typo(middle, rnd)}",
            'lfm')
    if kind == 4:
        return 'prefixes', f"{last[:-1]} {first[:4]}", ('p', last[:-1],
            first[:4])
    if kind == 5:
        return 'number', (number if n % 20 < 10
            else number.replace('-', ' ')), 'n'
    if kind == 6:
        return 'phone', {0: f"+7 ({phone[1:4]}) {phone[4:7]}-{phone[7:9]}-"
            f"{phone[9:]}", 1: '8' + phone[1:], 2: phone[1:]}[n % 3], 'n'
    if kind == 7:
        return 'birth_date_alone', birth.strftime('%d.%m.%Y'), 'b'
    if kind == 8:
        return 'surname_birth_date', (
            f"{last} {birth.strftime('%d.%m.%Y')}"), 'lb'
    return 'typo_surname_full', f"{typo(last, rnd)} {first} {middle}", 'lfm'


def query_operators(n, last, first, middle, birth, phone, number, rnd):
    """What operators type to identify a caller, with the noise they type
    it with: (kind, text, what the text tells of the person)"""
    kind = n % 12
    m = n // 12
    if kind == 0:
        part = m % 3
        words = [last, first, middle]
        words[part] = typo(words[part], rnd)
        return 'typo', ' '.join(words), 'lfm'
    if kind == 1:
        return ('transposition', f"{transpose(last, rnd)} {first} {middle}",
            'lfm')
    if kind == 2:
        if m % 2:
            return ('no_patronymic_birth_date',
                f"{typo(last, rnd)} {first} {date_text(birth, m)}", 'lfb')
        return 'no_patronymic', f"{last} {first}", 'lf'
    if kind == 3:
        return 'yo', ' '.join(yo(w, rnd) for w in (last, first, middle)), (
            'lfm')
    if kind == 4:
        initials = [f"{first[0]}.{middle[0]}.", f"{first[0]}. {middle[0]}.",
            f"{first[0]}{middle[0]}"][m % 3]
        if m % 2:
            return ('initials_birth_date',
                f"{last} {initials} {date_text(birth, m)}", 'libm')
        return 'initials', f"{last} {initials}", 'lim'
    if kind == 5:
        return 'reordered', [f"{first} {last}", f"{first} {middle} {last}",
            f"{first} {middle} {typo(last, rnd)}"][m % 3], (
            'lf' if m % 3 == 0 else 'lfm')
    if kind == 6:
        return 'phone', phone_text(phone, m), 'n'
    if kind == 7:
        return 'number', number_text(number, m), 'n'
    if kind == 8:
        return 'lookalike', ' '.join(lookalike(w, rnd)
            for w in (last, first, middle)), 'lfm'
    if kind == 9:
        return 'layout', layout(f"{last} {first} {middle}"), 'lfm'
    if kind == 10:
        return 'surname_birth_date', f"{last} {date_text(birth, m)}", 'lb'
    return ('prefixes_birth_date',
        f"{last[:-1]} {first[:3]} {date_text(birth, m)}", 'lfb')


MIXES = {'v1': query_v1, 'operators': query_operators}


def queries(count, persons, seed=7, mix='operators'):
    """Realistic operator queries about persons of the database: [(text,
    code of the person meant, kind of noise, how many persons the text's
    information fits)]"""
    rnd = random.Random(seed)
    sample = sorted(rnd.sample(range(persons), count))
    wanted = {i: None for i in sample}
    for i, person in enumerate(people(persons)):
        if i in wanted:
            wanted[i] = person
    make = MIXES[mix]
    result = []
    for n, (i, (name, birth, _, phone, number)) in enumerate(
            wanted.items()):
        last, first, middle = name.split()
        kind, text, info = make(n, last, first, middle, birth, phone,
            number, rnd)
        result.append((text, f"B{i}", kind, (info, last, first, middle,
                    birth)))
    fits = fitting(persons, [q[3] for q in result])
    return [(text, code, kind, count_)
        for (text, code, kind, _), count_ in zip(result, fits)]


def fitting(persons, infos):
    """How many persons of the database fit the information of each query
    (the name parts and the birth date it gives, typos corrected): when
    more than the 20 shown, the person meant may not be among them
    whatever the search does"""
    from collections import Counter
    counters = {}
    keys = {
        'lfm': lambda l, f, m, b: (l, f, m),
        'lf': lambda l, f, m, b: (l, f),
        'l': lambda l, f, m, b: (l,),
        'b': lambda l, f, m, b: (b,),
        'lb': lambda l, f, m, b: (l, b),
        'lfb': lambda l, f, m, b: (l, f, b),
        'lim': lambda l, f, m, b: (l, f[0], m[0]),
        'libm': lambda l, f, m, b: (l, f[0], m[0], b),
        }
    wanted = {i[0] for i in infos if isinstance(i[0], str) and i[0] != 'n'}
    prefixes = any(not isinstance(i[0], str) for i in infos)
    pairs = Counter()
    for name, birth, _, _, _ in people(persons):
        l, f, m = name.split()
        for info in wanted:
            counter = counters.setdefault(info, Counter())
            counter[keys[info](l, f, m, birth)] += 1
        if prefixes:
            pairs[(l, f)] += 1
    result = []
    for info, l, f, m, b in infos:
        if info == 'n':
            result.append(1)
        elif isinstance(info, str):
            result.append(counters[info][keys[info](l, f, m, b)])
        else:
            _, lp, fp = info
            result.append(sum(c for (x, y), c in pairs.items()
                    if x.startswith(lp) and y.startswith(fp)))
    return result


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_identify(texts):
    """Return the times of the queries, how many found somebody and
    whether each found the person meant among the 20 shown"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(DATABASE)
    with Transaction().start(DATABASE, 0, readonly=True) as transaction:
        pool.init()
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT code, id FROM party_party '
            'WHERE code = ANY(%s)', ([t[1] for t in texts],))
        meant = dict(cursor)
    Party = pool.get('party.party')
    times, found, target, cpu = [], 0, [], []
    for text, code, *_ in texts:
        started = time.perf_counter()
        cpu_started = time.process_time()
        # With access checking, as the RPC dispatcher calls it.
        with Transaction().start(DATABASE, 1, readonly=True,
                context={'_check_access': True}):
            result = Party.identify(text, TODAY, 20)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        found += bool(result)
        target.append(any(r['party'] == meant.get(code) for r in result))
    run_identify.cpu = cpu
    return times, found, target


def breakdown(texts, target, times, shown=20):
    """Print the queries, those that found the person meant, those whose
    information fits more persons than shown, and the misses among the
    others, by kind of noise; return {kind: [meant, queries, fitting more
    than shown]}"""
    kinds = {}
    for (text, _, kind, fits), hit, time_ in zip(texts, target, times):
        row = kinds.setdefault(kind, [0, 0, 0, [], []])
        row[0] += hit
        row[1] += 1
        row[2] += fits > shown
        if not hit and fits <= shown and len(row[3]) < 3:
            row[3].append(text)
        row[4].append(time_)
    log(f"  {'kind':28} meant/queries  info fits >{shown} persons  "
        "p95 ms  misses (examples)")
    for kind, (hit, total, wide, misses, times_) in kinds.items():
        log(f"  {kind:28} {hit:4}/{total:<4} {wide:10}            "
            f"{percentile(times_, 95):6.1f}  " + '; '.join(misses))
    return {k: v[:3] for k, v in kinds.items()}


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
    parser.add_argument('--mix', choices=sorted(MIXES), default='operators',
        help="the queries: what operators type, with their noise "
        "(default), or the first version's mix (v1)")
    parser.add_argument('--database', default=DATABASE)
    parser.add_argument('--reuse', action='store_true',
        help="keep the filled database of a previous run")
    args = parser.parse_args()
    globals()['DATABASE'] = args.database

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
    texts = queries(args.queries, args.persons, mix=args.mix)
    # Warm-up, as a running server is.
    run_identify(texts[:20])
    log(f"{len(texts)} queries through Party.identify")
    load = os.getloadavg()
    times, found, target = run_identify(texts)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    determined = [h for t, h in zip(texts, target) if t[3] <= 20]
    log(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms, "
        f"{found} with a result, {sum(target)} with the person meant; "
        f"of the {len(determined)} queries whose information fits at most "
        f"20 persons, {sum(determined)}")
    kinds = breakdown(texts, target, times)
    scan_p95 = None
    if args.scan_queries:
        step = max(1, len(texts) // args.scan_queries)
        sample = [t[0] for t in texts[::step][:args.scan_queries]]
        log(f"{len(sample)} of the same queries as a plain ILIKE scan")
        scan = run_scan(sample)
        scan_p95 = percentile(scan, 95)
        log(f"  p50 {percentile(scan, 50):.1f} ms, p95 {scan_p95:.1f} ms")
    print(json.dumps({
                'p50_ms': round(p50, 2),
                'p95_ms': round(p95, 2),
                'scan_p95_ms': scan_p95 and round(scan_p95, 2),
                'ratio': scan_p95 and round(scan_p95 / p95, 1),
                'persons': args.persons,
                'queries': len(texts),
                'found': found,
                'found_meant': sum(target),
                'determined': len(determined),
                'found_meant_determined': sum(determined),
                'mix': args.mix,
                'load_avg_1m': round(load[0], 2),
                'scan_queries': args.scan_queries and len(sample),
                'mean_ms': round(statistics.mean(times), 2),
                # The CPU time of this process (not PostgreSQL's): the part
                # of a query's time the load of a shared machine inflates
                # least.
                'cpu_p95_ms': round(percentile(run_identify.cpu, 95), 2),
                'kinds': kinds,
                }, ensure_ascii=False))


if __name__ == '__main__':
    main()
