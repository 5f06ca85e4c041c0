# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from . import coverage_path
from .exceptions import ContractAccessError, ContractValidationError


class DatePeriodMixin:
    "A record valid from start_date to end_date (both included)"
    __slots__ = ()
    start_date = fields.Date("Start Date", required=True)
    end_date = fields.Date(
        "End Date", required=True,
        domain=[
            If(Bool(Eval('start_date')) & Bool(Eval('end_date')),
                ('end_date', '>=', Eval('start_date')),
                ()),
            ])

    def covers_date(self, date):
        return self.start_date <= date <= self.end_date


class Contract(DatePeriodMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'assistance.contract'
    _rec_name = 'number'
    _states = {
        'readonly': Eval('state').in_(['closed', 'cancelled']),
        }

    number = fields.Char("Number", required=True, states=_states)
    insurer = fields.Many2One(
        'party.party', "Insurer", required=True, states=_states,
        context={'company': Eval('company', -1)}, depends={'company'})
    policyholder = fields.Many2One(
        'party.party', "Policyholder", required=True, states=_states,
        context={'company': Eval('company', -1)}, depends={'company'})
    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True, states=_states)
    premium = Monetary(
        "Premium", currency='currency', digits='currency', states=_states,
        help="The premium the insurer earns on this contract, "
        "used for the loss ratio.")
    renewal_of = fields.Many2One(
        'assistance.contract', "Renewal of", states=_states,
        domain=[
            ('insurer', '=', Eval('insurer', -1)),
            ('id', '!=', Eval('id', -1)),
            ],
        help="The contract of the previous period that this one prolongs.")
    renewals = fields.One2Many(
        'assistance.contract', 'renewal_of', "Renewals", readonly=True)
    packages = fields.One2Many(
        'assistance.package', 'contract', "Packages", states=_states)
    programs = fields.One2Many(
        'assistance.program', 'contract', "Programmes", states=_states)
    policies = fields.One2Many(
        'assistance.policy', 'contract', "Policies", readonly=True)
    comment = fields.Text("Comment")
    state = fields.Selection([
            ('draft', "Draft"),
            ('active', "Active"),
            ('closed', "Closed"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('insurer_number_uniq', Unique(t, t.insurer, t.number),
                'assistance_policy.msg_contract_number_unique'),
            ]
        cls._order = [
            ('start_date', 'DESC'), ('number', 'ASC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'active'),
            ('active', 'closed'),
            ('closed', 'active'),
            ('draft', 'cancelled'),
            ('active', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'activate': {
                    'invisible': ~Eval('state').in_(['draft', 'closed']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'active',
                    'icon': 'tryton-close',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['draft', 'active']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_currency():
        pool = Pool()
        Company = pool.get('company.company')
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            return Company(company_id).currency.id

    def get_rec_name(self, name):
        return f'{self.number} ({self.insurer.rec_name})'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('number', *clause[1:]),
            ('insurer', *clause[1:]),
            ('policyholder', *clause[1:]),
            ]

    @classmethod
    def check_modification(cls, mode, contracts, values=None, external=False):
        super().check_modification(
            mode, contracts, values=values, external=external)
        if mode == 'delete':
            for contract in contracts:
                if contract.state not in {'draft', 'cancelled'}:
                    raise ContractAccessError(gettext(
                            'assistance_policy.msg_contract_delete_draft',
                            contract=contract.rec_name))

    @classmethod
    def validate_fields(cls, contracts, field_names):
        super().validate_fields(contracts, field_names)
        cls.check_renewal_dates(contracts, field_names)

    @classmethod
    def check_renewal_dates(cls, contracts, field_names=None):
        if field_names and not (
                field_names & {'renewal_of', 'start_date'}):
            return
        for contract in contracts:
            previous = contract.renewal_of
            if previous and previous.start_date >= contract.start_date:
                raise ContractValidationError(gettext(
                        'assistance_policy.msg_contract_renewal_dates',
                        contract=contract.rec_name,
                        previous=previous.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('active')
    def activate(cls, contracts):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, contracts):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, contracts):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, contracts):
        pass


class ContractNodeMixin:
    "A node of a contract's coverage structure"
    __slots__ = ()
    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code",
        help="The code the insurer uses for it in its policy lists.")

    def get_rec_name(self, name):
        if self.code:
            return f'[{self.code}] {self.name}'
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('name', *clause[1:]),
            ('code', *clause[1:]),
            ]


class Package(ContractNodeMixin, DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'assistance.package'
    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, ondelete='CASCADE')
    programs = fields.Many2Many(
        'assistance.package-assistance.program', 'package', 'program',
        "Programmes",
        domain=[('contract', '=', Eval('contract', -1))])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('contract')
        t = cls.__table__()
        cls._sql_constraints = [
            ('contract_code_uniq', Unique(t, t.contract, t.code),
                'assistance_policy.msg_package_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))


class Program(ContractNodeMixin, ModelSQL, ModelView):
    __name__ = 'assistance.program'
    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, ondelete='CASCADE')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    sum_insured = Monetary(
        "Sum Insured", currency='currency', digits='currency',
        help="The overall amount the programme pays for one insured person "
        "over the policy's term.")
    options = fields.One2Many('assistance.option', 'program', "Options")
    packages = fields.Many2Many(
        'assistance.package-assistance.program', 'program', 'package',
        "Packages",
        domain=[('contract', '=', Eval('contract', -1))])

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('contract')
        t = cls.__table__()
        cls._sql_constraints = [
            ('contract_code_uniq', Unique(t, t.contract, t.code),
                'assistance_policy.msg_program_code_unique'),
            ]
        cls._order.insert(0, ('code', 'ASC'))

    @fields.depends('contract', '_parent_contract.currency')
    def on_change_with_currency(self, name=None):
        return self.contract.currency if self.contract else None


class PackageProgram(ModelSQL):
    __name__ = 'assistance.package-assistance.program'
    package = fields.Many2One(
        'assistance.package', "Package", required=True, ondelete='CASCADE')
    program = fields.Many2One(
        'assistance.program', "Programme", required=True, ondelete='CASCADE')


class Option(ContractNodeMixin, ModelSQL, ModelView):
    __name__ = 'assistance.option'
    program = fields.Many2One(
        'assistance.program', "Programme", required=True, ondelete='CASCADE')
    contract = fields.Function(
        fields.Many2One('assistance.contract', "Contract"),
        'on_change_with_contract', searcher='search_contract')
    categories = fields.Many2Many(
        'assistance.option-product.category', 'option', 'category',
        "Service Categories",
        help="The categories of services the option covers "
        "(their sub-categories included).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('program')
        cls._order.insert(0, ('code', 'ASC'))

    @fields.depends('program', '_parent_program.contract')
    def on_change_with_contract(self, name=None):
        return self.program.contract if self.program else None

    @classmethod
    def search_contract(cls, name, clause):
        return [('program.' + clause[0], *clause[1:])]

    def covers_product(self, product):
        "Tell whether the service falls in one of the option's categories"
        return bool({c.id for c in self.categories}
            & coverage_path.service_ancestors(product.id))


class OptionCategory(ModelSQL):
    __name__ = 'assistance.option-product.category'
    option = fields.Many2One(
        'assistance.option', "Option", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Category", required=True, ondelete='CASCADE')
