# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from lxml import etree

from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction

# The widgets sao 8.0 can draw: Sao.View.FormXMLViewParser.WIDGETS and
# Sao.View.TreeXMLViewParser.WIDGETS of tryton-sao.js.  A field without a
# widget attribute is drawn by the widget of its type, and sao throws on a
# name it does not know ("ColumnFactory is not a constructor"), which breaks
# every form that embeds the view.
FORM_WIDGETS = frozenset([
        'binary', 'boolean', 'callto', 'char', 'color', 'date', 'datetime',
        'dict', 'document', 'email', 'float', 'html', 'image', 'integer',
        'many2many', 'many2one', 'multiselection', 'numeric', 'one2many',
        'one2one', 'password', 'progressbar', 'pyson', 'reference',
        'richtext', 'selection', 'sip', 'text', 'time', 'timedelta',
        'timestamp', 'url',
        ])
TREE_WIDGETS = frozenset([
        'binary', 'boolean', 'callto', 'char', 'date', 'dict', 'email',
        'float', 'image', 'integer', 'many2many', 'many2one', 'numeric',
        'one2many', 'one2one', 'progressbar', 'reference', 'selection',
        'multiselection', 'sip', 'text', 'time', 'timedelta', 'url',
        ])
VIEW_WIDGETS = {
    'tree': TREE_WIDGETS,
    'form': FORM_WIDGETS,
    'list-form': FORM_WIDGETS,
    }


def undrawable_fields(Model, view_id=None, view_type='form'):
    """The (field, widget) pairs of the view that the web client cannot draw

    The view is the one Model.fields_view_get gives, with every inheriting
    view of the activated modules applied.
    """
    fields_view = Model.fields_view_get(view_id, view_type=view_type)
    widgets = VIEW_WIDGETS.get(fields_view['type'])
    if widgets is None:
        return []
    arch = etree.fromstring(fields_view['arch'])
    wrong = []
    for element in arch.iter('field'):
        name = element.get('name')
        widget = (element.get('widget')
            or fields_view['fields'][name]['type'])
        if widget not in widgets:
            wrong.append((name, widget))
    return wrong


def module_views(module):
    "The (model name, view id) of the views the module defines or changes"
    pool = Pool()
    View = pool.get('ir.ui.view')
    for view in View.search([
                ('module', '=', module),
                ('model', '!=', None),
                ]):
        # an inheriting view is drawn as part of the view it changes
        if view.inherit and view.inherit.model == view.model:
            view = view.inherit
        yield view


class ViewWidgetsMixin:
    "Mixed into a ModuleTestCase: sao can draw every view of the module"

    @with_transaction()
    def test_view_widgets(self):
        "Every field of the module's views has a widget sao can draw"
        pool = Pool()
        for view in module_views(self.module):
            with self.subTest(view=view.rec_name):
                Model = pool.get(view.model)
                self.assertEqual(
                    undrawable_fields(Model, view.id), [],
                    msg=f"{view.model} ({view.type}) view {view.name} has "
                    "fields sao cannot draw: give them a widget as "
                    "trytond/ir/view/cron_list.xml does")
