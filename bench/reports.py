#!/usr/bin/env python3
"""Benchmark of the reports (issue 14: REP-1, REP-2, P9, ORD-3, REP-3) on
PostgreSQL.

1. The seed (kept as the template database bench_reports_seed, rebuilt with
   --rebuild-seed): a database created by trytond-admin with every addon
   (tools/demo.py: the demo's company, chart of accounts, services,
   insurers, contracts, providers with price lists, role users, report
   variants), plus through proteus a third insurer with its two contracts,
   --operators operators in three departments and the fiscal year before
   this one (the ledger of the 24 months needs its periods).
2. The database bench_reports, a copy of the seed, filled FAST in SQL
   (INSERT … SELECT generate_series, never the ORM), at --scale 1.0:
   100,000 insured persons with a policy per contract year (200,000), 200,000
   cases, 400,000 events, 50,000 tasks, 150,000 orders with 700,000 order
   lines, 100,000 reimbursement claims, 1,000,000 expense lines (700,000 of
   them the order lines'), 20,000 refusals, 30,000 NPS answers and the
   ledger of the actual ordered lines (one accrual move each, a monthly
   invoice per provider on 60 reconciling the older accruals, the oldest
   invoices paid).  Dates over the 24 months to today, growing with time;
   insurers 50/30/20 %; providers, services, operators, diagnoses drawn
   with skewed weights.  Then ANALYZE.
3. Measured in-process through proteus as the demo's department head
   (login `head`, group department head): rpc.convert sets _check_access,
   so access rights and record rules apply as on a web client's call.
   p50 / p95 over --runs runs each of:
   - every report variant stored in the database (assistance.report.variant
     read as head: the variants added later are measured too) through
     assistance.report.cube.compute;
   - every cube (assistance.report.cube.cubes) with a 2×2-level pivot: two
     row dimensions (contract × programme where the cube has them) and
     year × month on the columns, all the cube's measures;
   - the loss level (assistance.loss_level search_read over the 24 months,
     as its list opens with the context), the debt analysis
     (assistance.billing.debt search_read with the context of today, 30-day
     buckets), the refusal report (assistance.refusal.report search_read
     over the 24 months), the NPS per operator and insurer.
   Side by side, the same totals computed the graph view's way: search and
   read of the base records through the ORM, summed in Python, on the
   first --orm-sample records and extrapolated linearly to all of them
   (said in the output as "extrapolated"); at small scales the whole set
   is read and its grand total checked against the cube's.

Usage: .venv/bin/python bench/reports.py [--scale 1.0] [--runs 10]
    [--orm-sample 20000] [--operators 20] [--rebuild-seed] [--reuse]
The last line is one JSON object: {"goal_s", "worst_p95_s", "reports":
{name: {"p50_s", "p95_s", "orm_s", "orm_extrapolated"}}, "peak_rss_mb",
"load", ...}.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / 'tools')]
CONFIG = ROOT / 'config' / 'trytond-postgresql.conf'
os.environ.setdefault('TRYTOND_CONFIG', str(CONFIG))
PG_URI = 'postgresql://postgres@127.0.0.1:5432/'
SEED = 'bench_reports_seed'
DATABASE = 'bench_reports'
GOAL = 1.0
HEAD = 'head'
# Full-scale sizes (--scale 1.0).
SIZES = {
    'persons': 100_000, 'cases': 200_000, 'events': 400_000,
    'tasks': 50_000, 'orders': 150_000, 'order_lines': 700_000,
    'claims': 100_000, 'expense_lines': 1_000_000, 'refusals': 20_000,
    'surveys': 30_000,
    }
DEPARTMENTS = ["Медицинский пульт", "Пульт помощи на дорогах",
    "Отдел урегулирования"]
OPERATOR_NAMES = ['Анна Белова', 'Борис Гусев', 'Вера Демина',
    'Глеб Ершов', 'Дарья Жукова', 'Егор Зуев', 'Жанна Ильина',
    'Захар Каменев', 'Инна Лаврова', 'Кирилл Марков', 'Лидия Носова',
    'Марат Осипов', 'Нина Панова', 'Олег Рябов', 'Полина Савина',
    'Роман Титов', 'Светлана Уварова', 'Тимур Федотов', 'Ульяна Харитонова',
    'Фёдор Цветков', 'Юлия Чернова', 'Яков Шубин']


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load():
    return os.getloadavg()


def psql(sql, database='postgres'):
    result = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
            '-At', '-F', '\t', f'{PG_URI}{database}', '-c', sql],
        check=True, capture_output=True, text=True)
    return [line.split('\t') for line in result.stdout.splitlines() if line]


def exists(database):
    return bool(psql("SELECT 1 FROM pg_database "
            f"WHERE datname = '{database}'"))


def child(*args):
    "Run a step in a fresh process and return its JSON line"
    out = subprocess.run([sys.executable, __file__, *args],
        stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def percentile(values, q):
    values = sorted(values)
    index = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[index]


# 1. The seed ---------------------------------------------------------------

def step_seed_extra(operators):
    "The third insurer, the operators and departments, last fiscal year"
    import demo
    from proteus import Model
    from proteus import config as pconfig
    from trytond.modules.account.tests.tools import create_fiscalyear
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences)
    config = pconfig.set_trytond(SEED, config_file=str(CONFIG))
    data = demo.DemoData(config, 0)
    Category = Model.get('product.category')
    data.categories = {c.name: c for c in Category.find([])}
    Party = Model.get('party.party')
    this_year = dt.date(data.today.year, 1, 1)
    last_year = this_year.replace(year=this_year.year - 1)
    if not Party.find([('name', '=', "САО «Восток-Гарант»")]):
        insurer = Party(name="САО «Восток-Гарант»")
        insurer.save()
        employer = Party(name="АО «Транспортная логистика»")
        employer.save()
        old, _ = data.create_contract(insurer, employer,
            f'ВГ-ДМС-{last_year.year}-001', last_year, None)
        data.create_contract(insurer, employer,
            f'ВГ-ДМС-{this_year.year}-001', this_year, old)

    Company = Model.get('company.company')
    company, = Company.find([])
    FiscalYear = Model.get('account.fiscalyear')
    if not FiscalYear.find([('start_date', '=', last_year)]):
        with config.set_context(language='en'):
            fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
                    company, (last_year, this_year - dt.timedelta(days=1)),
                    config=config), config=config)
        fiscalyear.click('create_period')

    Department = Model.get('assistance.department')
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Data = Model.get('ir.model.data')
    group = Group(Data._proxy.get_id(
            'assistance_policy', 'group_operator', config.context))
    departments = Department.find([])
    for name in DEPARTMENTS:
        if name not in {d.name for d in departments}:
            department = Department(name=name)
            department.save()
            departments.append(department)
    users = []
    for index in range(operators):
        name = OPERATOR_NAMES[index % len(OPERATOR_NAMES)]
        user = User(login=f'bench-operator-{index + 1}',
            name=f"Оператор {name}", password='bench-operator-2026')
        user.groups.append(Group(group.id))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.assistance_department = departments[index % len(departments)]
        users.append(user)
    User.save(users)
    print(json.dumps({'operators': len(users)}))


def build_seed(operators):
    import demo
    demo.default_paths()
    demo.drop_database(CONFIG, SEED)
    log(f"creating the seed {SEED} (trytond-admin, the demo)…")
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'demo.py'),
            '-c', str(CONFIG), '-d', SEED, '--persons', '300'],
        check=True, stdout=sys.stderr)
    child('--step', 'seed-extra', '--operators', str(operators))
    log(f"  seed in {time.monotonic() - started:.0f} s")


# 2. The fill in SQL --------------------------------------------------------

FILL_FUNCTIONS = """
CREATE OR REPLACE FUNCTION pg_temp.rnd(g bigint, salt integer)
RETURNS double precision LANGUAGE sql IMMUTABLE AS
$$ SELECT (hashint8(g * 7919 + salt) & 2147483647)::double precision
    / 2147483648.0 $$;
