"""Operating photoai: structured logs, error reports, metrics and the context they share.

Nothing here holds business rules; services call in only to say what happened (a credit hold,
a finished job), and every integration stays off unless the operator configures it.
"""
