# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.tests.test_tryton import load_doc_tests

try:
    import member_iot_agent
except ImportError:
    member_iot_agent = None


def load_tests(loader, tests, pattern):
    # The agent is a separate distribution, maybe not installed here
    skips = {'scenario_iot_agent.rst'} if member_iot_agent is None else set()
    return load_doc_tests(
        __name__, __file__, loader, tests, pattern, skips=skips)
