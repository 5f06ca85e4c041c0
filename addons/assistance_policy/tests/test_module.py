# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import datetime as dt
from decimal import Decimal

from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class AssistancePolicyTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Assistance Policy module"
    module = 'assistance_policy'

    @with_transaction()
    def test_option_covers_sub_categories(self):
        "An option covers the services of its categories' children"
        pool = Pool()
        Category = pool.get('product.category')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        Option = pool.get('assistance.option')

        medical, = Category.create([{'name': "Medical"}])
        dental, = Category.create([{'name': "Dental", 'parent': medical.id}])
        towing, = Category.create([{'name': "Towing"}])
        unit, = Uom.search([('symbol', '=', 'u')])
        filling, tow = Template.create([{
                    'name': name, 'type': 'service', 'default_uom': unit.id,
                    'categories': [('add', [category.id])],
                    'products': [('create', [{}])],
                    } for name, category in [
                    ("Filling", dental), ("Tow", towing)]])
        option = Option(categories=[medical])

        self.assertTrue(option.covers_product(filling.products[0]))
        self.assertFalse(option.covers_product(tow.products[0]))

    @with_transaction()
    def test_date_period_covers_date(self):
        "A period includes both its start and its end"
        Policy = Pool().get('assistance.policy')
        policy = Policy(
            start_date=dt.date(2024, 1, 1), end_date=dt.date(2024, 12, 31))

        self.assertTrue(policy.covers_date(dt.date(2024, 1, 1)))
        self.assertTrue(policy.covers_date(dt.date(2024, 12, 31)))
        self.assertFalse(policy.covers_date(dt.date(2025, 1, 1)))
        self.assertFalse(policy.covers_date(dt.date(2023, 12, 31)))

    @with_transaction()
    def test_ledger_days_query(self):
        "The days of pending lines are looked up in the ledger by one query"
        from types import SimpleNamespace
        ExpenseLine = Pool().get('assistance.expense.line')
        policy = SimpleNamespace(id=1, contract=SimpleNamespace(id=1))
        spec = {
            'measure': 'days', 'scope': 'insured',
            'first': dt.date(2025, 1, 1), 'last': dt.date(2025, 1, 31),
            'date': dt.date(2025, 1, 3), 'case_key': 'assistance.case,1',
            'options': [1], 'services': [2],
            }

        for scope in ['insured', 'contract']:
            self.assertEqual(ExpenseLine._ledger_days(
                    policy, dict(spec, scope=scope),
                    {dt.date(2025, 1, 2), dt.date(2025, 1, 3)}), set())
        self.assertEqual(ExpenseLine._ledger_days(policy, spec, set()), set())

    @with_transaction()
    def test_ledger_days_skip_refused_lines(self):
        "A day counts in the ledger only when a line of it covered something"
        pool = Pool()
        Party = pool.get('party.party')
        Contract = pool.get('assistance.contract')
        Package = pool.get('assistance.package')
        Policy = pool.get('assistance.policy')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        ExpenseLine = pool.get('assistance.expense.line')
        refused_day, covered_day = dt.date(2025, 1, 2), dt.date(2025, 1, 3)

        company = create_company()
        with set_company(company):
            insurer, insured = Party.create([
                    {'name': "Insurer"}, {'name': "Insured"}])
            contract, = Contract.create([{
                        'number': "C", 'insurer': insurer.id,
                        'policyholder': insurer.id,
                        'start_date': dt.date(2025, 1, 1),
                        'end_date': dt.date(2025, 12, 31)}])
            package, = Package.create([{
                        'contract': contract.id, 'code': "P", 'name': "P"}])
            policy, = Policy.create([{
                        'number': "1", 'contract': contract.id,
                        'insured': insured.id, 'package': package.id,
                        'start_date': contract.start_date,
                        'end_date': contract.end_date}])
            unit, = Uom.search([('symbol', '=', 'u')])
            template, = Template.create([{
                        'name': "Bed Day", 'type': 'service',
                        'default_uom': unit.id,
                        'products': [('create', [{}])]}])
            service, = template.products
            lines = ExpenseLine.create([{
                        'policy': policy.id, 'service': service.id,
                        'date': day, 'quantity': 1, 'unit_price': 10,
                        } for day in [refused_day, covered_day]])
            # As declared by the engine: the first refused, the second not.
            table = ExpenseLine.__table__()
            cursor = Transaction().connection.cursor()
            for line, covered in zip(lines, [0, 1]):
                cursor.execute(*table.update(
                        [table.state, table.contract, table.covered_quantity],
                        ['declared', contract.id, Decimal(covered)],
                        where=table.id == line.id))
            spec = {
                'measure': 'days', 'scope': 'insured',
                'first': dt.date(2025, 1, 1), 'last': dt.date(2025, 1, 31),
                'date': refused_day, 'case_key': None, 'options': None,
                'services': None,
                }

            for scope in ['insured', 'contract']:
                spec['scope'] = scope
                self.assertEqual(ExpenseLine._ledger_days(
                        policy, spec, {refused_day, covered_day}),
                    {covered_day})
                self.assertEqual(
                    ExpenseLine.consumptions(policy, [spec]),
                    [(Decimal(1), False)])


del ModuleTestCase
