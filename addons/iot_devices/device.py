# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import re

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from .exceptions import DeviceValidationError

USB_ID = re.compile(r'^(0x)?[0-9a-fA-F]{4}$')
TEST_DOCUMENT = {
    'title': "Test Page",
    'lines': [{'name': "Printer test", 'amount': "0.00"}],
    'footer': ["Printed from the IoT box configuration"],
    }


def _connection_states(connection):
    "A parameter shown and required only for that connection"
    return {
        'invisible': Eval('connection') != connection,
        'required': Eval('connection') == connection,
        }


class Device(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'iot.device'
    __string__ = "IoT Device"

    box = fields.Many2One(
        'iot.box', "Box", required=True, ondelete='CASCADE')
    name = fields.Char(
        "Name", required=True,
        help="The name of the device in the agent's configuration.")
    kind = fields.Selection([
            ('card_reader', "Card Reader"),
            ('printer', "Receipt Printer"),
            ('drawer', "Cash Drawer"),
            ('display', "Customer Display"),
            ], "Kind", required=True)
    connection = fields.Selection([
            ('serial', "Serial"),
            ('usb', "USB"),
            ('network', "Network"),
            ('file', "File"),
            ], "Connection", required=True)
    port = fields.Char(
        "Port",
        states=_connection_states('serial'),
        help="For example /dev/ttyUSB0 or COM3.")
    baudrate = fields.Integer(
        "Baud Rate",
        domain=[
            ('baudrate', '>', 0),
            ],
        states=_connection_states('serial'))
    vendor_id = fields.Char(
        "Vendor ID",
        states=_connection_states('usb'),
        help="Four hexadecimal digits, e.g. 04b8.")
    product_id = fields.Char(
        "Product ID",
        states=_connection_states('usb'),
        help="Four hexadecimal digits, e.g. 0202.")
    host = fields.Char(
        "Host",
        states=_connection_states('network'))
    tcp_port = fields.Integer(
        "TCP Port",
        domain=[
            ['OR',
                ('tcp_port', '=', None),
                [('tcp_port', '>', 0), ('tcp_port', '<', 65536)],
                ],
            ],
        states=_connection_states('network'))
    path = fields.Char(
        "Path",
        states=_connection_states('file'))
    paper_width = fields.Selection([
            (None, ""),
            ('58', "58 mm"),
            ('80', "80 mm"),
            ], "Paper Width",
        states={
            'invisible': Eval('kind') != 'printer',
            'required': Eval('kind') == 'printer',
            })
    code_page = fields.Char(
        "Code Page",
        states={
            'invisible': Eval('kind') != 'printer',
            },
        help="The printer's code page for non-Chinese text, e.g. CP437.")
    state = fields.Selection([
            ('unknown', "Unknown"),
            ('ok', "OK"),
            ('offline', "Offline"),
            ('error', "Error"),
            ], "State", readonly=True, required=True)
    message = fields.Char("Message", readonly=True)
    last_seen = fields.Timestamp("Last Seen", readonly=True)
    assignments = fields.One2Many(
        'iot.device.assignment', 'device', "Assignments")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('name_unique', Unique(t, t.box, t.name),
                'iot_devices.msg_device_name_unique'),
            ]
        cls._buttons.update({
                'print_test': {
                    'invisible': Eval('kind') != 'printer',
                    'depends': ['kind'],
                    },
                })

    @classmethod
    def default_connection(cls):
        return 'usb'

    @classmethod
    def default_baudrate(cls):
        return 9600

    @classmethod
    def default_tcp_port(cls):
        return 9100

    @classmethod
    def default_paper_width(cls):
        return '80'

    @classmethod
    def default_state(cls):
        return 'unknown'

    def get_rec_name(self, name):
        return f'{self.name} @ {self.box.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('name', operator, value, *clause[3:]),
            ('box.name', operator, value, *clause[3:]),
            ]

    @classmethod
    def validate_fields(cls, devices, field_names):
        super().validate_fields(devices, field_names)
        if field_names & {'connection', 'vendor_id', 'product_id'}:
            for device in devices:
                if device.connection != 'usb':
                    continue
                for field in ['vendor_id', 'product_id']:
                    if not USB_ID.match(getattr(device, field) or ''):
                        raise DeviceValidationError(gettext(
                                'iot_devices.msg_device_usb_id',
                                device=device.rec_name,
                                field=cls.__names__(field)['field']))

    @classmethod
    def copy(cls, devices, default=None):
        default = default.copy() if default is not None else {}
        for field in ['message', 'last_seen', 'assignments']:
            default.setdefault(field, None)
        default.setdefault('state', 'unknown')
        return super().copy(devices, default=default)

    @classmethod
    @ModelView.button
    def print_test(cls, devices):
        pool = Pool()
        PrintJob = pool.get('iot.print.job')
        for device in devices:
            PrintJob.queue(device, TEST_DOCUMENT, source=device)

    @classmethod
    def for_target(cls, record, kind='printer'):
        "Return the active device of kind assigned to the record or None"
        pool = Pool()
        Assignment = pool.get('iot.device.assignment')
        assignments = Assignment.search([
                ('target', '=', str(record)),
                ('device.kind', '=', kind),
                ('device.active', '=', True),
                ], limit=1, order=[('id', 'ASC')])
        return assignments[0].device if assignments else None


class DeviceAssignment(ModelSQL, ModelView):
    __name__ = 'iot.device.assignment'
    __string__ = "IoT Device Assignment"

    device = fields.Many2One(
        'iot.device', "Device", required=True, ondelete='CASCADE')
    kind = fields.Function(
        fields.Selection('get_kinds', "Kind"), 'on_change_with_kind')
    target = fields.Reference(
        "Target", selection='get_targets', required=True,
        help="The point of sale or desk served by the device.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('target_unique', Unique(t, t.device, t.target),
                'iot_devices.msg_assignment_unique'),
            ]

    @classmethod
    def get_kinds(cls):
        pool = Pool()
        Device = pool.get('iot.device')
        return Device.fields_get(['kind'])['kind']['selection']

    @fields.depends('device', '_parent_device.kind')
    def on_change_with_kind(self, name=None):
        return self.device.kind if self.device else None

    @classmethod
    def _get_targets(cls):
        "Return the names of the models devices can be assigned to"
        return ['iot.desk']

    @classmethod
    def get_targets(cls):
        "Return the [(model, name)] of the targets; extended by modules"
        pool = Pool()
        IrModel = pool.get('ir.model')
        return [(None, '')] + [
            (m, IrModel.get_name(m)) for m in cls._get_targets()]

    @classmethod
    def validate_fields(cls, assignments, field_names):
        super().validate_fields(assignments, field_names)
        if field_names & {'device', 'target'}:
            cls.check_one_per_kind(assignments)

    @classmethod
    def check_one_per_kind(cls, assignments):
        "A target is served by at most one device of each kind"
        for assignment in assignments:
            others = cls.search([
                    ('id', '!=', assignment.id),
                    ('target', '=', str(assignment.target)),
                    ('device.kind', '=', assignment.device.kind),
                    ], limit=1)
            if others:
                raise DeviceValidationError(gettext(
                        'iot_devices.msg_assignment_one_per_kind',
                        target=assignment.target.rec_name,
                        device=others[0].device.rec_name))


class Desk(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'iot.desk'
    __string__ = "Check-in Desk"

    name = fields.Char("Name", required=True)
    property = fields.Many2One(
        'member.property', "Property", required=True, ondelete='CASCADE')
