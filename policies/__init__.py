"""Pure policies over the store's records: who may see what (`access`), what a call leaves
behind by a channel's rules (`call_rules`), whether a call is forwarded to the caller's
responsible (`forwarding`) and whether a moment is within working hours (`working_hours`).

Each decides from the values it is given and reads or writes nothing; it may import `crm`'s
records, never the other way round.
"""
