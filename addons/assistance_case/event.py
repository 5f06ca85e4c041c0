# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Events: every communication on a case (CASE-2)"
import datetime as dt

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .working_days import add_working_days

DIRECTIONS = [
    ('incoming', "Incoming"),
    ('outgoing', "Outgoing"),
    ]
KINDS = [
    ('phone', "Phone Call"),
    ('email', "E-mail"),
    ('meeting', "Meeting"),
    ('fax', "Fax"),
    ('sms', "SMS"),
    ]
COUNTERPARTS = [
    ('insured', "Insured Person"),
    ('provider', "Provider"),
    ('insurer', "Insurer"),
    ('other', "Other"),
    ]


class Event(ModelSQL, ModelView):
    "Case Event"
    __string__ = "Case Event"
    __name__ = 'assistance.case.event'

    case = fields.Many2One(
        'assistance.case', "Case", required=True, ondelete='CASCADE')
    direction = fields.Selection(DIRECTIONS, "Direction", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    counterpart = fields.Selection(
        COUNTERPARTS, "With Whom", required=True)
    party = fields.Many2One('party.party', "Party")
    date = fields.DateTime("Date", required=True)
    summary = fields.Text("Summary", required=True)
    operator = fields.Many2One('res.user', "Operator", readonly=True)
    tasks = fields.One2Many('assistance.task', 'event', "Tasks",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('case')
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.case, Index.Range()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'create_task': {
                    'icon': 'tryton-add',
                    'readonly': Eval('id', -1) < 0,
                    'depends': ['id'],
                    },
                'create_reminder': {
                    'icon': 'tryton-notification',
                    'readonly': Eval('id', -1) < 0,
                    'depends': ['id'],
                    },
                })

    @classmethod
    def default_direction(cls):
        return 'incoming'

    @classmethod
    def default_kind(cls):
        return 'phone'

    @classmethod
    def default_counterpart(cls):
        return 'insured'

    @classmethod
    def default_date(cls):
        return dt.datetime.now().replace(microsecond=0)

    @classmethod
    def default_operator(cls):
        return Transaction().user or None

    @fields.depends(methods=['on_change_counterpart'])
    def on_change_case(self):
        self.on_change_counterpart()

    @fields.depends('counterpart', 'case', '_parent_case.insured',
        '_parent_case.policy', 'party')
    def on_change_counterpart(self):
        if not self.case:
            return
        if self.counterpart == 'insured':
            self.party = self.case.insured
        elif self.counterpart == 'insurer' and self.case.policy:
            self.party = self.case.policy.contract.insurer

    def get_rec_name(self, name):
        kinds = dict(self.fields_get(['kind'])['kind']['selection'])
        return f'{kinds.get(self.kind, "")} {self.date:%d.%m.%Y %H:%M}'

    def timeline_text(self):
        labels = self.fields_get(['direction', 'kind'])
        direction = dict(labels['direction']['selection'])[self.direction]
        kind = dict(labels['kind']['selection'])[self.kind]
        party = f' ({self.party.rec_name})' if self.party else ''
        return (f'{self.date:%d.%m.%Y %H:%M} {direction} — {kind}{party}: '
            f'{self.summary}')

    def _task_values(self, kind):
        "Return the values of the task created from the event"
        case = self.case
        user = Transaction().user or case.operator.id
        return {
            'case': case.id,
            'event': self.id,
            'kind': kind,
            'name': self.summary.splitlines()[0][:100],
            'department': case.department.id if case.department else None,
            'responsible': user,
            # The next working day, at the time of the event.
            'control_date': add_working_days(self.date, 1),
            }

    @classmethod
    def _create_tasks(cls, events, kind):
        Task = Pool().get('assistance.task')
        tasks = Task.create([e._task_values(kind) for e in events])
        if len(tasks) == 1:
            return {'res_id': [tasks[0].id]}
        return {'domain': [('id', 'in', [t.id for t in tasks])]}

    @classmethod
    @ModelView.button_action('assistance_case.act_task_form_open')
    def create_task(cls, events):
        return cls._create_tasks(events, 'task')

    @classmethod
    @ModelView.button_action('assistance_case.act_task_form_open')
    def create_reminder(cls, events):
        return cls._create_tasks(events, 'reminder')