"""


class Filler:
    "Fill the database in SQL from the seed's master data"

    def __init__(self, connection, scale, today):
        self.connection = connection
        self.cursor = connection.cursor()
        self.scale = scale
        self.today = today
        self.sizes = {k: max(1, round(v * scale)) for k, v in SIZES.items()}
        self.timings = {}

    def sql(self, query, params=None):
        started = time.monotonic()
        self.cursor.execute(query, params)
        if time.monotonic() - started > 1:
            log(f"    {time.monotonic() - started:.1f} s: "
                + ' '.join(query.split())[:90])
        return self.cursor

    def one(self, query, params=None):
        return self.sql(query, params).fetchone()[0]

    def ids(self, query, params=None):
        return [r[0] for r in self.sql(query, params).fetchall()]

    def base(self, table):
        return self.one(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')

    def reset_sequence(self, table):
        self.sql(f"""SELECT setval(pg_get_serial_sequence('"{table}"', 'id'),
            (SELECT MAX(id) FROM "{table}"))""")

    def timed(self, name, function):
        started = time.monotonic()
        function()
        self.connection.commit()
        self.timings[name] = round(time.monotonic() - started, 1)
        log(f"  {name}: {self.timings[name]} s")

    def run(self):
        self.sql("SET synchronous_commit = off")
        self.sql(FILL_FUNCTIONS)
        self.master()
        for name in ['persons', 'policies', 'cases', 'events', 'tasks',
                'orders', 'order_lines', 'claims', 'expense_lines',
                'refusals', 'surveys', 'ledger']:
            self.timed(name, getattr(self, f'fill_{name}'))
        self.timed('analyze', lambda: self.sql('ANALYZE'))
        return self.timings

    # The master data ---------------------------------------------------
    def master(self):
        self.company = self.one('SELECT MIN(id) FROM company_company')
        self.currency = self.one(
            'SELECT currency FROM company_company WHERE id = %s',
            (self.company,))
        # Contracts by insurer, each with the previous year's and this
        # year's; the insurers weighted 50/30/20 %.
        rows = self.sql("""SELECT c.insurer, c.id, c.start_date
            FROM assistance_contract c WHERE c.state = 'active'
                AND c.number NOT LIKE 'BENCH%%'
            ORDER BY c.insurer, c.start_date""").fetchall()
        by_insurer = {}
        for insurer, contract, start in rows:
            by_insurer.setdefault(insurer, []).append((start, contract))
        self.insurers = []
        for insurer, contracts in sorted(by_insurer.items()):
            contracts.sort()
            if len(contracts) >= 2:
                self.insurers.append((insurer, contracts[-2][1],
                        contracts[-1][1], contracts[-1][0]))
        assert len(self.insurers) >= 2, self.insurers
        self.start = self.insurers[0][3].replace(
            year=self.insurers[0][3].year - 1)
        self.days = (self.today - self.start).days
        self.sql("""CREATE TEMP TABLE b_contract AS
            SELECT * FROM (VALUES %s) AS v(k, insurer, old, new)""" % ', '.join(
                f'({k}, {i}, {o}, {n})'
                for k, (i, o, n, _) in enumerate(self.insurers)))
        self.sql("""CREATE TEMP TABLE b_package AS
            SELECT p.contract, p.id,
                ROW_NUMBER() OVER (PARTITION BY p.contract ORDER BY p.id) - 1
                    AS n,
                COUNT(*) OVER (PARTITION BY p.contract) AS total
            FROM assistance_package p""")
        # The option of a contract covering a service: the option whose
        # category is one of the service's template's categories.
        self.sql("""CREATE TEMP TABLE b_option AS
            SELECT pr.contract, pp.id AS service, MIN(o.id) AS option
            FROM assistance_option o
            JOIN assistance_program pr ON pr.id = o.program
            JOIN "assistance_option-product_category" oc ON oc.option = o.id
            JOIN "product_template-product_category" tc
                ON tc.category = oc.category
            JOIN product_product pp ON pp.template = tc.template
            GROUP BY pr.contract, pp.id""")
        # The providers' services with their prices, numbered per provider;
        # the providers weighted (the big clinics get most orders).
        self.sql("""CREATE TEMP TABLE b_price AS
            SELECT pl.provider, l.service, l.price,
                ROW_NUMBER() OVER (PARTITION BY pl.provider ORDER BY l.id) - 1
                    AS n,
                COUNT(*) OVER (PARTITION BY pl.provider) AS total
            FROM assistance_provider_price_list_line l
            JOIN assistance_provider_price_list pl ON pl.id = l.price_list""")
        self.providers = self.ids("""SELECT DISTINCT provider FROM b_price
            ORDER BY provider""")
        self.sql("""CREATE TEMP TABLE b_provider AS
            SELECT ROW_NUMBER() OVER (ORDER BY provider) - 1 AS n, provider,
                COALESCE(p.head_office, p.id) AS payee
            FROM (SELECT DISTINCT provider FROM b_price) x
            JOIN party_party p ON p.id = x.provider""")
        self.operators = self.ids("""SELECT u.id FROM res_user u
            WHERE u.login LIKE 'bench-operator-%%' OR u.login = 'operator'
            ORDER BY u.id""")
        self.sql("""CREATE TEMP TABLE b_operator AS
            SELECT ROW_NUMBER() OVER (ORDER BY id) - 1 AS n, id,
                assistance_department AS department
            FROM res_user WHERE id = ANY(%s)""", (self.operators,))
        self.case_types = self.ids(
            'SELECT id FROM assistance_case_type ORDER BY sequence, id')
        self.diagnoses = self.ids("""SELECT id FROM assistance_diagnosis
            WHERE LENGTH(code) >= 3 ORDER BY code""")
        self.sql("""CREATE TEMP TABLE b_diagnosis AS
            SELECT ROW_NUMBER() OVER (ORDER BY code) - 1 AS n, id, code
            FROM assistance_diagnosis WHERE id = ANY(%s)""",
            (self.diagnoses,))
        log(f"  master: {len(self.insurers)} insurers, "
            f"{len(self.providers)} providers, {len(self.operators)} "
            f"operators, {len(self.case_types)} case types, "
            f"{len(self.diagnoses)} diagnoses, from {self.start}")

    def pick(self, g, salt, n, skew=1.0):
        "SQL: an index in [0, n) for row g, skewed towards 0 if skew > 1"
        return (f"LEAST({n} - 1, FLOOR({n} * POWER(pg_temp.rnd({g}, {salt}),"
            f" {skew}))::integer)")

    def day(self, g, salt):
        "SQL: a date of the 24 months, more of them recently"
        return (f"(DATE '{self.start}' + FLOOR({self.days} * "
            f"POWER(pg_temp.rnd({g}, {salt}), 0.8))::integer)")

    # The fills ---------------------------------------------------------
    def fill_persons(self):
        import demo
        surnames = demo.DemoData.SURNAMES
        first = demo.DemoData.MALE + demo.DemoData.FEMALE
        self.person0 = self.base('party_party')
        n = self.sizes['persons']
        self.sql(f"""INSERT INTO party_party (id, code, name, active,
                create_uid, create_date)
            SELECT {self.person0} + g, 'BR-' || g,
                (%s::text[])[1 + {self.pick('g', 1, len(surnames))}] || ' '
                || (%s::text[])[1 + {self.pick('g', 2, len(first))}],
                TRUE, 0, NOW()
            FROM generate_series(1, {n}) g""", (surnames, first))
        self.reset_sequence('party_party')

    def fill_policies(self):
        "Two policies a person: the previous year's contract, this year's"
        self.policy0 = self.base('assistance_policy')
        n = self.sizes['persons']
        k = len(self.insurers)
        # The insurer of person g: 50 %, 30 %, 20 % (the others share).
        insurer = (f"(CASE WHEN pg_temp.rnd(g, 3) < 0.5 THEN 0 "
            f"WHEN pg_temp.rnd(g, 3) < 0.8 THEN 1 ELSE {k - 1} END)")
        self.sql(f"""CREATE TEMP TABLE b_person AS
            SELECT g, {insurer} AS k FROM generate_series(1, {n}) g""")
        self.sql(f"""INSERT INTO assistance_policy (id, number, contract,
                insured, package, start_date, end_date, state, create_uid,
                create_date)
            SELECT {self.policy0} + (p.g - 1) * 2 + y.y,
                'BR-' || p.g || '-' || y.y, c.id, {self.person0} + p.g,
                pk.id, c.start_date, c.end_date, 'active', 0, NOW()
            FROM b_person p
            JOIN b_contract bc ON bc.k = p.k
            CROSS JOIN (VALUES (1), (2)) y(y)
            JOIN assistance_contract c
                ON c.id = CASE y.y WHEN 1 THEN bc.old ELSE bc.new END
            JOIN b_package pk ON pk.contract = c.id
                AND pk.n = FLOOR(pk.total * pg_temp.rnd(p.g, 4 + y.y))""")
        self.reset_sequence('assistance_policy')

    def fill_cases(self):
        self.case0 = self.base('assistance_case')
        n, persons = self.sizes['cases'], self.sizes['persons']
        ops, types = len(self.operators), len(self.case_types)
        diagnoses = len(self.diagnoses)
        new_start = self.insurers[0][3]
        self.sql(f"""CREATE TEMP TABLE b_case AS
            SELECT g, 1 + {self.pick('g', 10, persons, 1.3)} AS person,
                {self.day('g', 11)} AS day,
                {self.pick('g', 12, ops, 1.6)} AS op,
                {self.pick('g', 13, types, 2.5)} AS type,
                {self.pick('g', 14, diagnoses, 1.0)} AS diag,
                pg_temp.rnd(g, 15) AS r
            FROM generate_series(1, {n}) g""")
        self.sql(f"""INSERT INTO assistance_case (id, number, insured, event_date, request_time, policy, type, diagnosis,
                operator, department, state, description, create_uid,
                create_date)
            SELECT {self.case0} + c.g, 'BR' || LPAD(c.g::text, 7, '0'),
                {self.person0} + c.person, c.day,
                c.day + INTERVAL '8 hours' + (c.r * INTERVAL '12 hours'),
                {self.policy0} + (c.person - 1) * 2
                    + CASE WHEN c.day < DATE '{new_start}' THEN 1 ELSE 2 END,
                (%s::integer[])[1 + c.type], d.id, o.id, o.department,
                CASE WHEN c.r < 0.02 THEN 'cancelled'
                    WHEN c.day < DATE '{self.today}' - 20 OR c.r < 0.5
                        THEN 'closed'
                    WHEN c.r < 0.75 THEN 'in_progress' ELSE 'open' END,
                'Обращение застрахованного', 0, NOW()
            FROM b_case c
            JOIN b_operator o ON o.n = c.op
            JOIN b_diagnosis d ON d.n = c.diag""", (self.case_types,))
        self.reset_sequence('assistance_case')

    def fill_events(self):
        n, cases = self.sizes['events'], self.sizes['cases']
        self.sql(f"""INSERT INTO assistance_case_event ("case", direction,
                kind, counterpart, date, summary, operator, create_uid,
                create_date)
            SELECT {self.case0} + 1 + (g - 1) % {cases},
                CASE WHEN pg_temp.rnd(g, 20) < 0.6 THEN 'incoming'
                    ELSE 'outgoing' END,
                (ARRAY['phone', 'phone', 'phone', 'email', 'sms', 'meeting'])[
                    1 + {self.pick('g', 21, 6)}],
                (ARRAY['insured', 'insured', 'provider', 'insurer'])[
                    1 + {self.pick('g', 22, 4)}],
                c.request_time + pg_temp.rnd(g, 23) * INTERVAL '3 days',
                'Звонок по делу', c.operator, 0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + (g - 1) % {cases}""")

    def fill_tasks(self):
        n, cases = self.sizes['tasks'], self.sizes['cases']
        self.sql(f"""INSERT INTO assistance_task ("case", kind, name,
                department, responsible, control_date, urgency, state,
                create_uid, create_date)
            SELECT c.id, 'task', 'Перезвонить застрахованному',
                c.department, c.operator,
                c.request_time + pg_temp.rnd(g, 30) * INTERVAL '2 days',
                (ARRAY['normal', 'normal', 'normal', 'urgent'])[
                    1 + {self.pick('g', 31, 4)}],
                CASE WHEN c.state IN ('closed', 'cancelled')
                    OR pg_temp.rnd(g, 32) < 0.6 THEN 'done' ELSE 'open' END,
                0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('g', 33, cases)}""")

    def fill_orders(self):
        self.order0 = self.base('assistance_order')
        n, cases = self.sizes['orders'], self.sizes['cases']
        providers = len(self.providers)
        self.sql(f"""INSERT INTO assistance_order (id, number, company, "case",
                policy, provider, date, state, create_uid, create_date)
            SELECT {self.order0} + g, 'BRZ' || LPAD(g::text, 7, '0'),
                {self.company}, c.id, c.policy, p.provider, c.event_date,
                CASE WHEN pg_temp.rnd(g, 40) < 0.03 THEN 'cancelled'
                    WHEN c.event_date < DATE '{self.today}' - 7 THEN
                        'delivered'
                    WHEN pg_temp.rnd(g, 40) < 0.6 THEN 'confirmed'
                    ELSE 'draft' END,
                0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('g', 41, cases)}
            JOIN b_provider p ON p.n = {self.pick('g', 42, providers, 1.8)}
            """)
        self.reset_sequence('assistance_order')

    def fill_order_lines(self):
        self.order_line0 = self.base('assistance_order_line')
        n, orders = self.sizes['order_lines'], self.sizes['orders']
        self.sql(f"""INSERT INTO assistance_order_line (id, "order", service,
                quantity, unit_price, coverage_status, covered_quantity,
                create_uid, create_date)
            SELECT {self.order_line0} + g, o.id, pr.service,
                1 + {self.pick('g', 50, 3, 3)}, pr.price, 'covered',
                1 + {self.pick('g', 50, 3, 3)}, 0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_order o ON o.id = {self.order0} + 1
                + (g - 1) % {orders}
            JOIN b_price pr ON pr.provider = o.provider
                AND pr.n = FLOOR(pr.total * POWER(pg_temp.rnd(g, 51), 1.5))
            """)
        self.reset_sequence('assistance_order_line')

    def fill_claims(self):
        "The insured persons' reimbursement claims (assistance.expense)"
        self.claim0 = self.base('assistance_expense')
        n, cases = self.sizes['claims'], self.sizes['cases']
        self.sql(f"""INSERT INTO assistance_expense (id, policy, date,
                description, state, create_uid, create_date)
            SELECT {self.claim0} + g, c.policy, c.event_date,
                'Возмещение расходов застрахованному',
                CASE WHEN c.event_date < DATE '{self.today}' - 30
                    THEN 'actual' ELSE 'declared' END, 0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('g', 60, cases)}""")
        self.reset_sequence('assistance_expense')

    def fill_expense_lines(self):
        """The ordered lines' expense lines (origin: the order line), then
        the claims' lines"""
        self.line0 = self.base('assistance_expense_line')
        ordered = self.sizes['order_lines']
        claimed = max(0, self.sizes['expense_lines'] - ordered)
        claims = self.sizes['claims']
        # Covered amounts: most in full, some partly (a deductible), a few
        # not at all; the cancelled ones are the cancelled orders'.
        covered = ("ROUND(l.amount * CASE WHEN pg_temp.rnd(g, 70) < 0.85 "
            "THEN 1 WHEN pg_temp.rnd(g, 70) < 0.95 THEN 0.9 ELSE 0 END, 2)")
        self.sql(f"""CREATE TEMP TABLE b_line AS
            SELECT g, ol.id AS order_line, o.policy, ol.service,
                ol.quantity, ol.unit_price,
                ROUND(ol.quantity * ol.unit_price, 2) AS amount, o.date,
                o."case", o.state AS order_state, p.contract
            FROM generate_series(1, {ordered}) g
            JOIN assistance_order_line ol ON ol.id = {self.order_line0} + g
            JOIN assistance_order o ON o.id = ol."order"
            JOIN assistance_policy p ON p.id = o.policy""")
        self.sql(f"""INSERT INTO assistance_expense_line (id, policy,
                contract, service, option, date, quantity, unit_price,
                amount, covered_quantity, covered_amount, insured_amount,
                coverage_status, "case", case_key, diagnosis, origin, state,
                create_uid, create_date)
            SELECT {self.line0} + l.g, l.policy, l.contract, l.service,
                bo.option, l.date, l.quantity, l.unit_price, l.amount,
                l.quantity, {covered}, l.amount - {covered}, 'covered',
                l."case", 'assistance.case,' || l."case", d.code,
                'assistance.order.line,' || l.order_line,
                CASE WHEN l.order_state = 'cancelled' THEN 'cancelled'
                    WHEN l.order_state = 'delivered'
                        AND l.date < DATE '{self.today}' - 20 THEN 'actual'
                    ELSE 'declared' END, 0, NOW()
            FROM b_line l
            LEFT JOIN b_option bo ON bo.contract = l.contract
                AND bo.service = l.service
            LEFT JOIN assistance_case c ON c.id = l."case"
            LEFT JOIN assistance_diagnosis d ON d.id = c.diagnosis""")
        self.sql(f"""UPDATE assistance_order_line ol
            SET expense_line = {self.line0} + ol.id - {self.order_line0}
            WHERE ol.id > {self.order_line0}""")
        # The claims' lines: the services of the first providers' lists.
        self.sql("""CREATE TEMP TABLE b_service AS
            SELECT ROW_NUMBER() OVER (ORDER BY service) - 1 AS n, service,
                MIN(price) AS price
            FROM b_price GROUP BY service""")
        services = self.one('SELECT COUNT(*) FROM b_service')
        base = self.line0 + ordered
        self.sql(f"""INSERT INTO assistance_expense_line (id, expense,
                policy, contract, service, option, date, quantity,
                unit_price, amount, covered_quantity, covered_amount,
                insured_amount, coverage_status, "case", case_key, diagnosis,
                state, create_uid, create_date)
            SELECT {base} + l.g, e.id, e.policy, p.contract, s.service,
                bo.option, e.date, 1, s.price, s.price, 1,
                {covered.replace('l.amount', 's.price')},
                s.price - {covered.replace('l.amount', 's.price')},
                'covered', c.id, 'assistance.case,' || c.id, d.code,
                e.state, 0, NOW()
            FROM (SELECT g FROM generate_series(1, {claimed}) g) l
            JOIN assistance_expense e ON e.id = {self.claim0} + 1
                + (l.g - 1) % {claims}
            JOIN assistance_policy p ON p.id = e.policy
            JOIN b_service s ON s.n = {self.pick('l.g', 71, services, 1.5)}
            LEFT JOIN b_option bo ON bo.contract = p.contract
                AND bo.service = s.service
            LEFT JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('l.g', 72, self.sizes['cases'])}
            LEFT JOIN assistance_diagnosis d ON d.id = c.diagnosis""")
        self.reset_sequence('assistance_expense_line')

    def fill_refusals(self):
        n, cases = self.sizes['refusals'], self.sizes['cases']
        services = self.one('SELECT COUNT(*) FROM b_service')
        self.sql(f"""INSERT INTO assistance_refusal (company, "case", policy,
                contract, insurer, date, service, ground, ground_detail,
                comment, operator, create_uid, create_date)
            SELECT {self.company}, c.id, c.policy, p.contract, ct.insurer,
                c.event_date, s.service,
                (ARRAY['excluded', 'outside_program', 'limit', 'no_policy',
                    'other'])[1 + {self.pick('g', 80, 5, 1.4)}],
                'Отказ по условиям программы', 'Отказ', c.operator, 0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('g', 81, cases)}
            JOIN assistance_policy p ON p.id = c.policy
            JOIN assistance_contract ct ON ct.id = p.contract
            JOIN b_service s ON s.n = {self.pick('g', 82, services)}""")

    def fill_surveys(self):
        n, cases = self.sizes['surveys'], self.sizes['cases']
        self.sql(f"""INSERT INTO assistance_survey ("case", date, recommend,
                provider_satisfaction, create_uid, create_date)
            SELECT DISTINCT ON (c.id) c.id, c.event_date + 2,
                LEAST(10, FLOOR(11 * POWER(pg_temp.rnd(g, 90), 0.4)))::int,
                1 + {self.pick('g', 91, 5)}, 0, NOW()
            FROM generate_series(1, {n}) g
            JOIN assistance_case c ON c.id = {self.case0} + 1
                + {self.pick('g', 92, cases)}
            WHERE c.state = 'closed'""")

    def fill_ledger(self):
        """The accruals of the actual ordered lines (76.05 to the payee),
        a monthly invoice per payee on 60 reconciling them, the invoices
        older than three months paid"""
        config = self.sql("""SELECT a.claims_expense_account,
                a.accrual_account, a.accrual_journal
            FROM assistance_billing_configuration_accrual a
            WHERE a.company = %s OR a.company IS NULL
            ORDER BY a.company NULLS LAST LIMIT 1""",
            (self.company,)).fetchone()
        expense_account, accrual_account, journal = config
        payable = self.one("""SELECT a.id FROM account_account a
            JOIN account_account_type t ON t.id = a.type
            WHERE t.payable AND a.company = %s AND a.party_required
            ORDER BY a.code LIMIT 1""", (self.company,))
        self.sql("""CREATE TEMP TABLE b_period AS
            SELECT p.id, p.start_date, p.end_date FROM account_period p
            WHERE p.type = 'standard'""")
        move0 = self.base('account_move')
        mline0 = self.base('account_move_line')
        self.sql(f"""CREATE TEMP TABLE b_accrual AS
            SELECT ROW_NUMBER() OVER (ORDER BY l.id) AS n, l.id AS line,
                l.date, l.covered_amount AS amount, bp.payee
            FROM assistance_expense_line l
            JOIN assistance_order_line ol ON ol.expense_line = l.id
            JOIN assistance_order o ON o.id = ol."order"
            JOIN b_provider bp ON bp.provider = o.provider
            WHERE l.state = 'actual' AND l.id > {self.line0}
                AND l.covered_amount > 0""")
        self.sql(f"""INSERT INTO account_move (id, company, journal, period,
                date, origin, description, state, post_date, number,
                create_uid, create_date)
            SELECT {move0} + a.n, {self.company}, {journal}, p.id, a.date,
                'assistance.expense.line,' || a.line, 'Начисление',
                'posted', a.date, 'BRA' || a.n, 0, NOW()
            FROM b_accrual a
            JOIN b_period p ON a.date BETWEEN p.start_date AND p.end_date""")
        self.sql(f"""INSERT INTO account_move_line (id, move, account, debit,
                credit, party, description, state, create_uid, create_date)
            SELECT {mline0} + a.n * 2 - 1 + s.s, {move0} + a.n,
                CASE s.s WHEN 0 THEN {expense_account}
                    ELSE {accrual_account} END,
                CASE s.s WHEN 0 THEN a.amount ELSE 0 END,
                CASE s.s WHEN 0 THEN 0 ELSE a.amount END,
                CASE s.s WHEN 0 THEN NULL ELSE a.payee END,
                'Начисление', 'valid', 0, NOW()
            FROM b_accrual a CROSS JOIN (VALUES (0), (1)) s(s)""")
        self.sql(f"""UPDATE assistance_expense_line l
            SET accrual_move = {move0} + a.n
            FROM b_accrual a WHERE a.line = l.id""")
        # The monthly invoices of the months before the last one.
        last = self.today.replace(day=1) - dt.timedelta(days=1)
        invoice_move0 = self.base('account_move')
        self.sql(f"""CREATE TEMP TABLE b_invoice AS
            SELECT ROW_NUMBER() OVER (ORDER BY payee, month) AS n, payee,
                month, SUM(amount) AS amount
            FROM (SELECT payee, DATE_TRUNC('month', date)::date AS month,
                    amount FROM b_accrual
                WHERE date < DATE '{last.replace(day=1)}') x
            GROUP BY payee, month""")
        invoice_date = "(i.month + INTERVAL '1 month' + INTERVAL '9 days')::date"
        self.sql(f"""INSERT INTO account_move (id, company, journal, period,
                date, description, state, post_date, number, create_uid,
                create_date)
            SELECT {invoice_move0} + i.n, {self.company}, {journal}, p.id,
                {invoice_date}, 'Счёт исполнителя', 'posted',
                {invoice_date}, 'BRI' || i.n, 0, NOW()
            FROM b_invoice i
            JOIN b_period p ON {invoice_date}
                BETWEEN p.start_date AND p.end_date""")
        invoice_line0 = self.base('account_move_line')
        self.sql(f"""INSERT INTO account_move_line (id, move, account, debit,
                credit, party, maturity_date, description, state,
                create_uid, create_date)
            SELECT {invoice_line0} + i.n * 2 - 1 + s.s,
                {invoice_move0} + i.n,
                CASE s.s WHEN 0 THEN {accrual_account} ELSE {payable} END,
                CASE s.s WHEN 0 THEN i.amount ELSE 0 END,
                CASE s.s WHEN 0 THEN 0 ELSE i.amount END, i.payee,
                CASE s.s WHEN 1 THEN {invoice_date} + 30 END,
                'Счёт исполнителя', 'valid', 0, NOW()
            FROM b_invoice i
            JOIN account_move m ON m.id = {invoice_move0} + i.n
            CROSS JOIN (VALUES (0), (1)) s(s)""")
        # One reconciliation per invoice: its 76.05 line and the accruals.
        rec0 = self.base('account_move_reconciliation')
        self.sql(f"""INSERT INTO account_move_reconciliation (id, company,
                date, number, create_uid, create_date)
            SELECT {rec0} + i.n, {self.company}, {invoice_date},
                'BRR' || i.n, 0, NOW()
            FROM b_invoice i""")
        self.sql(f"""UPDATE account_move_line ml
            SET reconciliation = {rec0} + i.n
            FROM b_invoice i
            WHERE ml.id = {invoice_line0} + i.n * 2 - 1""")
        self.sql(f"""UPDATE account_move_line ml
            SET reconciliation = {rec0} + i.n
            FROM b_accrual a
            JOIN b_invoice i ON i.payee = a.payee
                AND i.month = DATE_TRUNC('month', a.date)::date
            WHERE ml.id = {mline0} + a.n * 2""")
        # Paid: the invoices due more than 60 days ago (the payment's own
        # lines are not needed by the debt: the invoice line is reconciled).
        pay0 = self.base('account_move_reconciliation')
        self.sql(f"""INSERT INTO account_move_reconciliation (id, company,
                date, number, create_uid, create_date)
            SELECT {pay0} + i.n, {self.company}, {invoice_date} + 35,
                'BRP' || i.n, 0, NOW()
            FROM b_invoice i
            WHERE {invoice_date} + 30 < DATE '{self.today}' - 60""")
        self.sql(f"""UPDATE account_move_line ml
            SET reconciliation = {pay0} + i.n
            FROM b_invoice i
            WHERE ml.id = {invoice_line0} + i.n * 2
                AND {invoice_date} + 30 < DATE '{self.today}' - 60""")
        for table in ['account_move', 'account_move_line',
                'account_move_reconciliation']:
            self.reset_sequence(table)


