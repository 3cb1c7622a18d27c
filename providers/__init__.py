"""Provider engine: PBX specs as data, turning PBX requests into canonical call events.

Pure: request in, events and reply out. No store, no web framework, no Temporal.
"""
