# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The case in the coverage engine: per-case limits, diagnosis exclusions"
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

CASE_MODEL = 'assistance.case'


def case_key(case_id):
    "Return the ledger's key of the case with id case_id"
    return f'{CASE_MODEL},{case_id}' if case_id is not None else None


def case_from_key(key):
    "Return the case of a ledger key, or None for another kind of key"
    if not isinstance(key, str) or not key.startswith(CASE_MODEL + ','):
        return None
    try:
        case_id = int(key.split(',', 1)[1])
    except ValueError:
        return None
    Case = Pool().get(CASE_MODEL)
    cases = Case.search([('id', '=', case_id)], limit=1)
    return cases[0] if cases else None


class Policy(metaclass=PoolMeta):
    __name__ = 'assistance.policy'

    @classmethod
    def _coverage_case_key(cls, case):
        if getattr(case, '__name__', None) == CASE_MODEL:
            return case_key(case.id)
        return super()._coverage_case_key(case)

    @classmethod
    def _coverage_case_name(cls, case):
        record = _case_record(case)
        if record:
            return record.rec_name
        return super()._coverage_case_name(case)

    def _coverage_diagnoses(self, case, diagnosis):
        # The case's coded diagnosis always applies: a text typed on a line
        # can add a refusal, never lift the case's.
        diagnoses = super()._coverage_diagnoses(case, diagnosis)
        case = _case_record(case)
        if case and case.diagnosis:
            diagnoses.insert(0, case.diagnosis.code)
        return diagnoses


def _case_record(case):
    "Return the case of case (a record or a ledger key) or None"
    if getattr(case, '__name__', None) != CASE_MODEL:
        return case_from_key(case)
    if case.id is not None and case.id >= 0:
        # A case built from a client's on_change values may lack its
        # diagnosis: read the stored case.
        return Pool().get(CASE_MODEL)(case.id)
    return case


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'

    case = fields.Many2One(
        CASE_MODEL, "Assistance Case", ondelete='RESTRICT',
        domain=[('policy', '=', Eval('policy', -1))],
        states={'readonly': Eval('state') != 'draft'})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # The key is derived from the case only (see preprocess_values).
        cls.case_key.readonly = True

    @fields.depends('case', '_parent_case.policy', 'policy')
    def on_change_case(self):
        if self.case and self.case.policy and not self.policy:
            self.policy = self.case.policy
        self.case_key = case_key(self.case.id if self.case else None)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        # A case_key of its own would let a line escape its case's limits.
        if mode == 'create' or 'case' in values:
            values['case_key'] = case_key(values.get('case'))
        else:
            values.pop('case_key', None)
        return values
