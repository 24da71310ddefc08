#!/usr/bin/env python3
"""Refresh addons/<module>/locale/zh_CN.po from the module's sources.

    .venv/bin/python scripts/update_po.py member_core [--untranslated]

Activates the module in an in-memory SQLite database, runs Tryton's "Set
Translations" (reports and views), exports the module's strings the way
Tryton's "Export Translations" does and keeps the msgstr of entries the
file already had. New strings come out with an empty msgstr;
--untranslated lists them.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault('DB_NAME', ':memory:')
os.environ.pop('DB_CACHE', None)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import ADDONS, TEST_ID_KEY, fail  # noqa: E402

os.environ.setdefault('TRYTOND_MEMBER__ID_KEY', TEST_ID_KEY)
LANG = 'zh_CN'


def refresh(module):
    import polib

    from trytond.pool import Pool
    from trytond.tests.test_tryton import DB_NAME, activate_module
    from trytond.transaction import Transaction

    path = ADDONS / module / 'locale' / f'{LANG}.po'
    known = {}
    if path.exists():
        known = {(e.msgctxt, e.msgid): e.msgstr
            for e in polib.pofile(str(path)) if e.msgstr}

    activate_module([module])
    with Transaction().start(DB_NAME, 0) as transaction:
        pool = Pool()
        Lang = pool.get('ir.lang')
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        TranslationUpdate = pool.get(
            'ir.translation.update', type='wizard')
        lang, = Lang.search([('code', '=', LANG)])
        lang.translatable = True
        lang.save()
        session_id, _, _ = TranslationSet.create()
        TranslationSet(session_id).transition_set_()
        TranslationSet.delete(session_id)
        # Rows for zh_CN are made from the English ones by "Update"
        session_id, _, _ = TranslationUpdate.create()
        update = TranslationUpdate(session_id)
        update.start.language = lang
        update.do_update({})
        TranslationUpdate.delete(session_id)
        content = Translation.translation_export(LANG, module)
        transaction.rollback()
    pofile = polib.pofile((content or b'').decode('utf-8'))
    for entry in pofile:
        entry.msgstr = known.get((entry.msgctxt, entry.msgid), entry.msgstr)
        if entry.msgstr:
            entry.flags = [f for f in entry.flags if f != 'fuzzy']
    path.parent.mkdir(exist_ok=True)
    pofile.save(str(path))
    return path, [e for e in pofile if not e.msgstr]


def main(argv):
    names = [a for a in argv[1:] if not a.startswith('--')]
    if len(names) != 1:
        fail("give one module name, e.g. scripts/update_po.py member_core")
    path, missing = refresh(names[0])
    print(f"{path}: {len(missing)} untranslated")
    if '--untranslated' in argv:
        for entry in missing:
            print(f"{entry.msgctxt}\t{entry.msgid}")


if __name__ == '__main__':
    main(sys.argv)
