"""Russian everywhere (issue 7): no English word on any role's screen.

A headless Chromium logs into the web client as each role (operator, contract
manager, accountant, department head, admin), opens every menu entry and the
first record's form of each list (tests/browser/crawl.mjs, which documents
what is collected: labels, headers, buttons, menus, tabs, tooltips,
placeholders and drop-down items — never record data), and every Latin-script
word found fails the test, except: codes (CODE), the few names of WHITELIST,
whole texts that name things rather than say something (time zones, file
formats, icon and module names, sao's font names), and the English source
strings of a module listed in KNOWN_GAPS (reported, not failed).  The test
prints, per role, the number of screens and of English words, and the words.
"""
import collections
import json
import re
import subprocess
import time
import zoneinfo

import pytest

from browser_tools import (
    BROWSER, DemoServer, latin_words, missing, serve_demo)

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or '')

ROLES = {
    'operator': 'operator-2026',
    'manager': 'manager-2026',
    'accountant': 'accountant-2026',
    'head': 'head-2026',
    'admin': DemoServer.password,
    }

# Codes pass (browser_tools.CODE).
# Other Latin words a Russian user sees anyway: names that are not translated
# in Russian either.  Keep it short; add a word only with its reason.
WHITELIST = {
    # technical names on the admin's screens (formulas, templates, database)
    'PySON', 'Python', 'Genshi', 'LibreOffice', 'PostgreSQL', 'strftime',
    'Cookie',
    # branding that cannot change: the web client's title
    'Tryton',
    # the spreadsheet program's name, which Russian users say as it is
    # («файл Excel», «Импорт из Excel»)
    'Excel',
    # the file extensions of its workbooks, as Windows and Excel show them
    # («файл Excel (.xlsx или .xls)»)
    'xlsx', 'xls',
    }
# Whole texts that are not words of the interface:
# - sao 8.0 hard-codes the font names of its rich text editor (not
#   translatable, tryton-sao.js "XXX");
FONTS = {'Normal', 'Serif', 'Sans', 'Monospace'}
# - time zone names (IANA identifiers offered by timezone fields).
TIME_ZONES = zoneinfo.available_timezones()
# Syntax, not words: ${street}, %(name)s, «self» (names the user types in a
# formula), sao's counters «3,62k».
SYNTAX = re.compile(r'\$\{[^}]*\}|%\([^)]*\)[a-z]|«[a-z_]+»|\d(?:,\d+)?k\b')


# Modules whose own Russian is not written yet: a text that is one of their
# English source strings is reported as a known gap, not a failure.  Remove a
# module from here as soon as its locale/ru.po exists; any other English
# word still fails the test.
KNOWN_GAPS = {
    # 'module_name': "why, and until when",
    }


def gap_sources(demo):
    "The English source strings of the modules listed in KNOWN_GAPS"
    if not KNOWN_GAPS:
        return set()
    marks = ','.join('?' * len(KNOWN_GAPS))
    return {' '.join(src.split()) for src, in demo.query(
            "SELECT DISTINCT src FROM ir_translation "
            f"WHERE lang = 'en' AND module IN ({marks})", *KNOWN_GAPS)
        if src}


def split_gaps(text, gaps):
    "Return the text without its parts (path steps, label) that are gaps"
    kept, known = [], []
    for part in text.split(' / '):
        (known if part.strip().rstrip(':') in gaps else kept).append(part)
    return ' / '.join(kept), known


def technical_names():
    "Texts that name things, not words: report formats, icons"
    from trytond.ir.action import ActionReport
    from trytond.ir.ui.menu import CLIENT_ICONS

    # File formats: trytond does not mark these labels for translation.
    names = {label for field in ['extension', 'template_extension']
        for _, label in getattr(ActionReport, field).selection}
    # The icons a menu entry may show, by name (translate=False); the
    # modules' own icons are read from the database.
    names |= {name for name, _ in CLIENT_ICONS}
    return names | FONTS | TIME_ZONES


def english_words(text, names=frozenset()):
    "Return the Latin-script words of a text that are not whitelisted"
    if text in names:
        return []
    return latin_words(SYNTAX.sub(' ', text), WHITELIST)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory, 'russian')


