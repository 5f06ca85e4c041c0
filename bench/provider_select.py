#!/usr/bin/env python3
"""Benchmark of the provider selection on PostgreSQL (issue #6, ORD-1).

1. Creates a fresh PostgreSQL database (tools/demo.py's helpers) with a
   company and 30 services.
2. Fills it by bulk SQL (COPY) with --providers providers (default 10,000)
   spread around 40 Russian cities (more in the large ones), one address
   each with its coordinates (one in ten has a second branch in another
   city), one to three specialties, a price level, one in twenty suspended,
   and a price list of 5 to 15 services valid on the query date (one in
   five also has an expired list); then ANALYZE.
3. Runs --queries selections (default 1,000) through Party.select_providers,
   each in its own read-only transaction as an RPC call is: a point near a
   city (by population), a service in four queries of five, a specialty or
   a price level sometimes, a maximum distance in half of them, the 50
   nearest.  Reports p50 / p95 and the machine's load.

Usage: .venv/bin/python bench/provider_select.py [--providers N] [--queries N]
       [--reuse]
The last line is one JSON object: {"providers", "p50_ms", "p95_ms", ...}.
"""
import argparse
import datetime as dt
import json
import math
import os
import pathlib
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
DATABASE = 'bench_provider_select'
TODAY = dt.date(2025, 6, 15)
SERVICES = 30
LEVELS = ['economy', 'standard', 'premium']

# (city, latitude, longitude, weight): weights roughly by population.
CITIES = [
    ("Москва", 55.7558, 37.6173, 130),
    ("Санкт-Петербург", 59.9386, 30.3141, 55),
    ("Новосибирск", 55.0084, 82.9357, 16),
    ("Екатеринбург", 56.8389, 60.6057, 15),
    ("Казань", 55.7963, 49.1088, 13),
    ("Нижний Новгород", 56.3269, 44.0059, 12),
    ("Челябинск", 55.1644, 61.4368, 12), ("Красноярск", 56.0153, 92.8932, 11),
    ("Самара", 53.1959, 50.1002, 11), ("Уфа", 54.7388, 55.9721, 11),
    ("Ростов-на-Дону", 47.2357, 39.7015, 11), ("Омск", 54.9885, 73.3242, 11),
    ("Краснодар", 45.0355, 38.9753, 10), ("Воронеж", 51.6720, 39.1843, 10),
    ("Пермь", 58.0105, 56.2502, 10), ("Волгоград", 48.7080, 44.5133, 10),
    ("Саратов", 51.5331, 46.0342, 8), ("Тюмень", 57.1522, 65.5272, 8),
    ("Тольятти", 53.5078, 49.4204, 7), ("Ижевск", 56.8526, 53.2045, 6),
    ("Барнаул", 53.3548, 83.7698, 6), ("Ульяновск", 54.3142, 48.4031, 6),
    ("Иркутск", 52.2870, 104.3050, 6), ("Хабаровск", 48.4802, 135.0719, 6),
    ("Ярославль", 57.6261, 39.8845, 6), ("Владивосток", 43.1155, 131.8855, 6),
    ("Махачкала", 42.9849, 47.5047, 6), ("Томск", 56.4847, 84.9482, 5),
    ("Оренбург", 51.7682, 55.0968, 5), ("Кемерово", 55.3547, 86.0873, 5),
    ("Рязань", 54.6269, 39.6916, 5), ("Астрахань", 46.3497, 48.0408, 5),
    ("Пенза", 53.1959, 45.0183, 5), ("Липецк", 52.6031, 39.5708, 5),
    ("Калининград", 54.7104, 20.4522, 5), ("Тверь", 56.8587, 35.9176, 4),
    ("Мурманск", 68.9585, 33.0827, 3), ("Якутск", 62.0355, 129.6755, 3),
    ("Петропавловск-Камчатский", 53.0452, 158.6483, 2),
    ("Анадырь", 64.7337, 177.4968, 1),
    ]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def percentile(values, p):
    values = sorted(values)
    index = int(round(p / 100 * (len(values) - 1)))
    return values[min(len(values) - 1, index)]


def near(rnd, city, spread_km):
    "A point about spread_km around the centre of the city"
    _, latitude, longitude, _ = city
    north = rnd.gauss(0, spread_km) / 111.2
    east = rnd.gauss(0, spread_km) / (111.2 * math.cos(math.radians(latitude)))
    return round(latitude + north, 6), round(longitude + east, 6)


