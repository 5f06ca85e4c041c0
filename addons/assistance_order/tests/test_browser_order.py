# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""ORD-2 in the web client: the lines of a draft order on one limit are
checked in turn on screen, before saving (headless Chromium on the demo
database, order_lines.mjs)."""
import datetime as dt
import json
import pathlib
import subprocess
import sys

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
# The demo's price list of the provider: a visit to the therapist and to the
# neurologist, both outpatient care under the contract's limit per case.
PROVIDER = "Поликлиника «Здоровье» на Арбате"
FIRST, SECOND = "Приём терапевта", "Приём невролога"
FIRST_PRICE, SECOND_PRICE = 2200, 2600
LIMIT, LIMIT_NAME = 100000, "100 000 ₽ на случай"
# What the case has already consumed: the first line takes what is left.
CONSUMED = LIMIT - FIRST_PRICE
# Codes pass (browser_tools.CODE); so do the names a Russian user sees in
# Latin letters anyway.
NAMES_IN_LATIN = {'Tryton'}


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo_order')


def encode(value):
    "Return value as trytond's JSON-RPC reads it"
    if isinstance(value, dt.date):
        return {'__class__': 'date', 'year': value.year,
            'month': value.month, 'day': value.day}
    return {'__class__': 'Decimal', 'decimal': str(value)}


def money(text):
    "Return the amount shown as «2 200,00 ₽» or «2 200,00» as an int"
    digits = ''.join(c for c in text.split(',')[0] if c.isdigit())
    return int(digits) if digits else None


def case_with_limit_left(demo):
    """Return the number and id of an open case with no order, whose limit
    per case has FIRST_PRICE left: the rest declared as consumed"""
    (company,), = demo.query("SELECT id FROM company_company")
    (case_id, number, policy), = demo.query(
        "SELECT c.id, c.number, c.policy FROM assistance_case c "
        "WHERE c.state = 'open' AND c.policy IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM assistance_order o WHERE o.\"case\" = c.id) "
        "ORDER BY c.id LIMIT 1")
    assert demo.query(
        "SELECT id FROM assistance_expense_line WHERE case_key = ?",
        f'assistance.case,{case_id}') == []
    (service,), = demo.query(
        "SELECT p.id FROM product_product p "
        "JOIN product_template t ON t.id = p.template "
        "WHERE t.name = ?", "УЗИ брюшной полости")
    today = dt.date.fromisoformat(demo.query("SELECT date('now')")[0][0])
    expense, = demo.rpc('admin', demo.password,
        'model.assistance.expense.create', [{
                'policy': policy,
                'date': encode(today),
                'description': "Обследование до заказа",
                'lines': [['create', [{
                                'policy': policy,
                                'service': service,
                                'date': encode(today),
                                'quantity': encode(1),
                                'unit_price': encode(CONSUMED),
                                'case': case_id,
                                }]]],
                }], context={'company': company})
    demo.rpc('admin', demo.password, 'model.assistance.expense.declare',
        [expense], context={'company': company})
    assert demo.query(
        "SELECT state, CAST(covered_amount AS REAL) "
        "FROM assistance_expense_line "
        "WHERE case_key = ?", f'assistance.case,{case_id}') == [
        ('declared', CONSUMED)]
    return number, case_id


def test_second_line_on_screen_shows_what_the_first_leaves(demo, tmp_path):
    """ORD-2: a second line on a limit shared with the first shows on
    screen, before saving, what the first leaves; the totals follow;
    removing the first line gives its share back"""
    number, case_id = case_with_limit_left(demo)
    playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
        / 'playwright-core' / 'index.mjs').as_uri()
    prefix = str(tmp_path / 'order')
    out = subprocess.run(
        ['node', str(pathlib.Path(__file__).parent / 'order_lines.mjs'),
            playwright, demo.url, demo.database, 'operator', 'operator-2026',
            number, PROVIDER, FIRST, SECOND, prefix],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    screens = json.loads(out.stdout.strip().splitlines()[-1])

    # The order's on_change for its lines was called by the web client.
    assert 'model.assistance.order.on_change_lines' in screens['calls'], (
        screens['calls'])

    first, = screens['first']['rows']
    assert (first["Услуга"], first["Покрытие"],
        money(first["Покрывает страховщик"])) == (
        FIRST, "Покрыто", FIRST_PRICE), first

    # Before saving: the second line has nothing left of the limit.
    rows = screens['second']['rows']
    assert [r["Услуга"] for r in rows] == [FIRST, SECOND], rows
    one, two = rows
    assert (one["Покрытие"], money(one["Покрывает страховщик"])) == (
        "Покрыто", FIRST_PRICE), one
    assert (two["Покрытие"], money(two["Покрывает страховщик"]),
        money(two["Оплачивает застрахованный"])) == (
        "Отказ", 0, SECOND_PRICE), two
    # The per-case limit names the case: "number — insured".
    assert two["Причина"].startswith(
        f"Лимит «{LIMIT_NAME}» по делу «{number} — "), two
    assert two["Причина"].endswith("» исчерпан."), two
    totals = {k: money(v) for k, v in screens['second']['totals'].items()}
    assert totals == {
        'amount': FIRST_PRICE + SECOND_PRICE,
        'covered_amount': FIRST_PRICE,
        'deductible_amount': 0,
        'insured_amount': SECOND_PRICE,
        }, screens['second']['totals']

    # The first line removed: the second takes what is left, in part.
    line, = screens['removed']['rows']
    assert (line["Услуга"], line["Покрытие"],
        money(line["Покрывает страховщик"]),
        money(line["Оплачивает застрахованный"])) == (
        SECOND, "Покрыто частично", FIRST_PRICE,
        SECOND_PRICE - FIRST_PRICE), line
    totals = {k: money(v) for k, v in screens['removed']['totals'].items()}
    assert totals == {
        'amount': SECOND_PRICE,
        'covered_amount': FIRST_PRICE,
        'deductible_amount': 0,
        'insured_amount': SECOND_PRICE - FIRST_PRICE,
        }, screens['removed']['totals']

    # Saved: the server's own check agrees with what was shown.
    stored = demo.query(
        "SELECT t.name, l.coverage_status, CAST(l.covered_amount AS REAL), "
        "CAST(l.insured_amount AS REAL), o.state "
        "FROM assistance_order_line l "
        "JOIN assistance_order o ON o.id = l.\"order\" "
        "JOIN product_product p ON p.id = l.service "
        "JOIN product_template t ON t.id = p.template "
        "WHERE o.\"case\" = ?", case_id)
    assert stored == [(SECOND, 'partial', FIRST_PRICE,
            SECOND_PRICE - FIRST_PRICE, 'draft')], stored
    line, = screens['saved']['rows']
    assert (line["Покрытие"], money(line["Покрывает страховщик"])) == (
        "Покрыто частично", FIRST_PRICE), line

    for step in ['second', 'removed']:
        assert pathlib.Path(f'{prefix}-{step}.png').stat().st_size > 10000
        visible = '\n'.join(
            [screens[step]['text'], *screens[step]['buttons']])
        assert latin_words(visible, NAMES_IN_LATIN) == [], visible