def crawl(demo, credentials):
    start = time.monotonic()
    out = subprocess.run(
        ['node', str(BROWSER / 'crawl.mjs'), demo.url, demo.database,
            *(f'{login}:{password}' for login, password in credentials)],
        capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), time.monotonic() - start


def report(result, names, gaps=frozenset()):
    "Print per role the screens, the English words and where; return them"
    found = {}
    for login, data in result.items():
        words = collections.Counter()
        where = collections.defaultdict(set)
        known = set()
        for screen in data['screens']:
            for text in screen['texts']:
                if text in names:
                    continue
                text, gap = split_gaps(text, gaps)
                known.update(gap)
                for word in english_words(text, names):
                    words[word] += 1
                    where[word].add(screen['name'])
        found[login] = words
        print(f"{login}: {len(data['screens'])} screens, "
            f"{sum(words.values())} English words "
            f"({len(words)} distinct), {len(data['errors'])} errors, "
            f"{len(known)} known gaps")
        for text in sorted(known):
            print(f'    known gap: {text}')
        for word, count in words.most_common():
            print(f'    {word} ×{count}: {sorted(where[word])[:3]}')
        for error in data['errors']:
            print(f'    error: {error}')
    return found


def test_every_screen_in_russian(demo, tmp_path):
    # The admin sees ~150 menu entries: two pages share them.
    result, seconds = crawl(demo, [*ROLES.items(), ('admin', ROLES['admin'])])
    names = technical_names() | {name for name, in demo.query(
            "SELECT name FROM ir_module UNION SELECT name FROM ir_ui_icon")}

    found = report(result, names, gap_sources(demo))
    (tmp_path / 'crawl.json').write_text(json.dumps(result, ensure_ascii=False))
    print(f'crawl: {seconds:.0f} s, texts in {tmp_path / "crawl.json"}')

    for login in ROLES:
        # Every role has the assistance menu, its lists and their forms,
        # and every page of the crawl went through (login, menu).
        assert len(result[login]['screens']) >= 5, login
        assert not [e for e in result[login]['errors']
            if e.startswith('crawl failed')], login
    assert len(result['admin']['screens']) > len(
        result['operator']['screens'])
    assert {login: sorted(words) for login, words in found.items()
        if words} == {}


def test_menu_in_english_for_english_user(demo):
    "English stays available: a user who switches to it reads English"
    password = ROLES['operator']
    top = [('parent', '=', None)]

    def names(language):
        return {m['name'] for m in demo.rpc('operator', password,
                'model.ir.ui.menu.search_read', top, 0, None, None, ['name'],
                context={'language': language})}

    assert {'Контрагенты', 'Продукты'} <= names('ru')
    assert {'Parties', 'Products'} <= names('en')
    # A new user starts in Russian (assistance_policy/user.py).
    defaults = demo.rpc('admin', ROLES['admin'],
        'model.res.user.default_get', ['language'])
    (code,), = demo.query(
        "SELECT code FROM ir_lang WHERE id = ?", defaults['language'])
    assert code == 'ru'


def test_russian_formats(demo):
    "Dates dd.mm.yyyy, amounts «1 234,56 ₽»; new users start in Russian"
    (date, decimal, thousands, mon_decimal, mon_thousands, precedes,
            space), = demo.query(
        "SELECT date, decimal_point, thousands_sep, mon_decimal_point, "
        "mon_thousands_sep, p_cs_precedes, p_sep_by_space "
        "FROM ir_lang WHERE code = 'ru'")
    # Thousands are separated by a (no-break) space.
    assert (date, decimal, thousands) == ('%d.%m.%Y', ',', '\xa0')
    assert (mon_decimal, mon_thousands) == (',', '\xa0')
    assert (precedes, space) == (0, 1)
    assert demo.query(
        "SELECT symbol FROM currency_currency WHERE code = 'RUB'") == [('₽',)]
    languages = demo.query(
        "SELECT u.login, l.code FROM res_user u "
        "JOIN ir_lang l ON l.id = u.language ORDER BY u.login")
    assert dict(languages) == {
        'accountant': 'ru', 'admin': 'ru', 'head': 'ru', 'manager': 'ru',
        'operator': 'ru'}