def step_fill(scale):
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond import config as tconfig
    tconfig.update_etc(str(CONFIG))
    Pool(DATABASE).init()
    with Transaction().start(DATABASE, 0) as transaction:
        today = Pool().get('ir.date').today()
        connection = transaction.connection
        filler = Filler(connection, scale, today)
        started = time.monotonic()
        timings = filler.run()
        counts = {}
        cursor = connection.cursor()
        for table in ['party_party', 'assistance_policy',
                'assistance_case', 'assistance_case_event', 'assistance_task',
                'assistance_order', 'assistance_order_line',
                'assistance_expense', 'assistance_expense_line',
                'assistance_refusal', 'assistance_survey',
                'account_move_line']:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    print(json.dumps({'fill_s': round(time.monotonic() - started, 1),
                'timings': timings, 'counts': counts,
                'today': today.isoformat(),
                'start': filler.start.isoformat()}))


# 3. The measures -----------------------------------------------------------

# The row dimensions of the 2×2 pivots, first found in the cube first; the
# columns are always year × month.
ROW_PREFERENCE = ['contract', 'program', 'operator', 'case_type',
    'refusal_ground', 'service', 'provider', 'insurer', 'department']
COLUMNS = ['date_year', 'date_month']


def timed_runs(function, runs):
    "Call function once to warm up, then runs times: the seconds of each"
    result = function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return result, times


