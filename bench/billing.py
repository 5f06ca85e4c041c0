#!/usr/bin/env python3
"""Benchmark of the check (МЭЭ, «Проверить») of a provider's register of
services rendered (issue 13, BIL-1, BIL-2) on PostgreSQL.

1. Creates a fresh PostgreSQL database (tools/demo.py's helpers:
   trytond-admin --all, then every addon activated) and, through proteus as
   the scenario BIL-1/BIL-2 does, the pieces to copy: a company with the
   Russian chart and the fiscal year, services with a price list, a
   contract whose programme covers them (dentistry outside it, a general
   exclusion of pregnancy), a policy, a case and one confirmed and
   delivered order with two lines, their expense lines declared by the
   engine.
2. Multiplies them in SQL (INSERT … SELECT generate_series, not through the
   ORM) to --expense-lines expense lines (default 1,000,000): insured
   persons, policies, cases, orders (two lines each, with their declared
   expense lines) of the clinic and of three other providers, over the
   year; then a register of the clinic with --rows rows (default 50,000),
   a realistic mix: matched by order number and service (exact, within the
   tolerance, price above the list, quantity above the order, excluded
   diagnosis), matched by policy, service and date window (no order
   number), duplicates, services without an order declared through the
   engine (covered, or outside the programme), unknown guarantee letters,
   unknown policies.
3. Row by row (the comparison): the first --sample rows (default 500) are
   checked one at a time, each through Line.check_rows(register, [row]) —
   the same matching code, one row per call as a check row by row through
   the ORM does (its look-ups, its save, its accrual per row) — then rolled
   back.  Its rate is measured on the sample and, the work being per row,
   taken as the rate of the whole register (extrapolated).
4. The bulk check: the register's «Проверить» button (proteus click, in
   process), timed, with the peak RSS of that process; the outcomes of the
   sample rows must be those of the row-by-row check, and the ledger must
   balance.

Usage: .venv/bin/python bench/billing.py [--rows N] [--expense-lines N]
    [--sample N] [--reuse]
The last line is one JSON object:
{"rows_per_s", "row_by_row_rows_per_s", "ratio", "peak_rss_mb", ...}.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
DATABASE = 'bench_billing'
YEAR = 2025
START, END = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
# The services of the orders (in the programme) with the clinic's prices;
# the blood test is kept for the services rendered without an order; the
# dentistry is outside the programme.
SERVICES = [
    ("Приём терапевта", 'A01', 1500), ("Приём невролога", 'A02', 1800),
    ("Приём кардиолога", 'A03', 2100), ("Приём офтальмолога", 'A04', 1700),
    ("УЗИ брюшной полости", 'U01', 2500), ("ЭКГ", 'F01', 900),
    ("Рентген грудной клетки", 'R01', 1600), ("Сеанс массажа", 'M10', 1000),
    ]
UNORDERED = ("Анализ крови общий", 'B03', 600)
OUTSIDE = ("Лечение кариеса", 'S05', 3000)
ORDERS_PER_POLICY = 5
LINES_PER_ORDER = 2
# One order in PROVIDERS_CYCLE is the clinic's, the others go to the other
# providers (the register's check must find its own among all of them).
PROVIDERS_CYCLE = 4
# The mix of the register's rows: kind → share (the rest: 'order').
MIX = [
    ('tolerance', 0.05),    # order + service, 50 kopecks more
    ('above_list', 0.05),   # order + service, price above the list
    ('quantity', 0.02),     # order + service, two units for one ordered
    ('excluded', 0.01),     # order + service, an excluded diagnosis
    ('by_policy', 0.08),    # no order number: policy + service + date
    ('duplicate', 0.05),    # an earlier row billed again
    ('unordered', 0.05),    # no order: declared through the engine
    ('outside', 0.03),      # no order, outside the programme
    ('no_guarantee', 0.01),  # an unknown guarantee letter, no policy
    ('no_policy', 0.01),    # an unknown policy
    ]
SURNAMES = ['Иванов', 'Смирнов', 'Кузнецов', 'Попов', 'Васильев', 'Петров',
    'Соколов', 'Михайлов', 'Новиков', 'Фёдоров', 'Морозов', 'Волков',
    'Алексеев', 'Лебедев', 'Семёнов', 'Егоров', 'Павлов', 'Козлов',
    'Степанов', 'Николаев', 'Орлов', 'Андреев', 'Макаров', 'Никитин']
NAMES = ['Александр', 'Дмитрий', 'Максим', 'Сергей', 'Андрей', 'Алексей',
    'Артём', 'Илья', 'Кирилл', 'Михаил', 'Никита', 'Иван', 'Павел']
PATRONYMICS = ['Александрович', 'Дмитриевич', 'Сергеевич', 'Андреевич',
    'Алексеевич', 'Михайлович', 'Иванович', 'Петрович', 'Николаевич']


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proteus_config():
    from proteus import config as pconfig
    return pconfig.set_trytond(DATABASE, config_file=str(CONFIG))


# -- 1. The pieces to copy, through proteus ---------------------------------

def step_setup():
    from proteus import Model
    from trytond.modules.account.tests.tools import create_fiscalyear
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences)
    from trytond.modules.assistance_billing.tests.tools import (
        create_chart_ru)
    from trytond.modules.company.tests.tools import create_company
    config = proteus_config()
    create_company(config=config)
    create_chart_ru(config=config)
    with config.set_context(language='en'):
        fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
                today=(START, END), config=config), config=config)
    fiscalyear.click('create_period')

    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    unit, = Uom.find([('symbol', '=', 'u')])
    outpatient = Category(name="Амбулаторно-поликлиническая помощь")
    outpatient.save()
    dentistry = Category(name="Стоматология")
    dentistry.save()

    def service(name, code, price, category):
        template = Template(name=name, type='service', default_uom=unit,
            list_price=Decimal(price))
        template.categories.append(Category(category.id))
        template.save()
        product, = template.products
        product.code = code
        product.save()
        return product
    services = [service(*s, outpatient) for s in SERVICES]
    unordered = service(*UNORDERED, outpatient)
    outside = service(*OUTSIDE, dentistry)
    Exclusion = Model.get('assistance.exclusion')
    Exclusion(name="Беременность и роды", kind='diagnosis',
        diagnoses="O00-O99").save()

    Party = Model.get('party.party')
    Contract = Model.get('assistance.contract')
    Program = Model.get('assistance.program')
    Package = Model.get('assistance.package')
    insurer = Party(name="АО «Бенч Страхование»")
    insurer.save()
    contract = Contract(number="ДМС-БЕНЧ", insurer=insurer,
        policyholder=insurer, start_date=START, end_date=END)
    program = contract.programs.new(code="AMB", name="Амбулатория")
    option = program.options.new(code="AMB-1", name="Врачи и диагностика")
    option.categories.append(Category(outpatient.id))
    contract.save()
    package = Package(contract=contract, code="P", name="Полный")
    package.programs.append(Program(contract.programs[0].id))
    package.save()
    contract.click('activate')

    Policy = Model.get('assistance.policy')
    insured = Party(name="Иванов Иван Иванович")
    insured.save()
    policy = Policy(number="БП-0000000", contract=contract, insured=insured,
        package=package)
    policy.save()
    policy.click('activate')

    PriceList = Model.get('assistance.provider.price_list')
    network = Party(name="ООО «Сеть клиник „Бенч“»")
    network.save()
    providers = []
    for index, name in enumerate(["Клиника «Здоровье»",
                "Медцентр «Семейный доктор»", "Клиника «Медицина»",
                "Поликлиника «Арбат»"]):
        provider = Party(name=name, is_provider=True,
            head_office=network if index == 0 else None)
        _ = provider.addresses[0]
        provider.save()
        prices = PriceList(provider=provider, name=f"Прайс {YEAR}",
            start_date=START)
        for product, (_, _, price) in zip(
                services + [unordered, outside],
                SERVICES + [UNORDERED, OUTSIDE]):
            prices.lines.new(service=product, price=Decimal(price))
        prices.save()
        providers.append(provider)

    Case = Model.get('assistance.case')
    CaseType = Model.get('assistance.case.type')
    Order = Model.get('assistance.order')
    medical, = CaseType.find([('code', '=', 'MED')])
    date = dt.date(YEAR, 1, 10)
    case = Case(type=medical, insured=insured, event_date=date)
    case.save()
    order = Order(case=case, provider=providers[0], date=date)
    for product in services[:LINES_PER_ORDER]:
        order.lines.new(service=product)
    order.save()
    order.click('confirm')
    order.click('deliver')
    assert all(l.expense_line.state == 'declared' for l in order.lines)

    Register = Model.get('assistance.billing.register')
    register = Register(provider=providers[0], number="БЕНЧ-1",
        date=dt.date(YEAR + 1, 1, 10), start_date=START, end_date=END,
        invoice_number="СЧ-1", invoice_date=dt.date(YEAR + 1, 1, 10))
    register.save()
    print(json.dumps({
                'services': [s.id for s in services],
                'unordered': unordered.id, 'outside': outside.id,
                'providers': [p.id for p in providers],
                'policy': policy.id, 'case': case.id, 'order': order.id,
                'order_lines': [l.id for l in order.lines],
                'expense_lines': [l.expense_line.id for l in order.lines],
                'register': register.id,
                }))


# -- 2. The volume, in SQL ----------------------------------------------------

def columns(cursor, table):
    cursor.execute("SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s "
        "ORDER BY ordinal_position", (table,))
    return [c for c, in cursor if c != 'id']


def clone(cursor, table, template_id, count, overrides):
    """Copy the row template_id of table count times in one INSERT …
    SELECT generate_series (g = 1…count); overrides: column → SQL of g and
    of the template row t.  Return the id before the first copy: the
    copies' ids are base + g."""
    cursor.execute(f'SELECT MAX(id) FROM "{table}"')
    base, = cursor.fetchone()
    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
        (f'"{table}"', base + count))
    names = columns(cursor, table)
    values = [overrides.get(c, f't."{c}"') for c in names]
    cursor.execute(
        f'INSERT INTO "{table}" (id, {", ".join(f"{chr(34)}{c}{chr(34)}" for c in names)}) '
        f'SELECT {base} + g, {", ".join(values)} '
        f'FROM "{table}" AS t, generate_series(1, {count}) AS g '
        f'WHERE t.id = {template_id} ORDER BY g')
    assert cursor.rowcount == count, (table, cursor.rowcount)
    return base


