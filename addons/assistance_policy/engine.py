# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The coverage engine: one question, one answer (POL-2, POL-3, BIL-2, P5).

The ORM part: load the path of a policy for a service, sum the ledger for
each limit, lock what a declaration consumes; the decision itself is
coverage_rules.decide."""
from dataclasses import replace

from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import coverage_rules as rules
from .coverage import PERIODS


class CoverageVersionMixin:
    "A row that declarations lock and bump, see Policy.lock_coverage"
    __slots__ = ()
    coverage_version = fields.Integer("Coverage Version", readonly=True)

    @classmethod
    def bump_coverage_version(cls, ids):
        """Update the locked rows: under REPEATABLE READ a transaction whose
        snapshot predates another declaration's commit then fails to lock
        them (and is retried) instead of reading stale sums."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.coverage_version],
                [Coalesce(table.coverage_version, 0) + 1],
                where=table.id.in_(list(ids))))


class Limit(CoverageVersionMixin, metaclass=PoolMeta):
    __name__ = 'assistance.limit'


class Policy(CoverageVersionMixin, metaclass=PoolMeta):
    __name__ = 'assistance.policy'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'coverage_check': RPC(),
                })
        cls._buttons.update({
                'coverage_overview': {
                    'icon': 'tryton-board',
                    },
                })

    @classmethod
    @ModelView.button_action(
        'assistance_policy.wizard_policy_coverage_overview')
    def coverage_overview(cls, policies):
        pass

    # Hooks for the modules that own the assistance case.
    @classmethod
    def _coverage_case_key(cls, case):
        "Return the ledger's key of case; override where cases are records"
        if case is None or isinstance(case, str):
            return case
        return f'{case.__name__},{case.id}'

    def _coverage_diagnosis(self, case, diagnosis):
        "Return the diagnosis for the exclusions; override to read the case"
        return diagnosis

    def find_option(self, service):
        "Return the option of the policy's package that covers service"
        for program in sorted(self.package.programs, key=lambda p: (
                    p.code or '', p.id)):
            for option in program.options:
                if option.covers_product(service):
                    return option

    def find_exclusion(self, service, diagnosis=None):
        "Return the first exclusion that refuses service, or None"
        Exclusion = Pool().get('assistance.exclusion')
        exclusions = Exclusion.search([
                ('company', '=', self.contract.company.id),
                ['OR',
                    ('contract', '=', None),
                    [('contract', '=', self.contract.id),
                        ['OR',
                            ('package', '=', None),
                            ('package', '=', self.package.id),
                            ]],
                    ],
                ])
        for exclusion in exclusions:
            if exclusion.excludes(service, diagnosis):
                return exclusion

    def _term(self, scope):
        owner = self.contract if scope == 'contract' else self
        return owner.start_date, owner.end_date

    def limit_state(self, limit, date, case_key=None):
        "Return the state of limit for a request on date"
        ExpenseLine = Pool().get('assistance.expense.line')
        first, last = rules.window(
            limit.period, date, *self._term(limit.scope))
        if limit.period == 'case' and case_key is None:
            # Outside any case the request is a case of its own.
            consumed, counted = rules.ZERO, False
        else:
            consumed, counted = ExpenseLine.consumption(
                limit.measure, limit.scope, self, first, last,
                case_key=case_key if limit.period == 'case' else None,
                options=limit.node_options(),
                services=limit.service_ids(), date=date)
        return rules.LimitState(
            limit.id, limit.rec_name, limit.measure, limit.value, consumed,
            (first, last), counted)

    def sum_insured_state(self, program, date):
        "Return the sum insured of program as an amount limit over the term"
        ExpenseLine = Pool().get('assistance.expense.line')
        consumed, _ = ExpenseLine.consumption(
            'amount', 'insured', self, self.start_date, self.end_date,
            options=[o.id for o in program.options])
        label = gettext('assistance_policy.msg_sum_insured_label',
            program=program.rec_name)
        return rules.LimitState(
            ('sum_insured', program.id), label, 'amount', program.sum_insured,
            consumed, (self.start_date, self.end_date))

    def deductible_state(self, deductible, date, case_key=None):
        ExpenseLine = Pool().get('assistance.expense.line')
        application = deductible.effective_application
        taken = rules.ZERO
        if application == 'period' or (
                application == 'case' and case_key is not None):
            first, last = (None, None)
            if application == 'period':
                first, last = rules.window(
                    deductible.period, date, *self._term('insured'))
            taken, _ = ExpenseLine.consumption(
                'deductible', 'insured', self, first, last,
                case_key=case_key if application == 'case' else None,
                options=deductible.node_options(),
                services=deductible.service_ids())
        return rules.DeductibleState(
            deductible.id, deductible.rec_name, deductible.kind,
            deductible.value, application, taken)

    def coverage_rules_for(self, option, service):
        "Return the limits and deductibles on the path of service"
        limits = [l for l in self.contract.limits
            if l.applies_to(self, option) and l.matches_service(service)]
        deductibles = [d for d in self.contract.deductibles
            if d.applies_to(self, option) and d.matches_service(service)]
        return limits, deductibles

    def check_coverage(self, service, date, quantity, unit_price,
            case=None, diagnosis=None):
        """Return the decision on service for quantity × unit_price on date:
        covered, partially covered or refused, with its explanation."""
        digits = self.contract.currency.digits
        quantity, unit_price = rules.Decimal(quantity), rules.Decimal(
            unit_price)

        def refuse(reason, **args):
            decision = rules.refuse(
                quantity, unit_price, reason, digits, **args)
            return self._with_message(decision)

        if self.state != 'active' or not self.covers_date(date):
            return refuse(rules.NO_POLICY, policy=self.rec_name,
                date=date.strftime('%d.%m.%Y'))
        exclusion = self.find_exclusion(
            service, self._coverage_diagnosis(case, diagnosis))
        if exclusion:
            return refuse(rules.EXCLUDED, exclusion=exclusion.rec_name)
        option = self.find_option(service)
        if not option:
            return refuse(rules.OUTSIDE_PROGRAM, service=service.rec_name)
        case_key = self._coverage_case_key(case)
        limits, deductibles = self.coverage_rules_for(option, service)
        states = [self.limit_state(l, date, case_key) for l in limits]
        if option.program.sum_insured is not None:
            states.append(self.sum_insured_state(option.program, date))
        decision = rules.decide(
            quantity, unit_price, states,
            [self.deductible_state(d, date, case_key) for d in deductibles],
            digits)
        return self._with_message(replace(decision, option=option.id))

    def _with_message(self, decision):
        message = ''
        if decision.reason:
            message = gettext(
                f'assistance_policy.msg_coverage_{decision.reason}',
                **decision.reason_args)
        return replace(decision, message=message)

    @classmethod
    def lock_coverage(cls, requests):
        """Lock what requests (policy, service, date) may consume: the
        policies, then the aggregate limits, each in the order of their ids.
        Tryton takes the locks at the start of a retried transaction, so the
        sums read afterwards see every committed declaration."""
        Limit = Pool().get('assistance.limit')
        policies, limits = set(), set()
        for policy, service, date in requests:
            policies.add(policy.id)
            option = policy.find_option(service)
            if option:
                limits.update(l.id
                    for l in policy.coverage_rules_for(option, service)[0]
                    if l.scope == 'contract')
        cls.lock(sorted(policies))
        cls.bump_coverage_version(sorted(policies))
        if limits:
            Limit.lock(sorted(limits))
            Limit.bump_coverage_version(sorted(limits))

    @classmethod
    def coverage_check(cls, ids, service_id, date, quantity, unit_price,
            case_key=None, diagnosis=None):
        "RPC: return the decision for each policy as a dictionary"
        Product = Pool().get('product.product')
        service = Product(service_id)
        return [decision_dict(policy.check_coverage(
                    service, date, quantity, unit_price, case_key, diagnosis))
            for policy in cls.browse(ids)]

    def coverage_overview_lines(self, date):
        "Return every limit on the policy's path as it stands on date"
        programs = set(self.package.programs)
        lines = []
        for limit in self.contract.limits:
            if (limit.package and limit.package != self.package
                    or limit.program and limit.program not in programs
                    or limit.option and limit.option.program not in programs):
                continue
            state = self.limit_state(limit, date)
            lines.append(overview_line(state, limit.period, limit.scope))
        for program in sorted(programs, key=lambda p: (p.code or '', p.id)):
            if program.sum_insured is not None:
                lines.append(overview_line(
                        self.sum_insured_state(program, date), 'term',
                        'insured'))
        return lines


