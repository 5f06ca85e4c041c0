# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The coverage engine: one question, one answer (POL-2, POL-3, BIL-2, P5).

The ORM part: load the path of a policy for a service, sum the ledger for
each limit, lock what a declaration consumes; the decision itself is
coverage_rules.decide."""
from dataclasses import replace

from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import coverage_gate as gate
from . import coverage_path as path
from . import coverage_rules as rules
from .coverage import PERIODS
from .rpc_access import rpc_access


class CoverageVersionMixin:
    "A row that declarations lock and bump, see Policy.lock_coverage"
    __slots__ = ()
    coverage_version = fields.Integer("Coverage Version", readonly=True)

    @classmethod
    def bump_coverage_version(cls, ids):
        """Update the locked rows: under REPEATABLE READ a transaction whose
        snapshot predates another declaration's commit then fails to lock
        them (and is retried) instead of reading stale sums."""
        if not ids:
            return
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
            # An empty key (a cleared field) is no case.
            return case or None
        return f'{case.__name__},{case.id}'

    @classmethod
    def _coverage_case_name(cls, case):
        "Return the case in words for messages; override for case records"
        return case if isinstance(case, str) else None

    def _coverage_diagnoses(self, case, diagnosis):
        """Return the diagnoses the exclusions check, the request's own
        diagnosis among them; override to add the case's"""
        return [diagnosis] if diagnosis else []

    def coverage_structure(self):
        return path.contract_structure(self.contract.id)

    def find_option(self, service_id, ancestors=None):
        "Return the id of the option of the package that covers the service"
        if ancestors is None:
            ancestors = path.service_ancestors(service_id)
        structure = self.coverage_structure()
        for option_id in structure.packages.get(self.package.id, ()):
            if structure.options[option_id][1] & ancestors:
                return option_id

    def covered_services_count(self, services):
        "Return how many of services the package of the policy covers"
        return sum(1 for s in services if self.find_option(s.id))

    def find_exclusion(self, service_id, ancestors, diagnoses=()):
        """Return the label of the first exclusion that refuses the service
        for any of diagnoses"""
        exclusions = path.general_exclusions(self.contract.company.id) + (
            self.coverage_structure().exclusions)
        for exclusion in exclusions:
            if exclusion.package not in {None, self.package.id}:
                continue
            if exclusion.kind == 'service':
                refused = exclusion.service == service_id
            elif exclusion.kind == 'category':
                refused = exclusion.category in ancestors
            else:
                refused = rules.diagnoses_match(
                    diagnoses, exclusion.diagnoses)
            if refused:
                return exclusion.label

    def _term(self, scope):
        owner = self.contract if scope == 'contract' else self
        return owner.start_date, owner.end_date

    def sum_insured_rule(self, program_id):
        "Return the sum insured of the programme as an amount limit rule"
        label, sum_insured, options = self.coverage_structure().programs[
            program_id]
        return path.Rule(
            ('sum_insured', program_id),
            gettext('assistance_policy.msg_sum_insured_label',
                program=label),
            None, program_id, None, frozenset(), list(options), None, {
                'measure': 'amount', 'value': sum_insured, 'period': 'term',
                'scope': 'insured'})

    def _spec(self, rule, measure, period, scope, date, case_key):
        "Return the ledger sum to read for rule, or None when nothing counts"
        if period == 'case' and case_key is None:
            # Outside any case the request is a case of its own.
            return None, (None, None)
        first, last = (None, None)
        if period:
            first, last = rules.window(period, date, *self._term(scope))
        return {
            'measure': measure, 'scope': scope, 'first': first,
            'last': last, 'date': date,
            'case_key': case_key if period == 'case' else None,
            'options': rule.node_options, 'services': rule.services,
            }, (first, last)

    def coverage_states(self, date, limits, deductibles=(), case_key=None,
            pending=None):
        """Return the states of limits and deductibles (coverage_path.Rule)
        for a request on date, summing the ledger (and pending, see
        pending_consumption) in as few queries as the scopes allow."""
        ExpenseLine = Pool().get('assistance.expense.line')
        specs = []
        for limit in limits:
            values = limit.values
            specs.append(self._spec(limit, values['measure'],
                    values['period'], values['scope'], date, case_key))
        for deductible in deductibles:
            values = deductible.values
            application = values['application']
            period = {'period': values['period'], 'case': 'case'}.get(
                application)
            spec = (None, (None, None))
            if period:
                spec = self._spec(deductible, 'deductible', period,
                    'insured', date, case_key)
            specs.append(spec)
        sums = iter(ExpenseLine.consumptions(
                self, [s for s, _ in specs if s is not None], pending))
        results = [next(sums) if s is not None else (rules.ZERO, False)
            for s, _ in specs]
        limit_states = [rules.LimitState(
                limit.id, limit.label, limit.values['measure'],
                limit.values['value'], consumed, window, counted)
            for limit, ((consumed, counted), (_, window)) in zip(
                limits, zip(results, specs))]
        deductible_states = [rules.DeductibleState(
                d.id, d.label, d.values['kind'], d.values['value'],
                d.values['application'], taken)
            for d, (taken, _) in zip(deductibles, results[len(limits):])]
        return limit_states, deductible_states

    def coverage_rules_for(self, option_id, ancestors):
        "Return the limits and deductibles on the path of the service"
        structure = self.coverage_structure()
        program_id = structure.options[option_id][0]

        def on_path(rule):
            return path.rule_applies(
                rule, self.package.id, option_id, program_id, ancestors)
        return ([l for l in structure.limits if on_path(l)],
            [d for d in structure.deductibles if on_path(d)])

    def check_coverage(self, service, date, quantity, unit_price,
            case=None, diagnosis=None, pending=None):
        """Return the decision on service for quantity × unit_price on date:
        covered, partially covered or refused, with its explanation.

        pending: the consumptions, not in the ledger yet, to count as if
        declared (see pending_consumption)."""
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
        ancestors = path.service_ancestors(service.id)
        exclusion = self.find_exclusion(service.id, ancestors,
            self._coverage_diagnoses(case, diagnosis))
        if exclusion:
            return refuse(rules.EXCLUDED, exclusion=exclusion)
        option_id = self.find_option(service.id, ancestors)
        if not option_id:
            return refuse(rules.OUTSIDE_PROGRAM, service=service.rec_name)
        case_key = self._coverage_case_key(case)
        limits, deductibles = self.coverage_rules_for(option_id, ancestors)
        structure = self.coverage_structure()
        program_id = structure.options[option_id][0]
        if structure.programs[program_id][1] is not None:
            limits.append(self.sum_insured_rule(program_id))
        limit_states, deductible_states = self.coverage_states(
            date, limits, deductibles, case_key, pending)
        decision = rules.decide(
            quantity, unit_price, limit_states, deductible_states, digits)
        decision = replace(decision, option=option_id)
        if decision.reason and any(l.id == decision.biting
                and l.values['period'] == 'case' for l in limits):
            decision = replace(decision, reason_args={
                    **decision.reason_args,
                    'case': self._coverage_case_name(case)})
        return self._with_message(decision)

    def pending_consumption(self, service, date, decision, case=None):
        """Return what decision (of check_coverage) will consume once
        declared: for the next lines of a draft to be checked after it"""
        return {
            'policy': self.id,
            'contract': self.contract.id,
            'date': date,
            'case_key': self._coverage_case_key(case),
            'option': decision.option,
            'service': service.id,
            'amount': decision.covered_amount,
            'quantity': decision.covered_quantity,
            'deductible': decision.deductible,
            }

    def _with_message(self, decision):
        message = ''
        if decision.reason:
            args = dict(decision.reason_args)
            suffix = '_case' if args.get('case') else ''
            for name in ['remaining', 'value']:
                if name in args:
                    args[name] = self._format_limit_value(
                        args[name], args['measure'])
            message = gettext(
                f'assistance_policy.msg_coverage_{decision.reason}{suffix}',
                **args)
        return replace(decision, message=message)

    def _format_limit_value(self, value, measure):
        "Return value of a limit of measure in the user's language"
        Lang = Pool().get('ir.lang')
        if measure == 'amount':
            digits = self.contract.currency.digits
        else:
            # Sessions and days are whole numbers.
            digits = 0 if value == value.to_integral_value() else 2
        return Lang.get().format_number(value, digits)

    @classmethod
    def lock_coverage(cls, requests):
        """Lock what requests (policy, service, date) may consume: the
        policies, then the aggregate limits, each in the order of their ids.
        On PostgreSQL the declarations wait in turn at a gate taken between
        two attempts (coverage_gate), on SQLite Tryton takes the locks at
        the start of a retried transaction; either way the sums read
        afterwards see every committed declaration."""
        Limit = Pool().get('assistance.limit')
        if not requests:
            return
        policies, limits = set(), set()
        for policy, service, date in requests:
            policies.add(policy.id)
            ancestors = path.service_ancestors(service.id)
            option_id = policy.find_option(service.id, ancestors)
            if option_id:
                limits.update(l.id for l in policy.coverage_rules_for(
                        option_id, ancestors)[0]
                    if l.values['scope'] == 'contract')
        transaction = Transaction()
        if transaction.database.name and backend.name == 'postgresql':
            # Wait in turn at the gate, between two attempts (see
            # coverage_gate); the updates below lock the rows.
            keys = gate.gate_keys(
                [(cls._table, i) for i in policies]
                + [(Limit._table, i) for i in limits])
            if not gate.claim(keys):
                raise gate.CoverageGateError(keys)
        else:
            cls.lock(sorted(policies))
            if limits:
                Limit.lock(sorted(limits))
        cls.bump_coverage_version(sorted(policies))
        if limits:
            Limit.bump_coverage_version(sorted(limits))

    @classmethod
    @rpc_access('product.product')
    def coverage_check(cls, ids, service_id, date, quantity, unit_price,
            case_key=None, diagnosis=None):
        "RPC: return the decision for each policy as a dictionary"
        Product = Pool().get('product.product')
        # As for a button: a policy hidden by the record rules is an error.
        cls.read(ids, ['id'])
        service = Product(service_id)
        return [decision_dict(policy.check_coverage(
                    service, date, quantity, unit_price, case_key, diagnosis))
            for policy in cls.browse(ids)]

    def coverage_overview_lines(self, date):
        "Return every limit on the policy's path as it stands on date"
        structure = self.coverage_structure()
        programs = {structure.options[o][0]
            for o in structure.packages.get(self.package.id, ())}
        limits = [l for l in structure.limits
            if l.package in {None, self.package.id}
            and l.program in programs | {None}
            and (l.option is None
                or structure.options[l.option][0] in programs)]
        limits += [self.sum_insured_rule(p)
            for p in sorted(programs, key=lambda p: structure.programs[p][0])
            if structure.programs[p][1] is not None]
        states, _ = self.coverage_states(date, limits)
        return [overview_line(state, limit.values['period'],
                limit.values['scope'])
            for limit, state in zip(limits, states)]


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
