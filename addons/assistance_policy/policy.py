# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import datetime

from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.rpc import RPC

from .contract import DatePeriodMixin
from .exceptions import PolicyValidationError
from .rpc_access import rpc_access


class Policy(DatePeriodMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'assistance.policy'
    _rec_name = 'number'
    _history = True
    _states = {
        'readonly': Eval('state') != 'draft',
        }

    number = fields.Char("Number", required=True, states=_states)
    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, states=_states,
        domain=[('state', 'in', ['draft', 'active'])])
    insurer = fields.Function(
        fields.Many2One('party.party', "Insurer",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'on_change_with_insurer', searcher='search_insurer')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    insured = fields.Many2One(
        'party.party', "Insured Person", required=True, states=_states,
        context={'company': Eval('company', -1)}, depends={'company'})
    package = fields.Many2One(
        'assistance.package', "Package", required=True,
        domain=[('contract', '=', Eval('contract', -1))],
        states={
            'readonly': Eval('state').in_(['cancelled']),
            })
    programs = fields.Function(
        fields.Many2Many(
            'assistance.program', None, None, "Programmes", readonly=True),
        'on_change_with_programs')
    previous_policy = fields.Many2One(
        'assistance.policy', "Previous Policy",
        domain=[
            ('insured', '=', Eval('insured', -1)),
            ('id', '!=', Eval('id', -1)),
            ],
        states=_states,
        help="The policy of the previous period that this one prolongs.")
    next_policies = fields.One2Many(
        'assistance.policy', 'previous_policy', "Prolongations",
        readonly=True)
    chain = fields.Function(
        fields.Many2Many('assistance.policy', None, None, "Prolongation Chain",
            help="All the periods of this policy, "
            "from the first one to the latest prolongation."),
        'get_chain')
    person_policies = fields.Function(
        fields.Many2Many('assistance.policy', None, None,
            "All Policies of the Insured",
            help="Every policy of the insured person, "
            "in all contracts and all periods."),
        'get_person_policies')
    period_status = fields.Function(
        fields.Selection([
                ('not_started', "Not yet started"),
                ('current', "Current"),
                ('expired', "Expired"),
                ], "Period"),
        'get_period_status')
    state = fields.Selection([
            ('draft', "Draft"),
            ('active', "Active"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('contract')
        t = cls.__table__()
        cls._sql_constraints = [
            ('contract_number_uniq', Unique(t, t.contract, t.number),
                'assistance_policy.msg_policy_number_unique'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.insured, Index.Range()),
                    (t.start_date, Index.Range()),
                    (t.end_date, Index.Range())),
                Index(t, (t.previous_policy, Index.Range())),
                # Registers and lists name policies by their number.
                Index(t, (t.number, Index.Equality())),
                })
        cls._order = [
            ('start_date', 'DESC'), ('number', 'ASC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'active_policy_ids': RPC(),
                })
        cls._transitions |= {
            ('draft', 'active'),
            ('active', 'cancelled'),
            ('draft', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'activate': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
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
                'prolong': {
                    'invisible': Eval('state') != 'active',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @fields.depends('contract', '_parent_contract.insurer')
    def on_change_with_insurer(self, name=None):
        return self.contract.insurer if self.contract else None

    @classmethod
    def search_insurer(cls, name, clause):
        return [('contract.insurer' + clause[0][len(name):], *clause[1:])]

    @fields.depends('contract', '_parent_contract.company')
    def on_change_with_company(self, name=None):
        return self.contract.company if self.contract else None

    @classmethod
    def search_company(cls, name, clause):
        return [('contract.company' + clause[0][len(name):], *clause[1:])]

    @fields.depends('package')
    def on_change_with_programs(self, name=None):
        return list(self.package.programs) if self.package else []

    @fields.depends('contract', 'start_date', 'end_date')
    def on_change_contract(self):
        if self.contract:
            self.start_date = self.start_date or self.contract.start_date
            self.end_date = self.end_date or self.contract.end_date

    def get_rec_name(self, name):
        return f'{self.number} — {self.insured.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('number', *clause[1:]),
            ('insured', *clause[1:]),
            ]

    def get_chain(self, name):
        first = self
        while first.previous_policy:
            first = first.previous_policy
        chain, todo = [], [first]
        while todo:
            policy = todo.pop()
            chain.append(policy)
            todo.extend(policy.next_policies)
        return [p.id for p in sorted(chain, key=lambda p: p.start_date)]

    @classmethod
    def get_person_policies(cls, policies, name):
        insured = {p.insured.id for p in policies}
        by_insured = {i: [] for i in insured}
        for policy in cls.search(
                [('insured', 'in', list(insured))],
                order=[('start_date', 'ASC'), ('id', 'ASC')]):
            by_insured[policy.insured.id].append(policy.id)
        return {p.id: by_insured[p.insured.id] for p in policies}

    def get_period_status(self, name):
        today = Pool().get('ir.date').today()
        if today < self.start_date:
            return 'not_started'
        elif today > self.end_date:
            return 'expired'
        return 'current'

    @classmethod
    def validate_fields(cls, policies, field_names):
        super().validate_fields(policies, field_names)
        cls.check_package(policies, field_names)
        cls.check_previous_policy(policies, field_names)

    @classmethod
    def check_package(cls, policies, field_names=None):
        if field_names and not (field_names & {'package', 'contract'}):
            return
        for policy in policies:
            if policy.package.contract != policy.contract:
                raise PolicyValidationError(gettext(
                        'assistance_policy.msg_policy_package_contract',
                        policy=policy.rec_name,
                        package=policy.package.rec_name))

    @classmethod
    def check_previous_policy(cls, policies, field_names=None):
        if field_names and not (
                field_names & {'previous_policy', 'start_date', 'insured'}):
            return
        for policy in policies:
            previous = policy.previous_policy
            if not previous:
                continue
            if (previous.insured != policy.insured
                    or previous.start_date >= policy.start_date):
                raise PolicyValidationError(gettext(
                        'assistance_policy.msg_policy_previous',
                        policy=policy.rec_name,
                        previous=previous.rec_name))

    @classmethod
    def _active_domain(cls, date):
        "The domain of the policies in force on date"
        return [
            ('state', '=', 'active'),
            ('start_date', '<=', date),
            ('end_date', '>=', date),
            ]

    @classmethod
    def get_active_policies(cls, insured, date=None, services=None):
        """Return the policies of insured in force on date (default today),
        the most relevant first: those whose package covers most of services
        (products, when known), then the latest period, the latest record."""
        if date is None:
            date = Pool().get('ir.date').today()
        policies = cls.search(
            [('insured', '=', insured.id if insured else None)]
            + cls._active_domain(date),
            order=[('start_date', 'DESC'), ('id', 'DESC')])
        if services and len(policies) > 1:
            # A stable sort keeps the latest first among equals.
            policies.sort(key=lambda p: -p.covered_services_count(services))
        return policies

    @classmethod
    def get_active_policy(cls, insured, date=None, services=None):
        "Return the policy of insured in force on date or None (POL-4)"
        policies = cls.get_active_policies(insured, date, services)
        return policies[0] if policies else None

    @classmethod
    @rpc_access()
    def active_policy_ids(cls, insured_ids, date=None, service_id=None):
        """Return for each insured id the id of its policy in force or None,
        preferring one that covers the service of id service_id (the policies
        hidden by the record rules are not searched)"""
        pool = Pool()
        Party = pool.get('party.party')
        Product = pool.get('product.product')
        services = [Product(service_id)] if service_id is not None else None
        result = []
        for insured in Party.browse(insured_ids):
            policy = cls.get_active_policy(insured, date, services)
            result.append(policy.id if policy else None)
        return result

    @classmethod
    @ModelView.button
    @Workflow.transition('active')
    def activate(cls, policies):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, policies):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, policies):
        pass

    @classmethod
    @ModelView.button_action('assistance_policy.act_policy_form')
    def prolong(cls, policies):
        "Create the next period's draft policy for each policy"
        prolongations = cls.create([p._prolongation_values() for p in policies])
        if len(prolongations) == 1:
            return {'res_id': [prolongations[0].id]}
        return {
            'domain': [('id', 'in', [p.id for p in prolongations])],
            }

    def _prolongation_values(self):
        "Return the values of the policy that prolongs self"
        start = self.end_date + datetime.timedelta(days=1)
        length = self.end_date - self.start_date
        contract, package = self.contract, self.package
        renewal = self._get_renewal_contract()
        if renewal:
            contract = renewal
            package = next(
                (p for p in renewal.packages if p.code == self.package.code),
                None) or (renewal.packages[0] if renewal.packages else None)
        number = self.number
        if contract == self.contract:
            number = f'{self.number}/{len(self.chain) + 1}'
        return {
            'number': number,
            'contract': contract.id,
            'insured': self.insured.id,
            'package': package.id if package else None,
            'start_date': start,
            'end_date': start + length,
            'previous_policy': self.id,
            }

    def _get_renewal_contract(self):
        "Return the contract that prolongs self's, override to choose another"
        renewals = [c for c in self.contract.renewals
            if c.state in {'draft', 'active'}]
        return renewals[0] if renewals else None
