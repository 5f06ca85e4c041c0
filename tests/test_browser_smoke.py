"""P1, POL-4, P6: the web client shows a policy in Russian (headless Chromium)."""
import pytest

from browser_tools import missing, serve_demo

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or '')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'demo')


def test_policy_form_in_russian(demo, tmp_path):
    (policy_id, number, insured, birth_date), = demo.query(
        "SELECT p.id, p.number, party.name, party.birth_date "
        "FROM assistance_policy p JOIN party_party party "
        "ON party.id = p.insured "
        "WHERE p.previous_policy IS NOT NULL ORDER BY p.id LIMIT 1")
    screenshot = tmp_path / 'policy.png'

    screen = demo.open_record('assistance.policy', policy_id, screenshot)

    # Buttons are upper-cased by the style sheet.
    text = screen['text'].casefold()
    assert screenshot.stat().st_size > 10000
    for label in ["Полис", "Застрахованное лицо", "Договор страхования",
            "Пакет страхования", "Дата начала", "Дата окончания",
            "Предыдущий полис", "История застрахованного",
            "Программы страхования", "Пролонгировать"]:
        assert label.casefold() in text, label
    assert number in screen['values']
    assert insured in screen['values']
