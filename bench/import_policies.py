#!/usr/bin/env python3
"""Benchmark of the policy list import (issue #4, POL-1) on PostgreSQL.

1. Generates a 100,000-row .xlsx of insured persons (10 columns, Russian data
   from Faker ru_RU, with a title row above the header as insurers send it).
2. Creates a fresh PostgreSQL database (tools/demo.py's helpers: trytond-admin
   --all, then every addon activated) with a company, an insurer and a
   contract with two packages.
3. Imports the file through assistance.policy.import the way a contract
   manager does: preview, then apply (run by the task queue, in-process with
   `[queue] worker = False`).  Timed: preview + apply; peak RSS of that
   process.  Then imports the same file again: it must create and change
   nothing (reimport_new, reimport_changed, policies_after_reimport).
4. For comparison, first (on the nearly empty database, where its per-row
   look-ups are fastest), imports the first --generic-rows rows (default
   5,000) of the same list through Tryton's generic import_data (what the client's CSV
   import calls): the persons into party.party (code, name, birth date,
   document, phone), then the policies into assistance.policy (number,
   contract, insured by code, package, dates), 1,000 rows per call as the
   client sends them.  Its rate is measured on the sample and, because it
   is per-record work, taken as the rate of the whole list.

Requires Faker: `make bench-install` (the `bench` extra).
PostgreSQL: the local server of config/trytond-postgresql.conf.

Usage: .venv/bin/python bench/import_policies.py [--rows N] [--generic-rows N]
The last line is one JSON object:
{"rows_per_s", "generic_rows_per_s", "ratio", "peak_rss_mb", ...}.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import random
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
DATABASE = 'bench_import'
WORK = ROOT / 'var' / 'bench'
FILE = WORK / 'policies-100k.xlsx'
HEADER = ["№ полиса", "Фамилия", "Имя", "Отчество", "Дата рождения",
    "Программа", "Дата начала", "Дата окончания", "Телефон", "Документ"]
START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_rows(rows, seed=20261125):
    "Yield the rows of the list: realistic Russian persons and policies"
    from faker import Faker
    fake = Faker('ru_RU')
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    for i in range(rows):
        if rnd.random() < 0.5:
            last, first, middle = (fake.last_name_male(),
                fake.first_name_male(), fake.middle_name_male())
        else:
            last, first, middle = (fake.last_name_female(),
                fake.first_name_female(), fake.middle_name_female())
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(25000))
        yield [
            f"ДМС-{i + 1:07d}", last, first, middle,
            # Insurers mix real dates and dates typed as text.
            birth if i % 4 else birth.strftime('%d.%m.%Y'),
            rnd.choice(["Б1", "Р2", "Базовый"]),
            START, END.strftime('%d.%m.%Y'),
            f"+7 ({rnd.randrange(900, 999)}) {rnd.randrange(1000000):07d}",
            f"{rnd.randrange(1000, 9999)} {rnd.randrange(1000000):06d}",
            ]


def step_generate(rows):
    import xlsxwriter
    WORK.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(FILE), {'constant_memory': True})
    sheet = workbook.add_worksheet("Список")
    dates = workbook.add_format({'num_format': 'dd.mm.yyyy'})
    sheet.write_row(0, 0, ["Список застрахованных к договору BENCH-1"])
    sheet.write_row(2, 0, HEADER)
    for index, row in enumerate(generate_rows(rows), 3):
        for column, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(index, column,
                    dt.datetime.combine(value, dt.time()), dates)
            else:
                sheet.write(index, column, value)
    workbook.close()
    print(json.dumps({'rows': rows, 'peak_rss_mb': peak_rss_mb()}))


def proteus_config():
    from proteus import config as pconfig
    return pconfig.set_trytond(DATABASE, config_file=str(CONFIG))


def contract(config, number, prefix=''):
    "Create an active contract of the insurer with packages Б1 and Р2"
    from proteus import Model
    Party = Model.get('party.party')
    Contract = Model.get('assistance.contract')
    Package = Model.get('assistance.package')
    Program = Model.get('assistance.program')
    insurers = Party.find([('name', '=', "АО «Бенч Страхование»")])
    insurer = insurers[0] if insurers else Party(
        name="АО «Бенч Страхование»")
    insurer.save()
    contract = Contract(number=number, insurer=insurer, policyholder=insurer,
        start_date=START, end_date=END)
    contract.programs.new(code="AMB", name="Амбулаторная помощь")
    contract.programs.new(code="STOM", name="Стоматология")
    contract.save()
    programs = Program.find([('contract', '=', contract.id)])
    for code, name, count in [("Б1", "Базовый", 1), ("Р2", "Расширенный", 2)]:
        package = Package(
            contract=contract, code=prefix + code, name=prefix + name)
        package.programs.extend(Program(p.id) for p in programs[:count])
        package.save()
    contract.click('activate')
    return contract


def step_setup():
    from trytond.modules.company.tests.tools import create_company
    config = proteus_config()
    create_company(config=config)
    first = contract(config, "BENCH-1")
    second = contract(config, "BENCH-GENERIC", prefix="G")
    print(json.dumps({'contract': first.id, 'generic_contract': second.id}))


def count_policies(contract_id):
    from trytond.transaction import Transaction
    with Transaction().start(DATABASE, 0, readonly=True) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT COUNT(*) FROM "assistance_policy" '
            'WHERE "contract" = %s', (contract_id,))
        return cursor.fetchone()[0]


def step_import(contract_id):
    from proteus import Model
    proteus_config()
    Import = Model.get('assistance.policy.import')
    data = FILE.read_bytes()
    record = Import(contract=contract_id, file=data, file_name=FILE.name)
    record.save()
    del data
    started = time.monotonic()
    record.click('preview')
    previewed = time.monotonic()
    log(f"preview: {previewed - started:.1f} s, {record.total_rows} rows, "
        f"{record.new_count} new, {record.error_count} errors")
    record.click('apply')
    applied = time.monotonic()
    record.reload()
    log(f"apply: {applied - previewed:.1f} s, state {record.state}, "
        f"{record.processed_rows}/{record.total_rows}")
    count = count_policies(contract_id)
    print(json.dumps({
                'rows': record.total_rows, 'new': record.new_count,
                'changed': record.changed_count,
                'errors': record.error_count, 'state': record.state,
                'policies': count,
                'preview_s': previewed - started,
                'apply_s': applied - previewed,
                'peak_rss_mb': peak_rss_mb(),
                }))


def step_generic(contract_id, rows):
    "Tryton's generic import_data, as the client's CSV import calls it"
    from proteus import Model
    config = proteus_config()
    Party = Model.get('party.party')
    Policy = Model.get('assistance.policy')
    Contract = Model.get('assistance.contract')
    number = Contract(contract_id).number
    party_fields = ['code', 'name', 'birth_date', 'id_document',
        'contact_mechanisms/type', 'contact_mechanisms/value']
    policy_fields = ['number', 'contract', 'insured', 'package',
        'start_date', 'end_date', 'state']
    packages = {"Б1": "GБ1", "Р2": "GР2", "Базовый": "GБ1"}
    sample = list(generate_rows(rows))
    started = time.monotonic()
    for offset in range(0, rows, 1000):
        chunk = list(enumerate(sample[offset:offset + 1000], offset))
        Party.import_data(party_fields, [[
                    f"G{i}", f"{r[1]} {r[2]} {r[3]}",
                    (r[4] if isinstance(r[4], dt.date) else dt.datetime
                        .strptime(r[4], '%d.%m.%Y').date()).isoformat(),
                    r[9], 'mobile', r[8]] for i, r in chunk],
            config.context)
        Policy.import_data(policy_fields, [[
                    r[0], number, f"G{i}", packages[r[5]],
                    START.isoformat(), END.isoformat(), 'active']
                for i, r in chunk], config.context)
    elapsed = time.monotonic() - started
    count = count_policies(contract_id)
    print(json.dumps({'rows': rows, 'seconds': elapsed, 'policies': count}))


def child(*args):
    "Run a step in a fresh process and return its JSON line"
    out = subprocess.run([sys.executable, __file__, *args],
        stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, default=100_000)
    parser.add_argument('--generic-rows', type=int, default=5_000)
    parser.add_argument('--step', choices=[
            'generate', 'setup', 'import', 'generic'])
    parser.add_argument('--contract', type=int)
    args = parser.parse_args()
    if args.step == 'generate':
        return step_generate(args.rows)
    if args.step == 'setup':
        return step_setup()
    if args.step == 'import':
        return step_import(args.contract)
    if args.step == 'generic':
        return step_generic(args.contract, args.generic_rows)

    import demo
    demo.default_paths()
    log(f"generating {args.rows} rows into {FILE}")
    started = time.monotonic()
    child('--step', 'generate', '--rows', str(args.rows))
    log(f"  {time.monotonic() - started:.1f} s, "
        f"{FILE.stat().st_size / 1e6:.1f} MB")
    log(f"creating the PostgreSQL database {DATABASE}")
    demo.drop_database(CONFIG, DATABASE)
    demo.create_database(CONFIG, DATABASE, 'admin')
    setup = child('--step', 'setup')
    # The generic import runs first, on the nearly empty database: its
    # per-row look-ups (the insured by code) are at their fastest there.
    log(f"importing {args.generic_rows} rows through import_data")
    generic = child('--step', 'generic', '--generic-rows',
        str(args.generic_rows), '--contract', str(setup['generic_contract']))
    log(json.dumps(generic))
    log("importing through assistance.policy.import")
    ours = child('--step', 'import', '--contract', str(setup['contract']))
    log(json.dumps(ours))
    log("importing the same file again (it must change nothing)")
    again = child('--step', 'import', '--contract', str(setup['contract']))
    log(json.dumps(again))
    rows_per_s = ours['rows'] / (ours['preview_s'] + ours['apply_s'])
    generic_rows_per_s = generic['rows'] / generic['seconds']
    print(json.dumps({
                'rows_per_s': round(rows_per_s, 1),
                'generic_rows_per_s': round(generic_rows_per_s, 1),
                'ratio': round(rows_per_s / generic_rows_per_s, 1),
                'peak_rss_mb': round(ours['peak_rss_mb'], 1),
                'rows': ours['rows'],
                'policies_created': ours['policies'],
                'preview_s': round(ours['preview_s'], 1),
                'apply_s': round(ours['apply_s'], 1),
                'apply_only_rows_per_s': round(
                    ours['rows'] / ours['apply_s'], 1),
                'generic_sample_rows': generic['rows'],
                'reimport_s': round(again['preview_s'] + again['apply_s'], 1),
                'reimport_new': again['new'],
                'reimport_changed': again['changed'],
                'policies_after_reimport': again['policies'],
                }))


if __name__ == '__main__':
    main()