def summary(times):
    return {'p50_s': round(statistics.median(times), 3),
        'p95_s': round(percentile(times, 0.95), 3),
        'runs': len(times)}


def orm_read(proxy, domain, fields, sample, context, total):
    """Read the base records the graph view's way (search_read by 1,000)
    up to sample records; return (records, seconds for all of them,
    extrapolated)"""
    records = []
    started = time.perf_counter()
    while len(records) < min(sample, total):
        batch = proxy.search_read(domain, len(records),
            min(1000, sample - len(records)), [('id', 'ASC')], fields,
            context)
        if not batch:
            break
        records.extend(batch)
    seconds = time.perf_counter() - started
    extrapolated = len(records) < total
    if extrapolated and records:
        seconds = seconds * total / len(records)
    return records, seconds, extrapolated


def orm_totals(records, keys, values):
    "Sum the values of the records per key tuple (the client's way)"
    totals = {}
    for record in records:
        key = tuple(str(record.get(k)) for k in keys)
        cell = totals.setdefault(key, [0] * (len(values) + 1))
        cell[0] += 1
        for i, name in enumerate(values, 1):
            cell[i] += record.get(name) or 0
    return totals


def step_measure(runs, sample, only=None):
    from proteus import Model
    from proteus import config as pconfig
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.modules.assistance_reports import cube_engine
    config = pconfig.set_trytond(DATABASE, user=HEAD,
        config_file=str(CONFIG))
    context = dict(config.context)
    with Transaction().start(DATABASE, 0, readonly=True):
        today = Pool().get('ir.date').today()
        declared = Pool().get('assistance.report.cube').get_cubes()
    start = today.replace(year=today.year - 2, day=1)
    if today.month < 12:
        start = start.replace(month=today.month + 1, year=today.year - 2)
    else:
        start = start.replace(month=1, year=today.year - 1)
    results = {}

    def record(name, times, **extra):
        results[name] = {**summary(times), **extra}
        log(f"  {name}: p50 {results[name]['p50_s']:.3f} s, "
            f"p95 {results[name]['p95_s']:.3f} s"
            + ''.join(f", {k} {v}" for k, v in extra.items()))

    def wanted(part):
        return not only or part in only

    Cube = Model.get('assistance.report.cube')._proxy
    Variant = Model.get('assistance.report.variant')
    # Every variant the head may read.
    for variant in (Variant.find([]) if wanted('variants') else []):
        params = {**json.loads(variant.layout), 'cube': variant.cube}
        _, times = timed_runs(lambda: Cube.compute(params, context), runs)
        record(f"variant {variant.id} «{variant.name}» ({variant.cube})",
            times)

    # Every cube with a 2×2-level pivot, all its measures.
    for description in (Cube.cubes(context) if wanted('cubes') else []):
        key = description['key']
        keys = [d for d, _ in description['dimensions']]
        rows = [d for d in ROW_PREFERENCE if d in keys][:2]
        measures = [m for m, _, _ in description['measures']]
        params = {'cube': key, 'rows': rows, 'columns': COLUMNS,
            'measures': measures}
        answer, times = timed_runs(
            lambda: Cube.compute(params, context), runs)
        grand = next(c for c in answer['cells'] if not c[0] and not c[1])
        # The graph view's way: read the base records with the fields of
        # the dimensions and the summed measures, sum them here.
        cube = declared[key]
        Base = Model.get(cube.model)._proxy
        fields = [cube_engine._dotted(cube.dimensions[d].path)
            for d in rows] + [cube.date]
        sums = [cube_engine._dotted(m.path) for m in cube.measures.values()
            if isinstance(m, cube_engine.SumMeasure)
            and not isinstance(m, cube_engine.ConditionCountMeasure)
            and m.condition is None]
        total = Base.search_count(cube.domain, 0, None, context)
        records, orm_s, extrapolated = orm_read(Base, cube.domain,
            sorted(set(fields + sums)), sample, context, total)
        totals = orm_totals(records, fields, sums)
        extra = {'records': total, 'cells': len(answer['cells']),
            'orm_s': round(orm_s, 1), 'orm_extrapolated': extrapolated}
        if not extrapolated:
            orm_count = sum(c[0] for c in totals.values())
            extra['orm_count_matches'] = orm_count == grand[2]['count']
        record(f"cube {key} 2×2 {'×'.join(rows)} / year×month", times,
            **extra)

    # The loss level: contract × month over the 24 months.
    def search_read(model, ctx, domain=None):
        Proxy = Model.get(model)._proxy
        names = [n for n, f in Proxy.fields_get([], context).items()
            if f['type'] not in {'one2many', 'many2many'}]
        return lambda: Proxy.search_read(domain or [], 0, None, None,
            names, {**context, **ctx})

    if wanted('loss_level'):
        measure_loss_level(Model, search_read, record, context, runs,
            sample, start, today)
    if wanted('debt'):
        measure_debt(Model, search_read, record, context, runs, sample,
            today)
    if wanted('refusal'):
        measure_refusal(Model, search_read, record, context, runs, sample,
            start, today)
    if wanted('nps'):
        measure_nps(Model, search_read, record, context, runs, sample)
    print(json.dumps({'reports': results,
                'peak_rss_mb': round(peak_rss_mb(), 1)}, default=str))