def decision_dict(decision):
    return {
        'status': decision.status,
        'reason': decision.reason,
        'message': decision.message,
        'option': decision.option,
        'requested_amount': decision.requested_amount,
        'covered_quantity': decision.covered_quantity,
        'covered_amount': decision.covered_amount,
        'deductible': decision.deductible,
        'insured_amount': decision.insured_amount,
        'limits': [{
                'label': u.label,
                'measure': u.measure,
                'value': u.value,
                'window_start': u.window[0],
                'window_end': u.window[1],
                'consumed': u.consumed,
                'remaining_before': u.remaining_before,
                'remaining_after': u.remaining_after,
                } for u in decision.limits],
        }


def overview_line(state, period, scope):
    return {
        'rule': state.label,
        'measure': state.measure,
        'period': period,
        'scope': scope,
        'window_start': state.window[0],
        'window_end': state.window[1],
        'value': state.value,
        'consumed': state.consumed if period != 'case' else None,
        'remaining': state.remaining if period != 'case' else None,
        }


class CoverageOverviewStart(ModelView):
    __name__ = 'assistance.policy.coverage_overview.start'
    policy = fields.Many2One('assistance.policy', "Policy", readonly=True)
    date = fields.Date("Date", required=True)
    lines = fields.One2Many(
        'assistance.policy.coverage_overview.line', None, "Limits",
        readonly=True)