def sql_array(values):
    return 'ARRAY[%s]' % ', '.join(
        f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def step_generate(setup, expense_lines):
    "Copy the policy, case, order and expense lines in SQL"
    from trytond.transaction import Transaction
    per_policy = ORDERS_PER_POLICY * LINES_PER_ORDER
    policies = max(1, expense_lines // per_policy)
    orders = policies * ORDERS_PER_POLICY
    lines = orders * LINES_PER_ORDER
    services = sql_array(setup['services'])
    prices = sql_array([p for _, _, p in SERVICES])
    providers = sql_array(setup['providers'])
    started = time.monotonic()
    with Transaction().start(DATABASE, 0) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT insured FROM assistance_policy WHERE id = %s',
            (setup['policy'],))
        party, = cursor.fetchone()
        # Insured persons with Russian names and their policies.
        name = (f"({sql_array(SURNAMES)})[1 + g % {len(SURNAMES)}] || ' ' || "
            f"({sql_array(NAMES)})[1 + (g / 7) % {len(NAMES)}] || ' ' || "
            f"({sql_array(PATRONYMICS)})[1 + (g / 91) % {len(PATRONYMICS)}]")
        party_base = clone(cursor, 'party_party', party, policies, {
                'name': name, 'identification_name': f'lower({name})',
                'code': '(1000000 + g)::text',
                'code_alnum': '(1000000 + g)::text',
                'code_digit': '1000000 + g', 'create_date': 'now()'})
        policy_base = clone(cursor, 'assistance_policy', setup['policy'],
            policies, {
                'number': "'БП-' || lpad(g::text, 7, '0')",
                'number_key': "'БП' || lpad(g::text, 7, '0')",
                'insured': f'{party_base} + g', 'create_date': 'now()'})
        log(f"  {policies} insured persons and policies")
        case_base = clone(cursor, 'assistance_case', setup['case'],
            policies, {
                'insured': f'{party_base} + g',
                'policy': f'{policy_base} + g',
                'number': "'АД-' || lpad(g::text, 8, '0')",
                'create_date': 'now()'})
        log(f"  {policies} cases")
        # Orders: five a policy, over the year, one in four the clinic's.
        date = f"DATE '{START}' + ((g * 7919) % 365)::integer"
        order_base = clone(cursor, 'assistance_order', setup['order'],
            orders, {
                'number': "'ЗУ-' || lpad(g::text, 8, '0')",
                'case': f'{case_base} + (g - 1) / {ORDERS_PER_POLICY} + 1',
                'policy':
                f'{policy_base} + (g - 1) / {ORDERS_PER_POLICY} + 1',
                'provider': f'({providers})[1 + (g - 1) % {PROVIDERS_CYCLE}]',
                'date': date, 'create_date': 'now()'})
        log(f"  {orders} orders")
        # Two lines an order, of two different services, and their
        # declared expense lines.
        order = f'((g - 1) / {LINES_PER_ORDER} + 1)'
        index = (f'(({order} - 1) + ((g - 1) % {LINES_PER_ORDER}) * 3) '
            f'% {len(SERVICES)} + 1')
        cursor.execute('SELECT MAX(id) FROM assistance_expense_line')
        expense_base, = cursor.fetchone()
        cursor.execute('SELECT MAX(id) FROM assistance_order_line')
        line_base, = cursor.fetchone()
        template_line, = setup['order_lines'][:1]
        template_expense, = setup['expense_lines'][:1]
        order_date = f"DATE '{START}' + (({order} * 7919) % 365)::integer"
        clone(cursor, 'assistance_expense_line', template_expense, lines, {
                'policy': (f'{policy_base} + ({order} - 1) / '
                    f'{ORDERS_PER_POLICY} + 1'),
                'service': f'({services})[{index}]',
                'date': order_date,
                'unit_price': f'({prices})[{index}]',
                'amount': f'({prices})[{index}]',
                'covered_amount': f'({prices})[{index}]',
                'case': f'{case_base} + ({order} - 1) / {ORDERS_PER_POLICY} + 1',
                'case_key': (f"'assistance.case,' || ({case_base} + "
                    f"({order} - 1) / {ORDERS_PER_POLICY} + 1)"),
                'origin': f"'assistance.order.line,' || ({line_base} + g)",
                'create_date': 'now()'})
        log(f"  {lines} expense lines")
        clone(cursor, 'assistance_order_line', template_line, lines, {
                'order': f'{order_base} + {order}',
                'service': f'({services})[{index}]',
                'unit_price': f'({prices})[{index}]',
                'covered_amount': f'({prices})[{index}]',
                'expense_line': f'{expense_base} + g',
                'price_list_line': 'NULL',
                'create_date': 'now()'})
        log(f"  {lines} order lines")
        for table in ['party_party', 'assistance_policy', 'assistance_case',
                'assistance_order', 'assistance_order_line',
                'assistance_expense_line']:
            cursor.execute(f'ANALYZE "{table}"')
        transaction.commit()
    print(json.dumps({'policies': policies, 'orders': orders,
                'expense_lines': lines,
                'seconds': time.monotonic() - started}))


def kinds(rows, rnd):
    "Return the kind of each row of the register, in the MIX's shares"
    result = []
    for _ in range(rows):
        draw, kind = rnd.random(), 'order'
        for name, share in MIX:
            if draw < share:
                kind = name
                break
            draw -= share
        result.append(kind)
    return result


def step_register(setup, rows, policies, seed=20261204):
    "Load the register's rows in SQL (COPY), a realistic mix"
    import io
    import random
    from trytond.transaction import Transaction
    rnd = random.Random(seed)
    plan = kinds(rows, rnd)
    # The first row of a register is never a duplicate of nothing.
    plan[0] = 'order'
    matched = sum(k not in {'unordered', 'outside', 'no_guarantee',
                'no_policy', 'duplicate'} for k in plan)
    clinic = setup['providers'][0]
    codes = {s: c for s, (_, c, _) in zip(setup['services'], SERVICES)}
    names = {s: n for s, (n, _, _) in zip(setup['services'], SERVICES)}
    started = time.monotonic()
    with Transaction().start(DATABASE, 0) as transaction:
        cursor = transaction.connection.cursor()
        # The clinic's expense lines, a distinct one for each matched row.
        cursor.execute(
            'SELECT COUNT(*) FROM assistance_order '
            'WHERE provider = %s AND id != %s', (clinic, setup['order']))
        clinic_orders, = cursor.fetchone()
        picks = sorted(rnd.sample(range(clinic_orders * LINES_PER_ORDER),
                matched))
        cursor.execute(
            'SELECT e.id, o.number, e.service, e.date, p.number, '
            'e.unit_price, i.name '
            'FROM assistance_expense_line AS e '
            'JOIN assistance_order_line AS l ON l.expense_line = e.id '
            'JOIN assistance_order AS o ON o.id = l.order '
            'JOIN assistance_policy AS p ON p.id = e.policy '
            'JOIN party_party AS i ON i.id = p.insured '
            'WHERE o.provider = %s AND o.id != %s '
            'ORDER BY e.id', (clinic, setup['order']))
        wanted, found = set(picks), []
        for index, record in enumerate(cursor):
            if index in wanted:
                found.append(record)
        rnd.shuffle(found)
        found = iter(found)
        cursor.execute('SELECT number, i.name FROM assistance_policy AS p '
            'JOIN party_party AS i ON i.id = p.insured '
            "WHERE p.number LIKE 'БП-%%' ORDER BY p.id")
        all_policies = cursor.fetchall()
        data = io.StringIO()
        done = []
        for row, kind in enumerate(plan, 1):
            diagnosis = None
            if kind == 'duplicate':
                values = dict(rnd.choice(done))
            elif kind in {'unordered', 'outside', 'no_policy'}:
                number, patient = rnd.choice(all_policies)
                service, code, price = (setup['unordered'], *UNORDERED[1:]) \
                    if kind != 'outside' else (setup['outside'],
                        *OUTSIDE[1:])
                if kind == 'no_policy':
                    number = f'П-999{row:06d}'
                    service, code, price = (setup['services'][0],
                        *SERVICES[0][1:])
                name = UNORDERED[0] if service == setup['unordered'] else (
                    OUTSIDE[0] if service == setup['outside']
                    else SERVICES[0][0])
                values = {'patient': patient, 'policy_number': number,
                    'order_number': None,
                    'service_date': START + dt.timedelta(
                        days=rnd.randrange(365)),
                    'service': service, 'service_code': code,
                    'service_name': name, 'quantity': Decimal(1),
                    'unit_price': Decimal(price)}
            elif kind == 'no_guarantee':
                values = {'patient': "Сидоров Пётр Петрович",
                    'policy_number': None,
                    'order_number': f'ЗУ-X{row:07d}',
                    'service_date': START + dt.timedelta(
                        days=rnd.randrange(365)),
                    'service': setup['services'][0],
                    'service_code': SERVICES[0][1],
                    'service_name': SERVICES[0][0],
                    'quantity': Decimal(1),
                    'unit_price': Decimal(SERVICES[0][2])}
            else:
                _, order_number, service, date, number, price, patient = (
                    next(found))
                values = {'patient': patient, 'policy_number': number,
                    'order_number': order_number, 'service_date': date,
                    'service': service, 'service_code': codes[service],
                    'service_name': names[service], 'quantity': Decimal(1),
                    'unit_price': Decimal(price)}
                if kind == 'by_policy':
                    values['order_number'] = None
                    values['service_date'] = date + dt.timedelta(
                        days=rnd.randrange(-3, 4))
                elif kind == 'above_list':
                    values['unit_price'] = (price * Decimal('1.2')).quantize(
                        Decimal('0.01'))
                elif kind == 'quantity':
                    values['quantity'] = Decimal(2)
                elif kind == 'excluded':
                    diagnosis = 'O26.8'
            values['amount'] = (values['unit_price'] * values['quantity']
                ).quantize(Decimal('0.01'))
            if kind == 'tolerance':
                values['unit_price'] += Decimal('0.50')
                values['amount'] += Decimal('0.50')
            values['diagnosis'] = diagnosis
            if kind == 'order':
                done.append(values)
            data.write('\t'.join(_copy_text(v) for v in [
                        setup['register'], row, values['patient'],
                        values['policy_number'], values['order_number'],
                        values['service_date'], values['service_code'],
                        values['service_name'], values['service'],
                        values['quantity'], values['unit_price'],
                        values['amount'], values['diagnosis'],
                        f'bench-{row}', 0]) + '\n')
        with cursor.copy(
            'COPY assistance_billing_register_line (register, row_number, '
            'patient, policy_number, order_number, service_date, '
            'service_code, service_name, service, quantity, unit_price, '
            'amount, diagnosis, source_key, create_uid) FROM STDIN') as copy:
            copy.write(data.getvalue())
        cursor.execute('UPDATE assistance_billing_register_line '
            'SET create_date = now() WHERE register = %s',
            (setup['register'],))
        cursor.execute('ANALYZE assistance_billing_register_line')
        transaction.commit()
    print(json.dumps({'rows': rows, 'kinds': Counter(plan),
                'seconds': time.monotonic() - started}))


def _copy_text(value):
    if value is None:
        return r'\N'
    return str(value).replace('\\', '\\\\').replace('\t', ' ')


# -- 3. and 4. The checks -----------------------------------------------------

def admin_context():
    "Start acting as the admin with his context (company), as a button does"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    User = Pool().get('res.user')
    admin, = User.search([('login', '=', 'admin')])
    with Transaction().set_user(admin.id):
        return admin.id, User.get_preferences(context_only=True)


def outcomes(lines):
    return {l.row_number: [l.outcome,
            l.removal_reason.code if l.removal_reason else None,
            _money(l.accepted_amount)] for l in lines}


def _money(value):
    return None if value is None else str(Decimal(value).quantize(
            Decimal('0.01')))


def step_row_by_row(register_id, sample):
    """Check the first sample rows one at a time (Line.check_rows on one
    row per call), then roll back: nothing of it stays.  The tables the
    check locks (the journal's periods, the strict sequence, the engine's
    policies and limits) are locked from the start; a transaction that
    still needs a lock starts again holding it, as the dispatcher does, and
    the last attempt is the one measured."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction, TransactionError
    proteus_config()
    # Held from the start (as a retried transaction would hold them), so
    # that no attempt is lost to a lock for each new policy of the sample.
    extras = {'_lock_tables': ['account_journal_period', 'ir_sequence_strict',
            'assistance_policy', 'assistance_limit']}
    while True:
        with Transaction().start(DATABASE, 0, **extras) as transaction:
            user, context = admin_context()
            try:
                with transaction.set_user(user), \
                        transaction.set_context(context):
                    pool = Pool()
                    Register = pool.get('assistance.billing.register')
                    Line = pool.get('assistance.billing.register.line')
                    register = Register(register_id)
                    ids = [l.id for l in Line.search(
                            [('register', '=', register_id)],
                            order=[('row_number', 'ASC'), ('id', 'ASC')],
                            limit=sample)]
                    started = time.monotonic()
                    for id_ in ids:
                        Line.check_rows(register, [Line(id_)])
                    elapsed = time.monotonic() - started
                    result = outcomes(Line.browse(ids))
            except TransactionError as error:
                transaction.rollback()
                error.fix(extras)
                log(f"  again, holding {extras}")
                continue
            transaction.rollback()
            break
    print(json.dumps({'rows': len(ids), 'seconds': elapsed,
                'outcomes': result, 'peak_rss_mb': peak_rss_mb()}))


def _timed(owner, name, timings):
    "Wrap owner.name to add its duration to timings[name] (measure only)"
    method = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.monotonic()
        try:
            return method(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0) + time.monotonic() - started
    setattr(owner, name, wrapper)


def step_check(register_id, sample):
    "The register's «Проверить» button, timed, and what it did"
    from proteus import Model
    from trytond.modules.assistance_billing import provider_register
    from trytond.transaction import Transaction
    proteus_config()
    timings = {}
    for name in ['_load', 'declare_unordered', 'finish']:
        _timed(provider_register._CheckContext, name, timings)
    Register = Model.get('assistance.billing.register')
    register = Register(register_id)
    rss_before = peak_rss_mb()
    started = time.monotonic()
    register.click('check')
    elapsed = time.monotonic() - started
    peak = peak_rss_mb()
    with Transaction().start(DATABASE, 0, readonly=True) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute(
            'SELECT l.outcome, r.code, COUNT(*) '
            'FROM assistance_billing_register_line AS l '
            'LEFT JOIN assistance_billing_removal_reason AS r '
            'ON r.id = l.removal_reason WHERE l.register = %s '
            'GROUP BY 1, 2 ORDER BY 1, 2', (register_id,))
        summary = {f'{o}/{r or "-"}': c for o, r, c in cursor}
        cursor.execute(
            'SELECT l.row_number, l.outcome, r.code, l.accepted_amount '
            'FROM assistance_billing_register_line AS l '
            'LEFT JOIN assistance_billing_removal_reason AS r '
            'ON r.id = l.removal_reason WHERE l.register = %s '
            'ORDER BY l.row_number LIMIT %s', (register_id, sample))
        first = {n: [o, r, _money(a)] for n, o, r, a in cursor}
        cursor.execute('SELECT SUM(debit), SUM(credit), COUNT(*) '
            'FROM account_move_line')
        debit, credit, move_lines = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM assistance_expense_line "
            "WHERE state = 'actual' AND accrual_move IS NOT NULL")
        accrued, = cursor.fetchone()
    print(json.dumps({'rows': sum(summary.values()), 'seconds': elapsed,
                'state': Register(register_id).state,
                'summary': summary, 'outcomes': first,
                'balanced': debit == credit, 'move_lines': move_lines,
                'accrued_lines': accrued,
                'timings': timings, 'rss_before_mb': rss_before,
                'peak_rss_mb': peak}, default=str))


def child(*args):
    "Run a step in a fresh process and return its JSON line"
    out = subprocess.run([sys.executable, __file__, *args],
        stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def uptime():
    return subprocess.run(['uptime'], capture_output=True,
        text=True).stdout.strip()


def main():
    global DATABASE
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, default=50_000)
    parser.add_argument('--expense-lines', type=int, default=1_000_000)
    parser.add_argument('--sample', type=int, default=500)
    parser.add_argument('--database', default=DATABASE)
    parser.add_argument('--template', help="copy this PostgreSQL database "
        "(all modules activated, nothing else) instead of running "
        "trytond-admin (to develop the benchmark)")
    parser.add_argument('--skip-setup', action='store_true',
        help="the template database has the pieces to copy already "
        "(var/bench/billing-setup.json)")
    parser.add_argument('--step', choices=[
            'setup', 'generate', 'register', 'row_by_row', 'check'])
    parser.add_argument('--setup')
    parser.add_argument('--policies', type=int)
    parser.add_argument('--register', type=int)
    args = parser.parse_args()
    DATABASE = args.database
    if args.step == 'setup':
        return step_setup()
    if args.step == 'generate':
        return step_generate(json.loads(args.setup), args.expense_lines)
    if args.step == 'register':
        return step_register(json.loads(args.setup), args.rows,
            args.policies)
    if args.step == 'row_by_row':
        return step_row_by_row(args.register, args.sample)
    if args.step == 'check':
        return step_check(args.register, args.sample)

    import demo
    demo.default_paths()
    common = ['--database', DATABASE]
    log(uptime())
    log(f"creating the PostgreSQL database {DATABASE}")
    started = time.monotonic()
    demo.drop_database(CONFIG, DATABASE)
    if args.template:
        uri, _ = demo.database_uri(CONFIG)
        subprocess.run(['psql', uri + 'postgres', '-c',
                f'CREATE DATABASE "{DATABASE}" TEMPLATE "{args.template}"'],
            check=True, capture_output=True)
    else:
        demo.create_database(CONFIG, DATABASE, 'admin')
    log(f"  {time.monotonic() - started:.0f} s")
    log("the pieces to copy, through proteus")
    saved = ROOT / 'var' / 'bench' / 'billing-setup.json'
    if args.skip_setup:
        setup = json.loads(saved.read_text())
    else:
        setup = child('--step', 'setup', *common)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(setup))
    log(f"generating {args.expense_lines} expense lines in SQL")
    generated = child('--step', 'generate', *common,
        '--setup', json.dumps(setup),
        '--expense-lines', str(args.expense_lines))
    log(f"  {generated['seconds']:.0f} s")
    log(f"generating the register of {args.rows} rows")
    register = child('--step', 'register', *common,
        '--setup', json.dumps(setup), '--rows', str(args.rows),
        '--policies', str(generated['policies']))
    log(f"  {json.dumps(register['kinds'])}")
    log(f"checking the first {args.sample} rows one at a time "
        "(rolled back)")
    load_before = uptime()
    single = child('--step', 'row_by_row', *common,
        '--register', str(setup['register']), '--sample', str(args.sample))
    log(f"  {single['seconds']:.1f} s")
    log("checking the register («Проверить»)")
    bulk = child('--step', 'check', *common,
        '--register', str(setup['register']), '--sample', str(args.sample))
    load_after = uptime()
    log(json.dumps({k: bulk[k] for k in ['summary', 'timings', 'seconds',
                    'peak_rss_mb']}))
    differ = sorted(n for n, o in single['outcomes'].items()
        if bulk['outcomes'].get(n) != o)
    for number in differ[:10]:
        log(f"  row {number}: one at a time {single['outcomes'][number]}, "
            f"bulk {bulk['outcomes'].get(number)}")
    rows_per_s = bulk['rows'] / bulk['seconds']
    single_rows_per_s = single['rows'] / single['seconds']
    timings = bulk['timings']
    matching = bulk['seconds'] - timings.get('declare_unordered', 0) - (
        timings.get('finish', 0))
    log(f"load before: {load_before}")
    log(f"load after:  {load_after}")
    print(json.dumps({
                'rows_per_s': round(rows_per_s, 1),
                'row_by_row_rows_per_s': round(single_rows_per_s, 1),
                'ratio': round(rows_per_s / single_rows_per_s, 1),
                'peak_rss_mb': round(bulk['peak_rss_mb'], 1),
                'rows': bulk['rows'],
                'expense_lines': generated['expense_lines'],
                'check_s': round(bulk['seconds'], 1),
                'row_by_row_sample_rows': single['rows'],
                'row_by_row_extrapolated_s': round(
                    bulk['rows'] / single_rows_per_s, 1),
                'matching_s': round(matching, 1),
                'load_s': round(timings.get('_load', 0), 1),
                'declare_unordered_s': round(
                    timings.get('declare_unordered', 0), 1),
                'save_and_accrue_s': round(timings.get('finish', 0), 1),
                'sample_outcomes_equal': not differ,
                'balanced': bulk['balanced'],
                'accrued_lines': bulk['accrued_lines'],
                'state': bulk['state'],
                'outcomes': bulk['summary'],
                'load_average': load_after.split('load average:')[-1].strip(),
                }))


if __name__ == '__main__':
    main()
