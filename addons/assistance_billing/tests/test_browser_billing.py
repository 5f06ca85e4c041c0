# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""BIL-1, BIL-2, ACC-2, REP-3 (issue 13) in the web client: the accountant
imports a provider's register, checks it, creates and posts its invoice and
reads the debt of the provider — in Russian (headless Chromium on the demo
database, register.mjs)."""
import datetime as dt
import io
import json
import pathlib
import subprocess
import sys
from decimal import Decimal

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOOLS = ROOT / 'tests' / 'browser_tools.py'
if TOOLS.exists():
    sys.path.insert(0, str(TOOLS.parent))
    from browser_tools import latin_words, missing, once_per_suite, serve_demo
    REASON = missing() or once_per_suite()
else:
    REASON = "tests/browser_tools.py is not beside this module"

pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or '')

# Waits of the script are up to 120 s each; the whole story stays below this.
TIMEOUT = 600
HEADER = ["№ п/п", "ФИО пациента", "№ полиса", "№ гарантийного письма",
    "Дата оказания", "Услуга", "Кол-во", "Цена", "Сумма"]
# Codes pass (browser_tools.CODE); so do the names a Russian user sees in
# Latin letters anyway.
NAMES_IN_LATIN = {'Excel', 'Tryton'}


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo_billing')


def free_order(demo):
    """Return the demo's first order whose expense lines are in the ledger
    (declared or actual) and neither on a register's row nor invoiced:
    (order number, provider, payee, policy number, insured, date,
    [(service, quantity, unit price, covered amount)])"""
    orders = demo.query(
        "SELECT o.id, o.number, prov.name, COALESCE(head.name, prov.name), "
        "pol.number, insured.name, o.date "
        "FROM assistance_order o "
        "JOIN party_party prov ON prov.id = o.provider "
        "LEFT JOIN party_party head ON head.id = prov.head_office "
        "JOIN assistance_policy pol ON pol.id = o.policy "
        "JOIN assistance_case c ON c.id = o.\"case\" "
        "JOIN party_party insured ON insured.id = c.insured "
        "WHERE o.state IN ('confirmed', 'delivered') ORDER BY o.id")
    for order_id, *order in orders:
        lines = demo.query(
            "SELECT t.name, CAST(e.quantity AS TEXT), "
            "CAST(e.unit_price AS TEXT), CAST(e.covered_amount AS TEXT), "
            "e.state, e.id "
            "FROM assistance_order_line ol "
            "JOIN assistance_expense_line e ON e.id = ol.expense_line "
            "JOIN product_product p ON p.id = ol.service "
            "JOIN product_template t ON t.id = p.template "
            "WHERE ol.\"order\" = ? ORDER BY ol.id", order_id)
        expenses = [str(l[-1]) for l in lines]
        if not lines or any(l[4] not in {'declared', 'actual'}
                for l in lines):
            continue
        marks = ','.join('?' * len(expenses))
        if demo.query(
                "SELECT id FROM assistance_billing_register_line "
                f"WHERE expense_line IN ({marks})", *expenses):
            continue
        if demo.query(
                "SELECT id FROM account_invoice_line WHERE origin IN "
                f"({marks})",
                *[f'assistance.expense.line,{e}' for e in expenses]):
            continue
        return (*order, [(name, Decimal(q), Decimal(p), Decimal(c))
                for name, q, p, c, *_ in lines])
    pytest.fail("the demo has no order left to bill")


def register_workbook(path, number, policy, insured, date, lines):
    """Write the provider's register: a title row, the header, one row per
    service of the order, and a service with a guarantee letter the centre
    never issued and no policy (removed); return the rows"""
    import openpyxl
    rows = [[insured, policy, number, date, name, float(quantity),
            float(price)] for name, quantity, price, _ in lines]
    removed = [insured, None, "ГП-0000", date, lines[0][0], 1.0,
        float(lines[0][2])]
    rows.append(removed)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Реестр"
    sheet.append([f"Реестр оказанных услуг за {date:%m.%Y}"])
    sheet.append(HEADER)
    for index, row in enumerate(rows, 1):
        sheet.append([index, *row, row[-2] * row[-1]])
        sheet.cell(sheet.max_row, 5).number_format = 'DD.MM.YYYY'
    book.save(path)
    return rows


def money(text):
    "Return the Decimal of an amount as sao shows it (1 950,00 ₽)"
    digits = ''.join(c for c in text if c.isdigit() or c in ',-')
    return Decimal(digits.replace(',', '.')) if digits else Decimal(0)


def decimal(value):
    "Return the Decimal of an amount read through JSON-RPC"
    if isinstance(value, dict):
        return Decimal(value['decimal'])
    return Decimal(value or 0)


# The debt analysis' amounts and their columns on the screen.
DEBT_COLUMNS = {
    'accrued': "Начислено, счёт не получен",
    'not_due': "По счетам, срок не наступил",
    'term1': "Просрочено: 1-й интервал (0–30)",
    'term2': "Просрочено: 2-й интервал (31–60)",
    'term3': "Просрочено: 3-й интервал (61–90)",
    'term4': "Просрочено: свыше (более 90)",
    'total': "Итого",
    }


def debt_rows(demo, payee, provider):
    """Return the amounts of the debt analysis rows of the payee and of the
    provider under it, as the accountant reads them through the server"""
    (company,), = demo.query("SELECT id FROM company_company")
    fields = ['party.rec_name', 'children', *DEBT_COLUMNS]

    def call(method, *args):
        return demo.rpc('accountant', 'accountant-2026',
            f'model.assistance.billing.debt.{method}', *args,
            context={'company': company})

    def amounts(row):
        return {n: decimal(row[n]) for n in DEBT_COLUMNS}
    head, = [h for h in call('search_read', [('parent', '=', None)], 0,
            None, None, fields) if h['party.']['rec_name'] == payee]
    if provider == payee and not head['children']:
        return amounts(head), amounts(head)
    child, = [c for c in call('read', head['children'], fields)
        if c['party.']['rec_name'] == provider]
    return amounts(head), amounts(child)


def invoiced(row):
    "The invoiced part of a debt row, due or not"
    return sum(row[n] for n in ['not_due', 'term1', 'term2', 'term3',
            'term4'])


def test_accountant_month(demo, tmp_path):
    (number, provider, payee, policy, insured, date,
        lines) = free_order(demo)
    date = dt.date.fromisoformat(date)
    path = tmp_path / 'reestr-dekabr.xlsx'
    register_workbook(path, number, policy, insured, date, lines)
    accepted = sum(c for *_, c in lines)
    head_before, before = debt_rows(demo, payee, provider)

    playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
        / 'playwright-core' / 'index.mjs').as_uri()
    prefix = str(tmp_path / 'register')
    reference = f"СЧ-{number}"
    out = subprocess.run(
        ['node', str(pathlib.Path(__file__).parent / 'register.mjs'),
            playwright, demo.url, demo.database, 'accountant',
            'accountant-2026', provider, payee, reference,
            date.strftime('%d.%m.%Y'), str(path), prefix],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    screen = json.loads(out.stdout.strip().splitlines()[-1])

    # The rows as the server keeps them: the order's services accepted,
    # matched to their expense lines, now actual; the unknown guarantee
    # letter removed with its reason.
    rows = demo.query(
        "SELECT l.row_number, l.outcome, r.code, "
        "CAST(l.accepted_amount AS TEXT), e.state "
        "FROM assistance_billing_register_line l "
        "JOIN assistance_billing_register reg ON reg.id = l.register "
        "LEFT JOIN assistance_billing_removal_reason r "
        "ON r.id = l.removal_reason "
        "LEFT JOIN assistance_expense_line e ON e.id = l.expense_line "
        "WHERE reg.invoice_number = ? ORDER BY l.row_number", reference)
    assert [(n, o, r, Decimal(a or 0), s) for n, o, r, a, s in rows] == [
        *((i, 'accepted', None, c, 'actual')
            for i, (*_, c) in enumerate(lines, 1)),
        (len(lines) + 1, 'removed', 'no_guarantee', Decimal(0), None)], rows
    (state, invoice_state, total, party), = demo.query(
        "SELECT reg.state, i.state, CAST(SUM(il.quantity * il.unit_price) "
        "AS TEXT), p.name "
        "FROM assistance_billing_register reg "
        "JOIN account_invoice i ON i.id = reg.invoice "
        "JOIN account_invoice_line il ON il.invoice = i.id "
        "JOIN party_party p ON p.id = i.party "
        "WHERE reg.invoice_number = ? GROUP BY reg.state, i.state, p.name",
        reference)
    assert (state, invoice_state, party) == ('invoiced', 'posted', payee)
    assert Decimal(total) == accepted

    # What the check showed: the outcome of each row, in Russian.
    checked = screen['checked']
    assert checked['state'] == "Проверен", checked
    outcomes = [(r["Результат"], r["Причина снятия"])
        for r in checked['rows'] if r["Строка"]]
    assert outcomes == [("Принято", "")] * len(lines) + [
        ("Снято", "Нет гарантийного письма")], checked['rows']
    assert money(checked['accepted_amount']) == accepted, checked
    assert money(checked['removed_amount']) == lines[0][2], checked
    invoice = screen['invoice']
    assert invoice['state'] == "Проведён", invoice
    assert money(invoice['total']) == accepted, invoice

    # The debt: what the check accrued on 76.05 left it when the invoice
    # was posted; the payee owes the invoice, as the screen shows.
    head_after, after = debt_rows(demo, payee, provider)
    assert after['accrued'] == before['accrued']
    assert invoiced(after) == invoiced(before) + accepted
    assert after['total'] == before['total'] + accepted
    assert head_after['total'] == head_before['total'] + accepted
    debt = screen['debt']
    for row, amounts in [(debt['provider'], after),
            (debt['payee'], head_after)]:
        assert {n: money(row[c]) for n, c in DEBT_COLUMNS.items()} == (
            amounts), (row, amounts)

    for name in ['checked', 'invoice', 'debt']:
        assert pathlib.Path(f'{prefix}-{name}.png').stat().st_size > 10000
        text = '\n'.join([screen[name]['text'], *screen[name]['buttons']])
        assert latin_words(text, NAMES_IN_LATIN) == [], (name, text)
