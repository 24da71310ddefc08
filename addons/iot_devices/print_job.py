# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import datetime as dt
import json

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from . import receipt_document
from .exceptions import DocumentError

# A sent job not acknowledged for so long is handed out again
STALE_SENT = dt.timedelta(minutes=5)
PURGE_AFTER = dt.timedelta(days=30)


class PrintJob(Workflow, ModelSQL, ModelView):
    __name__ = 'iot.print.job'
    __string__ = "Print Job"

    box = fields.Many2One(
        'iot.box', "Box", required=True, readonly=True, ondelete='CASCADE')
    printer = fields.Many2One(
        'iot.device', "Printer", required=True, ondelete='CASCADE',
        domain=[
            If(Eval('kind') == 'drawer',
                ('kind', 'in', ['printer', 'drawer']),
                ('kind', '=', 'printer')),
            ],
        states={
            'readonly': Eval('state') != 'queued',
            })
    kind = fields.Selection([
            ('receipt', "Receipt"),
            ('drawer', "Open Drawer"),
            ], "Kind", required=True,
        states={
            'readonly': Eval('state') != 'queued',
            })
    document = fields.Text(
        "Document",
        states={
            'readonly': Eval('state') != 'queued',
            'required': Eval('kind') == 'receipt',
            },
        help="The receipt document in JSON.")
    state = fields.Selection([
            ('queued', "Queued"),
            ('sent', "Sent"),
            ('printed', "Printed"),
            ('failed', "Failed"),
            ], "State", readonly=True, required=True, sort=False)
    attempts = fields.Integer("Attempts", readonly=True)
    error = fields.Text(
        "Error", readonly=True,
        states={
            'invisible': ~Eval('error'),
            })
    source = fields.Reference(
        "Source", selection='get_sources', readonly=True)
    sent_date = fields.Timestamp("Sent", readonly=True)
    printed_date = fields.Timestamp("Printed", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.box, Index.Range()),
                    (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(['queued', 'sent'])),
                })
        cls._order.insert(0, ('create_date', 'DESC'))
        cls._transitions |= {
            ('queued', 'sent'),
            ('sent', 'sent'),
            ('sent', 'printed'),
            ('sent', 'failed'),
            ('queued', 'failed'),
            ('failed', 'queued'),
            }
        cls._buttons.update({
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['queued', 'sent']),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_kind(cls):
        return 'receipt'

    @classmethod
    def default_state(cls):
        return 'queued'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def _get_sources(cls):
        "Return the names of the models which queue jobs"
        return ['iot.device']

    @classmethod
    def get_sources(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        return [(None, '')] + [
            (m, IrModel.get_name(m)) for m in cls._get_sources()]

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Device = pool.get('iot.device')
        values = super().preprocess_values(mode, values)
        if values.get('printer') is not None:
            values['box'] = Device(values['printer']).box.id
        return values

    @classmethod
    def validate_fields(cls, jobs, field_names):
        super().validate_fields(jobs, field_names)
        if field_names & {'kind', 'document'}:
            for job in jobs:
                job.check_document()

    def check_document(self):
        "Raise DocumentError unless a receipt has a valid document"
        if self.kind == 'receipt':
            self._check_document(self.document, self.rec_name)

    @classmethod
    def _check_document(cls, text, name):
        try:
            receipt_document.loads(text or '')
        except receipt_document.ReceiptError as exception:
            raise DocumentError(gettext(
                    'iot_devices.msg_print_job_document',
                    job=name, reason=str(exception))) from exception

    @property
    def payload(self):
        "The document as sent to the box"
        return json.loads(self.document) if self.document else {}

    @classmethod
    def copy(cls, jobs, default=None):
        default = default.copy() if default is not None else {}
        for field in ['error', 'sent_date', 'printed_date']:
            default.setdefault(field, None)
        default.setdefault('attempts', 0)
        default.setdefault('state', 'queued')
        return super().copy(jobs, default=default)

    @classmethod
    def queue(cls, printer, document, source=None, kind='receipt'):
        """Queue a job for the printer device and return it

        document is a receipt document (dict; Decimals and dates are turned
        into strings); it is validated by the agent's own validator
        (receipt_document) and a DocumentError names the offending field.
        """
        try:
            text = receipt_document.dumps(document or {})
        except receipt_document.ReceiptError as exception:
            raise DocumentError(gettext(
                    'iot_devices.msg_print_job_document',
                    job=printer.rec_name, reason=str(exception))
                ) from exception
        if kind == 'receipt':
            # Refuse before anything is written
            cls._check_document(text, printer.rec_name)
        job, = cls.create([{
                    'printer': printer.id,
                    'kind': kind,
                    'document': text,
                    'source': str(source) if source else None,
                    }])
        return job

    @classmethod
    @ModelView.button
    @Workflow.transition('queued')
    def retry(cls, jobs):
        cls.write(jobs, {'error': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('failed')
    def cancel(cls, jobs):
        cls.write(jobs, {
                'error': gettext('iot_devices.msg_print_job_cancelled'),
                })

    @classmethod
    def pull(cls, box, limit=10):
        """Hand the pending jobs of the box out and return them

        Queued jobs and sent jobs not acknowledged in time are marked sent
        and their attempts counted.
        """
        now = dt.datetime.now()
        jobs = cls.search([
                ('box', '=', box.id),
                ['OR',
                    ('state', '=', 'queued'),
                    [('state', '=', 'sent'),
                        ('sent_date', '<', now - STALE_SENT)],
                    ],
                ], order=[('id', 'ASC')], limit=limit)
        # Restarts the transaction with the rows locked (PostgreSQL) so two
        # pulls never hand out the same job
        cls.lock(jobs)
        for job in jobs:
            job.state = 'sent'
            job.attempts += 1
            job.sent_date = now
        cls.save(jobs)
        return jobs

    def acknowledge(self, state, error=None):
        "Record the outcome sent by the box; a second call changes nothing"
        if self.state != 'sent':
            return
        values = {'state': state}
        if state == 'printed':
            values['printed_date'] = dt.datetime.now()
        else:
            values['error'] = error or None
        self.__class__.write([self], values)

    @classmethod
    def purge(cls, date=None):
        "Delete the printed jobs created before date"
        transaction = Transaction()
        if date is None:
            date = dt.datetime.now() - PURGE_AFTER
        table = cls.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*table.delete(
                where=(table.state == 'printed')
                & (table.create_date < date)))


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('iot.print.job|purge', "Purge Printed Print Jobs"))
