#!/usr/bin/env python3
"""Benchmark of the coverage engine on PostgreSQL (issue: coverage engine).

1. Builds a contract whose path holds 11 limits (10 assistance.limit records
   of every measure, period and scope, plus the programme's sum insured).
2. Fills the ledger (assistance_expense_line) by bulk SQL to 10,000 lines,
   times Policy.check_coverage (one read-only transaction per check, as an
   RPC call would be), then grows the ledger to 1,000,000 lines and times it
   again.  The contract under test keeps the same share of lines in both
   stages (its insured persons' history); the growth is the rest of the
   company's ledger: other contracts and policies.
3. Runs the concurrency load: 16 clients declaring expenses at once against
   one aggregate limit, counts overruns, and compares the throughput with the
   same declarations run one after the other.

Usage: .venv/bin/python bench/coverage_check.py [--keep]
The last line is one JSON object.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import random
import statistics
import sys
import threading
import time
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools'), str(ROOT / 'tests')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
DATABASE = 'bench_coverage'
START = dt.date(2025, 1, 1)
CHECKS = 400


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def create_database():
    import demo
    demo.default_paths()
    demo.drop_database(CONFIG, DATABASE)
    demo.create_database(CONFIG, DATABASE, 'admin')


def proteus_config():
    from proteus import config as pconfig
    from trytond.modules.company.tests.tools import create_company
    config = pconfig.set_trytond(DATABASE, config_file=str(CONFIG))
    create_company(config=config)
    return config


def path_limits(option_id, program_id, package_id, category_id):
    "Ten limits of every kind on the path of the benchmarked service"
    q, a, days = 'quantity', 'amount', 'days'
    return [
        dict(name="Сеансы в год", option=option_id, measure=q,
            value=Decimal(10 ** 6), period='policy_year'),
        dict(name="Сумма в год", program=program_id, measure=a,
            value=Decimal(10 ** 9), period='calendar_year'),
        dict(name="Дни в месяц", program=program_id, measure=days,
            value=Decimal(31), period='month'),
        dict(name="Курсы в квартал", option=option_id, measure=q,
            value=Decimal(10 ** 6), period='quarter'),
        dict(name="Визиты в неделю", measure=q, value=Decimal(10 ** 6),
            period='week'),
        dict(name="Визиты в день", measure=q, value=Decimal(10 ** 6),
            period='day'),
        dict(name="На случай", measure=a, value=Decimal(10 ** 9),
            period='case'),
        dict(name="Общий лимит договора", package=package_id, measure=a,
            value=Decimal(10 ** 12), period='term', scope='contract'),
        dict(name="По категории", measure=q, value=Decimal(10 ** 6),
            period='policy_year', categories=[category_id]),
        dict(name="Пакет в месяц", package=package_id, measure=a,
            value=Decimal(10 ** 9), period='month'),
        ]


def build(config):
    from proteus import Model
    from coverage_tools import build_contract
    setup = build_contract(insured=200, name='bench', start=START,
        config=config)
    Contract = Model.get('assistance.contract', config=config)
    Limit = Model.get('assistance.limit', config=config)
    Category = Model.get('product.category', config=config)
    contract = Contract(setup['contract'])
    program = contract.programs[0]
    program.sum_insured = Decimal(10 ** 9)
    program.save()
    package = Model.get('assistance.package', config=config).find(
        [('contract', '=', contract.id)])[0]
    category, = Category.find([('name', '=', 'Услуги bench')])
    limits = []
    for values in path_limits(
            setup['option'], program.id, package.id, category.id):
        categories = values.pop('categories', [])
        limit = Limit(contract=contract, **{k: v for k, v in values.items()
                if k not in {'option', 'program', 'package'}})
        for key in ['option', 'program', 'package']:
            if key in values:
                setattr(limit, key, Model.get(
                        f'assistance.{key}', config=config)(values[key]))
        for category_id in categories:
            limit.categories.append(Category(category_id))
        limits.append(limit)
    Limit.save(limits)
    # The rest of the company's portfolio: other contracts and policies.
    others = [build_contract(insured=50, name=f'other-{i}', start=START,
            config=config) for i in range(4)]
    return setup, others


def fill(setup, others, own_needed, rows_needed):
    "Insert rows_needed ledger lines by COPY, own_needed of them for setup"
    import psycopg
    uri = 'postgresql://postgres@127.0.0.1:5432/' + DATABASE
    rng = random.Random(rows_needed)
    with psycopg.connect(uri) as connection, connection.cursor() as cursor:
        columns = ('policy', 'contract', 'service', 'option', 'date',
            'quantity', 'unit_price', 'amount', 'covered_quantity',
            'covered_amount', 'deductible_amount', 'insured_amount',
            'coverage_status', 'case_key', 'state', 'create_uid',
            'create_date')
        with cursor.copy(
                f'COPY assistance_expense_line ({", ".join(columns)}) '
                'FROM STDIN') as copy:
            for index in range(rows_needed):
                source = setup if index < own_needed else rng.choice(others)
                policy = rng.choice(source['policies'])
                date = START + dt.timedelta(days=rng.randrange(365))
                price = Decimal(rng.randrange(500, 5000))
                copy.write_row((
                        policy, source['contract'], source['service'],
                        source['option'], date, 1, price, price, 1, price, 0,
                        0, 'covered', f'case-{rng.randrange(10 ** 5)}',
                        'declared' if rng.random() < .7 else 'actual', 0,
                        dt.datetime.now()))
        cursor.execute('ANALYZE assistance_expense_line')


def time_checks(setup, warm_up=20):
    "Time CHECKS checks after warm_up ones (the caches of a running server)"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    rng = random.Random(1)
    timings = []
    for _ in range(warm_up + CHECKS):
        policy_id = rng.choice(setup['policies'])
        date = START + dt.timedelta(days=rng.randrange(365))
        started = time.perf_counter()
        with Transaction().start(DATABASE, 0, readonly=True):
            pool = Pool()
            Policy = pool.get('assistance.policy')
            Product = pool.get('product.product')
            decision = Policy(policy_id).check_coverage(
                Product(setup['service']), date, 1, Decimal(1000),
                case=f'case-{rng.randrange(10 ** 5)}')
        timings.append((time.perf_counter() - started) * 1000)
        assert decision.status == 'covered', decision
        assert len(decision.limits) == 11, len(decision.limits)
    timings = sorted(timings[warm_up:])
    return (statistics.median(timings),
        timings[int(len(timings) * .95) - 1])


def declarations(setup, clients, per_client, limit, parallel):
    from coverage_tools import declare_once
    date = START + dt.timedelta(days=100)
    outcomes = []

    def client(policy_id):
        for _ in range(per_client):
            outcomes.append(declare_once(
                    DATABASE, policy_id, setup['service'], date,
                    Decimal(1000)))

    policies = setup['policies'][:clients]
    started = time.perf_counter()
    if parallel:
        threads = [threading.Thread(target=client, args=(p,))
            for p in policies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for policy_id in policies:
            client(policy_id)
    elapsed = time.perf_counter() - started
    covered = sum(o['covered_amount'] for o in outcomes)
    refused = [o for o in outcomes if o['status'] == 'refused']
    assert all('Общий лимит' in o['message'] for o in refused)
    return elapsed, covered, len(outcomes)


def concurrency(config):
    from coverage_tools import build_contract
    clients, per_client, limit = 16, 10, Decimal(100000)
    results = {}
    for mode in ['serial', 'parallel']:
        setup = build_contract(insured=clients, aggregate_limit=limit,
            name=f'load-{mode}', start=START, config=config)
        results[mode] = declarations(
            setup, clients, per_client, limit, mode == 'parallel')
        log(mode, 'elapsed %.2fs covered %s of %s, %s declarations' % (
                results[mode][0], results[mode][1], limit, results[mode][2]))
    overruns = sum(1 for _, covered, _ in results.values() if covered > limit)
    ratio = results['serial'][0] / results['parallel'][0]
    return overruns, ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keep', action='store_true',
        help="keep the benchmark database")
    parser.add_argument('--lines', type=int, default=1_000_000)
    args = parser.parse_args()
    log('creating the database', DATABASE)
    create_database()
    config = proteus_config()
    setup, others = build(config)
    fill(setup, others, 5000, 10_000)
    p50_10k, p95_10k = time_checks(setup)
    log('10k lines: p50 %.2f ms, p95 %.2f ms' % (p50_10k, p95_10k))
    fill(setup, others, 0, args.lines - 10_000)
    p50_1m, p95_1m = time_checks(setup)
    log('%s lines: p50 %.2f ms, p95 %.2f ms' % (args.lines, p50_1m, p95_1m))
    overruns, ratio = concurrency(config)
    if not args.keep:
        from trytond.pool import Pool
        Pool.stop(DATABASE)
        import demo
        demo.drop_database(CONFIG, DATABASE)
    print(json.dumps({
                'p50_ms_10k': round(p50_10k, 2),
                'p95_ms_10k': round(p95_10k, 2),
                'p50_ms_1m': round(p50_1m, 2),
                'p95_ms_1m': round(p95_1m, 2),
                'overruns': overruns,
                'concurrent_vs_serial': round(ratio, 2),
                }))


if __name__ == '__main__':
    main()
