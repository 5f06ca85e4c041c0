# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The log of the reads of medical data (152-FZ, issue #12).

Each read of the medical fields of cases by a user through RPC (read,
search_read, export, the printed questionnaire) writes one row per case:
who, when, which case, which fields.  Reads by root and by the server's own
code (no access checking) are not logged.  The log is append-only and read
by department heads."""
from sql.functions import CurrentTimestamp

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .exceptions import AccessLogError

# The rows written by one INSERT: a list of a thousand cases read at once
# is one statement.
LOG_ROWS = 1000


class AccessLog(ModelSQL, ModelView):
    "Medical Data Access Log"
    __string__ = "Medical Data Access Log"
    __name__ = 'assistance.case.access_log'

    user = fields.Many2One(
        'res.user', "User", required=True, readonly=True,
        ondelete='RESTRICT')
    date = fields.DateTime("Date", required=True, readonly=True)
    case = fields.Many2One(
        'assistance.case', "Case", required=True, readonly=True,
        ondelete='RESTRICT')
    field_names = fields.Char(
        "Field Names", readonly=True,
        help="The names of the fields read, separated by commas.")
    fields_string = fields.Function(
        fields.Char("Fields", help="The fields read."),
        'get_fields_string')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.case, Index.Range()), (t.date, Index.Range())),
                Index(t, (t.user, Index.Range()), (t.date, Index.Range())),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def get_fields_string(cls, logs, name):
        Case = Pool().get('assistance.case')
        names = {n for l in logs for n in (l.field_names or '').split(',')}
        strings = {n: d['string']
            for n, d in Case.fields_get(list(names - {''})).items()}
        return {l.id: ', '.join(strings.get(n, n)
                for n in (l.field_names or '').split(',') if n)
            for l in logs}

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        # Append-only: the rows are written by log_reads, by SQL.
        if mode in {'create', 'write', 'delete'}:
            raise AccessLogError(
                gettext('assistance_case.msg_access_log_modify'))

    @classmethod
    def log_reads(cls, case_ids, field_names):
        """Write one row per case of case_ids read by the transaction's user
        with field_names, in one statement.  In a read-only transaction
        (RPC read) the rows are written by a transaction of their own."""
        transaction = Transaction()
        if transaction.readonly:
            with transaction.new_transaction() as writer:
                cls._insert_reads(writer, case_ids, field_names)
        else:
            cls._insert_reads(transaction, case_ids, field_names)

    @classmethod
    def _insert_reads(cls, transaction, case_ids, field_names):
        table = cls.__table__()
        # The time of the database, as for create_date.
        user, now = transaction.user, CurrentTimestamp()
        names = ','.join(sorted(field_names))
        cursor = transaction.connection.cursor()
        for sub in grouped_slice(sorted(set(case_ids)), LOG_ROWS):
            cursor.execute(*table.insert(
                    [table.user, table.date, table.case, table.field_names,
                        table.create_uid, table.create_date],
                    [[user, now, case_id, names, user, now]
                        for case_id in sub]))


class Case(metaclass=PoolMeta):
    __name__ = 'assistance.case'

    @classmethod
    def _medical_fields(cls):
        "Return the names of the fields of medical data; extend to add some"
        return {'description', 'diagnosis', 'diagnosis_text'}

    @classmethod
    def read(cls, ids, fields_names):
        result = super().read(ids, fields_names)
        # 'diagnosis.code' and 'diagnosis:string' read the diagnosis too.
        cls._log_medical_reads(ids, {f.split('.', 1)[0].split(':', 1)[0]
                for f in fields_names or []})
        return result

    @classmethod
    def export_data(cls, records, fields_names, header=False):
        data = super().export_data(records, fields_names, header=header)
        cls._log_medical_reads([r.id for r in records],
            {f.split('/', 1)[0] for f in fields_names})
        return data

    @classmethod
    def _log_medical_reads(cls, ids, names):
        "Log the reads of the medical fields among names by a user's request"
        transaction = Transaction()
        medical = cls._medical_fields() & set(names)
        ids = [i for i in ids if i is not None and i >= 0]
        if (medical and ids and transaction.user
                and transaction.check_access):
            Pool().get('assistance.case.access_log').log_reads(ids, medical)


class Questionnaire(metaclass=PoolMeta):
    __name__ = 'assistance.case.questionnaire'

    @classmethod
    def execute(cls, ids, data):
        # The questionnaire prints the medical fields of the cases.
        result = super().execute(ids, data)
        Case = Pool().get('assistance.case')
        Case._log_medical_reads(list(map(int, ids)), Case._medical_fields())
        return result
