# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Manager performance (REP-2): per operator and month, the cases opened and
closed, orders, guarantee letters, events by kind, tasks done and overdue,
the time to the first contact and the NPS, with the records of each figure
one click away."""
import datetime as dt
from operator import add
from functools import reduce

from sql import Literal, Null, Union, Values
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Extract, Round

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.assistance_case import nps as nps_rules
from trytond.modules.assistance_case.event import KINDS
from trytond.modules.assistance_order.order import RESERVING
from trytond.pool import Pool
from trytond.pyson import PYSONEncoder
from trytond.transaction import Transaction
from trytond.wizard import StateAction, Wizard

from .loss_level import (
    MAX_MONTHS, JulianDay, PeriodContextMixin, _number, month_end,
    month_index, month_start, months)

# A row is an operator in a month: its id is the operator's id times ID_SPAN
# plus the month's index (months since January 1900).
ID_SPAN = 10000
EVENT_KINDS = [k for k, _ in KINDS]
# The figures each source adds to a row, summed over the sources.
MEASURES = [
    'cases_opened', 'cases_closed', 'orders_created', 'orders_confirmed',
    'letters_sent', *(f'events_{k}' for k in EVENT_KINDS), 'tasks_done',
    'tasks_overdue', 'contacted_cases', 'contact_minutes', 'survey_answers',
    'promoters', 'detractors']


def _minutes(end, start):
    "The minutes from start to end (two timestamps) as SQL"
    if backend.name == 'sqlite':
        return (JulianDay(end) - JulianDay(start)) * 1440
    return Extract('EPOCH', end - start) / 60


def _now():
    "The time tasks are overdue at (the monitoring's clock in tests)"
    return Transaction().context.get('monitoring_now') or (
        dt.datetime.now().replace(microsecond=0))


def overdue_condition(task, now):
    """Whether the task missed its control time: still open after it, or done
    later than it (cancelled tasks are never overdue)"""
    return (((task.state == 'open') & (task.control_date < now))
        | ((task.state == 'done') & (task.done_at > task.control_date)))


def readable(Model, table):
    """The condition keeping the rows of table the user may read through
    Model's record rules (none when no rule applies)"""
    Rule = Pool().get('ir.rule')
    if not Rule.domain_get(Model.__name__, mode='read'):
        return Literal(True)
    return table.id.in_(Model.search([], order=[], query=True))


class PerformanceContext(PeriodContextMixin, ModelView):
    "Manager Performance Context"
    __string__ = "Manager Performance Context"
    __name__ = 'assistance.reporting.performance.context'

    department = fields.Many2One(
        'assistance.department', "Department",
        help="Only the operators of this department.")
    _default_months = 3


    @classmethod
    def default_department(cls):
        return Transaction().context.get('department')


