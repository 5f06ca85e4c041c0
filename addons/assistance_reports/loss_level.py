# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Loss level under constant control (P9): earned premium, incurred losses,
loss ratio, frequency and average cost per contract and month, thresholds
per contract checked by a cron job and the regular reports by e-mail."""
import datetime as dt
import io
from decimal import Decimal

import xlsxwriter
from sql import Cast, Null, Values
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce, Greatest, Least
from sql.functions import Function, Round
from sql.operators import Concat

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .exceptions import LossLevelValidationError

# A row of the loss level is a contract in a month: its id is the contract's
# id times ID_SPAN plus the month's index (months since January 1900).
ID_SPAN = 10000
MAX_MONTHS = 240
# The expense lines that count as losses: actual, and declared not yet closed.
LOSS_STATES = ['declared', 'actual']
LEVELS = ['warning', 'critical']


def month_index(date):
    "Return the number of months from January 1900 to date's month"
    return (date.year - 1900) * 12 + date.month - 1


def month_start(index):
    "Return the first day of the month of that index"
    year, month = divmod(index, 12)
    return dt.date(year + 1900, month + 1, 1)


def month_end(index):
    "Return the last day of the month of that index"
    return month_start(index + 1) - dt.timedelta(days=1)


def months(start, end):
    "Return the indexes of the months from start's to end's, both included"
    return list(range(month_index(start), month_index(end) + 1))


def window(date, size):
    "Return the first and last days of the size months ending in date's month"
    last = month_index(date)
    return month_start(last - size + 1), month_end(last)


def level(ratio, warning, critical):
    "Return the level the loss ratio (in %) reaches: None, warning, critical"
    if ratio is None:
        return None
    if critical is not None and ratio >= critical:
        return 'critical'
    if warning is not None and ratio >= warning:
        return 'warning'
    return None


def report_due(last, frequency, today):
    "Tell whether the regular report sent last is due again today"
    if not frequency:
        return False
    if last is None:
        return True
    if frequency == 'weekly':
        return today >= last + dt.timedelta(days=7)
    index = month_index(last) + 1
    day = min(last.day, month_end(index).day)
    return today >= month_start(index).replace(day=day)


def ratio(numerator, denominator, factor=100):
    "Return numerator / denominator × factor rounded to 0.01, None on 0"
    if not denominator:
        return None
    return (Decimal(numerator) * factor / Decimal(denominator)).quantize(
        Decimal('0.01'))


class JulianDay(Function):
    __slots__ = ()
    _function = 'JULIANDAY'


def _days(end, start):
    "The number of days from start to end as SQL"
    if backend.name == 'sqlite':
        return JulianDay(end) - JulianDay(start)
    return end - start


def _number(column):
    "The column as a number SQL may divide (SQLite stores Decimal as bytes)"
    if backend.name == 'sqlite':
        return Cast(column, 'REAL')
    return Cast(column, 'NUMERIC')


class PeriodContextMixin:
    "The period of a report's context: from and to dates, in order"
    __slots__ = ()

    from_date = fields.Date(
        "From Date", required=True,
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ])
    to_date = fields.Date(
        "To Date", required=True,
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ])

    # The period by default: the last months, the current one included.
    _default_months = 12

    @classmethod
    def default_from_date(cls):
        context = Transaction().context
        if context.get('from_date'):
            return context['from_date']
        today = Pool().get('ir.date').today()
        return month_start(month_index(today) - cls._default_months + 1)

    @classmethod
    def default_to_date(cls):
        context = Transaction().context
        if context.get('to_date'):
            return context['to_date']
        return month_end(month_index(Pool().get('ir.date').today()))


class LossLevelContext(PeriodContextMixin, ModelView):
    "Loss Level Context"
    __string__ = "Loss Level Context"
    __name__ = 'assistance.loss_level.context'
    insurer = fields.Many2One('party.party', "Insurer")
    contract = fields.Many2One(
        'assistance.contract', "Contract",
        domain=[
            If(Eval('insurer'), ('insurer', '=', Eval('insurer', -1)), ()),
            ])


    @classmethod
    def default_insurer(cls):
        return Transaction().context.get('insurer')

    @classmethod
    def default_contract(cls):
        return Transaction().context.get('contract')


class LossLevel(ModelSQL, ModelView):
    "Loss Level"
    __string__ = "Loss Level"
    __name__ = 'assistance.loss_level'

    contract = fields.Many2One('assistance.contract', "Contract")
    insurer = fields.Many2One('party.party', "Insurer")
    currency = fields.Many2One('currency.currency', "Currency")
    month = fields.Date("Month")
    earned_premium = Monetary(
        "Earned Premium", currency='currency', digits='currency',
        help="The contract's premium pro rata of the days of the month "
        "in its term.")
    actual_amount = Monetary(
        "Actual Losses", currency='currency', digits='currency',
        help="What the insurer covers of the actual expense lines.")
    declared_amount = Monetary(
        "Declared Losses", currency='currency', digits='currency',
        help="What the insurer covers of the lines declared and "
        "not yet actual.")
    incurred_amount = Monetary(
        "Incurred Losses", currency='currency', digits='currency',
        help="Actual and declared losses.")
    loss_ratio = fields.Numeric(
        "Loss Ratio, %", digits=(16, 2),
        help="Incurred losses per 100 of earned premium.")
    insured_count = fields.Integer(
        "Insured", help="The insured persons with an active policy "
        "in the month.")
    case_count = fields.Integer(
        "Cases", help="The cases with losses in the month.")
    frequency = fields.Numeric(
        "Frequency per 1,000 Insured", digits=(16, 2))
    average_cost = Monetary(
        "Average Cost per Case", currency='currency', digits='currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'ASC'), ('contract', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _months(cls):
        "Return the rows (index, first day, last day) of the context's months"
        context = Transaction().context
        today = Pool().get('ir.date').today()
        start = context.get('from_date') or month_start(
            month_index(today) - 11)
        end = context.get('to_date') or month_end(month_index(today))
        indexes = months(start, end)[:MAX_MONTHS]
        # VALUES needs one row at least: this one matches no contract.
        return [[i, month_start(i), month_end(i)] for i in indexes] or [
            [0, dt.date(1900, 1, 2), dt.date(1900, 1, 1)]]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Contract = pool.get('assistance.contract')
        Policy = pool.get('assistance.policy')
        Line = pool.get('assistance.expense.line')
        context = Transaction().context
        contract = Contract.__table__()
        policy = Policy.__table__()
        line = Line.__table__()
        rows = cls._months()
        month, line_month, policy_month = (
            Values(rows), Values(rows), Values(rows))

        covered = _number(Coalesce(line.covered_amount, 0))
        losses = line.join(line_month,
            condition=(line.date >= line_month.column2)
            & (line.date <= line_month.column3)
            ).select(
                line.contract.as_('contract'),
                line_month.column1.as_('month'),
                Sum(Case((line.state == 'actual', covered), else_=0)
                    ).as_('actual'),
                Sum(Case((line.state == 'declared', covered), else_=0)
                    ).as_('declared'),
                Count(Coalesce(line.case_key,
                        Concat('#', Cast(line.id, 'VARCHAR'))),
                    distinct=True).as_('cases'),
                where=line.state.in_(LOSS_STATES),
                group_by=[line.contract, line_month.column1])
        insured = policy.join(policy_month,
            condition=(policy.start_date <= policy_month.column3)
            & (policy.end_date >= policy_month.column2)
            ).select(
                policy.contract.as_('contract'),
                policy_month.column1.as_('month'),
                Count(policy.insured, distinct=True).as_('insured'),
                where=policy.state == 'active',
                group_by=[policy.contract, policy_month.column1])

        term_days = _days(contract.end_date, contract.start_date) + 1
        days = _days(
            Least(contract.end_date, month.column3),
            Greatest(contract.start_date, month.column2)) + 1
        earned = Round(
            _number(Coalesce(contract.premium, 0)) * days / term_days, 2)
        actual = Coalesce(losses.actual, 0)
        declared = Coalesce(losses.declared, 0)
        incurred = actual + declared
        cases = Coalesce(losses.cases, 0)
        insured_count = Coalesce(insured.insured, 0)

        where = contract.state.in_(['active', 'closed'])
        if context.get('insurer'):
            where &= contract.insurer == context['insurer']
        if context.get('contract'):
            where &= contract.id == context['contract']
        return (contract
            .join(month,
                condition=(contract.start_date <= month.column3)
                & (contract.end_date >= month.column2))
            .join(losses, 'LEFT',
                condition=(losses.contract == contract.id)
                & (losses.month == month.column1))
            .join(insured, 'LEFT',
                condition=(insured.contract == contract.id)
                & (insured.month == month.column1))
            .select(
                (contract.id * ID_SPAN + month.column1).as_('id'),
                contract.id.as_('contract'),
                contract.insurer.as_('insurer'),
                contract.currency.as_('currency'),
                cls.month.sql_cast(month.column2).as_('month'),
                earned.as_('earned_premium'),
                Round(actual, 2).as_('actual_amount'),
                Round(declared, 2).as_('declared_amount'),
                Round(incurred, 2).as_('incurred_amount'),
                Case((earned > 0,
                        Round(_number(incurred) * 100 / earned, 2)),
                    else_=Null).as_('loss_ratio'),
                insured_count.as_('insured_count'),
                cases.as_('case_count'),
                Case((insured_count > 0,
                        Round(_number(cases) * 1000 / insured_count, 2)),
                    else_=Null).as_('frequency'),
                Case((cases > 0, Round(_number(incurred) / cases, 2)),
                    else_=Null).as_('average_cost'),
                where=where))

    @classmethod
    def totals(cls, contract, start, end):
        """Return the earned premium, incurred losses and exposure (insured
        × months) of the contract from start's month to end's"""
        with Transaction().set_context(
                from_date=start, to_date=end, contract=contract.id,
                insurer=None):
            rows = cls.search([('contract', '=', contract.id)])
        earned = sum((r.earned_premium or 0 for r in rows), Decimal(0))
        incurred = sum((r.incurred_amount or 0 for r in rows), Decimal(0))
        exposure = sum(r.insured_count or 0 for r in rows)
        return earned, incurred, exposure

    @classmethod
    def xlsx(cls, contract, start, end):
        "Return the loss level of the contract from start to end as XLSX"
        names = [
            'month', 'earned_premium', 'actual_amount', 'declared_amount',
            'incurred_amount', 'loss_ratio', 'insured_count', 'case_count',
            'frequency', 'average_cost']
        strings = {n: f['string'] for n, f in cls.fields_get(names).items()}
        with Transaction().set_context(
                from_date=start, to_date=end, contract=contract.id,
                insurer=None):
            rows = cls.search([('contract', '=', contract.id)])
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {'in_memory': True})
        sheet = workbook.add_worksheet(
            gettext('assistance_reports.msg_loss_level_sheet'))
        bold = workbook.add_format({'bold': True})
        money = workbook.add_format({'num_format': '#,##0.00'})
        date = workbook.add_format({'num_format': 'mm.yyyy'})
        sheet.write(0, 0, contract.rec_name, bold)
        for column, name in enumerate(names):
            sheet.write(1, column, strings[name], bold)
            sheet.set_column(column, column, 16)
        for row, record in enumerate(rows, 2):
            for column, name in enumerate(names):
                value = getattr(record, name)
                if isinstance(value, dt.date):
                    sheet.write_datetime(row, column,
                        dt.datetime.combine(value, dt.time()), date)
                elif isinstance(value, Decimal):
                    sheet.write_number(row, column, float(value), money)
                elif value is not None:
                    sheet.write_number(row, column, value)
        workbook.close()
        return output.getvalue()


class LossLevelControl(ModelSQL, ModelView):
    "Loss Level Control"
    __string__ = "Loss Level Control"
    __name__ = 'assistance.loss_level.control'

    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True,
        ondelete='CASCADE')
    manager = fields.Many2One(
        'res.user', "Contract Manager", required=True,
        help="The user told in the client and by e-mail when the loss "
        "level crosses a threshold.")
    warning_ratio = fields.Numeric(
        "Warning, %", digits=(5, 2), required=True,
        domain=[('warning_ratio', '>', 0)])
    critical_ratio = fields.Numeric(
        "Critical, %", digits=(5, 2), required=True,
        domain=[('critical_ratio', '>', 0)])
    window_months = fields.Integer(
        "Rolling Window, Months", required=True,
        domain=[('window_months', '>=', 1), ('window_months', '<=', 36)],
        help="The loss ratio is checked over this many months "
        "up to the current one.")
    minimum_exposure = fields.Integer(
        "Minimum Exposure", required=True,
        domain=[('minimum_exposure', '>=', 0)],
        help="Insured persons times months in the window below which "
        "no alert is raised.")
    report_frequency = fields.Selection([
            (None, ""),
            ('weekly', "Weekly"),
            ('monthly', "Monthly"),
            ], "Regular Report", sort=False,
        help="How often the loss level is e-mailed to the recipients.")
    report_recipients = fields.Char(
        "Report Recipients",
        states={
            'required': Eval('report_frequency', None) != None,  # noqa: E711
            },
        help="The e-mail addresses, separated by commas.")
    last_report_date = fields.Date("Last Report", readonly=True)
    alerts = fields.One2Many(
        'assistance.loss_level.alert', 'control', "Alerts", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('contract_uniq', Unique(t, t.contract),
                'assistance_reports.msg_loss_level_control_unique'),
            ]

    @classmethod
    def default_warning_ratio(cls):
        return Decimal(60)

    @classmethod
    def default_critical_ratio(cls):
        return Decimal(80)

    @classmethod
    def default_window_months(cls):
        return 3

    @classmethod
    def default_minimum_exposure(cls):
        return 0

    @classmethod
    def validate_fields(cls, controls, field_names):
        super().validate_fields(controls, field_names)
        for control in controls:
            if control.critical_ratio < control.warning_ratio:
                raise LossLevelValidationError(gettext(
                        'assistance_reports.msg_loss_level_thresholds',
                        contract=control.contract.rec_name,
                        warning=control.warning_ratio,
                        critical=control.critical_ratio))
            for address in control.recipients():
                if '@' not in address or ' ' in address:
                    raise LossLevelValidationError(gettext(
                            'assistance_reports.msg_loss_level_recipient',
                            contract=control.contract.rec_name,
                            address=address))

    def get_rec_name(self, name):
        return self.contract.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('contract.rec_name', *clause[1:])]

    def recipients(self):
        "Return the e-mail addresses of the regular report"
        return [a.strip() for a in (self.report_recipients or '').split(',')
            if a.strip()]

    @classmethod
    def check_loss_levels(cls, date=None):
        "Check every contract's loss level and send the regular reports"
        if date is None:
            date = Pool().get('ir.date').today()
        controls = cls.search([('contract.state', '=', 'active')])
        # Two runs at once must not both send: the second waits here and
        # then finds the alerts and the report date of the first.
        cls.lock(controls)
        for control in controls:
            control.check_thresholds(date)
            control.send_regular_report(date)

    def check_thresholds(self, date):
        """Record, notify and e-mail the level the window ending in date's
        month reaches, unless it is already recorded; return the alert"""
        pool = Pool()
        Alert = pool.get('assistance.loss_level.alert')
        LossLevel = pool.get('assistance.loss_level')
        start, end = window(date, self.window_months)
        earned, incurred, exposure = LossLevel.totals(
            self.contract, start, end)
        if exposure < self.minimum_exposure:
            return
        loss_ratio = ratio(incurred, earned)
        reached = level(loss_ratio, self.warning_ratio, self.critical_ratio)
        if not reached:
            return
        month = month_start(month_index(date))
        # A warning after the critical level of the same window is no news.
        known = Alert.search([
                ('control', '=', self.id),
                ('month', '=', month),
                ('level', 'in', LEVELS[LEVELS.index(reached):]),
                ])
        if known:
            return
        alert = Alert(control=self, contract=self.contract, month=month,
            window_start=start, level=reached, loss_ratio=loss_ratio,
            earned_premium=earned, incurred_amount=incurred,
            exposure=exposure, notified_at=dt.datetime.now())
        alert.save()
        alert.notify()
        return alert

    def send_regular_report(self, date):
        "E-mail the loss level of the contract's term when it is due"
        Email = Pool().get('ir.email')
        if not self.recipients() or not report_due(
                self.last_report_date, self.report_frequency, date):
            return
        with Transaction().set_context(language=self.manager.language.code
                if self.manager.language else None):
            subject = gettext('assistance_reports.msg_loss_level_report_subject',
                contract=self.contract.rec_name)
            body = gettext('assistance_reports.msg_loss_level_report_body',
                contract=self.contract.rec_name)
            file_ = self.xlsx_file(self.contract.start_date, min(
                    self.contract.end_date, month_end(month_index(date))))
        Email.send(to=', '.join(self.recipients()), subject=subject,
            body=f'<p>{body}</p>', files=[file_],
            record=(self.__name__, self.id))
        self.last_report_date = date
        self.save()

    def xlsx_file(self, start, end):
        "Return the name and content of the contract's loss level in XLSX"
        LossLevel = Pool().get('assistance.loss_level')
        name = gettext('assistance_reports.msg_loss_level_filename',
            contract=self.contract.number)
        return f'{name}.xlsx', LossLevel.xlsx(self.contract, start, end)


class LossLevelAlert(ModelSQL, ModelView):
    "Loss Level Alert"
    __string__ = "Loss Level Alert"
    __name__ = 'assistance.loss_level.alert'

    control = fields.Many2One(
        'assistance.loss_level.control', "Control", required=True,
        ondelete='CASCADE', readonly=True)
    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, readonly=True)
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    month = fields.Date("Month", required=True, readonly=True)
    window_start = fields.Date("Window Start", readonly=True)
    level = fields.Selection([
            ('warning', "Warning"),
            ('critical', "Critical"),
            ], "Level", required=True, readonly=True)
    loss_ratio = fields.Numeric("Loss Ratio, %", digits=(16, 2),
        readonly=True)
    earned_premium = Monetary(
        "Earned Premium", currency='currency', digits='currency',
        readonly=True)
    incurred_amount = Monetary(
        "Incurred Losses", currency='currency', digits='currency',
        readonly=True)
    exposure = fields.Integer("Exposure", readonly=True)
    notified_at = fields.DateTime("Notified at", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('control_month_level_uniq',
                Unique(t, t.control, t.month, t.level),
                'assistance_reports.msg_loss_level_alert_unique'),
            ]
        cls._order = [('month', 'DESC'), ('id', 'DESC')]

    @fields.depends('contract', '_parent_contract.currency')
    def on_change_with_currency(self, name=None):
        return self.contract.currency if self.contract else None

    def notify(self):
        "Tell the contract's manager in the client and by e-mail"
        Email = Pool().get('ir.email')
        manager = self.control.manager
        language = manager.language.code if manager.language else None
        with Transaction().set_context(language=language):
            level = dict(self.__class__.fields_get(['level'])['level'][
                    'selection'])[self.level]
            values = {
                'contract': self.contract.rec_name,
                'level': level,
                'ratio': self.loss_ratio,
                'months': self.control.window_months,
                'start': self.window_start.strftime('%m.%Y'),
                'end': self.month.strftime('%m.%Y'),
                }
            label = gettext(
                'assistance_reports.msg_loss_level_alert_label', **values)
            body = gettext(
                'assistance_reports.msg_loss_level_alert_body', **values)
            file_ = self.control.xlsx_file(
                self.window_start, month_end(month_index(self.month)))
        self.__class__.notify_user([self],
            'tryton-warning' if self.level == 'warning' else 'tryton-error',
            label, body, user=manager.id)
        if manager.email:
            Email.send(to=manager.email, subject=label,
                body=f'<p>{body}</p>', files=[file_],
                record=(self.__name__, self.id))


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('assistance.loss_level.control|check_loss_levels',
                "Check Loss Levels and Send Regular Reports"))