def setup():
    "Create the company and the services; return their ids"
    from proteus import Model
    from proteus import config as pconfig
    from trytond.modules.company.tests.tools import create_company
    pconfig.set_trytond(DATABASE, config_file=str(CONFIG))
    create_company()
    Company = Model.get('company.company')
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    Specialty = Model.get('assistance.provider.specialty')
    company, = Company.find()
    unit, = Uom.find([('symbol', '=', 'u')])
    category = Category(name="Медицинские услуги")
    category.save()
    templates = []
    for i in range(SERVICES):
        template = Template(name=f"Услуга {i + 1}", code=f"S-{i + 1}",
            type='service', default_uom=unit, list_price=Decimal(1000))
        template.categories.append(Category(category.id))
        templates.append(template)
    Template.save(templates)
    services = [t.products[0].id for t in templates]
    specialties = [s.id for s in Specialty.find([])]
    return company.id, company.currency.id, services, specialties


def fill(count, company_id, currency_id, services, specialties, seed=6):
    "Insert the providers, addresses, specialties and price lists by COPY"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    rnd = random.Random(seed)
    weights = [c[3] for c in CITIES]
    pool = Pool(DATABASE)
    with Transaction().start(DATABASE, 0) as transaction:
        pool.init()
        cursor = transaction.connection.cursor()
        now = dt.datetime.now()

        def reserve(table, number):
            cursor.execute(f"SELECT nextval('{table}_id_seq')")
            start, = cursor.fetchone()
            cursor.execute(
                f"SELECT setval('{table}_id_seq', %s)", (start + number,))
            return start

        first = reserve('party_party', count)
        parties = list(range(first, first + count))
        with cursor.copy(
                'COPY party_party (id, name, code, code_alnum, code_digit, '
                'active, is_provider, provider_state, suspension_reason, '
                'price_level, create_uid, create_date) FROM STDIN') as copy:
            for i, party in enumerate(parties):
                suspended = rnd.random() < 0.05
                copy.write_row((party, f"Исполнитель {i + 1}", f"P{i}",
                        f"P{i}", i, True, True,
                        'suspended' if suspended else 'active',
                        "Проверка качества" if suspended else None,
                        rnd.choice(LEVELS), 0, now))
        with cursor.copy(
                'COPY party_address (party, city, latitude, longitude, '
                'active, sequence, create_uid, create_date) '
                'FROM STDIN') as copy:
            for party in parties:
                branches = 2 if rnd.random() < 0.1 else 1
                for _ in range(branches):
                    city = rnd.choices(CITIES, weights)[0]
                    copy.write_row((party, city[0], *near(rnd, city, 8),
                            True, 10, 0, now))
        with cursor.copy(
                'COPY "assistance_provider_specialty-party_party" '
                '(party, specialty, create_uid, create_date) '
                'FROM STDIN') as copy:
            for party in parties:
                for specialty in rnd.sample(specialties, rnd.randint(1, 3)):
                    copy.write_row((party, specialty, 0, now))
        lists = []
        for party in parties:
            lists.append((party, dt.date(2025, 1, 1), None))
            if rnd.random() < 0.2:
                lists.append((party, dt.date(2024, 1, 1),
                        dt.date(2024, 12, 31)))
        first = reserve('assistance_provider_price_list', len(lists))
        with cursor.copy(
                'COPY assistance_provider_price_list (id, provider, name, '
                'company, currency, start_date, end_date, create_uid, '
                'create_date) FROM STDIN') as copy:
            for i, (party, start, end) in enumerate(lists):
                copy.write_row((first + i, party, "Прайс-лист", company_id,
                        currency_id, start, end, 0, now))
        lines = 0
        with cursor.copy(
                'COPY assistance_provider_price_list_line (price_list, '
                'service, provider_code, price, create_uid, create_date) '
                'FROM STDIN') as copy:
            for i in range(len(lists)):
                for service in rnd.sample(services, rnd.randint(5, 15)):
                    copy.write_row((first + i, service, f"K{service}",
                            Decimal(rnd.randrange(500, 9000, 50)), 0, now))
                    lines += 1
        transaction.commit()
        cursor = transaction.connection.cursor()
        for table in ['party_party', 'party_address',
                'assistance_provider_specialty-party_party',
                'assistance_provider_price_list',
                'assistance_provider_price_list_line']:
            cursor.execute(f'ANALYZE "{table}"')
        transaction.commit()
    return len(lists), lines


