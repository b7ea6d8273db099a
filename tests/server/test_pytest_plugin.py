"""The mpesa_handset fixture in a merchant's own suite: pytester runs a small shop's tests in a
pytest process of their own, with the plugin loaded by its entry point, as a merchant's suite
would load it. The shop talks real Daraja over HTTP and collects its callbacks with a server
of its own (the standard library's: nothing of ours on the merchant's side)."""

from __future__ import annotations

import textwrap

import pytest

from server.testing import BackgroundEmulator, ControlError

SHOP = '''
import base64
import datetime
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Shop:
    """A tiny merchant app: reads the MPESA_* settings, sends STK Pushes, keeps its callbacks."""

    def __init__(self, env):
        self.env = env
        self.callbacks = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                shop.callbacks.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"ResultCode": 0, "ResultDesc": "Accepted"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _call(self, path, body=None, auth=None):
        request = urllib.request.Request(self.env["MPESA_BASE_URL"] + path, method="POST" if body else "GET")
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", auth)
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())

    def checkout(self, phone, amount):
        pair = f"{self.env['MPESA_CONSUMER_KEY']}:{self.env['MPESA_CONSUMER_SECRET']}".encode()
        token = self._call("/oauth/v1/generate?grant_type=client_credentials",
                           auth="Basic " + base64.b64encode(pair).decode())["access_token"]
        stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        shortcode = self.env["MPESA_SHORTCODE"]
        password = base64.b64encode(f"{shortcode}{self.env['MPESA_PASSKEY']}{stamp}".encode()).decode()
        port = self.server.server_address[1]
        ack = self._call("/mpesa/stkpush/v1/processrequest", {
            "BusinessShortCode": shortcode, "Password": password, "Timestamp": stamp,
            "TransactionType": "CustomerPayBillOnline", "Amount": amount, "PartyA": phone,
            "PartyB": shortcode, "PhoneNumber": phone, "CallBackURL": f"http://127.0.0.1:{port}/mpesa",
            "AccountReference": "ORDER-1", "TransactionDesc": "order",
        }, auth=f"Bearer {token}")
        return ack["CheckoutRequestID"]

    def result_code(self, timeout=5):
        deadline = time.monotonic() + timeout
        while not self.callbacks:
            assert time.monotonic() < deadline, "no callback came"
            time.sleep(0.02)
        return self.callbacks[0]["Body"]["stkCallback"]["ResultCode"]
'''

TESTS = """
import pytest

from shop import Shop

PHONE = "254708374149"


def test_a_paid_order(mpesa_handset):
    shop = Shop(mpesa_handset.env)
    checkout = shop.checkout(PHONE, 10)
    prompt = mpesa_handset.wait_for_prompt(PHONE)
    assert prompt["checkout_request_id"] == checkout
    mpesa_handset.enter_pin(checkout)
    assert shop.result_code() == 0
    assert mpesa_handset.handset(PHONE)["balance"] == 9990
    assert "Confirmed. Ksh10.00 sent to" in mpesa_handset.inbox(PHONE)[0]


def test_the_next_test_starts_clean(mpesa_handset):
    assert mpesa_handset.transactions() == []
    assert mpesa_handset.handset(PHONE)["balance"] == 10000


def test_a_cancelled_order(mpesa_handset):
    shop = Shop(mpesa_handset.env)
    checkout = shop.checkout(PHONE, 10)
    mpesa_handset.cancel(mpesa_handset.wait_for_prompt(PHONE)["checkout_request_id"])
    assert shop.result_code() == 1032


def test_nobody_at_the_keyboard(mpesa_handset):
    mpesa_handset.set_rules(mode="approve")
    shop = Shop(mpesa_handset.env)
    shop.checkout(PHONE, 5)
    assert shop.result_code() == 0


@pytest.mark.asyncio
async def test_from_an_async_test(mpesa_handset):
    shop = Shop(mpesa_handset.env)
    checkout = shop.checkout(PHONE, 7)
    mpesa_handset.settle(checkout, 1)
    assert shop.result_code() == 1
"""


def test_a_merchant_suite_uses_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shop=SHOP, test_shop=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=5)


def test_a_config_file_sets_the_world(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        shop=textwrap.dedent(
            """
            [[handsets]]
            msisdn = "254711000222"
            name = "Juma Ali"
            pin = "4321"
            balance = 50
            """
        ),
    )
    pytester.makepyfile(
        test_config="""
        def test_the_configured_phone(mpesa_handset):
            assert mpesa_handset.handset("254711000222")["name"] == "Juma Ali"
            assert mpesa_handset.env["MPESA_TEST_MSISDN"] == "254711000222"
        """
    )
    by_option = pytester.runpytest_subprocess("-q", "--mpesa-handset-config", "shop.toml")
    by_option.assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nmpesa_handset_config = shop.toml\n")
    by_ini = pytester.runpytest_subprocess("-q")
    by_ini.assert_outcomes(passed=1)


def test_a_bad_config_fails_the_tests_that_use_it_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", bad="[[handsets]]\nmsisdn = 'nope'\n")
    pytester.makepyfile(test_bad="def test_it(mpesa_handset):\n    pass\n\ndef test_other():\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "--mpesa-handset-config", "bad.toml")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["mpesa_handset: invalid settings: handsets.0.msisdn*bad.toml*"])
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


def test_the_background_emulator_on_its_own() -> None:
    """Without pytest's fixture: a context manager, sync calls, the emulator's refusals as ControlError."""
    with BackgroundEmulator() as mpesa:
        assert mpesa.env["MPESA_BASE_URL"] == mpesa.base_url
        assert mpesa.handset("254708374149")["balance"] == 10_000
        sent = mpesa.send_money("254708374149", "0712345678", 100)
        assert sent["to"] == "254712345678"
        with pytest.raises(ControlError) as refused:
            mpesa.enter_pin("ws_CO_nope")
        assert refused.value.status == 404
        with pytest.raises(TimeoutError, match="no STK Push prompt arrived on 254708374149"):
            mpesa.wait_for_prompt("254708374149", timeout=0.1)
        mpesa.reset()
        assert mpesa.handset("254708374149")["balance"] == 10_000
    assert not mpesa._thread.is_alive()
