# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Receipt documents: the rules of the box agent, imported from it.

The agent's ``member_iot_agent.receipt_document`` is the one validator of
the suite (this module depends on the member-iot-agent distribution), so a
job queued on the server never fails on the box. Higher modules use it
through this name.
"""
from member_iot_agent.receipt_document import (
    MAX_SIZE,
    ReceiptError,
    dumps,
    loads,
    validate,
)

__all__ = ['MAX_SIZE', 'ReceiptError', 'dumps', 'loads', 'validate']