def measure_loss_level(Model, search_read, record, context, runs, sample,
        start, today):
    Line = Model.get('assistance.expense.line')._proxy
    lines = Line.search_count([('state', 'in', ['declared', 'actual'])],
        0, None, context)
    rows, times = timed_runs(search_read('assistance.loss_level',
            {'from_date': start, 'to_date': today}), runs)
    _, orm_s, extrapolated = orm_read(Line,
        [('state', 'in', ['declared', 'actual'])],
        ['contract', 'date', 'state', 'covered_amount', 'case_key'],
        sample, context, lines)
    record("loss level (contract × month, 24 months)", times,
        rows=len(rows), orm_s=round(orm_s, 1),
        orm_extrapolated=extrapolated)


def measure_debt(Model, search_read, record, context, runs, sample, today):
    debt_context = {'company': context.get('company'), 'date': today,
        'bucket': 30}
    rows, times = timed_runs(search_read('assistance.billing.debt',
            debt_context), runs)
    MoveLine = Model.get('account.move.line')._proxy
    try:
        count = MoveLine.search_count([('party', '!=', None)], 0, None,
            context)
        _, orm_s, extrapolated = orm_read(MoveLine, [('party', '!=', None)],
            ['party', 'account', 'debit', 'credit', 'reconciliation',
                'maturity_date', 'date'], sample, context, count)
        orm = {'orm_s': round(orm_s, 1), 'orm_extrapolated': extrapolated}
    except Exception as exception:
        orm = {'orm_s': None, 'orm_note': type(exception).__name__}
    record("debt analysis (today, 30-day buckets)", times, rows=len(rows),
        **orm)