class Performance(ModelSQL, ModelView):
    "Manager Performance"
    __string__ = "Manager Performance"
    __name__ = 'assistance.reporting.performance'

    operator = fields.Many2One('res.user', "Operator")
    department = fields.Many2One('assistance.department', "Department")
    month = fields.Date("Month")
    cases_opened = fields.Integer(
        "Cases Opened", help="The cases requested in the month.")
    cases_closed = fields.Integer(
        "Cases Closed", help="The cases closed in the month.")
    orders_created = fields.Integer(
        "Orders", help="The orders (not cancelled) of the operator's cases "
        "dated in the month.")
    orders_confirmed = fields.Integer(
        "Orders Confirmed", help="Those orders confirmed, delivered or done.")
    letters_sent = fields.Integer(
        "Guarantee Letters Sent",
        help="The guarantee letters sent in the month.")
    events = fields.Integer(
        "Events", help="The events the operator recorded in the month.")
    events_phone = fields.Integer("Phone Calls")
    events_email = fields.Integer("E-mails")
    events_meeting = fields.Integer("Meetings")
    events_fax = fields.Integer("Faxes")
    events_sms = fields.Integer("SMS")
    tasks_done = fields.Integer(
        "Tasks Done", help="The tasks the operator did in the month.")
    tasks_overdue = fields.Integer(
        "Tasks Overdue", help="The tasks whose control time was in the "
        "month, done late or still open after it.")
    contacted_cases = fields.Integer(
        "Cases Contacted", help="The cases opened in the month with an "
        "event.")
    first_contact_minutes = fields.Float(
        "Time to First Contact, min", digits=(16, 1),
        help="The average time from the request of a case to its first "
        "event, over the cases opened in the month.")
    survey_answers = fields.Integer(
        "Survey Answers", help="The answers of the month on the "
        "operator's cases.")
    promoters = fields.Integer("Promoters")
    detractors = fields.Integer("Detractors")
    nps = fields.Function(fields.Float("NPS", digits=(4, 1)), 'get_nps')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'ASC'), ('operator', 'ASC'), ('id', 'ASC')]

    def get_nps(self, name):
        return nps_rules.nps_from_counts(
            self.survey_answers, self.promoters, self.detractors)

    @classmethod
    def _months(cls):
        "Return the rows (index, first day, next first day) of the context"
        context = Transaction().context
        today = Pool().get('ir.date').today()
        start = context.get('from_date') or month_start(
            month_index(today) - 2)
        end = context.get('to_date') or month_end(month_index(today))
        indexes = months(start, end)[:MAX_MONTHS]
        # VALUES needs one row at least: this one matches nothing.
        return [[i, month_start(i), month_start(i + 1)] for i in indexes] or [
            [0, dt.date(1900, 1, 2), dt.date(1900, 1, 1)]]

    @classmethod
    def _branch(cls, table, operator, date, where=Literal(True), **measures):
        """Return the query of table's figures per operator and month of
        date; the measures left out are 0"""
        month = Values(cls._months())
        return (table
            .join(month,
                condition=(date >= month.column2) & (date < month.column3))
            .select(
                operator.as_('operator'),
                month.column1.as_('month'),
                *(measures.get(n, Literal(0)).as_(n) for n in MEASURES),
                where=where & (operator != Null),
                group_by=[operator, month.column1]))

    @classmethod
    def _branches(cls):
        "Return the queries of each source's figures (override to add some)"
        pool = Pool()
        Case_ = pool.get('assistance.case')
        Event = pool.get('assistance.case.event')
        Order = pool.get('assistance.order')
        Task = pool.get('assistance.task')
        Survey = pool.get('assistance.survey')
        case, closed_case, order_case, survey_case = (
            Case_.__table__() for _ in range(4))
        event, contact = Event.__table__(), Event.__table__()
        order, task, survey = (
            Order.__table__(), Task.__table__(), Survey.__table__())
        cases = readable(Case_, case)

        first = contact.select(
            contact.case.as_('case'), Min(contact.date).as_('date'),
            where=readable(Event, contact),
            group_by=[contact.case])
        minutes = _minutes(first.date, case.request_time)
        yield cls._branch(
            case.join(first, 'LEFT', condition=first.case == case.id),
            case.operator, case.request_time, cases,
            cases_opened=Count(case.id),
            contacted_cases=Count(first.date),
            contact_minutes=Coalesce(Sum(_number(minutes)), 0))
        yield cls._branch(
            closed_case, closed_case.operator, closed_case.closed_at,
            readable(Case_, closed_case),
            cases_closed=Count(closed_case.id))
        confirmed = Case((order.state.in_(RESERVING), 1), else_=0)
        yield cls._branch(
            order.join(order_case, condition=order.case == order_case.id),
            order_case.operator, order.date,
            readable(Order, order) & (order.state != 'cancelled'),
            orders_created=Count(order.id),
            orders_confirmed=Sum(confirmed))
        yield cls._branch(
            order.join(order_case, condition=order.case == order_case.id),
            order_case.operator, order.letter_sent_at,
            readable(Order, order),
            letters_sent=Count(order.id))
        yield cls._branch(
            event, event.operator, event.date, readable(Event, event),
            **{f'events_{k}': Sum(Case((event.kind == k, 1), else_=0))
                for k in EVENT_KINDS})
        yield cls._branch(
            task, task.responsible, task.done_at,
            readable(Task, task) & (task.state == 'done'),
            tasks_done=Count(task.id))
        yield cls._branch(
            task, task.responsible, task.control_date,
            readable(Task, task) & overdue_condition(task, _now()),
            tasks_overdue=Count(task.id))
        yield cls._branch(
            survey.join(survey_case, condition=survey.case == survey_case.id),
            survey_case.operator, survey.date, readable(Survey, survey),
            survey_answers=Count(survey.id),
            promoters=Sum(Case(
                    (survey.recommend >= nps_rules.PROMOTER, 1), else_=0)),
            detractors=Sum(Case(
                    (survey.recommend <= nps_rules.DETRACTOR, 1), else_=0)))

    @classmethod
    def table_query(cls):
        User = Pool().get('res.user')
        user = User.__table__()
        context = Transaction().context
        facts = Union(*cls._branches(), all_=True)
        figures = {n: Sum(Coalesce(getattr(facts, n), 0)) for n in MEASURES}
        contacted = figures['contacted_cases']
        where = Literal(True)
        if context.get('department'):
            where &= user.assistance_department == context['department']
        month = Values(cls._months())
        return (facts
            .join(user, condition=user.id == facts.operator)
            .join(month, condition=month.column1 == facts.month)
            .select(
                (facts.operator * ID_SPAN + facts.month).as_('id'),
                facts.operator.as_('operator'),
                user.assistance_department.as_('department'),
                cls.month.sql_cast(month.column2).as_('month'),
                # PostgreSQL sums integers as numeric.
                *(getattr(cls, n).sql_cast(v).as_(n)
                    for n, v in figures.items() if n != 'contact_minutes'),
                cls.events.sql_cast(reduce(add,
                        (figures[f'events_{k}'] for k in EVENT_KINDS))).as_(
                    'events'),
                Case((contacted > 0,
                        cls.first_contact_minutes.sql_cast(Round(_number(
                                    figures['contact_minutes'])
                                / contacted, 1))),
                    else_=Null).as_('first_contact_minutes'),
                where=where,
                group_by=[facts.operator, facts.month,
                    user.assistance_department, month.column2]))


