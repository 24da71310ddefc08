# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond import config

# Tests need an ID encryption key; real servers read it from their
# configuration file (see README: [member] id_key).
TEST_ID_KEY = 'dGVzdC1rZXktZm9yLW1lbWJlci1pZC1udW1iZXJzISE='
if not config.has_section('member'):
    config.add_section('member')
if not config.get('member', 'id_key', default=None):
    config.set('member', 'id_key', TEST_ID_KEY)
