# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.modules.member_core.tests.views import ViewWidgetsMixin
from trytond.tests.test_tryton import ModuleTestCase


class MemberPointsTestCase(ViewWidgetsMixin, ModuleTestCase):
    "Test Member Points module"
    module = 'member_points'
    extras = ['account']


del ModuleTestCase
