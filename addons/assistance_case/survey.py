# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Quality of the help: the insured's answers and the NPS (CASE-4, P4)"
import datetime as dt

from sql import Literal, Null, Values
from sql.aggregate import Avg, Count, Max, Min, Sum
from sql.conditionals import Case as SqlCase
from sql.conditionals import Coalesce
from sql.functions import Round

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONEncoder
from trytond.transaction import Transaction
from trytond.wizard import StateAction, Wizard

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

    operator = fields.Many2One('res.user', "Operator",
        help="Only the answers on this operator's cases.")
    insurer = fields.Many2One('party.party', "Insurer",
        help="Only the answers on this insurer's cases.")

    @classmethod
    def default_start_date(cls):
        context = Transaction().context
        if 'start_date' in context:
            return context['start_date']
        today = Pool().get('ir.date').today()
        return today.replace(day=1)

    @classmethod
    def default_end_date(cls):
        return Transaction().context.get(
            'end_date', Pool().get('ir.date').today())

    @classmethod
    def default_operator(cls):
        return Transaction().context.get('operator')

    @classmethod
    def default_insurer(cls):
        return Transaction().context.get('insurer')


def answers_query(dates=True):
    """Return the query of the answers (date, recommend, provider
    satisfaction, operator, insurer) the context selects"""
    pool = Pool()
    survey = pool.get('assistance.survey').__table__()
    case = pool.get('assistance.case').__table__()
    policy = pool.get('assistance.policy').__table__()
    contract = pool.get('assistance.contract').__table__()
    context = Transaction().context
    where = Literal(True)
    if dates and context.get('start_date'):
        where &= survey.date >= context['start_date']
    if dates and context.get('end_date'):
        where &= survey.date <= context['end_date']
    if context.get('operator'):
        where &= case.operator == context['operator']
    if context.get('insurer'):
        where &= contract.insurer == context['insurer']
    return (survey
        .join(case, condition=survey.case == case.id)
        .join(policy, 'LEFT', condition=case.policy == policy.id)
        .join(contract, 'LEFT', condition=policy.contract == contract.id)
        .select(
            survey.id.as_('id'),
            survey.date.as_('date'),
            survey.recommend.as_('recommend'),
            survey.provider_satisfaction.as_('provider_satisfaction'),
            case.operator.as_('operator'),
            contract.insurer.as_('insurer'),
            where=where))


def count_columns(answer):
    "Return the answers, promoters, detractors and satisfaction columns"
    return [
        Count(answer.id).as_('answers'),
        Coalesce(Sum(SqlCase((answer.recommend >= nps_rules.PROMOTER, 1),
                    else_=0)), 0).as_('promoters'),
        Coalesce(Sum(SqlCase((answer.recommend <= nps_rules.DETRACTOR, 1),
                    else_=0)), 0).as_('detractors'),
        Round(Avg(answer.provider_satisfaction), 1).as_(
            'provider_satisfaction'),
        ]


class NpsFiguresMixin:
    "The figures of a group of answers, as count_columns computes them"
    __slots__ = ()
    answers = fields.Integer("Answers")
    promoters = fields.Integer("Promoters")
    detractors = fields.Integer("Detractors")
    nps = fields.Function(fields.Float("NPS", digits=(4, 1)), 'get_nps')
    provider_satisfaction = fields.Float(
        "Satisfaction with Providers", digits=(2, 1))

    def get_nps(self, name):
        return nps_rules.nps_from_counts(
            self.answers, self.promoters, self.detractors)


class Nps(NpsFiguresMixin, ModelSQL, ModelView):
    "NPS per Operator and Insurer"
    __string__ = "NPS per Operator and Insurer"
    __name__ = 'assistance.survey.nps'

    operator = fields.Many2One('res.user', "Operator")
    insurer = fields.Many2One('party.party', "Insurer")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('answers', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        answer = answers_query()
        return answer.select(
            Min(answer.id).as_('id'),
            answer.operator.as_('operator'),
            answer.insurer.as_('insurer'),
            *count_columns(answer),
            group_by=[answer.operator, answer.insurer])


class NpsTimeseriesContext(NpsContext):
    "NPS by Period Context"
    __string__ = "NPS by Period Context"
    __name__ = 'assistance.survey.nps.time_series.context'

    period = fields.Selection([
            ('month', "Month"),
            ('quarter', "Quarter"),
            ('year', "Year"),
            ], "Period", required=True, sort=False)

    @classmethod
    def default_start_date(cls):
        context = Transaction().context
        if 'start_date' in context:
            return context['start_date']
        # The last twelve months, the current one included.
        today = Pool().get('ir.date').today()
        year, month = divmod(today.year * 12 + today.month - 1 - 11, 12)
        return dt.date(year, month + 1, 1)

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')


class NpsTimeseries(NpsFiguresMixin, ModelSQL, ModelView):
    "NPS by Period"
    __string__ = "NPS by Period"
    __name__ = 'assistance.survey.nps.time_series'

    date = fields.Date("Period Start")
    end_date = fields.Date("Period End")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        # The periods are a VALUES list computed here rather than a
        # DATE_TRUNC: SQLite has no quarter, and the months without any
        # answer must appear too (a line graph with its gaps).
        answer = answers_query(dates=False)
        period = Values(cls._periods())
        return (period
            .join(answer, 'LEFT',
                condition=(answer.date >= period.column2)
                & (answer.date < period.column3))
            .select(
                period.column1.as_('id'),
                cls.date.sql_cast(period.column2).as_('date'),
                cls.end_date.sql_cast(period.column4).as_('end_date'),
                *count_columns(answer),
                group_by=[period.column1, period.column2, period.column4]))

    @classmethod
    def _periods(cls):
        "Return the (id, first day, next first day, last day) of the periods"
        context = Transaction().context
        start, end = context.get('start_date'), context.get('end_date')
        if not start or not end:
            first, last = cls._answer_dates()
            start, end = start or first, end or last
        rows = [
            [i, first, following, following - dt.timedelta(days=1)]
            for i, (first, following) in enumerate(nps_rules.periods(
                    start, end, context.get('period') or 'month'), 1)]
        # VALUES needs at least one row; this one matches no answer.
        return rows or [[1, end, end, end]]

    @classmethod
    def _answer_dates(cls):
        "Return the first and last dates of the answers, today without any"
        Survey = Pool().get('assistance.survey')
        survey = Survey.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*survey.select(Min(survey.date), Max(survey.date)))
        today = Pool().get('ir.date').today()
        # SQLite returns the aggregated dates as text.
        first, last = (
            dt.date.fromisoformat(d) if isinstance(d, str) else d
            for d in cursor.fetchone())
        return first or today, last or today


class NpsOpenTimeseries(Wizard):
    "Open the NPS by period of operators and insurers"
    __name__ = 'assistance.survey.nps.open_time_series'
    start_state = 'open_'
    open_ = StateAction('assistance_case.act_nps_time_series')

    def do_open_(self, action):
        context = Transaction().context
        record = self.record
        action_context = {
            'start_date': context.get('start_date'),
            'end_date': context.get('end_date'),
            'operator': record.operator.id if record.operator else None,
            'insurer': record.insurer.id if record.insurer else None,
            }
        action['pyson_context'] = PYSONEncoder().encode(action_context)
        names = [r.rec_name for r in [record.operator, record.insurer] if r]
        if names:
            action['name'] += ' — ' + ', '.join(names)
        return action, {}
