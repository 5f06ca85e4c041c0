# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Tasks and reminders with a control time (CASE-3)"
import datetime as dt

from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .case import is_department_head
from .exceptions import TaskAccessError
from .live import LiveMixin, department_staff

URGENCIES = [
    ('normal', "Normal"),
    ('urgent', "Urgent"),
    ('critical', "Critical"),
    ]
# Only a department head may change these once the task exists.
LOCKED_FIELDS = {'responsible', 'department', 'control_date'}


class Task(LiveMixin, Workflow, ModelSQL, ModelView):
    "Task"
    __string__ = "Task"
    __name__ = 'assistance.task'
    _states = {
        'readonly': Eval('state') != 'open',
        }
    _locked = {
        'readonly': (Eval('state') != 'open') | (
            (Eval('id', -1) >= 0) & ~Eval('can_readdress', False)),
        }

    case = fields.Many2One(
        'assistance.case', "Case", ondelete='CASCADE', states=_states)
    event = fields.Many2One(
        'assistance.case.event', "Event", readonly=True,
        domain=[('case', '=', Eval('case', -1))],
        help="The event the task was created from.")
    kind = fields.Selection([
            ('task', "Task"),
            ('reminder', "Reminder"),
            ], "Kind", required=True, states=_states)
    name = fields.Char("Name", required=True, states=_states)
    description = fields.Text("Description", states=_states)
    department = fields.Many2One(
        'assistance.department', "Department", states=_locked)
    responsible = fields.Many2One(
        'res.user', "Responsible", required=True, states=_locked)
    control_date = fields.DateTime(
        "Control Time", required=True, states=_locked,
        help="When the task must be done (дата контроля).")
    urgency = fields.Selection(
        URGENCIES, "Urgency", required=True, sort=False, states=_states)
    overdue = fields.Function(fields.Boolean("Overdue"), 'get_overdue')
    can_readdress = fields.Function(
        fields.Boolean("Can Re-address"), 'get_can_readdress')
    in_my_department = fields.Function(
        fields.Boolean("In My Department"), 'get_in_my_department',
        searcher='search_in_my_department')
    reminded = fields.DateTime("Reminded", readonly=True)
    escalated = fields.DateTime("Escalated", readonly=True)
    done_at = fields.DateTime(
        "Done At", readonly=True,
        help="When the task was last done (manager performance, REP-2).")
    state = fields.Selection([
            ('open', "Open"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)
    del _states, _locked

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.control_date, Index.Range()),
                    where=t.state == 'open'),
                Index(t, (t.case, Index.Range())),
                Index(t, (t.department, Index.Range()),
                    where=t.state == 'open'),
                })
        cls._order = [('control_date', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('open', 'done'),
            ('open', 'cancelled'),
            ('done', 'open'),
            ('cancelled', 'open'),
            }
        cls._buttons.update({
                'do': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'open': {
                    'invisible': Eval('state') == 'open',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __register__(cls, module_name):
        table_h = cls.__table_handler__(module_name)
        had_done_at = table_h.column_exist('done_at')
        super().__register__(module_name)
        if not had_done_at:
            cls._migrate_done_at()

    @classmethod
    def _migrate_done_at(cls):
        "The tasks done before done_at existed: done when last written"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.done_at],
                [Coalesce(table.write_date, table.create_date)],
                where=table.state == 'done'))

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('overdue', False), 'danger',
                    If(Eval('urgency') == 'critical', 'warning', ''))),
            ]

    @staticmethod
    def default_state():
        return 'open'

    @staticmethod
    def default_kind():
        return 'task'

    @staticmethod
    def default_urgency():
        return 'normal'

    @classmethod
    def default_responsible(cls):
        return Transaction().user or None

    @classmethod
    def default_department(cls):
        User = Pool().get('res.user')
        user = Transaction().user
        if user:
            department = User(user).assistance_department
            return department.id if department else None

    @fields.depends('case', '_parent_case.department', 'department')
    def on_change_case(self):
        if self.case and self.case.department and not self.department:
            self.department = self.case.department

    def get_overdue(self, name):
        now = Transaction().context.get('monitoring_now') or (
            dt.datetime.now())
        return self.state == 'open' and self.control_date < now

    @classmethod
    def default_can_readdress(cls):
        return True

    def get_can_readdress(self, name):
        return is_department_head()

    def get_in_my_department(self, name):
        department = self._user_department()
        return bool(department) and self.department == department

    @classmethod
    def _user_department(cls):
        User = Pool().get('res.user')
        user = Transaction().user
        return User(user).assistance_department if user else None

    @classmethod
    def search_in_my_department(cls, name, clause):
        department = cls._user_department()
        _, operator, value = clause[:3]
        positive = (operator == '=') == bool(value)
        department_id = department.id if department else -1
        if positive:
            return [('department', '=', department_id)]
        return ['OR',
            ('department', '!=', department_id),
            ('department', '=', None),
            ]

    def live_recipients(self):
        users = department_staff(self.department) | {self.responsible.id}
        if self.case:
            users |= self.case.live_recipients()
        return users

    def live_records(self):
        # The case's pending tasks and overdue flag follow its tasks.
        records = super().live_records()
        if self.case:
            records['assistance.case'] = self.case.id
        return records

    def get_rec_name(self, name):
        return f'{self.name} ({self.control_date:%d.%m.%Y %H:%M})'

    def timeline_text(self):
        kinds = dict(self.fields_get(['kind'])['kind']['selection'])
        states = dict(self.fields_get(['state'])['state']['selection'])
        return (f'{self.control_date:%d.%m.%Y %H:%M} {kinds[self.kind]} '
            f'[{states[self.state]}] {self.responsible.rec_name}: '
            f'{self.name}')

    @classmethod
    def check_modification(cls, mode, tasks, values=None, external=False):
        "Re-addressing a task or moving its control time is for heads only"
        super().check_modification(
            mode, tasks, values=values, external=external)
        if mode != 'write' or not (values.keys() & LOCKED_FIELDS):
            return
        if is_department_head():
            return
        for task in tasks:
            for name in values.keys() & LOCKED_FIELDS:
                current = getattr(task, name)
                if isinstance(current, ModelSQL):
                    current = current.id
                if current != values[name]:
                    raise TaskAccessError(gettext(
                            'assistance_case.msg_task_locked',
                            task=task.rec_name,
                            field=cls.__names__(name)['field']))

    @classmethod
    def copy(cls, tasks, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('reminded', None)
        default.setdefault('escalated', None)
        default.setdefault('done_at', None)
        return super().copy(tasks, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, tasks):
        cls.write(tasks, {
                'done_at': dt.datetime.now().replace(microsecond=0),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, tasks):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def open(cls, tasks):
        cls.write(tasks, {'done_at': None})

    @classmethod
    def check_control_times(cls, now=None):
        """Remind the responsible of the open tasks nearing their control
        time and escalate the overdue ones to the head of their department,
        each only once (ir.cron)"""
        pool = Pool()
        Configuration = pool.get('assistance.case.configuration')
        if now is None:
            now = dt.datetime.now()
        delay = Configuration(1).task_reminder_delay
        to_remind = cls.search([
                ('state', '=', 'open'),
                ('reminded', '=', None),
                ('control_date', '>=', now),
                ('control_date', '<=', now + delay),
                ])
        overdue = cls.search([
                ('state', '=', 'open'),
                ('escalated', '=', None),
                ('control_date', '<', now),
                ])
        for task in to_remind:
            task.notify_responsible()
        for task in overdue:
            task.escalate()
        if to_remind:
            cls.write(to_remind, {'reminded': now})
        if overdue:
            cls.write(overdue, {'escalated': now})
        return to_remind, overdue

    def notify_responsible(self):
        "Tell the responsible that the control time is near"
        self.__class__.notify_user([self], 'tryton-notification',
            gettext('assistance_case.msg_task_reminder_label',
                task=self.name),
            gettext('assistance_case.msg_task_reminder_description',
                task=self.rec_name,
                case=self.case.rec_name if self.case else ''),
            user=self.responsible.id)

    def escalate(self):
        "Tell the responsible and the department head that the task is late"
        label = gettext('assistance_case.msg_task_overdue_label',
            task=self.name)
        description = gettext('assistance_case.msg_task_overdue_description',
            task=self.rec_name, responsible=self.responsible.rec_name,
            case=self.case.rec_name if self.case else '')
        for user in self._escalation_users():
            self.__class__.notify_user([self], 'tryton-warning', label,
                description, user=user.id)

    def _escalation_users(self):
        "Return who hears of the overdue task, override to widen"
        users = [self.responsible]
        if self.department and self.department.head:
            if self.department.head != self.responsible:
                users.append(self.department.head)
        return users


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('assistance.task|check_control_times',
                "Remind and Escalate Tasks"))
