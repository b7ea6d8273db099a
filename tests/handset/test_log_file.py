"""The --log-file: one readable line per request, settlement and callback attempt, over real HTTP."""

from __future__ import annotations

import socket

from handset.log_lines import LogFile
from tests.handset.tui_kit import WANJIKU, wait_until


def dead_url() -> str:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/callback"


async def test_the_log_file_never_prints_none(emulator, http, daraja, receiver, tmp_path):
    path = tmp_path / "handset.log"
    log = LogFile(path)
    log.attach(emulator.simulator.bus)

    missing = await http.get("/simulator/handsets/254700000000")  # a control-API refusal: no Daraja code
    assert missing.status_code == 404
    refused = await daraja.push(receiver.url, Amount=0)  # a Daraja refusal: code and reason
    assert refused.status_code == 400
    paid = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    assert (await http.post(f"/simulator/transactions/{paid}/pin", json={"pin": "1234"})).status_code == 200
    await receiver.wait_for(1)
    dropped = (await daraja.push(receiver.url, Amount=5)).json()["CheckoutRequestID"]
    plan = await http.put(f"/simulator/transactions/{dropped}/callback-plan", json={"mode": "drop"})
    assert plan.status_code == 200
    assert (await http.post(f"/simulator/transactions/{dropped}/cancel")).status_code == 200
    failed = (await daraja.push(dead_url(), Amount=7)).json()["CheckoutRequestID"]
    assert (await http.post(f"/simulator/transactions/{failed}/cancel")).status_code == 200

    def lines() -> list[str]:
        return path.read_text(encoding="utf-8").splitlines()

    await wait_until(lambda: any("FAILED" in line for line in lines()), "the failed callback's line")
    written = lines()
    assert written and not [line for line in written if "None" in line]
    assert any("/simulator/handsets/254700000000  404" in line and "no handset with MSISDN" in line for line in written)
    assert any(f"settled {paid} {WANJIKU} Ksh100.00: 0 (paid)" in line for line in written)
    assert any(f"settled {failed} {WANJIKU} Ksh7.00: 1032 (" in line for line in written)
    assert any(f"callback #1 {paid} -> {receiver.url}  200" in line for line in written)
    assert any(
        f"settled {dropped} " in line and line.endswith("callback dropped on purpose (plan: drop)") for line in written
    )
    assert not [line for line in written if f"callback #1 {dropped}" in line]
