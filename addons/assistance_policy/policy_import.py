# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Import of the insurers' policy lists from Excel (POL-1, P6).

One record per uploaded file.  The file is read as a stream in chunks; for
each chunk the known policies and persons are looked up with one query
each, and the new and changed records are created and written in bulk.
The preview runs the same planning without writing; applying runs in the
task queue, commits after each chunk and shows its progress."""
import datetime as dt
import gzip
import io
import json
import logging
from collections import Counter
from decimal import Decimal
from itertools import chain, islice

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields, sequence_ordered
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from . import policy_import_rules as rules
from .identification import execute_lookup, keys_in

logger = logging.getLogger(__name__)

CHUNK = 2000
HEADER_SCAN = 30
# The preview lists every changed, terminated and rejected row, and the
# first LIST_LIMIT new and unchanged ones (their counts are always exact).
LIST_LIMIT = 1000

FIELD_SELECTION = [
    ('number', "Policy Number"),
    ('full_name', "Full Name"),
    ('last_name', "Last Name"),
    ('first_name', "First Name"),
    ('middle_name', "Middle Name"),
    ('birth_date', "Birth Date"),
    ('package', "Package or Programme"),
    ('start_date', "Start Date"),
    ('end_date', "End Date"),
    ('phone', "Phone"),
    ('document', "Identity Document"),
    ]


class PolicyImportError(UserError):
    pass


def _format(value):
    if isinstance(value, dt.date):
        return value.strftime('%d.%m.%Y')
    return '' if value is None else str(value)


class PolicyImportTemplate(ModelSQL, ModelView):
    "Policy List Column Template"
    __name__ = 'assistance.policy.import.template'
    name = fields.Char("Name", required=True)
    insurer = fields.Many2One(
        'party.party', "Insurer", required=True, ondelete='CASCADE',
        help="The insurer whose lists use these column titles.")
    lines = fields.One2Many(
        'assistance.policy.import.template.line', 'template', "Columns",
        help="The titles this insurer gives to each column. "
        "Usual titles («Фамилия», «ФИО», «№ полиса», «Дата рождения»…) "
        "are recognised without being listed here.")

    def get_synonyms(self):
        "Return field → column titles: the template's, then the usual ones"
        own = {}
        for line in self.lines:
            own.setdefault(line.field, []).extend(line.get_titles())
        return rules.merge_synonyms(own, rules.DEFAULT_SYNONYMS)

    @classmethod
    def remember(cls, template, insurer, mapping, labels):
        """Add the titles of the file's recognised columns to the template
        of the insurer (created when missing) and return it"""
        Line = Pool().get('assistance.policy.import.template.line')
        if not template:
            template = cls(name=insurer.rec_name, insurer=insurer, lines=[])
            template.save()
        known = {(l.field, rules.normalise_header(t))
            for l in template.lines for t in l.get_titles()}
        to_create = []
        for field, column in sorted(mapping.items(), key=lambda x: x[1]):
            label = labels[column] if column < len(labels) else None
            if label and (field, rules.normalise_header(label)) not in known:
                to_create.append({
                        'template': template.id, 'field': field,
                        'titles': label, 'sequence': column + 1})
        Line.create(to_create)
        return template


class PolicyImportTemplateLine(sequence_ordered(), ModelSQL, ModelView):
    "Policy List Column Template Line"
    __name__ = 'assistance.policy.import.template.line'
    template = fields.Many2One(
        'assistance.policy.import.template', "Template", required=True,
        ondelete='CASCADE')
    field = fields.Selection(FIELD_SELECTION, "Field", required=True,
        help="What the column holds.")
    titles = fields.Char("Column Titles", required=True,
        help="The titles of the column in the insurer's files, "
        "separated by «;».")

    def get_titles(self):
        return [t.strip() for t in (self.titles or '').split(';') if t.strip()]


class PolicyImport(Workflow, ModelSQL, ModelView):
    "Policy List Import"
    __name__ = 'assistance.policy.import'
    _states = {
        'readonly': Eval('state') != 'draft',
        }

    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, states=_states,
        domain=[('state', 'in', ['draft', 'active'])],
        help="The contract whose policies the list holds.")
    insurer = fields.Function(
        fields.Many2One('party.party', "Insurer"), 'on_change_with_insurer')
    mode = fields.Selection([
            ('attach', "Attachment and changes"),
            ('detach', "Detachment"),
            ], "Mode", required=True, states=_states,
        help="Attachment and changes: new policies are created, known ones "
        "(same contract and policy number) updated.\n"
        "Detachment: the listed policies end on the detachment date.")
    detach_date = fields.Date(
        "Detachment Date",
        states={
            'readonly': Eval('state') != 'draft',
            'required': Eval('mode') == 'detach',
            'invisible': Eval('mode') != 'detach',
            },
        help="The last day of cover of the listed policies.")
    package = fields.Many2One(
        'assistance.package', "Default Package",
        domain=[('contract', '=', Eval('contract', -1))],
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('mode') != 'attach',
            },
        help="The package of the rows that do not name one.")
    template = fields.Many2One(
        'assistance.policy.import.template', "Column Template",
        domain=[If(Eval('insurer'), ('insurer', '=', Eval('insurer', -1)),
                ())],
        states=_states,
        help="The column titles of this insurer's lists. Left empty, the "
        "insurer's template is used, or created from this file's columns.")
    file = fields.Binary(
        "File", filename='file_name', required=True, states=_states,
        help="The insurer's list as an Excel file (.xlsx or .xls).")
    file_name = fields.Char("File Name", states=_states)
    header_row = fields.Integer("Header Row", readonly=True,
        help="The row of the file holding the column titles, found "
        "automatically.")
    columns = fields.Text("Recognised Columns", readonly=True)
    unmapped_columns = fields.Text("Unrecognised Columns", readonly=True,
        states={
            'invisible': ~Eval('unmapped_columns'),
            },
        help="The columns of the file holding values whose title is not "
        "recognised: their values are not imported.  Add the title to the "
        "insurer's column template to import them, then preview again.")
    header = fields.Text("Header", readonly=True)
    rows_cache = fields.Binary("Rows Read", readonly=True,
        help="The rows of the file as the preview read them, so that "
        "applying does not read the workbook again.")
    total_rows = fields.Integer("Rows", readonly=True)
    processed_rows = fields.Integer("Processed Rows", readonly=True)
    progress = fields.Function(fields.Float("Progress"), 'get_progress')
    new_count = fields.Integer("New", readonly=True)
    changed_count = fields.Integer("Changed", readonly=True)
    unchanged_count = fields.Integer("Unchanged", readonly=True)
    terminated_count = fields.Integer("To Be Terminated", readonly=True)
    error_count = fields.Integer("Errors", readonly=True)
    corrected_count = fields.Integer("Corrected", readonly=True,
        help="The rows whose names had Latin letters looking like Cyrillic "
        "ones, written in Cyrillic.")
    lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Rows", readonly=True)
    new_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "New Policies",
        filter=[('kind', '=', 'new')], readonly=True)
    changed_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Changed Policies",
        filter=[('kind', '=', 'changed')], readonly=True)
    unchanged_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Unchanged Policies",
        filter=[('kind', '=', 'unchanged')], readonly=True)
    terminated_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Terminated Policies",
        filter=[('kind', '=', 'terminate')], readonly=True)
    error_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Rejected Rows",
        filter=[('kind', '=', 'error')], readonly=True)
    corrected_lines = fields.One2Many(
        'assistance.policy.import.line', 'import_', "Corrected Rows",
        filter=[('correction', '!=', None)], readonly=True)
    errors_file = fields.Function(fields.Binary(
            "Error File", filename='errors_file_name',
            help="The rejected rows with the reason, to send back to "
            "the insurer."),
        'get_errors_file')
    errors_file_name = fields.Function(
        fields.Char("Error File Name"), 'get_errors_file_name')
    message = fields.Text("Message", readonly=True,
        states={
            'invisible': ~Eval('message'),
            })
    state = fields.Selection([
            ('draft', "Draft"),
            ('preview', "Preview"),
            ('running', "Running"),
            ('done', "Done"),
            ('error', "Error"),
            ], "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('contract')
        cls._order = [('create_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'preview'),
            ('preview', 'preview'),
            ('error', 'preview'),
            ('preview', 'running'),
            ('error', 'running'),
            ('running', 'done'),
            ('running', 'error'),
            ('preview', 'draft'),
            ('error', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(['preview', 'error']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'preview': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'preview', 'error']),
                    'icon': 'tryton-search',
                    'depends': ['state'],
                    },
                'apply': {
                    'invisible': ~Eval('state').in_(['preview', 'error']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_mode():
        return 'attach'

    @fields.depends('contract', '_parent_contract.insurer')
    def on_change_with_insurer(self, name=None):
        return self.contract.insurer if self.contract else None

    def get_rec_name(self, name):
        return self.file_name or str(self.id)

    def get_progress(self, name):
        if not self.total_rows:
            return 0.0
        return min(1.0, (self.processed_rows or 0) / self.total_rows)

    def get_errors_file(self, name):
        Line = Pool().get('assistance.policy.import.line')
        if not self.error_count:
            return None
        names = Line.fields_get(['row', 'column', 'reason'])
        lines = Line.search([
                ('import_', '=', self.id), ('kind', '=', 'error')])
        return errors_xlsx(
            json.loads(self.header or '[]'), lines,
            names['row']['string'], names['column']['string'],
            names['reason']['string'])

    def get_errors_file_name(self, name):
        base = (self.file_name or 'list').rsplit('.', 1)[0]
        return gettext('assistance_policy.msg_import_errors_file', name=base)

    @classmethod
    def copy(cls, imports, default=None):
        default = default.copy() if default else {}
        for name in ['lines', 'header_row', 'columns', 'unmapped_columns',
                'header', 'rows_cache', 'total_rows', 'processed_rows',
                'new_count', 'changed_count', 'unchanged_count',
                'terminated_count', 'error_count', 'corrected_count',
                'message']:
            default.setdefault(name, None)
        return super().copy(imports, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, imports):
        cls._clear(imports)
        cls.write(imports, {'rows_cache': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('preview')
    def preview(cls, imports):
        "Read the file and show what applying it would do"
        for import_ in imports:
            import_._process(apply=False)

    @classmethod
    @ModelView.button
    @Workflow.transition('running')
    def apply(cls, imports):
        "Write the list in the task queue"
        cls.check_apply_access()
        cls.write(imports, {'processed_rows': 0, 'message': None})
        cls.__queue__.apply_rows(imports)

    @classmethod
    def check_apply_access(cls):
        """Check once, for the whole import, that the user may create and
        change what applying writes: the rows are written in bulk, not
        through the models' create and write that check each call"""
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        with Transaction().set_context(_check_access=True):
            for model, modes in [
                    ('assistance.policy', ['create', 'write']),
                    ('party.party', ['create']),
                    ('party.contact_mechanism', ['create']),
                    ]:
                for mode in modes:
                    ModelAccess.check(model, mode)

    @classmethod
    @Workflow.transition('done')
    def done(cls, imports):
        pass

    @classmethod
    @Workflow.transition('error')
    def fail(cls, imports):
        pass

    @classmethod
    def apply_rows(cls, imports):
        "Apply the rows of the imports (run by the task queue)"
        User = Pool().get('res.user')
        user = User(Transaction().user)
        # The queue runs the task without the language of the request that
        # queued it: the reasons, changes and columns written again while
        # applying must be in the language of the user who applied.
        language = user.language.code if user.language else None
        with Transaction().set_context(language=language):
            cls._apply_rows(cls.browse(imports))

    @classmethod
    def _apply_rows(cls, imports):
        transaction = Transaction()
        for import_ in imports:
            if import_.state != 'running':
                continue
            try:
                import_._process(apply=True, commit=True)
            except backend.DatabaseOperationalError:
                # A serialization failure or a lock timeout: the queue runs
                # the task again, which resumes after the committed chunks.
                raise
            except Exception as exception:
                logger.warning(
                    "import %s failed", import_.id, exc_info=True)
                transaction.rollback()
                import_ = cls(import_.id)
                message = getattr(exception, 'message', None) or str(
                    exception)
                cls.write([import_], {'message': message})
                cls.fail([import_])
            else:
                cls.done([import_])
            transaction.commit()

    @classmethod
    def _clear(cls, imports, keep_total=False):
        if not imports:
            return
        Line = Pool().get('assistance.policy.import.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        # Thousands of rows, no history, nothing refers to them.
        cursor.execute(*line.delete(
                where=line.import_.in_([i.id for i in imports])))
        if not keep_total:
            cls.write(imports, {'total_rows': None})
        cls.write(imports, {
                'processed_rows': None,
                'new_count': None, 'changed_count': None,
                'unchanged_count': None, 'terminated_count': None,
                'error_count': None, 'corrected_count': None,
                'unmapped_columns': None, 'message': None,
                })

    # -- Reading -------------------------------------------------------------

    def get_synonyms(self):
        "Return field → column titles to recognise (override to add some)"
        if self.template:
            return self.template.get_synonyms()
        return rules.merge_synonyms(rules.DEFAULT_SYNONYMS)

    def _find_template(self):
        Template = Pool().get('assistance.policy.import.template')
        if self.template:
            return self.template
        templates = Template.search(
            [('insurer', '=', self.contract.insurer.id)],
            order=[('id', 'DESC')], limit=1)
        return templates[0] if templates else None

    def _open(self):
        """Return (header position, mapping, labels, numbered rows after the
        header)"""
        if not self.file:
            raise PolicyImportError(gettext(
                    'assistance_policy.msg_import_no_file'))
        rows = self._read_rows()
        head = list(islice(rows, HEADER_SCAN))
        position, mapping, labels = rules.find_header(
            head, self.get_synonyms())
        if position is None or not rules.mapping_is_usable(
                mapping, self.mode):
            raise PolicyImportError(gettext(
                    'assistance_policy.msg_import_no_header',
                    file=self.file_name or ''))
        body = chain(
            enumerate(head[position + 1:], position + 2),
            enumerate(rows, len(head) + 1))
        return position, mapping, labels, body

    def _read_rows(self):
        """Yield the rows of the file; a file the reader refuses (a broken
        workbook, a limit of rules.FileLimitError) raises a translated
        PolicyImportError, on whatever row it is found"""
        name = self.file_name or ''
        try:
            yield from rules.iter_rows(bytes(self.file), self.file_name)
        except rules.FileLimitError as exception:
            raise PolicyImportError(gettext(
                    f'assistance_policy.msg_import_{exception.reason}',
                    file=name, **exception.values)) from exception
        except Exception as exception:
            raise PolicyImportError(gettext(
                    'assistance_policy.msg_import_unreadable',
                    file=name, error=str(exception))) from exception

    def _describe_columns(self, mapping, labels):
        names = dict(self.__class__._field_names())
        return '\n'.join(
            f'{labels[c]} → {names[f]}'
            for f, c in sorted(mapping.items(), key=lambda x: x[1]))

    @classmethod
    def _field_names(cls):
        Line = Pool().get('assistance.policy.import.template.line')
        return Line.fields_get(['field'])['field']['selection']

    # -- Processing ----------------------------------------------------------

    def _process(self, apply=False, commit=False):
        pool = Pool()
        Template = pool.get('assistance.policy.import.template')
        Line = pool.get('assistance.policy.import.line')
        # A task run again after a retriable database error resumes after
        # the rows of the chunks it committed.
        resumed = (self.processed_rows or 0) if apply else 0
        if not resumed:
            self.__class__._clear([self], keep_total=apply)
        if not self.template:
            self.template = self._find_template()
        if apply and self.rows_cache:
            position, mapping, labels, body = _RowCache.open(self.rows_cache)
        else:
            position, mapping, labels, body = self._open()
        cache = None if apply else _RowCache(position, mapping, labels)
        if not apply:
            self.template = Template.remember(
                self.template, self.contract.insurer, mapping, labels)
        run = _Run(self, mapping, labels, apply)
        if resumed:
            run.resume(self)
        self.__class__.write([self], {
                'template': self.template.id if self.template else None,
                'header_row': position + 1,
                'columns': self._describe_columns(mapping, labels),
                'header': json.dumps(labels, ensure_ascii=False),
                })
        if commit:
            Transaction().commit()
        rows = ((n, c) for n, c in body if not rules.is_blank(c)
            and not rules.is_footer(c, mapping))
        if cache:
            rows = cache.keep(rows)
        mode = self.mode
        today = Pool().get('ir.date').today()
        for chunk in rules.chunks(rows, CHUNK):
            parsed = [rules.parse_row(n, c, mapping, mode, today=today)
                for n, c in chunk]
            if resumed:
                parsed = run.skip(parsed, resumed)
            run.process(parsed)
            lines = run.pop_lines()
            if lines:
                _bulk_create(Line, lines)
            if apply:
                self.__class__.write([self], dict(run.totals(),
                        total_rows=max(
                            self.total_rows or 0, run.counts['rows'])))
                if commit:
                    Transaction().commit()
                    _refresh_statistics(LOOKUP_TABLES)
        totals = run.totals()
        if cache:
            totals['rows_cache'] = cache.value()
        self.__class__.write([self], totals)


class _RowCache:
    """The rows read by the preview, gzipped JSON lines: applying reads
    them instead of parsing the workbook a second time"""

    def __init__(self, position, mapping, labels):
        self.output = io.BytesIO()
        self.file = gzip.GzipFile(fileobj=self.output, mode='wb',
            compresslevel=1)
        self._write({'position': position, 'mapping': mapping,
                'labels': labels})

    def _write(self, value):
        self.file.write(json.dumps(value, ensure_ascii=False).encode())
        self.file.write(b'\n')

    def keep(self, rows):
        for number, cells in rows:
            self._write([number, rules.cells_to_json(cells)])
            yield number, cells

    def value(self):
        self.file.close()
        return self.output.getvalue()

    @staticmethod
    def open(data):
        "Return (position, mapping, labels, numbered rows)"
        file = gzip.GzipFile(fileobj=io.BytesIO(bytes(data)), mode='rb')
        head = json.loads(file.readline())

        def rows():
            for line in file:
                number, cells = json.loads(line)
                yield number, rules.cells_from_json(cells)
        return head['position'], head['mapping'], head['labels'], rows()


class _Run:
    "The state of one pass over a file: what was seen, planned and counted"

    def __init__(self, import_, mapping, labels, apply):
        pool = Pool()
        self.import_ = import_
        self.contract = import_.contract
        self.mapping = mapping
        self.labels = labels
        self.apply = apply
        self.mode = import_.mode
        # Read once: a record's field costs a cache look-up per row.
        self.import_id = import_.id
        self.contract_id = import_.contract.id
        self.contract_period = (
            import_.contract.start_date, import_.contract.end_date)
        # A policy is in force only on an active contract: on a draft one
        # it waits in draft as one created by hand does.
        self.policy_state = (
            'active' if import_.contract.state == 'active' else 'draft')
        # The columns holding values that no field reads
        self.unmapped = set()
        self.mapped = set(mapping.values())
        self.read = 0
        self.default_package = (
            import_.package.id if import_.package else None)
        self.detach_date = import_.detach_date
        self.seen = set()
        self.persons = {}    # (name key, birth date) → party id or 'new:n'
        self.documents = {}  # document key → (party id or 'new:n', name key)
        self.counts = Counter()
        self.lines = []
        self.new_persons = 0
        self.packages = self._package_index()
        Policy = pool.get('assistance.policy')
        self.field_names = {
            f: d['string'] for f, d in Policy.fields_get(
                ['package', 'start_date', 'end_date']).items()}
        Party = pool.get('party.party')
        self.field_names['phone'] = gettext(
            'assistance_policy.msg_import_phone_field')
        self.field_names['insured'] = Party.fields_get(
            ['name'])['name']['string']
        self.package_names = {}

    def _package_index(self):
        Package = Pool().get('assistance.package')
        packages = Package.search([('contract', '=', self.contract.id)])
        index = rules.package_index(
            [(p.id, p.code, p.name) for p in packages])
        # A programme names the package when only one package holds it.
        holders = {}
        for package in packages:
            for program in package.programs:
                holders.setdefault(program, []).append(package.id)
        for program, ids in holders.items():
            if len(ids) == 1:
                for text in (program.code, program.name):
                    if text:
                        index.setdefault(rules.normalise_header(text), ids[0])
        return index

    # -- Counting and lines ---------------------------------------------------

    def totals(self):
        return {
            'total_rows': self.counts['rows'],
            'processed_rows': self.counts['rows'],
            'new_count': self.counts['new'],
            'changed_count': self.counts['changed'],
            'unchanged_count': self.counts['unchanged'],
            'terminated_count': self.counts['terminate'],
            'error_count': self.counts['error'],
            'corrected_count': self.counts['corrected'],
            'unmapped_columns': self.describe_unmapped(),
            }

    def resume(self, import_):
        "Start from the counts of the chunks a previous run committed"
        self.counts.update({
                'rows': import_.processed_rows or 0,
                'new': import_.new_count or 0,
                'changed': import_.changed_count or 0,
                'unchanged': import_.unchanged_count or 0,
                'terminate': import_.terminated_count or 0,
                'error': import_.error_count or 0,
                'corrected': import_.corrected_count or 0,
                })

    def skip(self, parsed_rows, count):
        """Return the parsed rows after the first count rows of the file,
        remembering the numbers of those skipped (for the duplicates)"""
        kept = []
        for parsed in parsed_rows:
            self.read += 1
            if self.read > count:
                kept.append(parsed)
                continue
            self._note_columns(parsed.cells)
            number = parsed.values.get('number')
            if number:
                self.seen.add(rules.number_key(number) or number)
        return kept

    def _note_columns(self, cells):
        for column, value in enumerate(cells):
            if (value is not None and column not in self.mapped
                    and column not in self.unmapped
                    and rules.cell_text(value)):
                self.unmapped.add(column)

    def describe_unmapped(self):
        "The unrecognised columns holding values: «H: Примечание» lines"
        from openpyxl.utils import get_column_letter
        lines = []
        for column in sorted(self.unmapped):
            label = (self.labels[column] if column < len(self.labels)
                else None)
            lines.append(f'{get_column_letter(column + 1)}: {label or "—"}')
        return '\n'.join(lines) or None

    def pop_lines(self):
        lines, self.lines = self.lines, []
        return lines

    def _label(self, field):
        column = self.mapping.get(field)
        if column is not None and column < len(self.labels) and (
                self.labels[column]):
            return self.labels[column]
        return dict(PolicyImport._field_names()).get(field, field)

    def record(self, kind, parsed, policy=None, person=None, difference=None,
            errors=None):
        self.counts[kind] += 1
        values = parsed.values
        corrections = values.get('corrections') if kind != 'error' else None
        if corrections:
            self.counts['corrected'] += 1
        if (kind in {'new', 'unchanged'} and self.counts[kind] > LIST_LIMIT
                and not corrections):
            return
        line = {
            'import_': self.import_id,
            'row': parsed.row,
            'kind': kind,
            'number': values.get('number'),
            'full_name': values.get('full_name'),
            'birth_date': values.get('birth_date'),
            'policy': policy if isinstance(policy, int) else None,
            'person': person if isinstance(person, int) else None,
            'difference': difference,
            'correction': '\n'.join(
                gettext('assistance_policy.msg_import_lookalike',
                    column=self._label(f), old=old, new=new)
                for f, old, new in corrections or []) or None,
            }
        if errors:
            line['column'] = ', '.join(
                dict.fromkeys(self._label(f) for f, _ in errors))
            line['reason'] = '; '.join(dict.fromkeys(
                    gettext(f'assistance_policy.msg_import_{r}',
                        column=self._label(f))
                    for f, r in errors))
            line['cells'] = json.dumps(
                [rules.cell_text(c) for c in parsed.cells],
                ensure_ascii=False)
        self.lines.append(line)

    def describe(self, changes):
        parts = []
        for field, (old, new) in changes.items():
            if field == 'package':
                old, new = self._package_name(old), self._package_name(new)
            parts.append(
                f'{self.field_names[field]}: {_format(old)} → {_format(new)}')
        return '\n'.join(parts)

    def _package_name(self, package_id):
        if package_id is None:
            return None
        if package_id not in self.package_names:
            Package = Pool().get('assistance.package')
            self.package_names[package_id] = Package(package_id).rec_name
        return self.package_names[package_id]

    # -- Planning -------------------------------------------------------------

    def process(self, parsed_rows):
        "Plan (and apply) one chunk of parsed rows"
        good = []
        start, end = self.contract_period
        for parsed in parsed_rows:
            self.counts['rows'] += 1
            self._note_columns(parsed.cells)
            errors = list(parsed.errors)
            number = parsed.values.get('number')
            if number:
                # «ДМС 001», «ДМС-001» and «дмс001» are one policy.
                key = parsed.values['number_key'] = (
                    rules.number_key(number) or number)
                if key in self.seen:
                    errors.append(('number', 'duplicate_in_file'))
                self.seen.add(key)
            if self.mode == 'attach':
                errors.extend(e for e in rules.period_errors(
                        parsed.values.get('start_date'),
                        parsed.values.get('end_date'), start, end)
                    if e not in errors)
            if not errors and self.mode == 'attach':
                errors.extend(self._check_package(parsed.values))
            if errors:
                self.record('error', parsed, errors=errors)
            else:
                good.append(parsed)
        existing = self._existing_policies(
            [p.values['number'] for p in good])
        if self.mode == 'detach':
            self._plan_detach(good, existing)
        else:
            self._plan_attach(good, existing)

    def _check_package(self, values):
        text = values.get('package')
        if text:
            package = self.packages.get(rules.normalise_header(text))
            if package is None:
                return [('package', 'unknown_package')]
            values['package'] = package
        elif self.default_package:
            values['default_package'] = self.default_package
        return []

    def _existing_policies(self, numbers):
        """Return number key → the policy's values and its insured person's
        keys (a number written otherwise is the same policy)"""
        pool = Pool()
        Policy = pool.get('assistance.policy')
        Party = pool.get('party.party')
        policy, party = Policy.__table__(), Party.__table__()
        cursor = Transaction().connection.cursor()
        # Looked up by their keys (a B-tree): PostgreSQL takes the trigram
        # index of the numbers for a list of numbers, which reads the
        # entries of their common trigrams («ДМС», «-00»…) for each.
        keys = sorted({rules.number_key(n) or n for n in numbers})
        wanted = set(keys)
        result = {}
        for sub in rules.chunks(keys, 1000):
            condition = keys_in(policy.number_key, sub)
            keyless = [n for n in sub if rules.number_key(n) is None]
            if keyless:
                condition |= policy.number.in_(keyless)
            execute_lookup(cursor, policy.join(party,
                    condition=policy.insured == party.id).select(
                    policy.id, policy.number, policy.insured, policy.package,
                    policy.start_date, policy.end_date, policy.state,
                    party.identification_name, party.birth_date,
                    where=(policy.contract == self.contract_id)
                    & condition))
            for (id_, number, insured, package, start, end, state,
                    name, birth) in cursor:
                key = rules.number_key(number) or number
                if key not in wanted:
                    continue
                result[key] = {
                    'id': id_, 'insured': insured, 'package': package,
                    'start_date': _date(start), 'end_date': _date(end),
                    'state': state, 'name_key': name,
                    'birth_date': _date(birth),
                    }
        return result

    def _plan_detach(self, rows, existing):
        date = self.detach_date
        writes = []
        for parsed in rows:
            current = existing.get(parsed.values['number_key'])
            if not current:
                self.record('error', parsed,
                    errors=[('number', 'unknown_policy')])
            elif current['end_date'] <= date:
                self.record('unchanged', parsed, policy=current['id'],
                    person=current['insured'])
            elif date < current['start_date']:
                self.record('error', parsed,
                    errors=[('end_date', 'detach_before_start')])
            else:
                changes = {'end_date': (current['end_date'], date)}
                self.record('terminate', parsed, policy=current['id'],
                    person=current['insured'],
                    difference=self.describe(changes))
                writes.append(current['id'])
        if self.apply and writes:
            Policy = Pool().get('assistance.policy')
            Policy.write(Policy.browse(writes), {
                    'end_date': date,
                    'source_import': self.import_id,
                    })

    def _plan_attach(self, rows, existing):
        known = self._known_persons(
            [p.values for p in rows
                if p.values['number_key'] not in existing])
        phones = self._known_phones(rows, existing, known)
        plan = _Plan()
        for parsed in rows:
            values = parsed.values
            current = existing.get(values['number_key'])
            if current:
                self._plan_existing(plan, parsed, current, phones)
            else:
                self._plan_new(plan, parsed, known, phones)
        if self.apply:
            plan.apply(self)

    def _plan_existing(self, plan, parsed, current, phones):
        values = parsed.values
        if (current['name_key'] and values['name_key'] != current['name_key']
                ) or (values.get('birth_date') and current['birth_date']
                and values['birth_date'] != current['birth_date']):
            self.record('error', parsed,
                errors=[('full_name', 'conflicting_person')])
            return
        changes = rules.policy_difference(current, values)
        phone = values.get('phone')
        if phone and (current['insured'], phone) not in phones:
            changes['phone'] = (None, phone)
            plan.phones.append((current['insured'], phone))
            phones.add((current['insured'], phone))
        if changes:
            self.record('changed', parsed, policy=current['id'],
                person=current['insured'], difference=self.describe(changes))
            policy_changes = {f: new for f, (_, new) in changes.items()
                if f != 'phone'}
            if policy_changes:
                plan.writes.append((current['id'], policy_changes))
        else:
            self.record('unchanged', parsed, policy=current['id'],
                person=current['insured'])

    def _plan_new(self, plan, parsed, known, phones):
        values = parsed.values
        package = values.get('package') or values.get('default_package')
        if not package:
            self.record('error', parsed,
                errors=[('package', 'unknown_package')])
            return
        start = values.get('start_date') or self.contract_period[0]
        end = values.get('end_date') or self.contract_period[1]
        if end < start:
            self.record('error', parsed, errors=[('end_date', 'bad_period')])
            return
        person, conflict = self._person(values, known)
        if conflict:
            self.record('error', parsed,
                errors=[('full_name', 'conflicting_person')])
            return
        if person is None:
            self.new_persons += 1
            person = f'new:{self.new_persons}'
            plan.persons[person] = values
        if rules.person_key(values):
            self.persons[rules.person_key(values)] = person
            plan.person_keys.append(rules.person_key(values))
        if values.get('document'):
            self.documents[values['document']] = (person, values['name_key'])
            plan.document_keys.append(values['document'])
        phone = values.get('phone')
        if phone and (person, phone) not in phones:
            plan.phones.append((person, phone))
            phones.add((person, phone))
        plan.policies.append((person, {
                    'number': values['number'],
                    'package': package,
                    'start_date': start,
                    'end_date': end,
                    }))
        self.record('new', parsed, person=person)

    def _person(self, values, known):
        "Return (the known person of the row or None, whether they conflict)"
        by_document = None
        if values.get('document'):
            found = self.documents.get(values['document']) or known[
                'documents'].get(values['document'])
            if found:
                by_document, name = found
                if name and name != values['name_key']:
                    return None, True
        key = rules.person_key(values)
        by_name = None
        if key:
            by_name = self.persons.get(key) or known['names'].get(key)
        if by_document and by_name and by_document != by_name:
            return None, True
        return by_document or by_name, False

    def _known_persons(self, rows):
        "Return the persons already in the database matching the rows"
        Party = Pool().get('party.party')
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        names = sorted({v['name_key'] for v in rows
                if rules.person_key(v)
                and rules.person_key(v) not in self.persons})
        documents = sorted({v['document'] for v in rows
                if v.get('document') and v['document'] not in self.documents})
        known = {'names': {}, 'documents': {}}
        for sub in rules.chunks(names, 1000):
            execute_lookup(cursor, party.select(
                    party.id, party.identification_name, party.birth_date,
                    where=keys_in(party.identification_name, sub),
                    order_by=[party.id.desc]))
            for id_, name, birth in cursor:
                known['names'][(name, _date(birth))] = id_
        for sub in rules.chunks(documents, 1000):
            execute_lookup(cursor, party.select(
                    party.id, party.id_document_key,
                    party.identification_name,
                    where=keys_in(party.id_document_key, sub),
                    order_by=[party.id.desc]))
            for id_, document, name in cursor:
                known['documents'][document] = (id_, name)
        return known

    def _known_phones(self, rows, existing, known):
        "Return the (person, phone key) pairs already recorded"
        Mechanism = Pool().get('party.contact_mechanism')
        mechanism = Mechanism.__table__()
        phones = sorted({p.values['phone'] for p in rows
                if p.values.get('phone')})
        if not phones:
            return set()
        # Only the persons these rows may name: the run's earlier persons
        # are looked up by the rows' keys, not all of them.
        persons = {e['insured'] for e in existing.values()}
        persons.update(known['names'].values())
        persons.update(i for i, _ in known['documents'].values())
        for parsed in rows:
            values = parsed.values
            persons.add(self.persons.get(rules.person_key(values)))
            persons.add(self.documents.get(
                    values.get('document'), (None, None))[0])
        persons = {p for p in persons if isinstance(p, int)}
        cursor = Transaction().connection.cursor()
        result = set()
        for sub in rules.chunks(sorted(persons), 1000):
            execute_lookup(cursor, mechanism.select(
                    mechanism.party, mechanism.phone_key,
                    where=keys_in(mechanism.party, sub)
                    & keys_in(mechanism.phone_key, phones)))
            result.update(cursor)
        return result


class _Plan:
    "What one chunk writes: persons, phones, new policies, changes"

    def __init__(self):
        self.persons = {}    # 'new:n' → row values
        self.phones = []     # (person, phone key)
        self.policies = []   # (person, values)
        self.writes = []     # (policy id, values)
        # The keys of the run's persons and documents this chunk set (to
        # the new persons' ids once created)
        self.person_keys = []
        self.document_keys = []

    def apply(self, run):
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        Policy = pool.get('assistance.policy')
        created = {}
        if self.persons:
            refs = list(self.persons)
            ids = _create_persons([self.persons[r] for r in refs])
            created = dict(zip(refs, ids))
            for key in self.person_keys:
                person = run.persons[key]
                if person in created:
                    run.persons[key] = created[person]
            for key in self.document_keys:
                person, name = run.documents[key]
                if person in created:
                    run.documents[key] = (created[person], name)

        def person_id(person):
            return created.get(person, person)
        if self.phones:
            # Formatted by the code of a phone typed in a party's form
            # (the international format of the phonenumbers library).
            mechanism = Mechanism(type='mobile')
            _bulk_create(Mechanism, [Mechanism.preprocess_values('create', {
                            'party': person_id(p), 'type': 'mobile',
                            'value': mechanism.format_value(
                                value='+' + phone, type_='mobile'),
                            'value_compact': mechanism.format_value_compact(
                                value='+' + phone, type_='mobile'),
                            }) for p, phone in self.phones])
        if self.policies:
            # Valid by construction (the package is one of the contract's,
            # the period is checked, the number unique in the file and new in
            # the contract): inserted in bulk, with their history rows.
            _bulk_create(Policy, [Policy.preprocess_values('create', dict(
                            values, insured=person_id(p),
                            contract=run.contract_id, state=run.policy_state,
                            source_import=run.import_id))
                    for p, values in self.policies])
        if self.writes:
            groups = {}
            for id_, values in self.writes:
                key = tuple(sorted(values.items()))
                groups.setdefault(key, []).append(id_)
            args = []
            for key, ids in groups.items():
                args.extend([Policy.browse(ids),
                        dict(key, source_import=run.import_id)])
            Policy.write(*args)


def _create_persons(rows):
    """Create the insured persons of rows and return their ids.

    Written in bulk: the generic create spends most of its time storing,
    person by person, the company-dependent defaults (accounts, language…)
    that Tryton reads from the configuration anyway when they are absent."""
    pool = Pool()
    Party = pool.get('party.party')
    NameWord = pool.get('assistance.party.name_word')
    sequence = Party._code_sequence()
    codes = list(sequence.get_many(len(rows))) if sequence else [None] * len(
        rows)
    vlist = []
    for row, code in zip(rows, codes):
        values = Party.preprocess_values('create', {
                'name': row['full_name'],
                'birth_date': row.get('birth_date'),
                'id_document': row.get('document_text'),
                'code': code,
                })
        values.update(Party(code=values['code']).compute_fields({'code'}))
        vlist.append(values)
    ids = _bulk_create(Party, vlist)
    NameWord.add_words(r['full_name'] for r in rows)
    return ids


# The tables the chunks' look-ups read, and the import grows.
LOOKUP_TABLES = ['party_party', 'party_contact_mechanism',
    'assistance_policy', 'assistance_party_name_word']


def _refresh_statistics(tables):
    """ANALYZE the tables among tables changed by more than autovacuum's
    threshold since their last analysis (PostgreSQL).

    The look-ups of the next chunks are then planned for the tables' real
    size even where autovacuum is late (it is, during a long import) or
    off: planned for the empty tables of the first chunks, they read the
    whole contract's policies for each chunk."""
    if backend.name != 'postgresql':
        return
    from psycopg import sql
    cursor = Transaction().connection.cursor()
    cursor.execute(
        'SELECT s.relname FROM pg_stat_user_tables AS s '
        'JOIN pg_class AS c ON c.oid = s.relid '
        'WHERE s.relname = ANY(%s) AND s.schemaname = current_schema() '
        'AND s.n_mod_since_analyze > 50 + 0.1 * GREATEST(c.reltuples, 0)',
        (list(tables),))
    for name, in cursor.fetchall():
        cursor.execute(sql.SQL('ANALYZE {}').format(sql.Identifier(name)))


def _bulk_create(Model, vlist):
    """Insert the rows of vlist (stored fields only) and return their ids,
    the defaults of the missing fields filled once for all"""
    transaction = Transaction()
    database = transaction.database
    cursor = transaction.connection.cursor()
    table = Model.__table__()
    stored = [n for n, f in Model._fields.items()
        if not hasattr(f, 'set') and not isinstance(f, fields.Function)
        and n not in {'id', 'create_uid', 'create_date', 'write_uid',
            'write_date'}]
    names = sorted(set().union(*vlist) & set(stored))
    defaults = Model._clean_defaults(Model.default_get(
            [n for n in stored if n not in names], with_rec_name=False))
    defaults = {n: v for n, v in defaults.items() if n in stored}
    names += sorted(defaults)
    columns = [table.create_uid, table.create_date] + [
        getattr(table, n) for n in names]
    now = dt.datetime.now()
    formats = [_sql_formatter(Model._fields[n]) for n in names]
    # The defaults are the same on every row: formatted once.
    missing = [fmt(defaults.get(n)) for n, fmt in zip(names, formats)]
    columns_formats = list(zip(names, formats, missing))
    rows = [[transaction.user, now] + [
            fmt(values[n]) if n in values else default
            for n, fmt, default in columns_formats] for values in vlist]
    ids = []
    if backend.name == 'postgresql':
        ids = _copy_rows(Model, names, rows)
    elif database.has_multirow_insert():
        size = max(1, 30000 // (len(columns) + 1))
        for sub in rules.chunks(rows, size):
            new_ids = database.nextid(
                transaction.connection, Model._table, count=len(sub))
            if new_ids:
                cursor.execute(*table.insert(columns + [table.id],
                        [r + [i] for r, i in zip(sub, new_ids)]))
                ids.extend(new_ids)
                continue
            for row in sub:
                ids.append(_insert_one(table, columns, row))
    else:
        for row in rows:
            ids.append(_insert_one(table, columns, row))
    if Model._history:
        Model._insert_history(ids)
    transaction.create_records[Model.__name__].extend(ids)
    return ids


def _sql_formatter(field):
    """Return field.sql_format, with a shortcut for the values it would
    return unchanged (ints of a Many2One, dates, stripped texts): the
    generic one costs a few microseconds a value, a tenth of a chunk"""
    format_ = field.sql_format
    kind = type(field)
    if kind in {fields.Many2One, fields.Integer}:
        return lambda v: v if v is None or type(v) is int else format_(v)
    if kind is fields.Date:
        return lambda v: v if v is None or type(v) is dt.date else format_(v)
    if kind is fields.Char and field.strip is True:
        return lambda v: v.strip() if type(v) is str else format_(v)
    if kind is fields.Boolean:
        return lambda v: v if type(v) is bool else format_(v)
    return format_


def _copy_rows(Model, names, rows):
    "Insert rows with COPY (PostgreSQL): no statement to build and parse"
    from psycopg import sql
    transaction = Transaction()
    ids = transaction.database.nextid(
        transaction.connection, Model._table, count=len(rows))
    if len(rows) == 1:
        ids = [ids]
    columns = ['create_uid', 'create_date'] + names + ['id']
    statement = sql.SQL('COPY {} ({}) FROM STDIN').format(
        sql.Identifier(Model._table),
        sql.SQL(', ').join(map(sql.Identifier, columns)))
    cursor = transaction.connection.cursor()
    with cursor.copy(statement) as copy:
        lines = []
        for row, id_ in zip(rows, ids):
            row.append(id_)
            try:
                lines.append('\t'.join(map(_copy_text, row)))
            except TypeError:
                # A type the text format below does not know: psycopg
                # formats the row (after the lines before it).
                if lines:
                    copy.write('\n'.join(lines) + '\n')
                    lines = []
                copy.write_row(row)
        if lines:
            copy.write('\n'.join(lines) + '\n')
    return ids


_COPY_ESCAPES = str.maketrans({
        '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'})


def _copy_text(value):
    """A value in COPY's text format.

    psycopg's pure Python implementation formats each value through its
    adapters, a third of the time of writing a chunk."""
    kind = type(value)
    if value is None:
        return '\\N'
    if kind is str:
        return value.translate(_COPY_ESCAPES)
    if kind is int or kind is Decimal:
        return str(value)
    if kind is bool:
        return 't' if value else 'f'
    if kind is dt.date:
        return value.isoformat()
    if kind is dt.datetime and value.tzinfo is None:
        return value.isoformat(' ')
    if kind is float and value == value and abs(value) != float('inf'):
        return repr(value)
    raise TypeError(kind)


def _insert_one(table, columns, row):
    transaction = Transaction()
    database = transaction.database
    cursor = transaction.connection.cursor()
    if database.has_returning():
        cursor.execute(*table.insert(columns, [row], [table.id]))
        return cursor.fetchone()[0]
    cursor.execute(*table.insert(columns, [row]))
    return database.lastid(cursor)


def _date(value):
    "Dates read by SQL (SQLite returns text)"
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


class PolicyImportLine(ModelSQL, ModelView):
    "Policy List Import Row"
    __name__ = 'assistance.policy.import.line'
    import_ = fields.Many2One(
        'assistance.policy.import', "Import", required=True,
        ondelete='CASCADE')
    row = fields.Integer("Row", readonly=True,
        help="The row number in the file.")
    kind = fields.Selection([
            ('new', "New"),
            ('changed', "Changed"),
            ('unchanged', "Unchanged"),
            ('terminate', "To Be Terminated"),
            ('error', "Error"),
            ], "Kind", readonly=True)
    number = fields.Char("Policy Number", readonly=True)
    full_name = fields.Char("Full Name", readonly=True)
    birth_date = fields.Date("Birth Date", readonly=True)
    policy = fields.Many2One(
        'assistance.policy', "Policy", readonly=True, ondelete='SET NULL')
    person = fields.Many2One(
        'party.party', "Insured Person", readonly=True, ondelete='SET NULL')
    difference = fields.Text("Changes", readonly=True,
        help="Each changed field: the value before → the value of the file.")
    column = fields.Char("Column", readonly=True)
    reason = fields.Text("Reason", readonly=True)
    correction = fields.Text("Correction", readonly=True,
        help="What was corrected in the values of the row.")
    cells = fields.Text("Row Values", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('import_')
        cls._order = [('row', 'ASC'), ('id', 'ASC')]


def errors_xlsx(labels, lines, row_title, column_title, reason_title):
    "Return the bytes of an .xlsx with the rejected rows and their reasons"
    import xlsxwriter
    output = io.BytesIO()
    # Every cell but the row number is text from the user's file: it stays
    # text whatever it looks like (=HYPERLINK(…), +cmd, @SUM(A1), a link),
    # so opening the file never runs a formula nor follows a link.
    workbook = xlsxwriter.Workbook(output, {
            'in_memory': True,
            'strings_to_formulas': False,
            'strings_to_urls': False,
            'strings_to_numbers': False,
            })
    sheet = workbook.add_worksheet()
    header = [row_title] + [l or '' for l in labels] + [
        column_title, reason_title]
    write_text_row(sheet, 0, header, text_formats(workbook, bold=True))
    formats = text_formats(workbook)
    for index, line in enumerate(lines, 1):
        cells = json.loads(line.cells or '[]')
        cells += [None] * (len(labels) - len(cells))
        write_text_row(sheet, index,
            [line.row] + cells + [line.column or '', line.reason or ''],
            formats)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return output.getvalue()


# What a spreadsheet reads as the start of a formula when a cell is edited.
FORMULA_STARTS = ('=', '+', '-', '@')


def text_formats(workbook, **properties):
    """Return the xlsxwriter formats (plain, quoted) of write_text_row: the
    quoted one keeps a formula-like text a text when the cell is edited"""
    plain = workbook.add_format(properties) if properties else None
    return plain, workbook.add_format({**properties, 'quote_prefix': True})


def write_text_row(sheet, row, values, formats):
    "Write the values on the row: texts as string cells, numbers as numbers"
    plain, quoted = formats
    for column, value in enumerate(values):
        if value is None or value == '':
            sheet.write_blank(row, column, None, plain)
        elif isinstance(value, str):
            sheet.write_string(row, column, value,
                quoted if value.startswith(FORMULA_STARTS) else plain)
        else:
            sheet.write_number(row, column, value, plain)


class Policy(metaclass=PoolMeta):
    __name__ = 'assistance.policy'

    source_import = fields.Many2One(
        'assistance.policy.import', "Source Import", readonly=True,
        ondelete='SET NULL',
        help="The policy list import that made the latest change; "
        "empty when the change was made by hand.")

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        # The history tells which import made each change: a change made
        # otherwise must not keep the previous import as its source.
        if mode == 'write' and 'source_import' not in values:
            values['source_import'] = None
        return values
