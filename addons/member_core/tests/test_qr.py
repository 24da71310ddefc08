# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
import unittest

from trytond.modules.member_core import qr


class QRTestCase(unittest.TestCase):
    "Test QR helpers"

    def test_parse_parameters_lines(self):
        "key=value lines become a dict, blank lines ignored"
        self.assertEqual(
            qr.parse_parameters('utm_source = lobby\n\nfloor=3'),
            {'utm_source': 'lobby', 'floor': '3'})

    def test_parse_parameters_json(self):
        "A JSON object is read with its values as text"
        self.assertEqual(
            qr.parse_parameters('{"floor": 3}'), {'floor': '3'})

    def test_parse_parameters_invalid(self):
        "A line without '=' or a JSON list is refused"
        for text in ['utm_source', '=lobby', '[1, 2]']:
            with self.subTest(text=text):
                with self.assertRaises(ValueError):
                    qr.parse_parameters(text)

    def test_member_payload_signed(self):
        "The signature depends on programme, number and revision"
        payload = qr.member_qr_payload('GHC', 'M00000001', 0)
        self.assertTrue(payload.startswith('M1:GHC:M00000001:0:'))
        signatures = {
            qr.member_qr_payload(*args).rsplit(':', 1)[1]
            for args in [
                ('GHC', 'M00000001', 0), ('GHC', 'M00000002', 0),
                ('GHC', 'M00000001', 1), ('XYZ', 'M00000001', 0)]}
        self.assertEqual(len(signatures), 4)

    def test_qr_png(self):
        "The QR image is a PNG"
        self.assertTrue(qr.qr_png('hello').startswith(b'\x89PNG'))


if __name__ == '__main__':
    unittest.main()
