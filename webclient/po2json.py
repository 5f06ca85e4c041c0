"""Convert sao's ru.po to the ru.json the Tryton web client (sao) loads."""
# Output shape matches sao's own locale/*.json (grunt-po2json "raw" format):
#   {"": {header}, "msgid": [null, "msgstr"],
#    "singular": ["plural", "form0", "form1", "form2"]}
# The header also carries "language" and "plural-forms": sao passes them to
# gettext.js, which otherwise falls back to English plural rules (n != 1).
# Usage: python webclient/po2json.py [input.po [output.json]]
import json
import pathlib
import sys

import polib

LOCALE = pathlib.Path(__file__).resolve().parent / 'locale'


def convert(po_path, json_path):
    po = polib.pofile(str(po_path))
    header = {'content-type': po.metadata.get(
            'Content-Type', 'text/plain; charset=utf-8')}
    for key in ('Language', 'Plural-Forms'):
        if po.metadata.get(key):
            header[key.lower()] = po.metadata[key]
    data = {'': header}
    for entry in po:
        if entry.obsolete or 'fuzzy' in entry.flags or not entry.translated():
            continue  # untranslated: sao shows the English msgid
        key = entry.msgid
        if entry.msgctxt:
            key = entry.msgctxt + '\x04' + key
        if entry.msgid_plural:
            forms = entry.msgstr_plural
            data[key] = [entry.msgid_plural] + [
                forms[i] for i in sorted(forms)]
        else:
            data[key] = [None, entry.msgstr]
    pathlib.Path(json_path).write_text(
        json.dumps(data, ensure_ascii=False, separators=(',', ':')),
        encoding='utf-8')
    return len(data) - 1


if __name__ == '__main__':
    src = sys.argv[1] if len(sys.argv) > 1 else LOCALE / 'ru.po'
    dst = (sys.argv[2] if len(sys.argv) > 2
           else pathlib.Path(src).with_suffix('.json'))
    print('%s: %d messages' % (dst, convert(src, dst)))
