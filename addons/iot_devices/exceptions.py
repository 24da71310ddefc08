# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class IoTError(UserError):
    pass


class DocumentError(ValidationError):
    "A receipt document breaks the protocol rules"
    pass


class DeviceValidationError(ValidationError):
    pass
