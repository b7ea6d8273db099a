"""The Daraja flows beyond STK: C2B, B2C (and Business to Pochi), Transaction Status, Account
Balance and Reversal, a package each.

Each flow's ``wire`` module is pure: request models that turn a parsed body into a typed request
or a Daraja error, and renderers that write the exact bytes of its acknowledgements and of the
bodies sent to merchants. ``initiator_wire`` holds what the initiator APIs share (spec §8, §19).
"""