def queries(count, services, specialties, seed=7):
    "Yield the arguments of count selections"
    rnd = random.Random(seed)
    weights = [c[3] for c in CITIES]
    result = []
    for _ in range(count):
        city = rnd.choices(CITIES, weights)[0]
        latitude, longitude = near(rnd, city, 5)
        result.append({
                'latitude': latitude,
                'longitude': longitude,
                'service': rnd.choice(services) if rnd.random() < 0.8
                else None,
                'specialty': rnd.choice(specialties) if rnd.random() < 0.3
                else None,
                'price_level': rnd.choice(LEVELS) if rnd.random() < 0.2
                else None,
                'max_distance_km': rnd.choice([10, 25, 50])
                if rnd.random() < 0.5 else None,
                })
    return result


def run(arguments):
    """Time each selection in its own read-only transaction: the call of
    Party.select_providers alone, and with what the wizard then reads to
    show each row (the provider's name, the address's city)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(DATABASE)
    with Transaction().start(DATABASE, 0, readonly=True):
        pool.init()
    times, shown_times, found, nearest = [], [], 0, []
    for values in arguments:
        started = time.perf_counter()
        with Transaction().start(DATABASE, 1, readonly=True):
            Party = pool.get('party.party')
            Product = pool.get('product.product')
            Specialty = pool.get('assistance.provider.specialty')
            rows = Party.select_providers(
                values['latitude'], values['longitude'],
                service=(Product(values['service'])
                    if values['service'] else None),
                specialty=(Specialty(values['specialty'])
                    if values['specialty'] else None),
                price_level=values['price_level'], date=TODAY,
                max_distance_km=values['max_distance_km'], limit=50)
            times.append((time.perf_counter() - started) * 1000)
            shown = [(r['provider'].rec_name, r['address'].city,
                    r['distance_km'], r['price']) for r in rows]
        shown_times.append((time.perf_counter() - started) * 1000)
        found += len(shown)
        if shown:
            nearest.append(shown[0][2])
    return times, shown_times, found, nearest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--providers', type=int, default=10_000)
    parser.add_argument('--queries', type=int, default=1_000)
    parser.add_argument('--reuse', action='store_true',
        help="keep the filled database of a previous run")
    parser.add_argument('--keep', action='store_true',
        help="keep the database afterwards")
    args = parser.parse_args()

    import demo
    demo.default_paths()
    if not args.reuse:
        log(f"creating the PostgreSQL database {DATABASE}")
        demo.drop_database(CONFIG, DATABASE)
        demo.create_database(CONFIG, DATABASE, 'admin')
        setup_ids = setup()
        json_ids = dict(zip(['company', 'currency', 'services',
                    'specialties'], setup_ids))
        (ROOT / 'var').mkdir(exist_ok=True)
        (ROOT / 'var' / f'{DATABASE}.json').write_text(json.dumps(json_ids))
        log(f"filling {args.providers} providers")
        started = time.monotonic()
        lists, lines = fill(args.providers, *setup_ids)
        log(f"  {lists} price lists, {lines} lines, "
            f"{time.monotonic() - started:.0f} s")
    json_ids = json.loads(
        (ROOT / 'var' / f'{DATABASE}.json').read_text())
    from trytond.pool import Pool
    Pool.start()
    arguments = queries(args.queries, json_ids['services'],
        json_ids['specialties'])
    # Warm-up, as a running server is.
    run(arguments[:20])
    log(f"{len(arguments)} selections through Party.select_providers")
    times, shown_times, found, nearest = run(arguments)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    shown_p95 = percentile(shown_times, 95)
    load = subprocess.run(['uptime'], capture_output=True, text=True
        ).stdout.strip()
    log(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms, "
        f"{found / len(times):.1f} providers a query, nearest at "
        f"{statistics.median(nearest):.2f} km (median)")
    log(f"  with the rows' names read as the wizard shows them: "
        f"p50 {percentile(shown_times, 50):.1f} ms, p95 {shown_p95:.1f} ms")
    log(f"  uptime: {load}")
    if not args.keep:
        Pool.stop(DATABASE)
        demo.drop_database(CONFIG, DATABASE)
    print(json.dumps({
                'providers': args.providers,
                'queries': len(times),
                'p50_ms': round(p50, 2),
                'p95_ms': round(p95, 2),
                'max_ms': round(max(times), 2),
                'mean_ms': round(statistics.mean(times), 2),
                'shown_p95_ms': round(shown_p95, 2),
                'rows_per_query': round(found / len(times), 1),
                'load': load.split('load average:')[-1].strip(),
                }))


if __name__ == '__main__':
    main()
