"""Member import: the import wizard's API next to raw SQL INSERTs.

Imports a CSV of N new members (name, phone, email, valid resident ID
number, birthday, gender, property) with ``MemberImport.import_file`` and
times it next to a raw ``INSERT`` of the same rows (values computed
beforehand) into party_party. Then times a second import of the same file,
where every row matches an existing member. Both run in transactions that
are rolled back. ratio = import / raw INSERT.

The work runs in a subprocess so that trytond is configured for the
backend given by run.py.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ('sqlite',)
SIZES = {'small': 1_000, 'full': 10_000}


def run(scale, dsn):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import trytond_env

    size = SIZES[scale]
    env = trytond_env(dsn)
    env['DB_NAME'] = f'bench_member_import_{scale}'
    root = Path(__file__).resolve().parent.parent
    env.setdefault('DB_CACHE', str(root / 'var' / 'dbcache'))
    result = subprocess.run(
        [sys.executable, __file__, str(size)], env=env, check=True,
        stdout=subprocess.PIPE, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows(size):
    "Yield (name, phone, email, id number, birthday, gender) of new members"
    from stdnum.cn import ric
    for i in range(size):
        birthday = f'{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}'
        body = f'110101{birthday.replace("-", "")}{i % 1000:03d}'
        number = body + ric.calc_check_digit(body + '0')
        yield (f'Member {i}', f'139{i:08d}', f'm{i}@example.com', number,
            birthday, 'female' if i % 2 else 'male')


def make_csv(size):
    lines = ["Name,Mobile,Email,ID Number,Birthday,Gender,Property"]
    for name, phone, email, number, birthday, gender in rows(size):
        lines.append(
            f'{name},{phone},{email},{number},{birthday},{gender},SH')
    return ('\n'.join(lines) + '\n').encode()


def setup():
    from trytond.modules.company.tests import create_company
    from trytond.pool import Pool

    pool = Pool()
    Programme = pool.get('member.programme')
    Property = pool.get('member.property')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    company = create_company()
    programme, = Programme.create([{
                'name': "Bench Club", 'code': 'BENCH', 'company': company.id,
                'member_sequence': Sequence.create([{
                            'name': "Members",
                            'sequence_type': ModelData.get_id(
                                'member_core', 'sequence_type_member'),
                            }])[0].id,
                }])
    property_, = Property.create([{
                'programme': programme.id, 'code': 'SH', 'name': "Shanghai",
                }])
    return programme.id, property_.id


def raw_insert(size, programme, property_):
    "Insert the same rows with one executemany, return the seconds"
    import datetime as dt

    from trytond import backend
    from trytond.modules.member_core import identity
    from trytond.transaction import Transaction

    cursor = Transaction().connection.cursor()
    param = '?' if backend.name == 'sqlite' else '%s'
    today, now = dt.date.today(), dt.datetime.now()
    values = [
        (name, f'RAW{i}', True, programme, f'R{i:08d}', 'prospect',
            '+86' + phone, email, 'cn_ric', identity.encrypt(number),
            identity.hash_number(number),
            dt.date.fromisoformat(birthday), gender, property_, 'import',
            today, 0, now)
        for i, (name, phone, email, number, birthday, gender)
        in enumerate(rows(size))]
    start = time.perf_counter()
    cursor.executemany(
        'INSERT INTO party_party (name, code, active, programme, '
        'member_number, member_state, member_phone, member_email, '
        'id_document_type, id_number_cipher, id_number_hash, birthday, '
        'gender, home_property, source_channel, join_date, create_uid, '
        f'create_date) VALUES ({", ".join([param] * 18)})', values)
    return time.perf_counter() - start


def worker(size):
    from run import drop_database

    from trytond.modules.company.tests import set_company
    from trytond.pool import Pool
    from trytond.tests import test_tryton
    from trytond.transaction import Transaction

    name = os.environ['DB_NAME']
    drop_database(name)
    test_tryton.activate_module('member_core')
    data = make_csv(size)
    dataset = f'{size:,} CSV rows'
    with Transaction().start(name, 0) as transaction:
        programme, property_ = setup()
        transaction.commit()
    with Transaction().start(name, 0) as transaction:
        baseline = raw_insert(size, programme, property_)
        transaction.rollback()
    with Transaction().start(name, 1) as transaction:
        pool = Pool()
        Import = pool.get('member.import')
        programme = pool.get('member.programme')(programme)
        with set_company(programme.company):
            start = time.perf_counter()
            result = Import.import_file(programme, data, 'bench.csv')
            first = time.perf_counter() - start
            assert result.created == size, (result.created, result.rejected)
            start = time.perf_counter()
            result = Import.import_file(programme, data, 'bench.csv')
            second = time.perf_counter() - start
            assert result.created == 0 and result.rejected == 0
        transaction.rollback()
    print(json.dumps([{
                    'name': "MemberImport.import_file (new members)",
                    'dataset': dataset,
                    'value': round(first, 2), 'unit': 's',
                    'baseline': round(baseline, 2),
                    'ratio': round(first / baseline, 1),
                    }, {
                    'name': "MemberImport.import_file (all rows matched)",
                    'dataset': dataset,
                    'value': round(second, 2), 'unit': 's',
                    'baseline': round(baseline, 2),
                    'ratio': round(second / baseline, 1),
                    }]))


if __name__ == '__main__':
    worker(int(sys.argv[1]))
