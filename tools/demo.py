#!/usr/bin/env python3
"""Create (or reuse) the demo database of «Ассистанс».

Creates the database, activates every assistance module with Russian loaded,
makes Russian the admin's language, marks the configuration wizard done and
fills realistic demo data: two insurers, contracts with programmes, packages
and options over service categories, insured persons with Russian names,
birth dates and phones, policies with a prolongation chain.
"""
import argparse
import configparser
import datetime as dt
import os
import pathlib
import random
import subprocess
import sys
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
ADMIN_EMAIL = 'admin@example.com'


def addons():
    return sorted(p.parent.name for p in ROOT.glob('addons/*/tryton.cfg'))


def default_paths():
    "Place the database files and the web client under the repository's var/"
    os.environ.setdefault('TRYTOND_DATABASE__PATH', str(ROOT / 'var/db'))
    os.environ.setdefault('TRYTOND_WEB__ROOT', str(ROOT / 'var/sao'))


def database_uri(config_file):
    "Return the database URI and SQLite folder, as trytond reads them"
    parser = configparser.ConfigParser()
    parser.read(config_file)
    # trytond reads the environment first, then lets the file override it.
    return (
        parser.get('database', 'uri', fallback=None)
        or os.environ.get('TRYTOND_DATABASE__URI', 'sqlite://'),
        parser.get('database', 'path', fallback=None)
        or os.environ['TRYTOND_DATABASE__PATH'])


