#!/usr/bin/env python3
"""Build the Russian overrides of Tryton's core modules.

Tryton 8.0's own Russian (`locale/ru.po` of `ir`, `res` and the modules) marks
many strings fuzzy or leaves them empty, so a Russian user sees English menus,
labels and buttons.  This script reads those files, finds every fuzzy or empty
entry and fills it from, in this order:

1. our curated dictionary `tools/ru_overrides.po`: an entry with a `msgctxt`
   (exactly as in the core file, e.g. `model:ir.ui.menu,name:menu_party`)
   applies to that string only and replaces even a finished core
   translation (to use our vocabulary); an entry without `msgctxt` applies to
   every fuzzy or empty string with that `msgid`, or to every string with that
   `msgid` when it carries the flag `force`;
2. the finished (not fuzzy) translation of the same `msgid` elsewhere in the
   core files.

and writes `addons/assistance_policy/locale/override/ru.po` (the strings of
the modules in LATER_OUTPUT: in the override of a module of ours that depends
on them), which
`trytond.modules.load_translations` loads with our module: its `msgctxt`
carries the core module in the resource id (`type:name:module.fs_id`, and
`module.` for strings without a record) as `ir.translation.translation_import`
needs to find the translation to override.

Run it again after a Tryton update; `--missing` lists what is still English.
"""
import argparse
import collections
import pathlib
import re
import sys

import polib

CYRILLIC = re.compile('[а-яёА-ЯЁ]')

ROOT = pathlib.Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / 'tools' / 'ru_overrides.po'
OUTPUT = ROOT / 'addons' / 'assistance_policy' / 'locale' / 'override' / 'ru.po'
# The overrides of a core module that assistance_policy does not depend on go
# with a module of ours that does: trytond imports an override with its
# module, and the core strings must exist by then.
LATER_OUTPUT = {
    'account_payment': 'assistance_billing',
    'account_payment_clearing': 'assistance_billing',
    }
# The core modules our users see, in the order trytond loads them.
MODULES = [
    'ir', 'res', 'country', 'currency', 'party', 'company', 'product',
    'account', 'account_product', 'account_invoice', 'account_payment',
    'account_payment_clearing',
    ]


def trytond_dir():
    import trytond
    return pathlib.Path(trytond.__file__).parent


def core_file(module):
    base = trytond_dir()
    if module in {'ir', 'res'}:
        path = base / module / 'locale' / 'ru.po'
    else:
        path = base / 'modules' / module / 'locale' / 'ru.po'
    return path if path.exists() else None


def untranslated(entry):
    if 'fuzzy' in entry.flags:
        return True
    if entry.msgid_plural:
        return not any(entry.msgstr_plural.values())
    return not entry.msgstr


def load_dictionary(path=DICTIONARY):
    "Return the curated entries by context and by msgid, and forced msgids"
    by_context, by_msgid, forced = {}, {}, set()
    for entry in polib.pofile(str(path)):
        if entry.obsolete or untranslated(entry):
            continue
        if entry.msgctxt:
            by_context[(entry.msgctxt, entry.msgid)] = entry
        else:
            by_msgid[entry.msgid] = entry
            if 'force' in entry.flags:
                forced.add(entry.msgid)
    return by_context, by_msgid, forced


def translation_memory(files):
    "Return the most used finished translation of each msgid"
    counts = collections.defaultdict(collections.Counter)
    for pofile in files.values():
        for entry in pofile:
            # Some finished entries are the English copied over: not those.
            if (not entry.msgid_plural and not untranslated(entry)
                    and CYRILLIC.search(entry.msgstr)):
                counts[entry.msgid][entry.msgstr] += 1
    return {msgid: c.most_common(1)[0][0] for msgid, c in counts.items()}


def override_context(module, msgctxt):
    "Put the module in the resource id: the form override_translation reads"
    ttype, name, res_id = msgctxt.split(':')
    return f'{ttype}:{name}:{module}.{res_id}'


def resolve(entry, by_context, by_msgid, forced, memory):
    "Return the entry carrying our translation of a core entry, or None"
    curated = by_context.get((entry.msgctxt, entry.msgid))
    if curated is None and entry.msgid in by_msgid and (
            untranslated(entry) or entry.msgid in forced):
        curated = by_msgid[entry.msgid]
    if curated is not None:
        if entry.msgid_plural:
            return dict(curated.msgstr_plural) or {0: curated.msgstr}
        return curated.msgstr
    if untranslated(entry) and entry.msgid in memory:
        return memory[entry.msgid]


def build(modules=MODULES):
    files = {m: polib.pofile(str(p))
        for m in modules if (p := core_file(m))}
    by_context, by_msgid, forced = load_dictionary()
    memory = translation_memory(files)
    outputs = {}
    missing = []
    for module, pofile in files.items():
        output = outputs.setdefault(output_path(module), new_pofile())
        for entry in pofile:
            if entry.obsolete:
                continue
            value = resolve(entry, by_context, by_msgid, forced, memory)
            if value is None:
                if untranslated(entry):
                    missing.append((module, entry))
                continue
            if not entry.msgid_plural and not untranslated(entry) \
                    and value == entry.msgstr:
                continue
            new = polib.POEntry(
                msgctxt=override_context(module, entry.msgctxt),
                msgid=entry.msgid)
            if entry.msgid_plural:
                new.msgid_plural = entry.msgid_plural
                new.msgstr_plural = value
            else:
                new.msgstr = value
            output.append(new)
    return outputs, missing


def output_path(module):
    "Return the override file of our module that carries module's strings"
    if module in LATER_OUTPUT:
        return (ROOT / 'addons' / LATER_OUTPUT[module] / 'locale'
            / 'override' / 'ru.po')
    return OUTPUT


def new_pofile():
    pofile = polib.POFile(wrapwidth=79)
    pofile.metadata = {'Content-Type': 'text/plain; charset=utf-8'}
    return pofile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--missing', action='store_true',
        help="list the entries still untranslated instead of writing")
    parser.add_argument('--todo', type=pathlib.Path,
        help="write the untranslated msgids as a PO file to curate")
    args = parser.parse_args()
    outputs, missing = build()
    if args.missing:
        for module, entry in missing:
            print(f'{module}\t{entry.msgctxt}\t{entry.msgid!r}')
    if args.todo:
        todo = polib.POFile(wrapwidth=79)
        seen = set()
        for module, entry in missing:
            if entry.msgid in seen:
                continue
            seen.add(entry.msgid)
            new = polib.POEntry(msgid=entry.msgid, msgstr='',
                tcomment=f'{module} {entry.msgctxt}'
                + (f'\nfuzzy: {entry.msgstr}' if entry.msgstr else ''))
            todo.append(new)
        todo.save(str(args.todo))
    if not args.missing and not args.todo:
        for path, output in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            output.save(str(path))
    count = sum(len(o) for o in outputs.values())
    print(f'{count} overrides, {len(missing)} still untranslated',
        file=sys.stderr)


if __name__ == '__main__':
    main()
