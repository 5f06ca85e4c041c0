# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""POL-1 (issue #4): a contract manager imports an insurer's list in the web
client — upload, preview, apply, error file — in Russian (headless Chromium
on the demo database, policy_import.mjs)."""
import datetime as dt
import json
import pathlib
import queue
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOOLS = ROOT / 'tests' / 'browser_tools.py'
if TOOLS.exists():
    sys.path.insert(0, str(TOOLS.parent))
    from browser_tools import (
        latin_words, missing, once_per_suite, serve_demo)
    REASON = missing() or once_per_suite()
else:
    REASON = "tests/browser_tools.py is not beside this module"

pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or '')

# Waits of the script are up to 120 s each; the whole story stays below this.
TIMEOUT = 600
GOOD = 20
HEADER = ["№ полиса", "ФИО", "Дата рождения", "Программа", "Дата начала",
    "Дата окончания", "Телефон"]
SURNAMES = ["Кузнецова", "Орлов", "Белова", "Зайцев", "Морозова", "Волков",
    "Лебедева", "Соколов", "Егорова", "Павлов"]
NAMES = ["Анна Сергеевна", "Михаил Андреевич", "Ольга Викторовна",
    "Денис Игоревич", "Елена Павловна", "Артём Олегович", "Мария Ильинична",
    "Кирилл Романович", "Светлана Юрьевна", "Никита Сергеевич"]
# Codes pass (browser_tools.CODE); so do the names a Russian user sees in
# Latin letters anyway.
NAMES_IN_LATIN = {'Excel', 'Tryton'}


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo_import')


def insurer_list(path, contract, package, start, end):
    """Write the insurer's list: a title row above the header, GOOD good rows
    and two bad ones; return ({policy number: row's cells}, the row with a
    bad date, the row with an unknown programme)"""
    import xlsxwriter
    rows = []
    for i in range(GOOD):
        birth = dt.date(1965 + i, 1 + i % 12, 1 + i % 27)
        rows.append([f"БР-{i + 1:05d}",
            f"{SURNAMES[i % 10]} {NAMES[i % 10]}",
            # Excel dates and dates as text, as insurers send them
            birth if i % 2 else birth.strftime('%d.%m.%Y'),
            package, start.strftime('%d.%m.%Y'), end,
            f"+7 916 555-{i // 10:02d}-{i % 10:02d}"])
    bad_date = ["БР-90001", "Фролов Иван Петрович", "31.02.1980", package,
        start.strftime('%d.%m.%Y'), end, "+7 916 555-90-01"]
    bad_package = ["БР-90002", "Громова Дарья Олеговна", dt.date(1990, 5, 4),
        "VIP", start.strftime('%d.%m.%Y'), end, "+7 916 555-90-02"]
    rows.insert(5, bad_date)
    rows.insert(14, bad_package)

    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Список")
    bold = workbook.add_format({'bold': True})
    date = workbook.add_format({'num_format': 'dd.mm.yyyy'})
    sheet.merge_range(0, 0, 0, len(HEADER) - 1,
        f"Список застрахованных лиц по договору {contract}", bold)
    sheet.write_row(2, 0, HEADER, bold)
    for index, row in enumerate(rows, 3):
        for column, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(index, column,
                    dt.datetime.combine(value, dt.time()), date)
            else:
                sheet.write(index, column, value)
    workbook.close()
    return {r[0]: r for r in rows}, bad_date, bad_package


class Script:
    "The node script, talked to line by line"

    def __init__(self, args):
        self.stderr = open(args[-1] + '-stderr.txt', 'w+')
        self.process = subprocess.Popen(['node', *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_json(self, step):
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                self.fail(f"no {step!r} step in {TIMEOUT} s")
            if line is None:
                self.fail(f"ended before the {step!r} step")
            if line.startswith('{'):
                value = json.loads(line)
                assert value['step'] == step, value
                return value

    def send(self, line):
        self.process.stdin.write(line + '\n')
        self.process.stdin.flush()

    def fail(self, why):
        self.close()
        with open(self.stderr.name) as stderr:
            pytest.fail(f"{why}: {stderr.read()}")

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self.stderr.close()


def english_words(text):
    return latin_words(text, NAMES_IN_LATIN)


def test_manager_imports_a_list(demo, tmp_path):
    (contract_id, contract, start, end), = demo.query(
        "SELECT id, number, start_date, end_date FROM assistance_contract "
        "WHERE state = 'active' ORDER BY end_date DESC, id LIMIT 1")
    (package,), = demo.query(
        "SELECT code FROM assistance_package WHERE contract = ? "
        "ORDER BY id LIMIT 1", contract_id)
    start = dt.date.fromisoformat(start)
    path = tmp_path / 'spisok-dekabr.xlsx'
    rows, bad_date, bad_package = insurer_list(
        path, contract, package, start, dt.date.fromisoformat(end))
    numbers = sorted(rows)
    marks = ','.join('?' * len(numbers))

    def policies():
        return demo.query(
            "SELECT p.number, party.name, pk.code, p.state "
            "FROM assistance_policy p "
            "JOIN party_party party ON party.id = p.insured "
            "JOIN assistance_package pk ON pk.id = p.package "
            f"WHERE p.contract = ? AND p.number IN ({marks})",
            contract_id, *numbers)
    assert policies() == []
    playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
        / 'playwright-core' / 'index.mjs').as_uri()
    prefix = str(tmp_path / 'import')

    script = Script([str(pathlib.Path(__file__).parent / 'policy_import.mjs'),
            playwright, demo.url, demo.database, 'manager', 'manager-2026',
            contract, str(path), prefix])
    try:
        preview = script.next_json('preview')['preview']
        # Nothing is written by the preview.
        written = policies()
        script.send('apply')
        result = script.next_json('done')
        assert script.process.wait(TIMEOUT) == 0
    finally:
        script.close()

    counts = preview['counts']
    assert preview['state'] == "Предпросмотр"
    assert (counts['total_rows'], counts['new_count'],
        counts['changed_count'], counts['unchanged_count'],
        counts['error_count']) == ('22', '20', '0', '0', '2'), counts
    assert written == []
    assert pathlib.Path(prefix + '-preview.png').stat().st_size > 10000
    # Buttons are shown in capitals (CSS): compared without case.
    text = preview['text'].casefold()
    for label in ["Договор страхования", "Файл", "Новые", "Ошибки",
            "Файл ошибок", "Отклонённые строки", "Предпросмотр",
            "Применить"]:
        assert label.casefold() in text, label
    visible = '\n'.join([preview['text'], *preview['buttons']])
    assert english_words(visible) == [], visible

    applied = result['applied']
    assert applied['state'] == "Выполнен"
    assert applied['counts']['processed_rows'] == '22', applied['counts']
    assert applied['counts']['error_count'] == '2', applied['counts']
    # The rows are planned again while applying (in the task queue): their
    # reasons stay in Russian.
    assert "«Дата рождения»: это не дата." in applied['text']
    assert english_words(applied['text']) == [], applied['text']
    created = policies()
    good = {n: r for n, r in rows.items()
        if n not in {bad_date[0], bad_package[0]}}
    assert sorted(n for n, *_ in created) == sorted(good)
    assert all(state == 'active' and code == package
        for _, _, code, state in created), created
    assert {n: name for n, name, *_ in created} == {
        n: r[1] for n, r in good.items()}

    download = pathlib.Path(result['download']['path'])
    assert result['download']['name'] == 'spisok-dekabr-ошибки.xlsx'
    check_error_file(download, bad_date, bad_package)


def check_error_file(path, bad_date, bad_package):
    "The rejected rows with their original cells and a Russian reason"
    import openpyxl
    sheet = openpyxl.load_workbook(path, read_only=True).active
    header, *lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[1:1 + len(HEADER)] == HEADER, header
    assert len(lines) == 2, lines
    by_number = {line[1]: line for line in lines}
    for bad, column in [(bad_date, "Дата рождения"),
            (bad_package, "Программа")]:
        line = by_number[bad[0]]
        cells = line[1:1 + len(HEADER)]
        expected = [v.strftime('%d.%m.%Y') if isinstance(v, dt.date) else v
            for v in bad]
        assert cells == expected, (cells, expected)
        assert line[-2] == column, line
        reason = line[-1]
        assert f"«{column}»" in reason, reason
        assert english_words(reason) == [], reason
