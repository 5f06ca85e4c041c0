# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Quality of the help: the insured's answers and the NPS (CASE-4, P4)"
from sql import Literal, Null
from sql.aggregate import Avg, Count, Min, Sum
from sql.functions import Round
from sql.conditionals import Case as SqlCase

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import nps as nps_rules


class Survey(ModelSQL, ModelView):
    "Quality Survey"
    __string__ = "Quality Survey"
    __name__ = 'assistance.survey'

    case = fields.Many2One(
        'assistance.case', "Case", required=True, ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    recommend = fields.Integer(
        "Likelihood to Recommend", required=True,
        domain=[('recommend', '>=', 0), ('recommend', '<=', 10)],
        help="0 (never) to 10 (certainly): would the insured recommend us?")
    category = fields.Function(fields.Selection([
                (None, ""),
                ('promoter', "Promoter"),
                ('passive', "Passive"),
                ('detractor', "Detractor"),
                ], "NPS Category"), 'on_change_with_category')
    comment = fields.Text("Comment")
    provider_satisfaction = fields.Integer(
        "Satisfaction with the Provider",
        domain=['OR',
            ('provider_satisfaction', '=', None),
            [('provider_satisfaction', '>=', 1),
                ('provider_satisfaction', '<=', 5)],
            ],
        help="1 (very bad) to 5 (excellent).")
    operator = fields.Function(fields.Many2One('res.user', "Operator"),
        'get_case_field')
    insurer = fields.Function(fields.Many2One('party.party', "Insurer"),
        'get_case_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('case')
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('recommend')
    def on_change_with_category(self, name=None):
        if self.recommend is not None:
            return nps_rules.category(self.recommend)

    def get_case_field(self, name):
        if name == 'operator':
            return self.case.operator.id
        if self.case.policy:
            return self.case.policy.contract.insurer.id

    @classmethod
    def compute_nps(cls, domain=None):
        "Return the NPS of the surveys matching domain, None without any"
        return nps_rules.nps(s.recommend for s in cls.search(domain or []))


class NpsContext(ModelView):
    "NPS Context"
    __string__ = "NPS Context"
    __name__ = 'assistance.survey.nps.context'

    start_date = fields.Date("Start Date",
        domain=['OR',
            ('start_date', '<=', Eval('end_date', None)),
            ('end_date', '=', None),
            ])
    end_date = fields.Date("End Date",
        domain=['OR',
            ('end_date', '>=', Eval('start_date', None)),
            ('start_date', '=', None),
            ])

    @classmethod
    def default_start_date(cls):
        today = Pool().get('ir.date').today()
        return today.replace(day=1)

    @classmethod
    def default_end_date(cls):
        return Pool().get('ir.date').today()


class Nps(ModelSQL, ModelView):
    "NPS per Operator and Insurer"
    __string__ = "NPS per Operator and Insurer"
    __name__ = 'assistance.survey.nps'

    operator = fields.Many2One('res.user', "Operator")
    insurer = fields.Many2One('party.party', "Insurer")
    answers = fields.Integer("Answers")
    promoters = fields.Integer("Promoters")
    detractors = fields.Integer("Detractors")
    nps = fields.Function(fields.Float("NPS", digits=(4, 1)), 'get_nps')
    provider_satisfaction = fields.Float(
        "Satisfaction with Providers", digits=(2, 1))

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('answers', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        survey = pool.get('assistance.survey').__table__()
        case = pool.get('assistance.case').__table__()
        policy = pool.get('assistance.policy').__table__()
        contract = pool.get('assistance.contract').__table__()
        context = Transaction().context
        where = Literal(True)
        if context.get('start_date'):
            where &= survey.date >= context['start_date']
        if context.get('end_date'):
            where &= survey.date <= context['end_date']
        return (survey
            .join(case, condition=survey.case == case.id)
            .join(policy, 'LEFT', condition=case.policy == policy.id)
            .join(contract, 'LEFT', condition=policy.contract == contract.id)
            .select(
                Min(survey.id).as_('id'),
                case.operator.as_('operator'),
                contract.insurer.as_('insurer'),
                Count(survey.id).as_('answers'),
                Sum(SqlCase((survey.recommend >= nps_rules.PROMOTER, 1),
                        else_=0)).as_('promoters'),
                Sum(SqlCase((survey.recommend <= nps_rules.DETRACTOR, 1),
                        else_=0)).as_('detractors'),
                Round(Avg(SqlCase(
                            (survey.provider_satisfaction != Null,
                                survey.provider_satisfaction),
                            else_=Null)), 1).as_('provider_satisfaction'),
                where=where,
                group_by=[case.operator, contract.insurer]))

    def get_nps(self, name):
        return nps_rules.nps_from_counts(
            self.answers, self.promoters, self.detractors)