def measure_refusal(Model, search_read, record, context, runs, sample,
        start, today):
    Refusal = Model.get('assistance.refusal')._proxy
    refusals = Refusal.search_count([], 0, None, context)
    rows, times = timed_runs(search_read('assistance.refusal.report',
            {'from_date': start, 'to_date': today}), runs)
    _, orm_s, extrapolated = orm_read(Refusal, [],
        ['date', 'insurer', 'contract', 'ground'], sample, context,
        refusals)
    record("refusal report (month × insurer × contract × ground)", times,
        rows=len(rows), orm_s=round(orm_s, 1),
        orm_extrapolated=extrapolated)


def measure_nps(Model, search_read, record, context, runs, sample):
    Survey = Model.get('assistance.survey')._proxy
    surveys = Survey.search_count([], 0, None, context)
    rows, times = timed_runs(search_read('assistance.survey.nps', {}), runs)
    _, orm_s, extrapolated = orm_read(Survey, [],
        ['recommend', 'operator', 'insurer'], sample, context, surveys)
    record("NPS per operator and insurer", times, rows=len(rows),
        orm_s=round(orm_s, 1), orm_extrapolated=extrapolated)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--orm-sample', type=int, default=20_000)
    parser.add_argument('--operators', type=int, default=20)
    parser.add_argument('--rebuild-seed', action='store_true',
        help="rebuild the seed database (else reused when it exists)")
    parser.add_argument('--reuse', action='store_true',
        help="measure the filled database of the last run again")
    parser.add_argument('--jit', choices=['default', 'off'],
        default='default', help="PostgreSQL's JIT for the database: off "
        "sets jit = off on it (ALTER DATABASE) before measuring")
    parser.add_argument('--only', default='',
        help="measure only these parts (comma-separated): variants, "
        "cubes, loss_level, debt, refusal, nps")
    parser.add_argument('--step', choices=['seed-extra', 'fill', 'measure'])
    args = parser.parse_args()
    if args.step == 'seed-extra':
        return step_seed_extra(args.operators)
    if args.step == 'fill':
        return step_fill(args.scale)
    if args.step == 'measure':
        return step_measure(args.runs, args.orm_sample,
            [p for p in args.only.split(',') if p])

    load_before = load()
    fill = None
    if not (args.reuse and exists(DATABASE)):
        if args.rebuild_seed or not exists(SEED):
            build_seed(args.operators)
        log(f"copying {SEED} into {DATABASE}")
        psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{DATABASE}" TEMPLATE "{SEED}"')
        log(f"filling {DATABASE} in SQL at scale {args.scale}")
        fill = child('--step', 'fill', '--scale', str(args.scale))
        log(json.dumps(fill))
    psql(f'ALTER DATABASE "{DATABASE}" '
        + ('SET jit = off' if args.jit == 'off' else 'RESET jit'))
    log(f"measuring as {HEAD!r}, {args.runs} runs each, jit {args.jit}")
    measured = child('--step', 'measure', '--runs', str(args.runs),
        '--orm-sample', str(args.orm_sample), '--only', args.only)
    reports = measured['reports']
    worst = max(r['p95_s'] for r in reports.values())
    for name, figures in reports.items():
        orm = figures.get('orm_s')
        print(f"{name:70} p50 {figures['p50_s']:7.3f} s  p95 "
            f"{figures['p95_s']:7.3f} s  ORM "
            + (f"{orm:8.1f} s" if orm is not None else "       —")
            + (" (extrapolated)" if figures.get('orm_extrapolated') else ""))
    print(f"load average before {load_before}, after {load()} "
        f"(the machine is shared)")
    print(json.dumps({
                'goal_s': GOAL,
                'worst_p95_s': worst,
                'goal_met': worst < GOAL,
                'scale': args.scale,
                'jit': args.jit,
                'counts': fill['counts'] if fill else None,
                'fill_s': fill['fill_s'] if fill else None,
                'reports': reports,
                'peak_rss_mb': measured['peak_rss_mb'],
                'load_before': load_before,
                'load_after': load(),
                }, ensure_ascii=False))


if __name__ == '__main__':
    main()
