# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""CASE-1, CASE-2, REQ-2, P6: the case in the web client, in Russian
(headless Chromium on the demo database), and the phone system's RPC."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
TOOLS = ROOT / 'tests' / 'browser_tools.py'
if TOOLS.exists():
    sys.path.insert(0, str(TOOLS.parent))
    from browser_tools import missing, once_per_suite, serve_demo
    REASON = missing() or once_per_suite()
else:
    REASON = "tests/browser_tools.py is not beside this module"

pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or '')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo_case')


def test_case_form_in_russian(demo, tmp_path):
    (case_id, number, insured), = demo.query(
        "SELECT c.id, c.number, party.name FROM assistance_case c "
        "JOIN party_party party ON party.id = c.insured "
        "WHERE c.state = 'open' ORDER BY c.id LIMIT 1")
    screenshot = tmp_path / 'case.png'

    screen = demo.open_record('assistance.case', case_id, screenshot)

    text = screen['text'].casefold()
    assert screenshot.stat().st_size > 10000
    for label in ["Застрахованное лицо", "Вид дела", "Дата события",
            "Время обращения", "Полис", "Полис по дате события",
            "События", "Задачи", "Ход дела", "История застрахованного",
            "Описание события", "Диагноз (МКБ-10)", "Взять в работу"]:
        assert label.casefold() in text, label
    assert number in screen['values']
    assert insured in screen['values']


def test_incoming_call_rpc_as_operator(demo):
    (case_id, policy_number, insured_id), = demo.query(
        "SELECT c.id, p.number, c.insured FROM assistance_case c "
        "JOIN assistance_policy p ON p.id = c.policy "
        "WHERE c.state = 'open' ORDER BY c.id LIMIT 1")

    result = demo.rpc('operator', 'operator-2026',
        'model.assistance.case.incoming_call', policy_number)

    assert result[0]['party'] == insured_id
    assert result[0]['open_case'] == case_id
    labels = demo.query(
        "SELECT n.label FROM res_notification n "
        "JOIN res_user u ON u.id = n.user WHERE u.login = 'operator'")
    assert any(policy_number in label for label, in labels)


def test_operator_takes_a_call(demo, tmp_path):
    "REQ-2, POL-4: search the caller, see the policy, continue the case"
    import json
    import subprocess
    (case_id, number, insured, policy_number), = demo.query(
        "SELECT c.id, c.number, party.name, p.number FROM assistance_case c "
        "JOIN party_party party ON party.id = c.insured "
        "JOIN assistance_policy p ON p.id = c.policy "
        "WHERE c.state = 'open' ORDER BY c.id LIMIT 1")
    playwright = (ROOT / 'tests' / 'browser' / 'node_modules'
        / 'playwright-core' / 'index.mjs').as_uri()
    out = subprocess.run(
        ['node', str(pathlib.Path(__file__).parent / 'incoming_call.mjs'),
            playwright, demo.url, demo.database, 'operator', 'operator-2026',
            insured, str(tmp_path / 'call')],
        capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    screens = json.loads(out.stdout.strip().splitlines()[-1])

    wizard = screens['wizard']
    for label in ["Входящее обращение", "Поиск", "Дата события",
            "Застрахованные лица", "Действующий полис", "Открытое дело",
            "Состояние полиса"]:
        assert label in wizard['text'], label
    assert "продолжить дело" in wizard['text'].casefold()
    assert "новое дело" in wizard['text'].casefold()
    assert any(policy_number in v for v in wizard['values'])
    assert any(number in v for v in wizard['values'])
    assert f"Полис «{policy_number}" in ' '.join(wizard['values'])
    assert number in screens['case']['values']
