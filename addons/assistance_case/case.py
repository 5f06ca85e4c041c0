# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The assistance case: from the incoming call to the closed case (CASE-1, P2)"
import datetime as dt

from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.modules.assistance_policy.rpc_access import rpc_access
from trytond.model import (
    DeactivableMixin, Index, ModelSingleton, ModelSQL, ModelView, Workflow,
    fields)
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, Id, If
from trytond.report import Report
from trytond.rpc import RPC
from trytond.transaction import Transaction

from .exceptions import CaseStateError, CaseValidationError
from .live import LiveMixin, department_staff

OPEN_STATES = ['open', 'in_progress']


def is_department_head():
    "Return whether the user of the transaction is a department head"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    if Transaction().user == 0:
        return True
    group = ModelData.get_id('assistance_policy', 'group_department_head')
    return group in User.get_groups()


class Configuration(ModelSingleton, ModelSQL, ModelView):
    "Assistance Case Configuration"
    __string__ = "Case Configuration"
    __name__ = 'assistance.case.configuration'

    case_sequence = fields.Many2One(
        'ir.sequence', "Case Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('assistance_case', 'sequence_type_case')),
            ],
        help="The numbers of new cases, e.g. АД-000123.")
    task_reminder_delay = fields.TimeDelta(
        "Task Reminder Delay", required=True,
        help="How long before its control time the responsible of a task "
        "is reminded.")

    @classmethod
    def default_case_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        return ModelData.get_id('assistance_case', 'sequence_case')

    @classmethod
    def default_task_reminder_delay(cls):
        return dt.timedelta(hours=1)


class CaseType(DeactivableMixin, ModelSQL, ModelView):
    "Case Type"
    __string__ = "Case Type"
    __name__ = 'assistance.case.type'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code")
    sequence = fields.Integer("Sequence")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('sequence', 'ASC NULLS FIRST'))


class Department(DeactivableMixin, ModelSQL, ModelView):
    "Department"
    __string__ = "Department"
    __name__ = 'assistance.department'

    name = fields.Char("Name", required=True, translate=True)
    head = fields.Many2One(
        'res.user', "Head",
        help="The user who receives the escalations of overdue tasks.")
    members = fields.One2Many('res.user', 'assistance_department', "Members")


