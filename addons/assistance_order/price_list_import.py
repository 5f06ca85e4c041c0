# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Loading a price list from the provider's Excel file.

The reading of the workbook, the header search with synonyms and the error
workbook are those of the policy list import (policy_import_rules,
policy_import.errors_xlsx); this file only knows the columns of a price
list and how a row becomes a line."""
import json
import re
from collections import namedtuple
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.assistance_policy import policy_import_rules as rules
from trytond.modules.assistance_policy.policy_import import errors_xlsx
from trytond.pool import Pool
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import PriceListImportError

# Column titles providers use.
SYNONYMS = {
    'service_code': [
        "код услуги", "код", "артикул", "код номенклатуры", "service code",
        "code"],
    'provider_code': [
        "код исполнителя", "код в прайсе", "код по прайсу",
        "внутренний код", "код клиники", "provider code"],
    'service': [
        "услуга", "наименование", "наименование услуги", "название услуги",
        "название", "номенклатура", "service", "name", "description"],
    'price': [
        "цена", "стоимость", "цена руб", "цена, руб", "цена, руб.",
        "стоимость, руб", "стоимость руб", "тариф", "цена (руб.)", "price",
        "amount"],
    }
# Reason codes of a rejected row (message.xml msg_price_import_<code>).
REASONS = {
    'missing_service', 'unknown_service', 'missing_price', 'bad_price',
    'negative_price', 'duplicate_in_file',
    }
_CURRENCY_WORDS = re.compile(r'(руб(лей|\.)?|р\.|₽|rub)', re.IGNORECASE)

PriceRow = namedtuple('PriceRow', ['row', 'values', 'errors', 'cells'])


def parse_price(value):
    "Return the Decimal of a price cell (a number or a text «1 234,50 руб.»)"
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        raise rules.RowError('bad_price')
    if isinstance(value, (int, float, Decimal)):
        price = Decimal(str(value))
    else:
        text = _CURRENCY_WORDS.sub('', str(value))
        text = re.sub(r'[\s\u00a0\u202f\']', '', text).replace(',', '.')
        if not text:
            return None
        if not re.fullmatch(r'-?\d+(\.\d+)?', text):
            raise rules.RowError('bad_price')
        try:
            price = Decimal(text)
        except InvalidOperation:
            raise rules.RowError('bad_price')
    if price < 0:
        raise rules.RowError('negative_price')
    return price


def mapping_is_usable(mapping):
    "Tell whether the columns found name the service and its price"
    return 'price' in mapping and (
        'service' in mapping or 'service_code' in mapping)


def service_key(text):
    "The key a service name is matched on"
    return rules.normalise_header(text) or None


def parse_row(row, cells, mapping, codes, names):
    """Parse the cells of one row into a PriceRow.

    codes and names map a product's code and service_key(name) to its id;
    the product is found by code first, then by name.  errors is a list of
    (field, reason): a row with errors is not loaded."""
    values, errors = {}, []

    def cell(field):
        column = mapping.get(field)
        if column is None or column >= len(cells):
            return None
        return cells[column]

    code = rules.cell_text(cell('service_code'))
    name = rules.cell_text(cell('service'))
    service = codes.get(code) if code else None
    if service is None and name:
        service = names.get(service_key(name))
    if service is not None:
        values['service'] = service
    elif code or name:
        errors.append(('service' if name else 'service_code',
                'unknown_service'))
    else:
        errors.append(('service' if 'service' in mapping else 'service_code',
                'missing_service'))
    provider_code = rules.cell_text(cell('provider_code'))
    if provider_code or code:
        values['provider_code'] = provider_code or code
    try:
        price = parse_price(cell('price'))
    except rules.RowError as error:
        errors.append(('price', error.reason))
    else:
        if price is None:
            errors.append(('price', 'missing_price'))
        else:
            values['price'] = price
    return PriceRow(row, values, errors, cells)


def parse_rows(rows, mapping, position, codes, names):
    "Parse the rows below the header, the second row of a service rejected"
    parsed, seen = [], set()
    for index, cells in enumerate(rows[position + 1:], position + 2):
        if rules.is_blank(cells) or rules.is_footer(cells, mapping):
            continue
        result = parse_row(index, cells, mapping, codes, names)
        service = result.values.get('service')
        if not result.errors and service in seen:
            result.errors.append((
                    'service' if 'service' in mapping else 'service_code',
                    'duplicate_in_file'))
        if service is not None:
            seen.add(service)
        parsed.append(result)
    return parsed


class ImportStart(ModelView):
    "Import Price List"
    __string__ = "Import Price List"
    __name__ = 'assistance.provider.price_list.import.start'

    price_list = fields.Many2One(
        'assistance.provider.price_list', "Price List", readonly=True)
    file = fields.Binary(
        "File", required=True, filename='file_name',
        help="The provider's Excel file (.xlsx or .xls): a column of "
        "services (our code or the name) and a column of prices.")
    file_name = fields.Char("File Name")


class ImportResult(ModelView):
    "Price List Import Result"
    __string__ = "Price List Import Result"
    __name__ = 'assistance.provider.price_list.import.result'

    created = fields.Integer("Lines Created", readonly=True)
    updated = fields.Integer("Lines Updated", readonly=True)
    unchanged = fields.Integer("Lines Unchanged", readonly=True)
    rejected = fields.Integer("Rows Rejected", readonly=True)
    errors = fields.One2Many(
        'assistance.provider.price_list.import.error', None,
        "Rejected Rows", readonly=True)
    errors_file = fields.Binary(
        "Rejected Rows File", filename='errors_file_name', readonly=True)
    errors_file_name = fields.Char("Rejected Rows File Name", readonly=True)


class ImportError_(ModelView):
    "Price List Import Rejected Row"
    __string__ = "Price List Import Rejected Row"
    __name__ = 'assistance.provider.price_list.import.error'

    row = fields.Integer("Row", readonly=True,
        help="The row number in the file.")
    column = fields.Char("Column", readonly=True)
    reason = fields.Char("Reason", readonly=True)
    cells = fields.Text("Row Values", readonly=True)


class Import(Wizard):
    "Load the lines of a price list from the provider's Excel file"
    __name__ = 'assistance.provider.price_list.import'
    start = StateView(
        'assistance.provider.price_list.import.start',
        'assistance_order.price_list_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-import', default=True),
            ])
    import_ = StateTransition()
    result = StateView(
        'assistance.provider.price_list.import.result',
        'assistance_order.price_list_import_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        return {'price_list': self.record.id}

    def transition_import_(self):
        data = bytes(self.start.file)
        rows = list(rules.iter_rows(data, self.start.file_name))
        position, mapping, labels = rules.find_header(
            rows, SYNONYMS, scan=30)
        if position is None or not mapping_is_usable(mapping):
            raise PriceListImportError(gettext(
                    'assistance_order.msg_price_import_header',
                    file=self.start.file_name or ''))
        codes, names = self._service_index()
        parsed = parse_rows(rows, mapping, position, codes, names)
        counts = self.load(self.record, [p for p in parsed if not p.errors])
        self._errors = [self._error(p, mapping, labels)
            for p in parsed if p.errors]
        self._labels = labels
        self._counts = counts
        return 'result'

    def default_result(self, fields):
        return {
            'created': self._counts[0],
            'updated': self._counts[1],
            'unchanged': self._counts[2],
            'rejected': len(self._errors),
            'errors': [{
                    'row': e.row, 'column': e.column, 'reason': e.reason,
                    'cells': e.cells,
                    } for e in self._errors],
            'errors_file': self.errors_file() if self._errors else None,
            'errors_file_name': self.errors_file_name(),
            }

    @classmethod
    def _service_index(cls):
        "Return the service products by code and by name key"
        Product = Pool().get('product.product')
        codes, names = {}, {}
        for product in Product.search([('type', '=', 'service')],
                order=[('id', 'ASC')]):
            if product.code:
                codes.setdefault(product.code.strip(), product.id)
            key = service_key(product.name)
            if key:
                names.setdefault(key, product.id)
        return codes, names

    @classmethod
    def load(cls, price_list, parsed):
        """Create or update the lines of price_list from the good rows;
        return (created, updated, unchanged)"""
        Line = Pool().get('assistance.provider.price_list.line')
        existing = {l.service.id: l for l in price_list.lines}
        to_save, created, updated, unchanged = [], 0, 0, 0
        for row in parsed:
            values = row.values
            line = existing.get(values['service'])
            if line is None:
                line = Line(price_list=price_list, service=values['service'])
                created += 1
            elif (line.price == values['price'] and (
                        line.provider_code or None) == values.get(
                        'provider_code', line.provider_code)):
                unchanged += 1
                continue
            else:
                updated += 1
            line.price = values['price']
            if 'provider_code' in values:
                line.provider_code = values['provider_code']
            to_save.append(line)
        Line.save(to_save)
        return created, updated, unchanged

    @staticmethod
    def _error(parsed, mapping, labels):
        def label(field):
            column = mapping.get(field)
            if column is not None and column < len(labels) and labels[column]:
                return labels[column]
            return field
        return SimpleNamespace(
            row=parsed.row,
            column=', '.join(
                dict.fromkeys(label(f) for f, _ in parsed.errors)),
            reason='; '.join(dict.fromkeys(
                    gettext(f'assistance_order.msg_price_import_{r}',
                        column=label(f))
                    for f, r in parsed.errors)),
            cells=json.dumps([rules.cell_text(c) for c in parsed.cells],
                ensure_ascii=False))

    def errors_file(self):
        "Return the .xlsx of the rejected rows, for the provider to correct"
        Error = Pool().get('assistance.provider.price_list.import.error')
        names = Error.fields_get(['row', 'column', 'reason'])
        return errors_xlsx(self._labels, self._errors,
            names['row']['string'], names['column']['string'],
            names['reason']['string'])

    def errors_file_name(self):
        base = (self.start.file_name or 'price-list').rsplit('.', 1)[0]
        return gettext('assistance_policy.msg_import_errors_file', name=base)
