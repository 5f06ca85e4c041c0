"""Build a contract for coverage tests and benchmarks, and declare expenses
the way a client does (retrying a transaction that lost a lock race)."""
import datetime as dt
import random
import time
from decimal import Decimal

from proteus import Model

from trytond import backend
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError


def build_contract(insured, aggregate_limit=None, limits=(), name='test',
        start=dt.date(2025, 1, 1), config=None):
    """Create through proteus a contract with one programme covering one
    service, optional extra limits (dicts of assistance.limit values), an
    aggregate amount limit over the term, and insured policies.
    Return the ids."""
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules
    if config is None:
        config = activate_modules('assistance_policy', create_company)
    Category = Model.get('product.category', config=config)
    Template = Model.get('product.template', config=config)
    Uom = Model.get('product.uom', config=config)
    Party = Model.get('party.party', config=config)
    Contract = Model.get('assistance.contract', config=config)
    Program = Model.get('assistance.program', config=config)
    Package = Model.get('assistance.package', config=config)
    Policy = Model.get('assistance.policy', config=config)

    category = Category(name=f"Услуги {name}")
    category.save()
    unit, = Uom.find([('symbol', '=', 'u')])
    template = Template(name="Приём врача", type='service',
        default_uom=unit, list_price=Decimal(1000))
    template.categories.append(Category(category.id))
    template.save()
    service, = template.products
    insurer = Party(name="АО «Страховщик»")
    insurer.save()
    contract = Contract(number=f"N-{name}", insurer=insurer,
        policyholder=insurer, start_date=start,
        end_date=start.replace(year=start.year + 1) - dt.timedelta(1))
    program = contract.programs.new(code="P", name="Программа")
    option = program.options.new(code="O", name="Опция")
    option.categories.append(Category(category.id))
    if aggregate_limit is not None:
        contract.limits.new(name="Общий лимит договора", measure='amount',
            value=aggregate_limit, period='term', scope='contract')
    for values in limits:
        contract.limits.new(**values)
    contract.save()
    package = Package(contract=contract, code="A", name="Пакет")
    package.programs.append(Program(contract.programs[0].id))
    package.save()
    contract.click('activate')
    people = [Party(name=f"Застрахованный {i}") for i in range(insured)]
    Party.save(people)
    policies = [Policy(number=f"{i:06d}", contract=contract, insured=person,
            package=package) for i, person in enumerate(people)]
    Policy.save(policies)
    Policy.click(policies, 'activate')
    return {
        'config': config,
        'contract': contract.id,
        'option': contract.programs[0].options[0].id,
        'service': service.id,
        'policies': [p.id for p in policies],
        'start': contract.start_date,
        }


def declare_once(database, policy_id, service_id, date, unit_price,
        quantity=1, retries=500):
    """Create one expense line and declare it in its own transaction, as
    the dispatcher does for a client: a transaction that must take locks is
    restarted with them, one that lost a race is retried. Return the
    decision."""
    extras = {}
    for _ in range(retries):
        try:
            with Transaction().start(database, 0, **extras) as transaction:
                try:
                    return _declare(policy_id, service_id, date, unit_price,
                        quantity)
                except TransactionError as error:
                    transaction.rollback()
                    error.fix(extras)
                    continue
        except backend.DatabaseOperationalError:
            time.sleep(random.uniform(0.001, 0.02))
    raise RuntimeError("could not declare after %s attempts" % retries)


def _declare(policy_id, service_id, date, unit_price, quantity):
    Line = Pool().get('assistance.expense.line')
    line, = Line.create([{
                'policy': policy_id,
                'service': service_id,
                'date': date,
                'quantity': Decimal(quantity),
                'unit_price': Decimal(unit_price),
                }])
    line, = Line.declare([line])
    return {
        'status': line.coverage_status,
        'message': line.coverage_reason,
        'covered_amount': line.covered_amount,
        }
