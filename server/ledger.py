"""The ledger: the only place money moves.

Every balance is an account: a phone's M-PESA account, and each organisation
shortcode's accounts (Working, Utility, Charges Paid, Merchant, Organization
Settlement, as Account Balance lists them per kind of shortcode). Money only
moves as a posting from one account to another, so it is conserved by
construction: money that enters or leaves the emulated M-PESA (a starting
balance, a balance set by hand) comes from or goes to the *world* account,
which holds minus everything else. ``audit()`` checks that every balance is
what its postings add up to.

The limits are checked here, in one place: the payer's balance, the payer's
daily limit, a phone's maximum balance, the largest single payment. A flow asks
``refusal()`` first and turns a refusal into its own result code.

Postings are written inside the caller's ``store.atomic()`` block; balances in
memory change only once that block commits (``store.after_commit``), so a write
the disk refuses leaves memory and file in agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .clock import eat
from .daraja.catalogue import DAILY_LIMIT, MAX_AMOUNT
from .store import Store

HANDSET = "mpesa"  # the account of a phone
WORKING = "working"
UTILITY = "utility"
CHARGES_PAID = "charges_paid"
MERCHANT = "merchant"
SETTLEMENT = "organization_settlement"
WORLD = ("world", "outside")

# The accounts of each kind of shortcode, in the order Account Balance lists them (spec §14).
ORGANISATION_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "paybill": (WORKING, UTILITY, CHARGES_PAID, SETTLEMENT),
    "till": (MERCHANT, WORKING, CHARGES_PAID),
    "b2c": (WORKING, UTILITY, CHARGES_PAID),
}
# Where customers' payments land, by kind of shortcode.
RECEIVING: dict[str, str] = {"paybill": UTILITY, "till": MERCHANT, "b2c": UTILITY}
ACCOUNT_NAMES = {
    WORKING: "Working Account",
    UTILITY: "Utility Account",
    CHARGES_PAID: "Charges Paid Account",
    MERCHANT: "Merchant Account",
    SETTLEMENT: "Organization Settlement Account",
    HANDSET: "M-PESA",
}

MAX_BALANCE_CENTS = 500_000 * 100  # a phone's (spec §6)
DAILY_LIMIT_CENTS = DAILY_LIMIT * 100
MAX_PAYMENT_CENTS = MAX_AMOUNT * 100

Account = tuple[str, str]  # (owner, kind): (msisdn, "mpesa") or (shortcode, "utility") ...


def handset_account(msisdn: str) -> Account:
    return msisdn, HANDSET


@dataclass(frozen=True)
class Refusal:
    """Why a payment cannot happen: ``rule`` for the flow to map onto its code, ``words`` for people."""

    rule: str  # "insufficient" | "daily_limit" | "max_balance" | "too_large"
    words: str


class Ledger:
    """Balances in memory, backed by the store's accounts and postings."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._balances: dict[Account, int] = {}
        self.on_change: Callable[[Account, int], None] = lambda account, cents: None

    def load(self) -> None:
        self._balances = self._store.load_accounts()

    def forget(self) -> None:
        self._balances = {}

    # --- reading ---------------------------------------------------------------
    def balance(self, account: Account) -> int:
        if account == WORLD:
            return -self.in_circulation()
        return self._balances.get(account, 0)

    def current(self, account: Account) -> int:
        """The balance counting the postings of the store's open block (what it will commit)."""
        block = self._store.block_state()
        pending: dict[Account, int] = block.get("ledger", {}) if block is not None else {}
        return pending.get(account, self.balance(account))

    def has(self, account: Account) -> bool:
        return account in self._balances

    def in_circulation(self) -> int:
        """Money inside the emulated M-PESA: every account but the world's (which holds minus this)."""
        return sum(self._balances.values())

    def audit(self) -> list[str]:
        """Accounts whose balance (in memory or on disk) is not what their postings add up to."""
        from_postings = self._store.sums_of_postings()
        on_disk = self._store.load_accounts()
        problems = []
        for account in sorted(set(from_postings) | set(on_disk) | set(self._balances)):
            if account == WORLD:
                continue
            expected = from_postings.get(account, 0)
            for where, value in (("memory", self._balances.get(account, 0)), ("disk", on_disk.get(account, 0))):
                if value != expected:
                    problems.append(f"{_name(account)}: {where} says {value}, postings say {expected}")
        return problems

    def paid_today(self, msisdn: str, at: float) -> int:
        return self._store.paid_on(msisdn, _day(at))

    def remaining_today(self, msisdn: str, at: float) -> int:
        """What this phone may still pay today (the SMS says it)."""
        return max(0, DAILY_LIMIT_CENTS - self.paid_today(msisdn, at))

    # --- checking --------------------------------------------------------------
    def refusal(self, debit: Account, credit: Account, cents: int, at: float) -> Refusal | None:
        """Why paying ``cents`` from ``debit`` to ``credit`` would break a limit, or None."""
        if cents > MAX_PAYMENT_CENTS:
            return Refusal("too_large", f"more than the largest single payment (Ksh{MAX_AMOUNT:,})")
        if debit != WORLD and debit[1] != CHARGES_PAID and self.balance(debit) < cents:
            what = "the balance" if debit[1] == HANDSET else _name(debit)
            return Refusal("insufficient", f"{what}, {_money(self.balance(debit))}, is less than {_money(cents)}")
        if debit[1] == HANDSET and self.paid_today(debit[0], at) + cents > DAILY_LIMIT_CENTS:
            return Refusal("daily_limit", f"{debit[0]} would pass the daily limit of Ksh{DAILY_LIMIT:,}")
        if credit[1] == HANDSET and self.balance(credit) + cents > MAX_BALANCE_CENTS:
            return Refusal("max_balance", f"{credit[0]} would hold more than the maximum balance of Ksh500,000")
        return None

    # --- moving (inside the caller's store.atomic()) ---------------------------------
    def pay(self, debit: Account, credit: Account, cents: int, at: float, receipt: str | None, reason: str) -> None:
        """Move ``cents``; the caller has checked ``refusal()``. Counts towards the payer's day."""
        self._post(debit, credit, cents, at, receipt, reason)
        if debit[1] == HANDSET:
            self._store.add_paid(debit[0], _day(at), cents)

    def open(self, account: Account, cents: int, at: float) -> None:
        """Create a new ``account`` holding ``cents`` from the world. Any block will do, even a
        grouped one: it touches no other account (the world has no row)."""
        if self.has(account):
            raise ValueError(f"{_name(account)} exists already")
        if not self._store.in_transaction():
            with self._store.atomic():
                self.open(account, cents, at)
            return
        self._store.save_account(account, cents)
        if cents:
            self._store.post(at, None, WORLD, account, cents, "opening balance", {})
        if self._store.block_state() is not None:
            # Later postings of this block start from here; the block's commit applies them all.
            self._pending()[account] = cents
            return

        def opened() -> None:  # a grouped write (a new phone's first push): nothing else moves
            self._balances[account] = cents
            self.on_change(account, cents)

        self._store.after_commit(opened)

    def set_balance(self, account: Account, cents: int, at: float, reason: str = "balance set by hand") -> None:
        """Make ``account`` hold ``cents``, the difference going to or coming from the world."""
        change = cents - self._pending().get(account, self.balance(account))
        if change > 0:
            self._post(WORLD, account, change, at, None, reason)
        elif change < 0:
            self._post(account, WORLD, -change, at, None, reason)

    def _post(self, debit: Account, credit: Account, cents: int, at: float, receipt: str | None, reason: str) -> None:
        if cents <= 0:
            raise ValueError(f"a posting moves a positive amount, got {cents}")
        if self._store.block_state() is None:  # a posting and its balances, together or not at all
            with self._store.atomic():
                self._post(debit, credit, cents, at, receipt, reason)
            return
        # The balances this posting leaves, counting the earlier postings of the same open
        # block (memory changes only once the block commits). The world has no row.
        pending = self._pending()
        after = {
            account: pending.get(account, self.balance(account)) + change
            for account, change in ((debit, -cents), (credit, cents))
            if account != WORLD
        }
        self._store.post(at, receipt, debit, credit, cents, reason, after)
        pending.update(after)

    def _pending(self) -> dict[Account, int]:
        """Balances changed in the store's open block, not yet committed (one dict per block)."""
        block = self._store.block_state()
        if block is None:
            return {}
        state: dict[Account, int] = block.setdefault("ledger", {})
        if "registered" not in block:
            block["registered"] = True  # apply the block's balances to memory once it commits
            self._store.after_commit(lambda: self._commit(state))
        return state

    def _commit(self, changed: dict[Account, int]) -> None:
        for account, cents in changed.items():
            self._balances[account] = cents
            self.on_change(account, cents)


def _day(at: float) -> str:
    return eat(at).date().isoformat()


def _name(account: Account) -> str:
    owner, kind = account
    return f"{owner}'s {ACCOUNT_NAMES.get(kind, kind)}" if kind != HANDSET else f"{owner}'s M-PESA balance"


def _money(cents: int) -> str:
    return f"Ksh{cents / 100:,.2f}"
