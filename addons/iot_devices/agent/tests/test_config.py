"""box.toml loading: defaults, paths and errors naming the key; --check."""
import contextlib
import io
import os
import shutil
import tempfile
import unittest

from member_iot_agent import cli
from member_iot_agent.config import ConfigError

from .tools import write_config


class ConfigTestCase(unittest.TestCase):

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)

    def assertError(self, reason, devices=(), **agent):
        with self.assertRaises(ConfigError) as context:
            write_config(self.directory, devices=devices, **agent)
        self.assertEqual(str(context.exception), reason)

    def test_defaults_and_paths(self):
        config = write_config(self.directory, listen="0.0.0.0:9000",
            devices=[{"name": "r", "kind": "card_reader",
                    "connection": "serial", "port": "/dev/ttyUSB0",
                    "line_ending": "crlf"}])
        self.assertEqual((config.agent.host, config.agent.port),
            ("0.0.0.0", 9000))
        self.assertEqual(config.agent.spool_dir,
            os.path.join(self.directory, "spool"))
        reader, = config.devices
        self.assertEqual(reader.line_ending, "\r\n")
        self.assertEqual(reader.debounce_ms, 1000)
        self.assertEqual(config.server.url, "")

    def test_errors_name_the_key(self):
        self.assertError("agent.key: required (the shared key of the "
            "cashier page)", key="")
        self.assertError("agent.listen: expected host:port, got '8765'",
            listen="8765")
        self.assertError("agent.colour: unknown key", colour="red")
        self.assertError("agent.event_buffer: expected int, got '10'",
            event_buffer="10")
        self.assertError("device[0] (p).width: 76 is not one of 58, 80",
            devices=[{"name": "p", "kind": "printer", "connection": "file",
                    "path": "x", "width": 76}])
        self.assertError("device[0] (p).path: required for a file "
            "connection", devices=[{"name": "p", "kind": "printer",
                    "connection": "file"}])
        self.assertError("device[0] (r).mapping: hex_to_decimal needs "
            'uid_format = "hex"', devices=[{"name": "r",
                    "kind": "card_reader", "connection": "serial",
                    "port": "x", "mapping": "hex_to_decimal"}])
        self.assertError("device[0] (r).suffix: a suffix or line_ending "
            "is required to end a frame", devices=[{"name": "r",
                    "kind": "card_reader", "connection": "serial",
                    "port": "x", "line_ending": ""}])
        self.assertError("device[0] (d).printer: expected the name of a "
            "printer device", devices=[{"name": "d", "kind": "drawer",
                    "printer": "nope"}])
        self.assertError("device[1].name: duplicate 'p'", devices=[
                {"name": "p", "kind": "printer", "connection": "dummy"},
                {"name": "p", "kind": "printer", "connection": "dummy"}])
        self.assertError("device[0] (p).code_page: unknown code page "
            "'cp9999'", devices=[{"name": "p", "kind": "printer",
                    "connection": "dummy", "code_page": "cp9999"}])

    def test_check(self):
        write_config(self.directory, devices=[
                {"name": "r", "kind": "card_reader", "connection": "serial",
                    "port": "loop://"},
                {"name": "p", "kind": "printer", "connection": "file",
                    "path": os.path.join(self.directory, "lp0")}])
        path = os.path.join(self.directory, "box.toml")
        out = io.StringIO()
        self.assertEqual(cli.check(cli.load(path), out), 0)
        self.assertIn("  r (card_reader, serial): ok", out.getvalue())
        self.assertIn("  p (printer, file): ok", out.getvalue())

        write_config(self.directory, devices=[
                {"name": "p", "kind": "printer", "connection": "file",
                    "path": os.path.join(self.directory, "no", "lp0")}])
        out = io.StringIO()
        self.assertEqual(cli.check(cli.load(path), out), 1)
        self.assertIn("  p (printer, file): offline Device not found "
            "(Could not open", out.getvalue())

    def test_main_reports_config_error(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(cli.main(["--config",
                        os.path.join(self.directory, "none.toml")]), 2)
        self.assertIn("none.toml: No such file or directory", err.getvalue())