class Case(LiveMixin, Workflow, ModelSQL, ModelView):
    "Assistance Case"
    __string__ = "Assistance Case"
    __name__ = 'assistance.case'
    _rec_name = 'number'
    _states = {
        'readonly': ~Eval('state').in_(OPEN_STATES),
        }

    number = fields.Char("Number", readonly=True)
    insured = fields.Many2One(
        'party.party', "Insured Person", required=True, states=_states,
        context={'identification_date': Eval('event_date')},
        depends={'event_date'})
    event_date = fields.Date("Event Date", required=True, states=_states)
    event_time = fields.Time("Event Time", states=_states)
    request_time = fields.DateTime(
        "Request Time", required=True, states=_states,
        help="When the insured person called.")
    policy = fields.Many2One(
        'assistance.policy', "Policy", states=_states,
        domain=[
            ('insured', '=', Eval('insured', -1)),
            ],
        help="The policy in force on the event date, chosen automatically.")
    proposed_policy = fields.Function(fields.Many2One(
            'assistance.policy', "Automatic Policy",
            help="The policy in force on the event date."),
        'on_change_with_proposed_policy')
    policy_reason = fields.Text(
        "Reason for Another Policy",
        states={
            'required': (Bool(Eval('policy'))
                & (Eval('policy') != Eval('proposed_policy'))),
            'invisible': (~Bool(Eval('policy'))
                | (Eval('policy') == Eval('proposed_policy'))),
            'readonly': _states['readonly'],
            })
    insurer = fields.Function(fields.Many2One(
            'party.party', "Insurer"), 'on_change_with_insurer',
        searcher='search_insurer')
    type = fields.Many2One(
        'assistance.case.type', "Type", required=True, states=_states)
    description = fields.Text(
        "Event Description", states=_states,
        help="What happened, in the insured person's words.")
    questions = fields.Text(
        "Questions", states=_states,
        help="The insured person's questions about the programme.")
    diagnosis = fields.Many2One(
        'assistance.diagnosis', "Diagnosis (ICD-10)", states=_states)
    diagnosis_text = fields.Char(
        "Diagnosis in the Insured's Words", states=_states)
    address = fields.Text("Location", states=_states)
    latitude = fields.Float("Latitude", digits=(9, 6), states=_states,
        domain=['OR', ('latitude', '=', None),
            [('latitude', '>=', -90), ('latitude', '<=', 90)]])
    longitude = fields.Float("Longitude", digits=(9, 6), states=_states,
        domain=['OR', ('longitude', '=', None),
            [('longitude', '>=', -180), ('longitude', '<=', 180)]])
    operator = fields.Many2One(
        'res.user', "Responsible Operator", required=True, states=_states)
    department = fields.Many2One(
        'assistance.department', "Department", states=_states)
    result = fields.Text(
        "Result", states={
            'readonly': Eval('state') != 'in_progress',
            'required': Eval('state') == 'closed',
            },
        help="The result of the help given.")
    events = fields.One2Many(
        'assistance.case.event', 'case', "Events", states=_states,
        order=[('date', 'ASC'), ('id', 'ASC')])
    tasks = fields.One2Many(
        'assistance.task', 'case', "Tasks", states=_states,
        order=[('control_date', 'ASC'), ('id', 'ASC')])
    surveys = fields.One2Many('assistance.survey', 'case', "Surveys")
    closed_at = fields.DateTime(
        "Closed At", readonly=True,
        help="When the case was last closed (manager performance, REP-2).")
    timeline = fields.Function(fields.Text("Timeline"), 'get_timeline')
    pending_tasks = fields.Function(
        fields.Integer("Pending Tasks"), 'get_monitoring')
    oldest_control = fields.Function(
        fields.DateTime("Oldest Control Time"), 'get_monitoring')
    overdue = fields.Function(fields.Boolean("Overdue"), 'get_monitoring')
    person_cases = fields.Function(fields.Many2Many(
            'assistance.case', None, None, "Cases of the Insured",
            help="Every case of the insured person, in all periods."),
        'get_person_cases')
    person_policies = fields.Function(fields.Many2Many(
            'assistance.policy', None, None, "Policies of the Insured",
            help="Every policy of the insured person, "
            "across all prolongations."),
        'get_person_policies')
    state = fields.Selection([
            ('open', "Open"),
            ('in_progress', "In Progress"),
            ('closed', "Closed"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.insured, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.number, Index.Similarity())),
                })
        cls._order = [('request_time', 'DESC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'incoming_call': RPC(readonly=False, result=list),
                })
        cls._transitions |= {
            ('open', 'in_progress'),
            ('open', 'closed'),
            ('in_progress', 'closed'),
            ('open', 'cancelled'),
            ('in_progress', 'cancelled'),
            ('closed', 'in_progress'),
            ('cancelled', 'open'),
            }
        cls._buttons.update({
                'start': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': ~Eval('state').in_(OPEN_STATES),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(OPEN_STATES),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state').in_(OPEN_STATES),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'questionnaire': {
                    'icon': 'tryton-print',
                    },
                })

    @classmethod
    def __register__(cls, module_name):
        table_h = cls.__table_handler__(module_name)
        had_closed_at = table_h.column_exist('closed_at')
        super().__register__(module_name)
        if not had_closed_at:
            cls._migrate_closed_at()

    @classmethod
    def _migrate_closed_at(cls):
        "The cases closed before closed_at existed: closed when last written"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.closed_at],
                [Coalesce(table.write_date, table.create_date)],
                where=table.state == 'closed'))

    @classmethod
    def view_attributes(cls):
        # The monitoring list highlights the cases with an overdue task.
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('overdue', False), 'danger', '')),
            ]

    @staticmethod
    def default_state():
        return 'open'

    @classmethod
    def default_event_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_request_time(cls):
        return dt.datetime.now().replace(microsecond=0)

    @classmethod
    def default_operator(cls):
        return Transaction().user or None

    @classmethod
    def default_department(cls):
        User = Pool().get('res.user')
        user = Transaction().user
        if user:
            department = User(user).assistance_department
            return department.id if department else None

    @fields.depends('insured', 'event_date')
    def on_change_with_proposed_policy(self, name=None):
        Policy = Pool().get('assistance.policy')
        if self.insured and self.event_date:
            return Policy.get_active_policy(self.insured, self.event_date)

    def policy_for(self, services):
        """Return the policy that answers for services (products) in the
        case: the operator's choice when they gave a reason, else the
        automatic one that prefers a policy covering the services"""
        Policy = Pool().get('assistance.policy')
        services = [s for s in services if s]
        if (not services or self.policy_reason
                or not self.insured or not self.event_date):
            return self.policy
        return Policy.get_active_policy(
            self.insured, self.event_date, services) or self.policy

    @fields.depends('insured', 'event_date', 'policy',
        methods=['on_change_with_proposed_policy'])
    def on_change_insured(self):
        self.policy = self.on_change_with_proposed_policy()

    @fields.depends(methods=['on_change_insured'])
    def on_change_event_date(self):
        self.on_change_insured()

    @fields.depends('policy', '_parent_policy.contract')
    def on_change_with_insurer(self, name=None):
        if self.policy:
            return self.policy.contract.insurer

    @classmethod
    def search_insurer(cls, name, clause):
        return [('policy.contract.insurer' + clause[0][len(name):],
                *clause[1:])]

    def get_rec_name(self, name):
        number = self.number or str(self.id)
        return f'{number} — {self.insured.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('number', *clause[1:]),
            ('insured', *clause[1:]),
            ]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Party = pool.get('party.party')
        Policy = pool.get('assistance.policy')
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            if not values.get('number'):
                values['number'] = cls._new_number()
            if values.get('insured') and 'policy' not in values:
                # POL-4: the policy in force on the event date.
                date = values.get('event_date') or cls.default_event_date()
                policy = Policy.get_active_policy(
                    Party(values['insured']), date)
                values['policy'] = policy.id if policy else None
        return values

    @classmethod
    def _new_number(cls):
        "Return the number of a new case, override to number otherwise"
        Configuration = Pool().get('assistance.case.configuration')
        return Configuration(1).case_sequence.get()

    @classmethod
    def validate_fields(cls, cases, field_names):
        super().validate_fields(cases, field_names)
        cls.check_policy(cases, field_names)

    @classmethod
    def check_policy(cls, cases, field_names=None):
        if field_names and not (field_names & {
                    'policy', 'insured', 'event_date', 'policy_reason'}):
            return
        for case in cases:
            if not case.policy:
                continue
            if case.policy.insured != case.insured:
                raise CaseValidationError(gettext(
                        'assistance_case.msg_case_policy_insured',
                        case=case.rec_name, policy=case.policy.rec_name))
            if (case.policy != case.proposed_policy
                    and not case.policy_reason):
                raise CaseValidationError(gettext(
                        'assistance_case.msg_case_policy_reason',
                        case=case.rec_name, policy=case.policy.rec_name))

    @classmethod
    def get_timeline(cls, cases, name):
        "Return the events and tasks of each case in the order they happened"
        result = {}
        for case in cases:
            entries = [(e.date, e.timeline_text()) for e in case.events]
            entries += [(t.create_date or t.control_date, t.timeline_text())
                for t in case.tasks]
            entries.sort(key=lambda x: x[0] or dt.datetime.min)
            result[case.id] = '\n'.join(text for _, text in entries)
        return result

    @classmethod
    def get_monitoring(cls, cases, names):
        "Return the pending tasks of each case for the live monitoring (P3)"
        Task = Pool().get('assistance.task')
        now = Transaction().context.get('monitoring_now') or (
            dt.datetime.now())
        result = {n: {c.id: None for c in cases} for n in names}
        pending = {c.id: [] for c in cases}
        for task in Task.search([
                    ('case', 'in', [c.id for c in cases]),
                    ('state', '=', 'open'),
                    ]):
            pending[task.case.id].append(task.control_date)
        for case_id, controls in pending.items():
            oldest = min(controls) if controls else None
            values = {
                'pending_tasks': len(controls),
                'oldest_control': oldest,
                'overdue': bool(oldest and oldest < now),
                }
            for name in names:
                result[name][case_id] = values[name]
        return result

    def live_recipients(self):
        return department_staff(self.department) | {self.operator.id}

    @classmethod
    def get_person_cases(cls, cases, name):
        insured = {c.insured.id for c in cases}
        by_insured = {i: [] for i in insured}
        for case in cls.search([('insured', 'in', list(insured))],
                order=[('request_time', 'DESC'), ('id', 'DESC')]):
            by_insured[case.insured.id].append(case.id)
        return {c.id: by_insured[c.insured.id] for c in cases}

    @classmethod
    def get_person_policies(cls, cases, name):
        Policy = Pool().get('assistance.policy')
        insured = {c.insured.id for c in cases}
        by_insured = {i: [] for i in insured}
        for policy in Policy.search([('insured', 'in', list(insured))],
                order=[('start_date', 'DESC'), ('id', 'DESC')]):
            by_insured[policy.insured.id].append(policy.id)
        return {c.id: by_insured[c.insured.id] for c in cases}

    @classmethod
    def open_cases(cls, insured):
        "Return the unfinished cases of insured, the latest first"
        return cls.search([
                ('insured', '=', insured.id),
                ('state', 'in', OPEN_STATES),
                ], order=[('request_time', 'DESC'), ('id', 'DESC')])

    @classmethod
    def copy(cls, cases, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number', None)
        default.setdefault('events', None)
        default.setdefault('tasks', None)
        default.setdefault('surveys', None)
        default.setdefault('result', None)
        default.setdefault('closed_at', None)
        return super().copy(cases, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def start(cls, cases):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, cases):
        for case in cases:
            if not case.result:
                raise CaseStateError(gettext(
                        'assistance_case.msg_case_close_result',
                        case=case.rec_name))
        cls.write(cases, {
                'closed_at': dt.datetime.now().replace(microsecond=0),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, cases):
        pass

    @classmethod
    @ModelView.button
    def reopen(cls, cases):
        "Reopen closed or cancelled cases: department heads only"
        if not is_department_head():
            raise CaseStateError(gettext(
                    'assistance_case.msg_case_reopen_head'))
        cls._reopen_closed([c for c in cases if c.state == 'closed'])
        cls._reopen_cancelled([c for c in cases if c.state == 'cancelled'])

    @classmethod
    @Workflow.transition('in_progress')
    def _reopen_closed(cls, cases):
        cls.write(cases, {'closed_at': None})

    @classmethod
    @Workflow.transition('open')
    def _reopen_cancelled(cls, cases):
        pass

    @classmethod
    @ModelView.button_action('assistance_case.report_questionnaire')
    def questionnaire(cls, cases):
        pass

    @classmethod
    @rpc_access('party.party', 'assistance.policy')
    def incoming_call(cls, phone, operator=None):
        """RPC for a phone system: identify the caller by phone, notify the
        operator (default the calling user) and return the candidates with
        their active policy and open cases"""
        from .incoming import identify_caller
        return identify_caller(phone, operator)


class Questionnaire(Report):
    "Event questionnaire (CASE-6)"
    __name__ = 'assistance.case.questionnaire'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['state_label'] = cls.state_label
        return context

    @staticmethod
    def state_label(record, name):
        "Return the translated label of a selection field's value"
        return dict(record.fields_get([name])[name]['selection']).get(
            getattr(record, name), '')
