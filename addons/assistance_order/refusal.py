# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Refusals of service with their ground, and the refusal report (ORD-3)"
from sql import Literal, Null
from sql.aggregate import Count, Min
from sql.functions import CurrentTimestamp, DateTrunc

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .exceptions import RefusalValidationError

GROUNDS = [
    ('excluded', "Exclusion"),
    ('outside_program', "Outside the Programme"),
    ('limit', "Limit Exhausted"),
    ('no_policy', "No Policy in Force"),
    ('other', "Other"),
    ]


class Refusal(ModelSQL, ModelView):
    "Refusal of Service"
    __string__ = "Refusal of Service"
    __name__ = 'assistance.refusal'

    company = fields.Many2One('company.company', "Company", required=True)
    case = fields.Many2One(
        'assistance.case', "Case", required=True, ondelete='CASCADE')
    policy = fields.Many2One(
        'assistance.policy', "Policy",
        domain=[('insured', '=', Eval('insured', -1))])
    insured = fields.Function(
        fields.Many2One('party.party', "Insured Person",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'on_change_with_insured')
    contract = fields.Many2One(
        'assistance.contract', "Contract", readonly=True)
    insurer = fields.Many2One(
        'party.party', "Insurer", readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'})
    date = fields.Date("Date", required=True)
    service = fields.Many2One(
        'product.product', "Service", domain=[('type', '=', 'service')],
        context={'company': Eval('company', -1)}, depends={'company'})
    order_line = fields.Many2One(
        'assistance.order.line', "Order Line", readonly=True,
        ondelete='SET NULL')
    ground = fields.Selection(
        GROUNDS, "Ground", required=True, sort=False,
        help="Filled from the coverage engine's decision.")
    ground_detail = fields.Char(
        "Ground in Detail",
        help="The exclusion or limit that refuses, in words.")
    comment = fields.Text("Comment")
    operator = fields.Many2One('res.user', "Operator", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls.__access__.add('case')
        cls._sql_indexes.update({
                Index(t, (t.date, Index.Range())),
                Index(t, (t.case, Index.Range())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_operator(cls):
        return Transaction().user or None

    @staticmethod
    def default_ground():
        return 'other'

    @fields.depends('case', '_parent_case.insured')
    def on_change_with_insured(self, name=None):
        return self.case.insured if self.case else None

    @fields.depends('case', '_parent_case.id', '_parent_case.policy',
        '_parent_case.event_date', 'policy', methods=['on_change_service'])
    def on_change_case(self):
        "A refusal on a case concerns its policy and event date"
        if self.case:
            self.policy = self.policy or self.case.policy
            self.date = self.case.event_date
        self.on_change_service()

    @fields.depends('case', '_parent_case.id', '_parent_case.policy',
        '_parent_case.policy_reason', '_parent_case.insured',
        '_parent_case.event_date', 'policy', 'service', 'date')
    def on_change_service(self):
        "Take the ground from the engine's decision on the service"
        if self.case and self.service and self.policy == self.case.policy:
            # The policy taken from the case: the one for the service.
            self.policy = self.case.policy_for([self.service]) or self.policy
        if not (self.policy and self.service and self.date):
            return
        decision = self.policy.check_coverage(
            self.service, self.date, 1, 0, case=self.case)
        if decision.status == 'refused' and decision.reason in dict(GROUNDS):
            self.ground = decision.reason
            self.ground_detail = decision.message

    @classmethod
    def from_order_line(cls, line):
        "Return the refusal of a refused order line"
        order = line.order
        return cls(
            company=order.company,
            case=order.case,
            policy=order.policy,
            date=order.date,
            service=line.service,
            order_line=line,
            ground=line_ground(line),
            ground_detail=line.coverage_message)

    def get_rec_name(self, name):
        return f'{self.case.rec_name} — {self.ground_detail or ""}'.strip(
            ' —')

    @classmethod
    def preprocess_values(cls, mode, values):
        "Keep the contract and insurer of the policy for the report"
        pool = Pool()
        Policy = pool.get('assistance.policy')
        values = super().preprocess_values(mode, values)
        if values.get('policy'):
            policy = Policy(values['policy'])
            values['contract'] = policy.contract.id
            values['insurer'] = policy.contract.insurer.id
        elif 'policy' in values:
            values['contract'] = values['insurer'] = None
        return values

    @classmethod
    def validate_fields(cls, refusals, field_names):
        super().validate_fields(refusals, field_names)
        cls.check_ground(refusals, field_names)

    @classmethod
    def check_ground(cls, refusals, field_names=None):
        "A refusal on another ground than the engine's needs a comment"
        if field_names and not (field_names & {'ground', 'comment'}):
            return
        for refusal in refusals:
            if refusal.ground == 'other' and not refusal.comment:
                raise RefusalValidationError(gettext(
                        'assistance_order.msg_refusal_comment',
                        refusal=refusal.rec_name))


def line_ground(line):
    "Return the ground of a refused order line: the engine's reason"
    if line.coverage_reason in dict(GROUNDS):
        return line.coverage_reason
    return 'other'


class RefusalReportContext(ModelView):
    "Refusal Report Context"
    __string__ = "Refusal Report Context"
    __name__ = 'assistance.refusal.report.context'

    from_date = fields.Date("From Date",
        domain=[If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')), ())])
    to_date = fields.Date("To Date",
        domain=[If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')), ())])
    insurer = fields.Many2One('party.party', "Insurer")
    contract = fields.Many2One('assistance.contract', "Contract")

    @classmethod
    def default_from_date(cls):
        today = Pool().get('ir.date').today()
        return today.replace(day=1)

    @classmethod
    def default_to_date(cls):
        return Pool().get('ir.date').today()


class RefusalReport(ModelSQL, ModelView):
    "Refusals by month, insurer, contract and ground"
    __string__ = "Refusal Report"
    __name__ = 'assistance.refusal.report'

    month = fields.Date("Month")
    insurer = fields.Many2One('party.party', "Insurer")
    contract = fields.Many2One('assistance.contract', "Contract")
    ground = fields.Selection(GROUNDS, "Ground", sort=False)
    count = fields.Integer("Refusals")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('count', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Refusal = pool.get('assistance.refusal')
        refusal = Refusal.__table__()
        context = Transaction().context
        where = Literal(True)
        if context.get('from_date'):
            where &= refusal.date >= context['from_date']
        if context.get('to_date'):
            where &= refusal.date <= context['to_date']
        if context.get('insurer'):
            where &= refusal.insurer == context['insurer']
        if context.get('contract'):
            where &= refusal.contract == context['contract']
        # PostgreSQL groups by a column, not by an expression whose
        # parameters it sees twice.
        refusals = refusal.select(
            refusal.id, refusal.insurer, refusal.contract, refusal.ground,
            cls.month.sql_cast(
                DateTrunc('month', refusal.date)).as_('month'),
            where=where)
        return refusals.select(
            Min(refusals.id).as_('id'),
            Literal(0).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            Literal(Null).as_('write_uid'),
            Literal(Null).as_('write_date'),
            refusals.month,
            refusals.insurer,
            refusals.contract,
            refusals.ground,
            Count(refusals.id).as_('count'),
            group_by=[refusals.month, refusals.insurer, refusals.contract,
                refusals.ground])
