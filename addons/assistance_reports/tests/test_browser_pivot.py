# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""REP-1 in the web client: the pivot as a department head, its cell's
records, its XLSX and PDF (headless Chromium on the demo database, pivot.mjs)."""
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
TIMEOUT = 600


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo_pivot')


def money(text):
    digits = ''.join(c for c in text.split(',')[0] if c.isdigit())
    return int(digits) if digits else None


def test_pivot_operator_by_month(demo, tmp_path):
    """Rows = operator (then year), columns = month: a row collapses and
    expands, a cell opens its records, the XLSX has the same totals and
    one chart"""
    import openpyxl
    playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
        / 'playwright-core' / 'index.mjs').as_uri()
    prefix = str(tmp_path / 'pivot')
    out = subprocess.run(
        ['node', str(pathlib.Path(__file__).parent / 'pivot.mjs'),
            playwright, demo.url, demo.database, 'head', 'head-2026',
            prefix],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    screen = json.loads(out.stdout.strip().splitlines()[-1])
    assert 'model.assistance.report.cube.compute' in screen['calls']
    assert 'model.assistance.report.cube.drill' in screen['calls']
    assert screen['collapsed'] < screen['expanded'], screen

    # The demo's ledger by operator, as the server stores it.
    ledger = dict(demo.query(
        "SELECT u.name, CAST(SUM(l.amount) AS REAL) "
        "FROM assistance_expense_line l "
        "LEFT JOIN assistance_case c ON c.id = l.\"case\" "
        "LEFT JOIN res_user u ON u.id = c.operator "
        "WHERE l.state IN ('declared', 'actual') GROUP BY u.name"))
    total = sum(ledger.values())
    rows = screen['rows']
    assert rows[0][0].endswith("Итого"), rows
    # Declared and actual amounts of the total column (the first).
    assert money(rows[0][1]) + money(rows[0][2]) == int(total), rows

    book = openpyxl.load_workbook(screen['download'])
    sheet = book.active
    assert sheet.cell(2, 1).value == "Итого"
    assert (sheet.cell(2, 2).value or 0) + (sheet.cell(2, 3).value or 0) == (
        pytest.approx(total))
    assert len(sheet._charts) == 1

    from pypdf import PdfReader
    pdf = PdfReader(screen['pdf'])
    assert "Итого" in pdf.pages[0].extract_text()

    assert screen['list']['rows'] >= 1
    assert pathlib.Path(f'{prefix}-pivot.png').stat().st_size > 10000
    assert latin_words(screen['text'], {'XLSX', 'PDF'}) == [], screen['text']
