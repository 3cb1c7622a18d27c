"""The plain contracts every layer may import: the canonical call event, the messages workflows
and activities hand each other, the generic API's requests, and the one reader of phone numbers.

Imports nothing of pbxhub (standard library, and phonenumbers for the phone reader): workflows
pass these through Temporal's sandbox, and their JSON is what running calls' histories hold.
"""