class CoverageOverviewLine(ModelView):
    __name__ = 'assistance.policy.coverage_overview.line'
    rule = fields.Char("Limit")
    measure = fields.Selection([
            ('amount', "Amount"),
            ('quantity', "Quantity"),
            ('days', "Distinct Days"),
            ], "Measure")
    period = fields.Selection(PERIODS, "Period")
    scope = fields.Selection([
            ('insured', "Each Insured Person"),
            ('contract', "All Insured of the Contract"),
            ], "Whose Consumption")
    window_start = fields.Date("From")
    window_end = fields.Date("To")
    value = fields.Numeric("Limit Value", digits=(16, 2))
    consumed = fields.Numeric("Consumed", digits=(16, 2))
    remaining = fields.Numeric(
        "Remaining", digits=(16, 2),
        states={'invisible': Eval('period') == 'case'})


class CoverageOverview(Wizard):
    "The limits of a policy, consumed and remaining on a date (BIL-2)"
    __name__ = 'assistance.policy.coverage_overview'
    start = StateView(
        'assistance.policy.coverage_overview.start',
        'assistance_policy.policy_coverage_overview_start_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            Button("Refresh", 'refresh', 'tryton-refresh'),
            ])
    refresh = StateTransition()

    def default_start(self, fields):
        date = getattr(self.start, 'date', None)
        if not date:
            date = Pool().get('ir.date').today()
        policy = self.record
        return {
            'policy': policy.id,
            'date': date,
            'lines': policy.coverage_overview_lines(date),
            }

    def transition_refresh(self):
        return 'start'
