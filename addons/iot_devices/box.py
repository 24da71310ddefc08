# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import hashlib
import secrets

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    Index,
    ModelSQL,
    ModelView,
    Unique,
    Workflow,
    fields,
)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import without_check_access
from trytond.wizard import Button, StateView, Wizard

from .exceptions import IoTError

PAIRING_TOKEN_VALIDITY = dt.timedelta(hours=24)
# A box sending no heartbeat for this long is shown offline
HEARTBEAT_TIMEOUT = dt.timedelta(minutes=5)


def digest(secret):
    "Return the hash stored in place of a pairing token or box key"
    return hashlib.sha256(secret.encode('utf-8')).hexdigest()


class Box(DeactivableMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'iot.box'
    __string__ = "IoT Box"

    name = fields.Char("Name", required=True)
    property = fields.Many2One(
        'member.property', "Property", required=True, ondelete='RESTRICT',
        states={
            'readonly': Eval('state') != 'draft',
            })
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company')
    state = fields.Selection([
            ('draft', "Draft"),
            ('paired', "Paired"),
            ('revoked', "Revoked"),
            ], "State", readonly=True, required=True, sort=False)
    # Never read by clients (field access) but by the pairing on the server
    pairing_token_hash = fields.Char(
        "Pairing Token Hash", readonly=True, loading='lazy')
    pairing_token_expiry = fields.Timestamp(
        "Pairing Token Expiry", readonly=True,
        help="The agent must pair before this time (UTC).")
    key_hash = fields.Char("Key Hash", readonly=True, loading='lazy')
    paired_date = fields.Timestamp("Paired", readonly=True)
    hostname = fields.Char("Hostname", readonly=True)
    version = fields.Char("Agent Version", readonly=True)
    last_heartbeat = fields.Timestamp("Last Heartbeat", readonly=True)
    online = fields.Function(
        fields.Boolean(
            "Online",
            help="A heartbeat was received in the last minutes."),
        'get_online')
    devices = fields.One2Many('iot.device', 'box', "Devices")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('pairing_token_hash_unique', Unique(t, t.pairing_token_hash),
                'iot_devices.msg_box_pairing_token_unique'),
            ('key_hash_unique', Unique(t, t.key_hash),
                'iot_devices.msg_box_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low'))),
                })
        cls._transitions |= {
            ('draft', 'paired'),
            ('draft', 'revoked'),
            ('paired', 'revoked'),
            ('revoked', 'draft'),
            }
        cls._buttons.update({
                'generate_pairing_token': {
                    'invisible': Eval('state') == 'paired',
                    'depends': ['state'],
                    },
                'revoke': {
                    'invisible': Eval('state') == 'revoked',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @fields.depends('property')
    def on_change_with_company(self, name=None):
        if self.property and self.property.programme:
            return self.property.programme.company

    def get_online(self, name):
        return bool(self.last_heartbeat
            and self.last_heartbeat > dt.datetime.now() - HEARTBEAT_TIMEOUT)

    @classmethod
    def copy(cls, boxes, default=None):
        default = default.copy() if default is not None else {}
        for field in [
                'pairing_token_hash', 'pairing_token_expiry', 'key_hash',
                'paired_date', 'hostname', 'version', 'last_heartbeat']:
            default.setdefault(field, None)
        default.setdefault('state', 'draft')
        return super().copy(boxes, default=default)

    @classmethod
    @ModelView.button_action('iot_devices.wizard_generate_pairing_token')
    def generate_pairing_token(cls, boxes):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('revoked')
    def revoke(cls, boxes):
        # Clearing the hashes makes the key and any pending token useless
        with without_check_access():
            cls.write(boxes, {
                    'key_hash': None,
                    'pairing_token_hash': None,
                    'pairing_token_expiry': None,
                    })

    def new_pairing_token(self):
        "Store the hash of a new one-time pairing token and return the token"
        if self.state == 'paired':
            raise IoTError(gettext(
                    'iot_devices.msg_box_pairing_paired', box=self.rec_name))
        token = secrets.token_urlsafe(24)
        with without_check_access():
            self.__class__.write([self], {
                    'state': 'draft',
                    'pairing_token_hash': digest(token),
                    'pairing_token_expiry': (
                        dt.datetime.now() + PAIRING_TOKEN_VALIDITY),
                    })
        return token

    @classmethod
    def pair(cls, token, hostname=None, version=None):
        """Exchange a one-time pairing token for a box key

        Return (box, key), or None when the token is unknown, used or
        expired. Only the hash of the key is stored.
        """
        # The tokens are random, so looking their hashes up by equality
        # leaks nothing useful through timing.
        boxes = cls.search([
                ('pairing_token_hash', '=', digest(token)),
                ('state', '=', 'draft'),
                ('pairing_token_expiry', '>', dt.datetime.now()),
                ], limit=1)
        if not boxes:
            return None
        box, = boxes
        key = secrets.token_urlsafe(32)
        cls.write([box], {
                'state': 'paired',
                'pairing_token_hash': None,
                'pairing_token_expiry': None,
                'key_hash': digest(key),
                'paired_date': dt.datetime.now(),
                'hostname': hostname,
                'version': version,
                })
        return box, key

    @classmethod
    def from_key(cls, key):
        "Return the paired box of the key or None"
        if not key:
            return None
        boxes = cls.search([
                ('key_hash', '=', digest(key)),
                ('state', '=', 'paired'),
                ], limit=1)
        return boxes[0] if boxes else None

    def heartbeat(self, version, devices):
        """Record a heartbeat with the states of the devices

        devices is a list of dict with name, state and message; return the
        names which are not devices of the box.
        """
        pool = Pool()
        Device = pool.get('iot.device')
        now = dt.datetime.now()
        by_name = {d.name: d for d in self.devices}
        unknown, to_save = [], []
        for report in devices:
            device = by_name.get(report['name'])
            if device is None:
                unknown.append(report['name'])
                continue
            device.state = report['state']
            device.message = report.get('message') or None
            device.last_seen = now
            to_save.append(device)
        Device.save(to_save)
        self.__class__.write([self], {
                'last_heartbeat': now,
                'version': version or self.version,
                })
        return unknown


class GeneratePairingToken(Wizard):
    "Generate Pairing Token"
    __name__ = 'iot.box.generate_pairing_token'

    start_state = 'show'
    show = StateView(
        'iot.box.generate_pairing_token.show',
        'iot_devices.box_generate_pairing_token_show_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_show(self, fields):
        # The token exists only in this answer: the box keeps its hash
        token = self.record.new_pairing_token()
        return {
            'box': self.record.id,
            'token': token,
            'expiry': self.record.pairing_token_expiry,
            }


class GeneratePairingTokenShow(ModelView):
    __name__ = 'iot.box.generate_pairing_token.show'
    __string__ = "Pairing Token"

    box = fields.Many2One('iot.box', "Box", readonly=True)
    token = fields.Char(
        "Pairing Token", readonly=True,
        help="Copy it into the agent's configuration now: "
        "it is shown only once.")
    expiry = fields.Timestamp("Valid Until", readonly=True)

