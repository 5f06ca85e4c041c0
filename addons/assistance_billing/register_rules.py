# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Reading a provider's register of services rendered (BIL-1, BIL-2).

Pure functions over the cells of the workbook: the reading of the file, the
header search and the cell parsers are those of the policy list import
(assistance_policy.policy_import_rules) and of the price list import; this
file only knows the columns of a register and how a row becomes values."""
import hashlib
import json
from collections import namedtuple
from decimal import Decimal

from trytond.modules.assistance_order.price_list_import import (
    parse_price, service_key)
from trytond.modules.assistance_policy import policy_import_rules as rules

# Column titles providers use; a provider's template adds its own.
SYNONYMS = {
    'row_number': ["№ п/п", "№", "n", "номер строки", "п/п", "row"],
    'patient': [
        "фио", "ф.и.о.", "фио пациента", "пациент", "фио застрахованного",
        "застрахованный", "застрахованное лицо", "patient"],
    'policy_number': [
        "№ полиса", "номер полиса", "полис", "полис дмс", "policy"],
    'order_number': [
        "№ гарантийного письма", "гарантийное письмо", "№ гп", "гп",
        "номер гарантийного письма", "№ заказа", "заказ", "номер заказа",
        "направление", "order"],
    'service_date': [
        "дата", "дата оказания", "дата оказания услуги", "дата услуги",
        "дата приёма", "date"],
    'service_code': ["код услуги", "код", "артикул", "service code", "code"],
    'service_name': [
        "услуга", "наименование услуги", "наименование", "название услуги",
        "service"],
    'quantity': ["кол-во", "количество", "кол во", "qty", "quantity"],
    'unit_price': [
        "цена", "цена руб", "цена, руб", "цена, руб.", "тариф", "стоимость",
        "price"],
    'amount': [
        "сумма", "сумма руб", "сумма, руб", "сумма, руб.", "к оплате",
        "итого по строке", "amount"],
    'diagnosis': ["диагноз", "код мкб", "мкб-10", "мкб", "diagnosis"],
    }
FIELDS = list(SYNONYMS)
# Reason codes of a rejected row (register.xml msg_register_import_<code>).
REASONS = {
    'missing_service', 'unknown_service', 'missing_date', 'bad_date',
    'bad_quantity', 'bad_price', 'negative_price', 'missing_amount',
    'missing_reference',
    }

RegisterRow = namedtuple('RegisterRow', ['row', 'values', 'errors', 'cells'])


def mapping_is_usable(mapping):
    "Tell whether the columns found name a service, its date and its amount"
    return (('service_code' in mapping or 'service_name' in mapping)
        and 'service_date' in mapping
        and ('amount' in mapping or 'unit_price' in mapping))


def parse_quantity(value):
    "Return the positive quantity of a cell (1 when blank)"
    if value is None or value == '':
        return Decimal(1)
    try:
        quantity = parse_price(value)
    except rules.RowError:
        raise rules.RowError('bad_quantity')
    if not quantity:
        raise rules.RowError('bad_quantity')
    return quantity


def _money(cell, field, values, errors):
    try:
        value = parse_price(cell(field))
    except rules.RowError as error:
        errors.append((field, error.reason))
    else:
        if value is not None:
            values[field] = value


def parse_row(row, cells, mapping, services):
    """Parse the cells of one row into a RegisterRow.

    services(code, name) returns the id of the service product or None.
    errors is a list of (field, reason): a row with errors is not loaded.
    Never raises."""
    values, errors = {}, []

    def cell(field):
        column = mapping.get(field)
        if column is None or column >= len(cells):
            return None
        return cells[column]

    for field in ['patient', 'policy_number', 'order_number',
            'service_code', 'service_name', 'diagnosis']:
        text = rules.cell_text(cell(field))
        if text:
            values[field] = text
    number = rules.cell_text(cell('row_number'))
    if number and number.isdigit():
        values['row_number'] = int(number)
    code, name = values.get('service_code'), values.get('service_name')
    service_field = 'service_name' if 'service_name' in mapping else (
        'service_code')
    if not code and not name:
        errors.append((service_field, 'missing_service'))
    else:
        service = services(code, name)
        if service is None:
            errors.append((service_field, 'unknown_service'))
        else:
            values['service'] = service
    try:
        date = rules.parse_date(cell('service_date'))
    except rules.RowError:
        errors.append(('service_date', 'bad_date'))
    else:
        if date is None:
            errors.append(('service_date', 'missing_date'))
        else:
            values['service_date'] = date
    try:
        values['quantity'] = parse_quantity(cell('quantity'))
    except rules.RowError as error:
        errors.append(('quantity', error.reason))
    _money(cell, 'unit_price', values, errors)
    _money(cell, 'amount', values, errors)
    complete_amounts(values, errors, mapping)
    if not values.get('policy_number') and not values.get('order_number'):
        errors.append((
                'order_number' if 'order_number' in mapping
                else 'policy_number', 'missing_reference'))
    return RegisterRow(row, values, errors, cells)


def complete_amounts(values, errors, mapping):
    "Compute the amount from the unit price or the unit price from the amount"
    if any(f in {'unit_price', 'amount', 'quantity'} for f, _ in errors):
        return
    quantity = values['quantity']
    if values.get('amount') is not None:
        values['amount'] = values['amount'].quantize(Decimal('0.01'))
    if values.get('amount') is None:
        if values.get('unit_price') is None:
            errors.append((
                    'amount' if 'amount' in mapping else 'unit_price',
                    'missing_amount'))
            return
        values['amount'] = (values['unit_price'] * quantity).quantize(
            Decimal('0.01'))
    elif values.get('unit_price') is None:
        values['unit_price'] = (values['amount'] / quantity).quantize(
            Decimal('0.01'))


def row_key(values):
    "The key of a row's content: the same row of the same file, same key"
    content = [values.get(f) for f in [
            'patient', 'policy_number', 'order_number', 'service',
            'service_date', 'quantity', 'unit_price', 'amount', 'diagnosis']]
    text = json.dumps(content, default=str, ensure_ascii=False)
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


def parse_rows(rows, mapping, position, services):
    """Parse the rows below the header; each good row gets its source_key:
    its content and its rank among the rows of the same content, so that a
    row billed twice in one file stays two rows (the check removes the
    second as a duplicate) and the same file imported again adds nothing"""
    parsed, seen = [], {}
    for index, cells in enumerate(rows[position + 1:], position + 2):
        if rules.is_blank(cells) or rules.is_footer(cells, mapping):
            continue
        result = parse_row(index, cells, mapping, services)
        if not result.errors:
            key = row_key(result.values)
            seen[key] = seen.get(key, 0) + 1
            result.values['source_key'] = f'{key}-{seen[key]}'
            result.values.setdefault('row_number', index)
        parsed.append(result)
    return parsed


def service_finder(codes, provider_codes, names):
    """Return services(code, name): our product code, the provider's code in
    its price list, then the name"""
    def services(code, name):
        if code:
            found = codes.get(code) or provider_codes.get(code)
            if found:
                return found
        if name:
            return names.get(service_key(name))
        return None
    return services


# -- The outcome of a matched row (МЭЭ) ---------------------------------------

Outcome = namedtuple('Outcome', ['outcome', 'accepted', 'reason'])


def decide(amount, quantity, unit_price, covered_amount, covered_quantity,
        list_price, tolerance, partial):
    """Return the Outcome of a row matched to an expense line.

    amount, quantity, unit_price: what the provider claims; covered_amount
    and covered_quantity: what the engine covered on the expense line;
    list_price: the provider's price on the date (None when not listed);
    partial: the engine cut the line by a limit.  The accepted amount never
    exceeds the covered amount nor the list price; within the tolerance the
    claimed amount is accepted as it is up to the covered amount."""
    ceiling = covered_amount
    reason = None
    if list_price is not None and unit_price > list_price + tolerance:
        at_list = (list_price * quantity).quantize(Decimal('0.01'))
        if at_list < ceiling:
            ceiling = at_list
        reason = 'price_above_list'
    if quantity > covered_quantity and reason is None:
        reason = 'limit_exhausted' if partial else 'quantity_above_order'
    if amount <= ceiling + (tolerance if reason is None else 0):
        accepted = min(amount, ceiling)
        if reason is None or accepted == amount:
            return Outcome('accepted', accepted, None)
    if ceiling <= 0:
        return Outcome('removed', Decimal(0), reason or (
                'limit_exhausted' if partial else 'amount_above_order'))
    return Outcome('difference', ceiling, reason or (
            'limit_exhausted' if partial else 'amount_above_order'))
