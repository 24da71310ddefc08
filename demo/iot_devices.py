# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Demo data of iot_devices: an IoT box at the front desk of each property
with a card reader, an 80 mm receipt printer and a cash drawer, a check-in
desk served by the reader, and print jobs in every state.

The box of the first property (SHB) stays unpaired, its printer a file under
var/iot/: it is the box of demo/box.toml, which pairs the demo agent with
this server (see addons/iot_devices/agent/README.md). The other boxes look
like boxes in service: paired, with a recent heartbeat.
"""
from proteus import Model
from trytond.pool import Pool
from trytond.transaction import Transaction

# the agent's device names in demo/box.toml
READER, PRINTER, DRAWER = 'reader1', 'printer1', 'drawer1'
# relative to demo/box.toml, like the agent resolves it
DEMO_PRINTER_PATH = '../var/iot/receipts.bin'


def receipt(property_, number, total, member=True):
    "A receipt document of the shop of the property"
    document = {
        'language': 'zh_CN',
        'width': 80,
        'header': [property_.name, "Lobby Shop 大堂商店"],
        'title': "Sales Receipt 销售小票",
        'meta': [["Receipt", f"POS/{number:04d}"], ["Cashier", "Li Na"]],
        'lines': [
            {'name': "Longjing Green Tea 龙井", 'quantity': "1",
                'unit_price': total, 'amount': total},
            ],
        'totals': [["Total", total]],
        'payments': [["Cash", total]],
        'footer': ["Thank you", "谢谢惠顾"],
        'barcode': {'type': 'CODE128', 'data': f"POS{number:04d}"},
        }
    if member:
        document['member'] = {
            'number': "****5678", 'name': "王*", 'tier': "Gold",
            'lines': [["Points earned", "88"], ["Points balance", "5,320"]]}
    return document


def setup(config, scale):
    Property = Model.get('member.property')
    Box = Model.get('iot.box')
    Desk = Model.get('iot.desk')
    Assignment = Model.get('iot.device.assignment')

    properties = Property.find([], order=[('id', 'ASC')])
    box_ids = []
    for index, property_ in enumerate(properties):
        code = property_.code
        box = Box(name=f"{code} Front Desk Box", property=property_)
        box.devices.new(
            name=READER, kind='card_reader', connection='serial',
            port='/dev/ttyUSB0', baudrate=9600)
        if index == 0:
            printer = box.devices.new(
                name=PRINTER, kind='printer', connection='file',
                path=DEMO_PRINTER_PATH, paper_width='80',
                code_page='cp437')
        else:
            printer = box.devices.new(
                name=PRINTER, kind='printer', connection='network',
                host=f'192.168.{10 + index}.21', tcp_port=9100,
                paper_width='80', code_page='cp437')
        # kicked through the printer, so it has the printer's connection
        box.devices.new(
            name=DRAWER, kind='drawer', connection=printer.connection,
            path=printer.path, host=printer.host, tcp_port=printer.tcp_port)
        box.save()
        box_ids.append(box.id)

        desk = Desk(name=f"{code} Check-in Desk", property=property_)
        desk.save()
        reader, = [d for d in box.devices if d.name == READER]
        Assignment(device=reader, target=desk).save()

    with Transaction().start(config.database_name, config.user,
            context=config.context) as transaction:
        counts = queue_jobs(box_ids)
        transaction.commit()
    print(f"iot_devices: {len(box_ids)} boxes with a card reader, a "
        "receipt printer and a cash drawer, a check-in desk each; print "
        "jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        flush=True)


def queue_jobs(box_ids):
    """Queue receipts and a drawer kick, pair the boxes in service and
    take their jobs through sent, printed and failed; return the counts
    by state"""
    pool = Pool()
    Box = pool.get('iot.box')
    PrintJob = pool.get('iot.print.job')
    demo, *in_service = Box.browse(box_ids)

    def printer(box):
        return next(d for d in box.devices if d.name == PRINTER)

    # waiting for the demo agent: printed as soon as it pairs
    for number, total in [(41, "88.00"), (42, "176.00")]:
        PrintJob.queue(printer(demo), receipt(demo.property, number, total),
            source=printer(demo))
    for i, box in enumerate(in_service):
        box, _ = Box.pair(box.new_pairing_token(),
            hostname=f'iot-{box.property.code.lower()}', version='1.0.0')
        box.heartbeat('1.0.0', [
                {'name': READER, 'state': 'ok'},
                {'name': PRINTER, 'state': 'error' if i else 'ok',
                    'message': "Paper out" if i else None},
                {'name': DRAWER, 'state': 'ok'},
                ])
        device = printer(box)
        printed, failed, sent = [PrintJob.queue(device,
                receipt(box.property, 100 * (i + 1) + n, "88.00",
                    member=bool(n % 2)), source=device)
            for n in range(3)]
        PrintJob.pull(box)
        printed.acknowledge('printed')
        failed.acknowledge('failed', "Paper out")
        # sent stays sent: the box has not acknowledged it yet
        PrintJob.queue(device, None, kind='drawer', source=device)
    counts = {}
    for job in PrintJob.search([('box', 'in', box_ids)]):
        counts[job.state] = counts.get(job.state, 0) + 1
    return counts
