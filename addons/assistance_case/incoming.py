# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The incoming request screen (REQ-2, POL-4): identify the caller, show the
active policy, continue the open case or open a new one."""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard


def policy_status(insured, date):
    """Return (policy in force on date or None, a message for the operator)
    for insured"""
    pool = Pool()
    Policy = pool.get('assistance.policy')
    policy = Policy.get_active_policy(insured, date)
    day = date.strftime('%d.%m.%Y')
    if policy:
        return policy, gettext('assistance_case.msg_incoming_policy_active',
            policy=policy.rec_name, insurer=policy.contract.insurer.rec_name,
            end=policy.end_date.strftime('%d.%m.%Y'))
    policies = Policy.search([
            ('insured', '=', insured.id),
            ('state', '!=', 'cancelled'),
            ], order=[('end_date', 'DESC'), ('id', 'DESC')], limit=1)
    if policies:
        last, = policies
        if last.end_date < date:
            return None, gettext(
                'assistance_case.msg_incoming_policy_expired',
                policy=last.rec_name, date=day,
                end=last.end_date.strftime('%d.%m.%Y'))
        return None, gettext(
            'assistance_case.msg_incoming_policy_not_active',
            policy=last.rec_name, date=day)
    return None, gettext('assistance_case.msg_incoming_no_policy', date=day)


def identify_caller(phone, operator=None):
    """Run the identification for a caller's phone, notify the operator and
    return a dict per candidate: party, name, policy, message, open_case"""
    pool = Pool()
    Party = pool.get('party.party')
    Case = pool.get('assistance.case')
    date = pool.get('ir.date').today()
    operator = operator or Transaction().user
    result = []
    for candidate in Party.identify(phone, date, limit=5):
        party = Party(candidate['party'])
        policy, message = policy_status(party, date)
        open_cases = Case.open_cases(party)
        result.append({
                'party': party.id,
                'name': party.rec_name,
                'policy': policy.id if policy else None,
                'message': message,
                'open_case': open_cases[0].id if open_cases else None,
                })
    if result:
        first = result[0]
        Party.notify_user([Party(first['party'])], 'tryton-info',
            gettext('assistance_case.msg_incoming_call_label',
                phone=phone, name=first['name']),
            first['message'], user=operator)
    else:
        Notification = pool.get('res.notification')
        Transaction().user_notifications.append(Notification(
                user=operator, icon='tryton-info',
                label=gettext('assistance_case.msg_incoming_call_unknown',
                    phone=phone)))
    return result


class IncomingStart(ModelView):
    "Incoming Request"
    __string__ = "Incoming Request"
    __name__ = 'assistance.case.incoming.start'

    text = fields.Char(
        "Search",
        help="Policy number, full name, birth date or phone of the caller.")
    date = fields.Date(
        "Event Date", required=True,
        help="The date of the event: the policy must be in force on it.")
    candidates = fields.Many2Many(
        'party.party', None, None, "Insured Persons", readonly=True,
        context={'identification_date': Eval('date')}, depends={'date'})
    insured = fields.Many2One(
        'party.party', "Insured Person",
        domain=[('id', 'in', Eval('candidates', []))],
        context={'identification_date': Eval('date')}, depends={'date'})
    policy = fields.Many2One(
        'assistance.policy', "Active Policy", readonly=True)
    message = fields.Text("Policy Status", readonly=True)
    open_case = fields.Many2One(
        'assistance.case', "Open Case", readonly=True)
    case_type = fields.Many2One(
        'assistance.case.type', "Case Type", required=True)

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_case_type(cls):
        CaseType = Pool().get('assistance.case.type')
        types = CaseType.search([], limit=1)
        return types[0].id if types else None

    @fields.depends('text', 'date')
    def on_change_with_candidates(self):
        Party = Pool().get('party.party')
        if not self.text or len(self.text.strip()) < 2 or not self.date:
            return []
        return [c['party'] for c in Party.identify(self.text, self.date)]

    @fields.depends('text', 'date', 'insured',
        methods=['on_change_with_candidates', 'on_change_insured'])
    def on_change_text(self):
        candidates = self.on_change_with_candidates()
        if candidates and (
                not self.insured or self.insured.id not in candidates):
            self.insured = candidates[0]
        elif not candidates:
            self.insured = None
        self.on_change_insured()

    @fields.depends('insured', 'date')
    def on_change_insured(self):
        Case = Pool().get('assistance.case')
        self.policy = self.message = self.open_case = None
        if self.insured and self.date:
            self.policy, self.message = policy_status(
                self.insured, self.date)
            open_cases = Case.open_cases(self.insured)
            self.open_case = open_cases[0] if open_cases else None

    @fields.depends(methods=['on_change_insured'])
    def on_change_date(self):
        self.on_change_insured()


class Incoming(Wizard):
    "Incoming Request"
    __name__ = 'assistance.case.incoming'

    start = StateView('assistance.case.incoming.start',
        'assistance_case.incoming_start_view_form', [
            Button("Close", 'end', 'tryton-close'),
            Button("Continue the Case", 'continue_case', 'tryton-forward',
                states={'invisible': ~Bool(Eval('open_case'))}),
            Button("New Case", 'new_case', 'tryton-add', default=True,
                states={'readonly': ~Bool(Eval('insured'))}),
            ])
    continue_case = StateAction('assistance_case.act_case_form')
    new_case = StateAction('assistance_case.act_case_form')

    def default_start(self, fields):
        context = Transaction().context
        values = {}
        if context.get('incoming_text'):
            values['text'] = context['incoming_text']
        return values

    def do_continue_case(self, action):
        return self._open_case(action, self.start.open_case)

    def do_new_case(self, action):
        Case = Pool().get('assistance.case')
        case = Case(**self._case_values())
        case.save()
        return self._open_case(action, case)

    @staticmethod
    def _open_case(action, case):
        "Open the case's form (the action lists first)"
        action['views'].reverse()
        return action, {'res_id': [case.id]}

    def _case_values(self):
        "Return the values of the new case, override to fill more"
        return {
            'insured': self.start.insured,
            'event_date': self.start.date,
            'policy': self.start.policy,
            'type': self.start.case_type,
            }