class PerformanceOpenMixin:
    """Open the records behind a figure of a row as an ordinary list, where
    the record rules of their model apply again"""
    __slots__ = ()
    start_state = 'open_'

    def _domain(self):
        "Return the domain of the records of the figure, override per figure"
        raise NotImplementedError

    @property
    def _row(self):
        """The operator's id and the month's first and next first days of
        the row: its id says them, whatever the context's dates"""
        operator, index = divmod(self.record.id, ID_SPAN)
        return operator, month_start(index), month_start(index + 1)

    @property
    def _operator(self):
        return self._row[0]

    def _range(self, name):
        "The domain of name (a timestamp) within the row's month"
        _, start, end = self._row
        return [
            (name, '>=', dt.datetime.combine(start, dt.time())),
            (name, '<', dt.datetime.combine(end, dt.time())),
            ]

    def _date_range(self, name):
        "The domain of name (a date) within the row's month"
        _, start, end = self._row
        return [(name, '>=', start), (name, '<', end)]

    def do_open_(self, action):
        User = Pool().get('res.user')
        operator, start, _ = self._row
        action['pyson_domain'] = PYSONEncoder().encode(self._domain())
        action['name'] += ' — %s, %s' % (
            User(operator).rec_name, start.strftime('%m.%Y'))
        return action, {}


class PerformanceOpenCasesOpened(PerformanceOpenMixin, Wizard):
    "Open the cases opened"
    __name__ = 'assistance.reporting.performance.open_cases_opened'
    open_ = StateAction('assistance_case.act_case_form')

    def _domain(self):
        return [('operator', '=', self._operator),
            *self._range('request_time')]


class PerformanceOpenCasesClosed(PerformanceOpenMixin, Wizard):
    "Open the cases closed"
    __name__ = 'assistance.reporting.performance.open_cases_closed'
    open_ = StateAction('assistance_case.act_case_form')

    def _domain(self):
        return [('operator', '=', self._operator),
            *self._range('closed_at')]


class PerformanceOpenOrders(PerformanceOpenMixin, Wizard):
    "Open the orders"
    __name__ = 'assistance.reporting.performance.open_orders'
    open_ = StateAction('assistance_order.act_order_form')

    def _domain(self):
        return [('case.operator', '=', self._operator),
            ('state', '!=', 'cancelled'),
            *self._date_range('date')]


class PerformanceOpenLetters(PerformanceOpenMixin, Wizard):
    "Open the orders whose guarantee letter was sent"
    __name__ = 'assistance.reporting.performance.open_letters'
    open_ = StateAction('assistance_order.act_order_form')

    def _domain(self):
        return [('case.operator', '=', self._operator),
            *self._range('letter_sent_at')]


class PerformanceOpenEvents(PerformanceOpenMixin, Wizard):
    "Open the events"
    __name__ = 'assistance.reporting.performance.open_events'
    open_ = StateAction('assistance_case.act_event_form')

    def _domain(self):
        return [('operator', '=', self._operator),
            *self._range('date')]


class PerformanceOpenTasksDone(PerformanceOpenMixin, Wizard):
    "Open the tasks done"
    __name__ = 'assistance.reporting.performance.open_tasks_done'
    open_ = StateAction('assistance_case.act_task_form')

    def _domain(self):
        return [('responsible', '=', self._operator),
            ('state', '=', 'done'),
            *self._range('done_at')]


class PerformanceOpenTasksOverdue(PerformanceOpenMixin, Wizard):
    "Open the tasks overdue"
    __name__ = 'assistance.reporting.performance.open_tasks_overdue'
    open_ = StateAction('assistance_case.act_task_form')

    def _domain(self):
        # A domain cannot compare two columns (done after the control time):
        # the ids are those of the report's own condition.
        Task = Pool().get('assistance.task')
        task = Task.__table__()
        tasks = Task.search([
                ('responsible', '=', self._operator),
                *self._range('control_date'),
                ])
        cursor = Transaction().connection.cursor()
        ids = []
        for sub_ids in (
                [t.id for t in tasks[i:i + 1000]]
                for i in range(0, len(tasks), 1000)):
            cursor.execute(*task.select(task.id,
                    where=task.id.in_(sub_ids)
                    & overdue_condition(task, _now())))
            ids.extend(i for i, in cursor)
        return [('id', 'in', ids)]


class PerformanceOpenSurveys(PerformanceOpenMixin, Wizard):
    "Open the survey answers"
    __name__ = 'assistance.reporting.performance.open_surveys'
    open_ = StateAction('assistance_case.act_survey_form')

    def _domain(self):
        return [('case.operator', '=', self._operator),
            *self._date_range('date')]