def database_exists(config_file, name):
    uri, path = database_uri(config_file)
    if uri.startswith('sqlite'):
        return (pathlib.Path(path) / f'{name}.sqlite').exists()
    out = subprocess.run(
        ['psql', uri + 'postgres', '-tAc',
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip() == '1'


def drop_database(config_file, name):
    uri, path = database_uri(config_file)
    if uri.startswith('sqlite'):
        (pathlib.Path(path) / f'{name}.sqlite').unlink(missing_ok=True)
    else:
        subprocess.run(
            ['psql', uri + 'postgres', '-c',
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=True, capture_output=True)


def create_database(config_file, name, password):
    uri, path = database_uri(config_file)
    if uri.startswith('sqlite'):
        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
        (pathlib.Path(path) / f'{name}.sqlite').touch()
    else:
        subprocess.run(
            ['psql', uri + 'postgres', '-c', f'CREATE DATABASE "{name}"'],
            check=True, capture_output=True)
    passfile = pathlib.Path(path if uri.startswith('sqlite') else ROOT / 'var')
    passfile.mkdir(parents=True, exist_ok=True)
    passfile = passfile / f'.{name}.pass'
    passfile.write_text(password + '\n')
    env = dict(os.environ, TRYTONPASSFILE=str(passfile))
    admin = [str(BIN / 'trytond-admin'), '-c', str(config_file), '-d', name]
    subprocess.run(
        admin + ['--all', '--email', ADMIN_EMAIL, '-l', 'ru'],
        env=env, check=True)
    subprocess.run(
        admin + ['-u', *addons(), '--activate-dependencies'],
        env=env, check=True)
    passfile.unlink()


class DemoData:
    "Fill a fresh database with realistic data through proteus"

    SURNAMES = [
        'Иванов', 'Смирнов', 'Кузнецов', 'Попов', 'Васильев', 'Петров',
        'Соколов', 'Михайлов', 'Новиков', 'Фёдоров', 'Морозов', 'Волков',
        'Алексеев', 'Лебедев', 'Семёнов', 'Егоров', 'Павлов', 'Козлов',
        'Степанов', 'Николаев', 'Орлов', 'Андреев', 'Макаров', 'Никитин',
        'Захаров', 'Зайцев', 'Соловьёв', 'Борисов', 'Яковлев', 'Григорьев']
    MALE = ['Александр', 'Дмитрий', 'Максим', 'Сергей', 'Андрей', 'Алексей',
        'Артём', 'Илья', 'Кирилл', 'Михаил', 'Никита', 'Иван', 'Павел']
    FEMALE = ['Анна', 'Мария', 'Елена', 'Ольга', 'Наталья', 'Татьяна',
        'Ирина', 'Светлана', 'Екатерина', 'Юлия', 'Дарья', 'Алёна']
    PATRONYMICS = ['Александров', 'Дмитриев', 'Сергеев', 'Андреев',
        'Алексеев', 'Михайлов', 'Иванов', 'Петров', 'Николаев', 'Викторов']

    CATEGORIES = {
        "Медицинская помощь": {
            "Амбулаторно-поликлиническая помощь": [
                "Приём терапевта", "Приём невролога", "Приём кардиолога",
                "Анализ крови общий", "УЗИ брюшной полости"],
            "Стоматология": [
                "Лечение кариеса", "Удаление зуба", "Рентген зуба"],
            "Массаж и физиотерапия": [
                "Сеанс массажа", "Сеанс физиотерапии"],
            "Скорая медицинская помощь": [
                "Выезд бригады скорой помощи"],
            "Лекарственное обеспечение": [
                "Лекарственные препараты по назначению врача"],
            },
        "Помощь на дорогах": {
            "Эвакуация": ["Эвакуация автомобиля"],
            "Техническая помощь": ["Подвоз топлива", "Запуск двигателя"],
            },
        }

    def __init__(self, config, persons, seed=20261125):
        self.config = config
        self.persons = persons
        self.random = random.Random(seed)
        self.today = dt.date.today()

    def model(self, name):
        from proteus import Model
        return Model.get(name, config=self.config)

    def run(self):
        self.setup_admin()
        self.company = self.create_company()
        self.create_accounting()
        self.categories = self.create_services()
        insurers = self.create_insurers()
        people = self.create_people()
        self.create_general_exclusions()
        self.create_portfolio(insurers, people)
        self.create_role_users(insurers)
        self.create_cases()
        self.create_providers()
        self.create_orders()
        self.deliver_orders()
        self.create_provider_register()
        self.create_loss_level_control()
        self.create_supplier_invoice()
        self.preview_insurer_list()
        self.bill_insurer()
        self.create_report_variants()
        self.pay_head_office()

    def setup_admin(self):
        Lang = self.model('ir.lang')
        User = self.model('res.user')
        Item = self.model('ir.module.config_wizard.item')
        russian, = Lang.find([('code', '=', 'ru')])
        admin, = User.find([('login', '=', 'admin')])
        admin.language = russian
        admin.save()
        items = Item.find([('state', '!=', 'done')])
        for item in items:
            item.state = 'done'
        Item.save(items)

    def create_company(self):
        from proteus import Wizard
        Currency = self.model('currency.currency')
        Party = self.model('party.party')
        User = self.model('res.user')
        rub = Currency(
            name="Российский рубль", code='RUB', symbol='₽', numeric_code='643',
            rounding=Decimal('0.01'), digits=2)
        rub.save()
        wizard = Wizard('company.company.config', config=self.config)
        wizard.execute('company')
        party = Party(name="ООО «Ассистанс»")
        party.save()
        wizard.form.party = party
        wizard.form.currency = rub
        wizard.execute('add')
        self.config._context = User.get_preferences(True, {})
        Company = self.model('company.company')
        company, = Company.find()
        return company

    def billing_active(self):
        Module = self.model('ir.module')
        return bool(Module.find([('name', '=', 'assistance_billing'),
                    ('state', '=', 'activated')]))

    def create_accounting(self):
        """The Russian chart through Tryton's wizard (it also sets the
        billing configuration) and this year's fiscal year with monthly
        periods (ACC-1)"""
        if not self.billing_active():
            return
        from trytond.modules.account.tests.tools import create_fiscalyear
        from trytond.modules.account_invoice.tests.tools import (
            set_fiscalyear_invoice_sequences)
        from trytond.modules.assistance_billing.tests.tools import (
            create_chart_ru)
        create_chart_ru(self.company, config=self.config)
        year = self.today.year
        # The tools find the sequence types by their English names.
        with self.config.set_context(language='en'):
            fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(
                    self.company, (dt.date(year, 1, 1), dt.date(year, 12, 31)),
                    config=self.config), config=self.config)
        fiscalyear.click('create_period')

    def create_services(self):
        Category = self.model('product.category')
        Template = self.model('product.template')
        Uom = self.model('product.uom')
        unit, = Uom.find([('symbol', '=', 'u')])
        categories = {}
        templates = []
        for root_name, children in self.CATEGORIES.items():
            root = Category(name=root_name)
            root.save()
            for name, services in children.items():
                category = Category(name=name, parent=root)
                category.save()
                categories[name] = category
                for service in services:
                    template = Template(
                        name=service, type='service', default_uom=unit,
                        list_price=Decimal(self.random.randrange(800, 9000, 50)))
                    template.categories.append(Category(category.id))
                    templates.append(template)
        Template.save(templates)
        return categories

    def create_general_exclusions(self):
        Exclusion = self.model('assistance.exclusion')
        Exclusion(name="Беременность и роды", kind='diagnosis',
            diagnoses="O00-O99").save()

    def create_insurers(self):
        Party = self.model('party.party')
        names = [
            "АО «Страховая компания «Надёжность»",
            "ПАО «Росгарант Страхование»",
            ]
        insurers = [Party(name=n) for n in names]
        Party.save(insurers)
        return insurers

    def person_name(self):
        surname = self.random.choice(self.SURNAMES)
        patronymic = self.random.choice(self.PATRONYMICS)
        if self.random.random() < 0.5:
            return (f'{surname} {self.random.choice(self.MALE)} '
                f'{patronymic}ич', 'male')
        return (f'{surname}а {self.random.choice(self.FEMALE)} '
            f'{patronymic}на', 'female')

    def create_people(self):
        Party = self.model('party.party')
        people = []
        for _ in range(self.persons):
            name, gender = self.person_name()
            birth = dt.date(1950, 1, 1) + dt.timedelta(
                days=self.random.randrange(0, 365 * 55))
            person = Party(name=name, gender=gender, birth_date=birth)
            person.id_document = '%02d %02d %06d' % (
                self.random.randrange(1, 99), self.random.randrange(0, 25),
                self.random.randrange(0, 999999))
            phone = person.contact_mechanisms.new(type='mobile')
            phone.value = '+7 9%02d %03d-%02d-%02d' % (
                self.random.randrange(0, 100), self.random.randrange(0, 1000),
                self.random.randrange(0, 100), self.random.randrange(0, 100))
            people.append(person)
        Party.save(people)
        return people

    def create_contract(self, insurer, policyholder, number, start, renewal_of):
        Contract = self.model('assistance.contract')
        Package = self.model('assistance.package')
        Category = self.model('product.category')
        end = start.replace(year=start.year + 1) - dt.timedelta(days=1)
        contract = Contract(
            number=number, insurer=insurer, policyholder=policyholder,
            start_date=start, end_date=end, renewal_of=renewal_of,
            premium=Decimal(self.random.randrange(5, 40)) * 1000000)
        programs = [
            ("AMB", "Амбулаторно-поликлиническая помощь", 300000, [
                    ("AMB-1", "Приёмы врачей и диагностика",
                        "Амбулаторно-поликлиническая помощь"),
                    ("AMB-2", "Массаж и физиотерапия",
                        "Массаж и физиотерапия"),
                    ("AMB-3", "Лекарственное обеспечение",
                        "Лекарственное обеспечение")]),
            ("STOM", "Стоматология", 50000, [
                    ("STOM-1", "Лечение и удаление зубов", "Стоматология")]),
            ("SMP", "Скорая медицинская помощь", 100000, [
                    ("SMP-1", "Выезд бригады", "Скорая медицинская помощь")]),
            ("AUTO", "Помощь на дорогах", 30000, [
                    ("AUTO-1", "Эвакуация", "Эвакуация"),
                    ("AUTO-2", "Техническая помощь", "Техническая помощь")]),
            ]
        for code, name, sum_insured, options in programs:
            program = contract.programs.new(
                code=code, name=name, sum_insured=Decimal(sum_insured))
            for ocode, oname, category in options:
                option = program.options.new(code=ocode, name=oname)
                option.categories.append(
                    Category(self.categories[category].id))
        contract.save()
        Program = self.model('assistance.program')
        by_code = {p.code: p.id for p in contract.programs}
        packages = [
            Package(contract=contract, code=code, name=name)
            for code, name in [
                ("BASE", "Базовый"), ("OPTIMA", "Оптимальный"),
                ("PREMIUM", "Премиум")]]
        for package, codes in zip(packages, [
                    ["AMB", "SMP"], ["AMB", "STOM", "SMP"],
                    ["AMB", "STOM", "SMP", "AUTO"]]):
            package.programs.extend(Program(by_code[c]) for c in codes)
        Package.save(packages)
        self.create_coverage_rules(contract, packages)
        contract.click('activate')
        return contract, packages

    def create_coverage_rules(self, contract, packages):
        "The seed's limits, a deductible and exclusions (POL-2, POL-3)"
        Limit = self.model('assistance.limit')
        Deductible = self.model('assistance.deductible')
        Exclusion = self.model('assistance.exclusion')
        Option = self.model('assistance.option')
        Program = self.model('assistance.program')
        Product = self.model('product.product')
        options = {o.code: o.id for p in contract.programs for o in p.options}
        programs = {p.code: p.id for p in contract.programs}
        Limit.save([
                Limit(contract=contract, name="10 сеансов массажа в год",
                    option=Option(options['AMB-2']), measure='quantity',
                    value=Decimal(10), period='policy_year'),
                Limit(contract=contract, name="100 000 ₽ на случай",
                    program=Program(programs['AMB']), measure='amount',
                    value=Decimal(100000), period='case'),
                Limit(contract=contract, name="3 вызова скорой в месяц",
                    program=Program(programs['SMP']), measure='quantity',
                    value=Decimal(3), period='month'),
                Limit(contract=contract, name="2 эвакуации в квартал",
                    option=Option(options['AUTO-1']), measure='quantity',
                    value=Decimal(2), period='quarter'),
                Limit(contract=contract, name="Общий лимит договора",
                    measure='amount', value=Decimal(50000000),
                    period='term', scope='contract'),
                ])
        Deductible(contract=contract, name="Франшиза 10 % на стоматологию",
            program=Program(programs['STOM']), kind='percentage',
            value=Decimal(10)).save()
        extraction, = Product.find([('name', '=', "Удаление зуба")])
        Exclusion.save([
                Exclusion(contract=contract, name="Психические расстройства",
                    kind='diagnosis', diagnoses="F00-F99"),
                Exclusion(contract=contract, package=packages[0],
                    name="Удаление зубов не входит в «Базовый»",
                    kind='service', service=extraction),
                ])

    def create_portfolio(self, insurers, people):
        Party = self.model('party.party')
        Policy = self.model('assistance.policy')
        employers = [Party(name=n) for n in [
                "ООО «Ромашка»", "АО «СеверСталь-Сервис»",
                "ООО «Техноинвест»", "ГБУ «Городская библиотека № 5»"]]
        Party.save(employers)
        this_year = dt.date(self.today.year, 1, 1)
        last_year = this_year.replace(year=this_year.year - 1)
        half = len(people) // 2
        for index, (insurer, group) in enumerate(zip(
                    insurers, [people[:half], people[half:]])):
            prefix = 'НДЖ' if index == 0 else 'РГС'
            employer = employers[index * 2]
            old, old_packages = self.create_contract(
                insurer, employer, f'{prefix}-ДМС-{last_year.year}-001',
                last_year, None)
            new, new_packages = self.create_contract(
                insurer, employer, f'{prefix}-ДМС-{this_year.year}-001',
                this_year, old)
            previous = []
            for number, person in enumerate(group, 1):
                package = old_packages[number % 3]
                policy = Policy(
                    number=f'{prefix}-{number:06d}', contract=old,
                    insured=person, package=package,
                    start_date=old.start_date, end_date=old.end_date)
                previous.append(policy)
            Policy.save(previous)
            Policy.click(previous, 'activate')
            # Most are prolonged into this year; a few left in the past.
            prolonged = [p for n, p in enumerate(previous) if n % 10 != 0]
            Policy.click(prolonged, 'prolong')
            current = Policy.find([
                    ('contract', '=', new.id), ('state', '=', 'draft')])
            Policy.click(current, 'activate')
            self.create_expenses(current[:15])

    def create_expenses(self, policies):
        "Consumed services, so that the coverage overviews show something"
        Expense = self.model('assistance.expense')
        Product = self.model('product.product')
        services = [Product.find([('name', '=', n)])[0] for n in [
                "Сеанс массажа", "Приём терапевта", "Анализ крови общий"]]
        for index, policy in enumerate(policies):
            expense = Expense(policy=policy, date=policy.start_date
                + dt.timedelta(days=self.random.randrange(0, 60)),
                description="Обращение в клинику")
            for service in services[:self.random.randrange(1, 4)]:
                line = expense.lines.new(service=service)
                line.quantity = Decimal(self.random.randrange(1, 6))
            expense.save()
            expense.click('declare')
            # Half the reimbursements are paid: actual, accrued to the insured.
            if index % 2:
                expense.click('confirm')

    # One demo user per role: login → (name, groups as module.fs_id).  The
    # accountant also gets the ledger's own group to reach the accounting.
    ROLE_USERS = {
        'operator': ("Оператор Ольга Смирнова",
            ['assistance_policy.group_operator']),
        'manager': ("Куратор договоров Игорь Петров",
            ['assistance_policy.group_contract_manager']),
        'accountant': ("Бухгалтер Марина Соколова",
            ['assistance_policy.group_accountant', 'account.group_account',
                'account_payment.group_payment',
                'account_payment.group_payment_approval']),
        'head': ("Руководитель отдела Андрей Волков",
            ['assistance_policy.group_department_head']),
        }
    # The insurers a role user serves as insurer staff (by index in
    # create_insurers): the manager sees the first insurer's contracts only
    # (the one the browser import test uses), the second stays hidden.
    ROLE_INSURERS = {'manager': [0]}

    @staticmethod
    def role_password(login):
        "Tryton refuses a password equal to the login"
        return f'{login}-2026'

    def create_role_users(self, insurers):
        Company = self.model('company.company')
        Data = self.model('ir.model.data')
        Group = self.model('res.group')
        Party = self.model('party.party')
        User = self.model('res.user')
        users = []
        for login, (name, groups) in self.ROLE_USERS.items():
            # No language given: new users start in Russian (user.py).
            user = User(login=login, name=name,
                password=self.role_password(login))
            for ref in groups:
                group_id = Data._proxy.get_id(
                    *ref.split('.'), self.config.context)
                user.groups.append(Group(group_id))
            user.companies.append(Company(self.company.id))
            user.company = Company(self.company.id)
            for index in self.ROLE_INSURERS.get(login, []):
                user.assistance_insurers.append(Party(insurers[index].id))
            users.append(user)
        User.save(users)
    def create_cases(self):
        "A few assistance cases with events, tasks and a survey (CASE-1…4)"
        Module = self.model('ir.module')
        if not Module.find([('name', '=', 'assistance_case'),
                    ('state', '=', 'activated')]):
            return
        Department = self.model('assistance.department')
        User = self.model('res.user')
        Policy = self.model('assistance.policy')
        Case = self.model('assistance.case')
        CaseType = self.model('assistance.case.type')
        Diagnosis = self.model('assistance.diagnosis')
        Event = self.model('assistance.case.event')
        Survey = self.model('assistance.survey')
        operator, = User.find([('login', '=', 'operator')])
        head, = User.find([('login', '=', 'head')])
        department = Department(name="Медицинский пульт", head=head)
        department.save()
        for user in [operator, head]:
            user.assistance_department = department
        User.save([operator, head])
        medical, = CaseType.find([('code', '=', 'MED')])
        now = dt.datetime.now().replace(second=0, microsecond=0)
        policies = Policy.find([
                ('state', '=', 'active'),
                ('start_date', '<=', self.today),
                ('end_date', '>=', self.today),
                ], limit=4)
        stories = [
            ("J06.9", "Температура 38,5, боль в горле",
                "Просит вызвать врача на дом"),
            ("S93.4", "Подвернул ногу на лестнице, отёк",
                "Нужен травматолог сегодня"),
            ("K02.1", "Острая зубная боль", "Просит запись к стоматологу"),
            ("I10", "Повышенное давление", "Вопрос о покрытии анализов"),
            ]
        for index, (policy, (code, description, summary)) in enumerate(
                zip(policies, stories)):
            diagnosis, = Diagnosis.find([('code', '=', code)])
            case = Case(insured=policy.insured, type=medical,
                event_date=self.today,
                request_time=now - dt.timedelta(hours=6 - index),
                description=description, diagnosis=diagnosis,
                operator=operator, department=department)
            case.save()
            event = Event(case=case, direction='incoming', kind='phone',
                counterpart='insured', date=case.request_time,
                summary=summary)
            event.save()
            if index < 3:
                task, = event.click('create_task')
                task.responsible = operator
                if index == 0:
                    # An overdue task for the monitoring.
                    task.control_date = now - dt.timedelta(hours=1)
                task.save()
            if index == 3:
                case.click('start')
                case.result = "Разъяснены условия программы"
                case.click('close')
                Survey(case=case, recommend=9, provider_satisfaction=5,
                    comment="Быстро ответили").save()


    # Providers (assistance_order): name, city, latitude, longitude,
    # specialty codes, price level, {service: price}.
    PROVIDERS = [
        ("Клиника «Медицина на Тверской»", "Москва", 55.764, 37.606,
            ['THER', 'NEUR', 'LAB'], 'premium', {
                "Приём терапевта": 3500, "Приём невролога": 4200,
                "Приём кардиолога": 4500, "Анализ крови общий": 900,
                "УЗИ брюшной полости": 3900}),
        ("Поликлиника «Здоровье» на Арбате", "Москва", 55.749, 37.591,
            ['THER', 'NEUR', 'LAB'], 'standard', {
                "Приём терапевта": 2200, "Приём невролога": 2600,
                "Анализ крови общий": 600, "Сеанс массажа": 1800,
                "Сеанс физиотерапии": 1500}),
        ("Медцентр «Семейный доктор»", "Москва", 55.733, 37.640,
            ['THER', 'PAED', 'TRAUM'], 'economy', {
                "Приём терапевта": 1500, "Приём невролога": 1800,
                "Анализ крови общий": 450, "УЗИ брюшной полости": 2100}),
        ("Стоматология «Улыбка»", "Москва", 55.771, 37.632, ['DENT'],
            'standard', {
                "Лечение кариеса": 4800, "Удаление зуба": 3500,
                "Рентген зуба": 700}),
        ("Стоматология «Дента-Люкс»", "Москва", 55.740, 37.565, ['DENT'],
            'premium', {
                "Лечение кариеса": 7900, "Удаление зуба": 6000,
                "Рентген зуба": 1200}),
        ("Скорая помощь «Мед-Экспресс»", "Москва", 55.790, 37.680, ['AMB'],
            'standard', {"Выезд бригады скорой помощи": 6500}),
        ("Аптека «Ригла» на Маросейке", "Москва", 55.757, 37.636,
            ['PHARM'], 'standard', {
                "Лекарственные препараты по назначению врача": 850}),
        ("Эвакуатор «Автопомощь 24»", "Москва", 55.705, 37.620,
            ['TOW', 'ROAD'], 'standard', {
                "Эвакуация автомобиля": 5500, "Подвоз топлива": 2500,
                "Запуск двигателя": 2000}),
        ("Клиника «Невская»", "Санкт-Петербург", 59.934, 30.335,
            ['THER', 'NEUR', 'LAB'], 'standard', {
                "Приём терапевта": 2000, "Приём невролога": 2400,
                "Анализ крови общий": 550}),
        ("Эвакуатор «Питер-Трак»", "Санкт-Петербург", 59.900, 30.300,
            ['TOW'], 'economy', {"Эвакуация автомобиля": 4500}),
        ("Клиника «Волга-Мед»", "Нижний Новгород", 56.327, 44.006,
            ['THER', 'DENT'], 'economy', {
                "Приём терапевта": 1300, "Лечение кариеса": 3200}),
        ]

    def create_providers(self):
        "Providers with coordinates and price lists; the cases' locations"
        Module = self.model('ir.module')
        if not Module.find([('name', '=', 'assistance_order'),
                    ('state', '=', 'activated')]):
            return
        Party = self.model('party.party')
        Specialty = self.model('assistance.provider.specialty')
        Product = self.model('product.product')
        PriceList = self.model('assistance.provider.price_list')
        specialties = {s.code: s.id for s in Specialty.find([])}
        services = {p.name: p for p in Product.find([
                    ('type', '=', 'service')])}
        network = Party(name="ООО «Сеть клиник „Здоровье“»")
        network.save()
        start = self.today.replace(month=1, day=1)
        for (name, city, latitude, longitude, codes, level,
                prices) in self.PROVIDERS:
            party = Party(name=name, is_provider=True, price_level=level,
                working_hours="пн-вс 8:00-21:00")
            address = (party.addresses[0] if party.addresses
                else party.addresses.new())
            address.city = city
            address.latitude = latitude
            address.longitude = longitude
            party.provider_specialties.extend(
                Specialty(specialties[c]) for c in codes)
            if "Здоровье" in name or "Семейный" in name:
                party.head_office = network
            party.save()
            price_list = PriceList(provider=party,
                name=f"Прайс-лист {start.year}", start_date=start)
            for index, (service, price) in enumerate(prices.items(), 1):
                price_list.lines.new(service=services[service],
                    provider_code=f"{index:03d}", price=Decimal(price))
            price_list.save()
        suspended, = Party.find([('name', '=', "Клиника «Волга-Мед»")])
        suspended.provider_state = 'suspended'
        suspended.suspension_reason = (
            "Жалобы застрахованных, проверка качества")
        suspended.save()
        # The insured call from central Moscow: the selection has a centre.
        Case = self.model('assistance.case')
        cases = Case.find([('latitude', '=', None),
                ('state', 'in', ['open', 'in_progress'])])
        for index, case in enumerate(cases):
            case.address = case.address or "Москва, ул. Тверская, %s" % (
                index * 4 + 1)
            case.latitude = 55.7575 + index * 0.003
            case.longitude = 37.6130 - index * 0.004
        Case.save(cases)


    def create_orders(self):
        """Orders on the open cases: one confirmed with its agreed time
        (limits reserved, SMS queued), one draft whose refused line became
        a refusal (ORD-2, ORD-3, ORD-5)"""
        Module = self.model('ir.module')
        if not Module.find([('name', '=', 'assistance_order'),
                    ('state', '=', 'activated')]):
            return
        Party = self.model('party.party')
        Product = self.model('product.product')
        Case = self.model('assistance.case')
        Order = self.model('assistance.order')
        clinic, = Party.find([('name', '=', "Медцентр «Семейный доктор»")])
        dentist, = Party.find([('name', '=', "Стоматология «Улыбка»")])
        cases = Case.find([('state', 'in', ['open', 'in_progress']),
                ('policy', '!=', None)], order=[('id', 'ASC')], limit=2)
        if len(cases) < 2:
            return

        def order(case, provider, services, **values):
            record = Order(case=case, provider=provider, date=self.today,
                **values)
            for name in services:
                service, = Product.find([('name', '=', name)])
                record.lines.new(service=service)
            record.save()
            return record
        first = order(cases[0], clinic,
            ["Приём терапевта", "Анализ крови общий"],
            agreed_date=self.today + dt.timedelta(days=1),
            agreed_time=dt.time(10, 30),
            place="ул. Тверская, 12, 2-й этаж, кабинет 14")
        if not first.refused:
            first.click('confirm')
        second = order(cases[1], dentist, ["Лечение кариеса"])
        if second.refused:
            second.click('refuse')

    def deliver_orders(self):
        """Two orders delivered and their expense lines actual: the
        accountant sees the accruals on 76.05 per provider, or per head
        office for a subsidiary (ACC-1)"""
        if not self.billing_active():
            return
        Order = self.model('assistance.order')
        Party = self.model('party.party')
        Product = self.model('product.product')
        ExpenseLine = self.model('assistance.expense.line')
        cases = [o.case for o in Order.find([('state', '=', 'confirmed')])]
        for case, name, services in zip(cases * 2, [
                    "Клиника «Медицина на Тверской»",
                    "Поликлиника «Здоровье» на Арбате"], [
                    ["Приём невролога", "Анализ крови общий"],
                    ["Приём терапевта"]]):
            provider, = Party.find([('name', '=', name)])
            order = Order(case=case, provider=provider, date=self.today)
            for service in services:
                order.lines.new(service=Product.find([
                            ('name', '=', service)])[0])
            order.save()
            if order.refused:
                continue
            order.click('confirm')
            order.click('deliver')
            ExpenseLine.click(
                [l.expense_line for l in order.lines], 'mark_actual')

    def create_supplier_invoice(self):
        """The clinic's invoice typed by hand, allocated to its actual
        expense lines by «Сопоставить с расходами» and posted: the debt
        moves from 76.05 to 60 (BIL-2, ACC-2)"""
        if not self.billing_active():
            return
        Party = self.model('party.party')
        Invoice = self.model('account.invoice')
        Account = self.model('account.account')
        ExpenseLine = self.model('assistance.expense.line')
        clinic, = Party.find([('name', '=', "Клиника «Медицина на Тверской»")])
        expenses = [e for e in ExpenseLine.find([('state', '=', 'actual')])
            if getattr(e.origin, 'order', None)
            and e.origin.order.provider == clinic]
        if not expenses:
            return
        services, = Account.find([('code', '=', '20')])
        invoice = Invoice(type='in', party=clinic, invoice_date=self.today,
            reference="СЧ-%s" % self.today.strftime('%m%d'))
        for expense in expenses:
            line = invoice.lines.new()
            line.description = expense.service.name
            line.account = services
            line.quantity = 1
            line.unit_price = expense.covered_amount
        invoice.save()
        allocation = invoice.click('allocate_expenses')
        allocation.execute('allocate')
        invoice.click('post')
    def bill_insurer(self):
        """This year's contract of the first insurer earns 150 ₽ per insured
        per month; the month just closed billed to the insurer with «Bill
        Insurers»: a draft invoice of its actual losses and the fee, its
        register of losses printable in Excel (issue 13 step 6)"""
        if not self.billing_active():
            return
        from proteus import Wizard
        Contract = self.model('assistance.contract')
        contract, = Contract.find([
                ('number', '=', f'НДЖ-ДМС-{self.today.year}-001')])
        contract.fee_method = 'insured'
        contract.fee_amount = Decimal(150)
        contract.save()
        bill = Wizard('assistance.contract.bill_insurer', [contract],
            config=self.config)
        bill.execute('bill')


    def create_provider_register(self):
        """A clinic's register of services imported and checked (BIL-1,
        BIL-2): two rows accepted (one at the list price, with a
        difference), a duplicate and a service without guarantee letter
        removed; the accountant creates the invoice"""
        if not self.billing_active():
            return
        import io

        import openpyxl
        Order = self.model('assistance.order')
        Register = self.model('assistance.billing.register')
        orders = Order.find([
                ('provider.name', '=', "Клиника «Медицина на Тверской»"),
                ('state', '=', 'delivered')], limit=1)
        if not orders:
            return
        order, = orders
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Реестр оказанных услуг № 1"])
        sheet.append(["№ п/п", "ФИО пациента", "№ полиса",
                "№ гарантийного письма", "Дата оказания", "Услуга",
                "Кол-во", "Цена", "Сумма"])
        rows = []
        for line in order.lines:
            rows.append([order.case.insured.name, order.policy.number,
                    order.number, order.date, line.service.name,
                    float(line.quantity), float(line.unit_price)])
        if len(rows) > 1:
            # billed above the price list: accepted at the list price
            rows[1][-1] = round(rows[1][-1] * 1.2, 2)
        rows.append(rows[0][:])
        rows.append([order.case.insured.name, None, "ГП-0000",
                order.date, rows[0][4], 1, rows[0][-1]])
        for number, row in enumerate(rows, 1):
            quantity, price = row[-2], row[-1]
            sheet.append([number] + row + [quantity * price])
        data = io.BytesIO()
        book.save(data)
        register = Register(provider=order.provider, number="1",
            date=self.today, start_date=self.today.replace(day=1),
            end_date=self.today, invoice_number="СЧ-1",
            invoice_date=self.today, file=data.getvalue(),
            file_name="реестр-1.xlsx")
        register.save()
        register.click('import_file')
        register.click('check')

    def create_loss_level_control(self):
        "Thresholds of the loss level (P9) on the manager's current contract"
        Contract = self.model('assistance.contract')
        Control = self.model('assistance.loss_level.control')
        User = self.model('res.user')
        manager, = User.find([('login', '=', 'manager')])
        contract, = Contract.find([
                ('insurer', 'in', [i.id for i in manager.assistance_insurers]),
                ('state', '=', 'active'),
                ('start_date', '<=', self.today),
                ('end_date', '>=', self.today),
                ], limit=1)
        Control(contract=contract, manager=manager,
            warning_ratio=Decimal(60), critical_ratio=Decimal(80),
            window_months=3, minimum_exposure=100,
            report_frequency='monthly',
            report_recipients='analytics@nadezhnost.example').save()
    def preview_insurer_list(self):
        """An insurer's list as it arrives, previewed (POL-1): a title block,
        «Дата» merged over «рождения»/«прикрепления», a totals row, a Latin
        «o» in a name (a correction), a birth date in the future (an
        error), a column the template does not know («Место работы»)"""
        import io

        import openpyxl
        Contract = self.model('assistance.contract')
        Import = self.model('assistance.policy.import')
        contracts = Contract.find([('state', '=', 'active')],
            order=[('start_date', 'DESC'), ('id', 'ASC')], limit=1)
        if not contracts or not contracts[0].packages:
            return
        contract, = contracts
        package = contract.packages[0].code or contract.packages[0].name
        start = contract.start_date.strftime('%d.%m.%Y')
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Список застрахованных лиц на прикрепление"])
        sheet.merge_cells('A1:G1')
        sheet.append([f"к договору {contract.number}"])
        sheet.append([])
        sheet.append(["№ п/п", "№ полиса", "ФИО", "Дата", None, "Программа",
                "Место работы"])
        sheet.merge_cells('D4:E4')
        for column in 'ABCFG':
            sheet.merge_cells(f'{column}4:{column}5')
        sheet.append([None, None, None, "рождения", "прикрепления", None,
                None])
        sheet.append([1, "СП-0001", "Белoва Анна Сергеевна",
                dt.datetime(1988, 4, 12), start, package, "ООО «Ромашка»"])
        sheet.append([2, "СП-0002", "Громов Кирилл Андреевич", "05.11.1979",
                start, package, "ООО «Ромашка»"])
        sheet.append([3, "СП-0003", "Тихонова Вера Павловна", "01.01.2090",
                start, package, "ООО «Ромашка»"])
        sheet.append([None, "Итого: 3"])
        output = io.BytesIO()
        book.save(output)
        list_ = Import(contract=contract, file=output.getvalue(),
            file_name="spisok-prikreplenie.xlsx")
        list_.save()
        list_.click('preview')
    def create_report_variants(self):
        """Shared variants of the report configurator's pivot (REP-1): a
        manager opens «Сводная таблица» and picks one"""
        import json
        Module = self.model('ir.module')
        if not Module.find([('name', '=', 'assistance_reports'),
                    ('state', '=', 'activated')]):
            return
        Variant = self.model('assistance.report.variant')
        Variant.save([Variant(name=name, cube=cube, shared=True,
                    layout=json.dumps(layout))
                for name, cube, layout in [
                    ("Расходы по операторам и месяцам", 'expense_line', {
                            'rows': ['operator'], 'columns': ['date_month'],
                            'measures': ['declared_amount',
                                'actual_amount']}),
                    ("Расходы по страховщикам и исполнителям",
                        'expense_line', {
                            'rows': ['insurer', 'head_office'],
                            'measures': ['amount', 'covered_amount',
                                'amount_per_case'],
                            'sort': 'amount'}),
                    ("Дела по типам и месяцам", 'case', {
                            'rows': ['case_type'],
                            'columns': ['date_month'],
                            'measures': ['count', 'closed']}),
                    ]])
    def pay_head_office(self):
        """The head office pays for two clinics: their invoices (party the
        head office, each line naming the clinic) paid in one payment group,
        one of them partly; the debt analysis shows the rest (ACC-3,
        REP-3)"""
        if not self.billing_active():
            return
        from proteus import Wizard
        from trytond.modules.assistance_billing.tests.tools import (
            create_payment_journal_ru, get_accounts_ru)
        Invoice = self.model('account.invoice')
        Move = self.model('account.move')
        Order = self.model('assistance.order')
        Party = self.model('party.party')
        Payment = self.model('account.payment')
        Product = self.model('product.product')
        journal = create_payment_journal_ru(self.company, config=self.config)
        accrual = get_accounts_ru(self.company, config=self.config)['76.05']
        network, = Party.find([('name', '=', "ООО «Сеть клиник „Здоровье“»")])
        orders = Order.find([('state', '=', 'confirmed')], limit=1)
        if not orders:
            return
        case = orders[0].case
        invoices = []
        for name, service in [
                ("Поликлиника «Здоровье» на Арбате", "Приём терапевта"),
                ("Медцентр «Семейный доктор»", "Анализ крови общий")]:
            clinic, = Party.find([('name', '=', name)])
            order = Order(case=case, provider=clinic, date=self.today)
            order.lines.new(service=Product.find([('name', '=', service)])[0])
            order.save()
            if order.refused:
                continue
            order.click('confirm')
            order.click('deliver')
            expense = order.lines[0].expense_line
            expense.click('mark_actual')
            invoice = Invoice(type='in', party=network,
                invoice_date=self.today, payment_term_date=self.today,
                reference=f"СЧ-{len(invoices) + 1:03d}")
            invoice.lines.new(account=accrual, origin=expense, quantity=1,
                unit_price=expense.covered_amount,
                description=f"{clinic.name}: {expense.rec_name}")
            invoice.click('post')
            invoices.append(invoice)
        lines = [l for i in invoices for l in i.lines_to_pay]
        if not lines:
            return
        pay = Wizard('account.move.line.pay', lines, config=self.config)
        pay.execute('next_')
        pay.form.journal = journal
        pay.execute('next_')
        payments = Payment.find([('state', '=', 'draft')],
            order=[('id', 'ASC')])
        # The second clinic's invoice is paid by half.
        payments[-1].amount = (payments[-1].amount / 2).quantize(
            Decimal('0.01'))
        payments[-1].save()
        Payment.click(payments, 'submit')
        Payment.click(payments, 'approve')
        Wizard('account.payment.process', payments, config=self.config)
        group = Payment(payments[0].id).group
        succeed = group.click('succeed_wizard')
        succeed.form.date = self.today
        succeed.execute('succeed')
        Move.click([Payment(p.id).clearing_move for p in payments], 'post')


def load_demo_data(config_file, name, persons):
    from proteus import config as pconfig
    config = pconfig.set_trytond(name, config_file=str(config_file))
    DemoData(config, persons).run()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-c', '--config', default=ROOT / 'config/trytond.conf')
    parser.add_argument('-d', '--database', default='assistance')
    parser.add_argument('--password', default='admin')
    parser.add_argument('--persons', type=int, default=300)
    parser.add_argument(
        '--reset', action='store_true', help="drop and rebuild the database")
    args = parser.parse_args()
    config_file = pathlib.Path(args.config).resolve()
    os.environ.setdefault('TRYTOND_CONFIG', str(config_file))
    default_paths()
    if args.reset:
        drop_database(config_file, args.database)
    if database_exists(config_file, args.database):
        print(f'Database "{args.database}" exists: reused '
            '(use --reset to rebuild it).')
        return
    try:
        create_database(config_file, args.database, args.password)
        load_demo_data(config_file, args.database, args.persons)
    except BaseException:
        # A half-built database would be "reused" by the next run.
        drop_database(config_file, args.database)
        raise
    print(f'Database "{args.database}" created with demo data.')


if __name__ == '__main__':
    main()
